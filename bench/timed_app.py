"""`streamlit run`, plus a stopwatch on the server's side of every click, for the load bench.

    python -m bench.timed_app run app.py ...     # the same arguments as `streamlit run`

A click in the browser sends the server a request to run the page's script; the server runs it and sends the page.
This logs, for every such request (a fragment refreshing by itself is not one), the seconds from its arrival to the
script having finished and the whole page being queued for the browser: what the server takes to answer, without
the time the browser then spends drawing. The load bench runs its N browsers on the server's own cores, which a
team's laptops would not be, so it reports this apart from the time to a drawn page.

Each line of the file named by BENCH_ANSWER_LOG: the wall-clock time of the answer, then its seconds.
"""

from __future__ import annotations

import os
import sys
import time

from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner import ScriptRunnerEvent
from streamlit.web.cli import main

LOG_VARIABLE = "BENCH_ANSWER_LOG"


def stopwatch(log_path: str) -> None:
    # Two of Streamlit's own session methods are wrapped (written against Streamlit 1.67); should a release rename
    # them, say so plainly instead of serving an app that times nothing.
    on_event = getattr(AppSession, "_handle_scriptrunner_event_on_event_loop", None)
    if on_event is None:
        sys.exit("bench.timed_app: this Streamlit release has no AppSession._handle_scriptrunner_event_on_event_loop;"
                 " run the load bench with --url against an app started as usual (no server-side times).")
    handle_backmsg = AppSession.handle_backmsg

    def request_arrived(self, message) -> None:
        if (message.WhichOneof("type") == "rerun_script" and not message.rerun_script.fragment_id
                and getattr(self, "_bench_asked", None) is None):
            # From the first request: a run interrupted by the next click still keeps the person waiting.
            self._bench_asked = time.perf_counter()
        handle_backmsg(self, message)

    def script_event(self, sender, event, *args, **kwargs) -> None:
        on_event(self, sender, event, *args, **kwargs)  # this queues the "script finished" for the browser
        asked = getattr(self, "_bench_asked", None)
        if event == ScriptRunnerEvent.SCRIPT_STOPPED_WITH_SUCCESS and asked is not None:
            self._bench_asked = None
            with open(log_path, "a") as log:
                log.write(f"{time.time():.3f} {time.perf_counter() - asked:.4f}\n")

    AppSession.handle_backmsg = request_arrived
    AppSession._handle_scriptrunner_event_on_event_loop = script_event


if __name__ == "__main__":
    stopwatch(os.environ[LOG_VARIABLE])
    sys.argv[0] = "streamlit"
    main()
