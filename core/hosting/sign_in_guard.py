"""Wrong team passwords counted on the server, per person name and per client address, with growing waits.

The boundary: this module only counts and says how long to wait; `ui.common.auth` asks it before it checks a
password and tells it how the check went. The count used to live in the browser session, so reloading the page
reset it and guessing went on at full speed.

One `SignInGuard` serves the whole server process (the app keeps it with `st.cache_resource`): every session of
the process shares it, which is what makes a reload useless to a guesser. It lives in memory, not in a file,
because one Streamlit process serves an installation (its sessions live in that process's memory; several
replicas would need sticky sessions and would each count on their own, which docs/hosting.md says), and because a
file written on every wrong password would let a guesser keep the disk busy. It is bounded: at most
`max_entries` names and addresses are remembered, the quietest forgotten first, and a name or address that has
been quiet for `forget_after` seconds starts again from nothing.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from core.messages import counted

FREE_TRIES = 3  # wrong passwords in a row before any wait: room for typos
FIRST_WAIT = 15.0  # seconds after the first try past the free ones; each further wrong try doubles it
LONGEST_WAIT = 15 * 60.0
FORGET_AFTER = 60 * 60.0


@dataclass
class _Failures:
    count: int
    last: float  # clock time of the last wrong password


def wait_after(failures: int) -> float:
    """Seconds to wait after this many wrong passwords in a row: none for the first few, then 15 s, 30 s, 1 min…
    up to 15 minutes."""
    if failures < FREE_TRIES:
        return 0.0
    return min(FIRST_WAIT * 2 ** (failures - FREE_TRIES), LONGEST_WAIT)


class SignInGuard:
    """Counts wrong passwords by name and by address; thread-safe (sessions run in threads of one process)."""

    def __init__(self, max_entries: int = 10_000, forget_after: float = FORGET_AFTER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries, self._forget_after, self._clock = max_entries, forget_after, clock

    def wait_left(self, name: str, address: str | None) -> float:
        """Seconds before this name, from this address, may try a password again (0: now)."""
        now = self._clock()
        with self._lock:
            return max((self._wait_left(key, now) for key in _keys(name, address)), default=0.0)

    def failed(self, name: str, address: str | None) -> float:
        """A wrong password: counted against the name and the address. Returns the wait it brings."""
        now = self._clock()
        with self._lock:
            for key in _keys(name, address):
                entry = self._current(key, now) or _Failures(0, now)
                self._failures[key] = _Failures(entry.count + 1, now)
                self._failures.move_to_end(key)
            while len(self._failures) > self._max_entries:
                self._failures.popitem(last=False)
            return max(self._wait_left(key, now) for key in _keys(name, address))

    def succeeded(self, name: str, address: str | None) -> None:
        with self._lock:
            for key in _keys(name, address):
                self._failures.pop(key, None)

    def _current(self, key: tuple[str, str], now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > self._forget_after:
            del self._failures[key]
            return None
        return entry

    def _wait_left(self, key: tuple[str, str], now: float) -> float:
        entry = self._current(key, now)
        return 0.0 if entry is None else max(0.0, entry.last + wait_after(entry.count) - now)


def _keys(name: str, address: str | None) -> list[tuple[str, str]]:
    # An unknown address (a local connection) is not a key: every such visitor would share one count.
    return [("name", name.strip().casefold())] + ([("address", address)] if address else [])


def how_long(seconds: float) -> str:
    """A wait in words: "15 seconds", "1 minute", "2 minutes 30 seconds"."""
    minutes, rest = divmod(max(1, round(seconds)), 60)
    return " ".join(([counted(minutes, "minute")] if minutes else []) + ([counted(rest, "second")] if rest else []))
