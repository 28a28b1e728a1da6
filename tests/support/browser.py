"""Helpers for browser tests: start and stop the real app, and wait for Streamlit to settle."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.paths import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(workspace_root: Path, extra_env: dict[str, str] | None = None,
              timeout: float = 60.0, streamlit_module: str = "streamlit",
              script: str = "app.py") -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "AI_PLAYGROUND_HOME": str(workspace_root), **(extra_env or {})}
    server = subprocess.Popen(
        [sys.executable, "-m", streamlit_module, "run", str(ROOT / script), "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return server, url
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"the app did not start: {server.stdout.read().decode()[-2000:]}")


def stop_app(server: subprocess.Popen, workspace_root: Path) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    # So does the job queue's consumer the app started: end it first, or it would start the next queued run.
    from core.engine.launcher import stop_consumer

    stop_consumer(workspace_root / "queue")
    # Workers run in their own sessions so they outlive the server by design; a test must not leave any behind.
    for status_file in (workspace_root / "runs").glob("*/status.json"):
        pid = json.loads(status_file.read_text()).get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def wait_for_app(page, timeout_ms: int = 30_000) -> None:
    """Until Streamlit has finished the current script run (its status widget disappears)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def photograph(page, name: str) -> None:
    """The whole page as test-artifacts/<name>.png, for a person to look at: Streamlit scrolls inside its main
    section, so the window is made as tall as that section for the picture."""
    from tests.support.paths import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=stMain]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 100, 8000)})
    wait_for_app(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def pick(page, box, option: str) -> None:
    """Choose an option of a select box (or multiselect) by typing it, as a person can. A click alone opens the
    list only if it lands after the page has settled; the typed text opens it whatever the timing."""
    page.get_by_role("combobox", name=box).click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_app(page)


def set_number(page, name: str, value: int | float | str) -> None:
    """Type a number into the spin box labelled `name` and send it with Enter, as a person does."""
    box = page.get_by_role("spinbutton", name=name, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def build_bag_of_embeddings(page) -> None:
    """On the Train page of a text dataset: a model built from scratch, with the fastest architecture (a bag of
    embeddings), so a browser test trains in seconds on a 2-core machine; the others are trained in test_worker."""
    page.get_by_text("Build one from scratch").click()
    wait_for_app(page)
    page.get_by_role("combobox", name="Architecture").click()
    page.keyboard.type("Bag of embeddings")
    page.get_by_role("option", name=re.compile("Bag of embeddings")).click()
    wait_for_app(page)


# ---------------------------------------------------------------------------------------------------- raw HTTP


def start_served_app(workspace_root: Path, extra_env: dict[str, str] | None = None,
                     timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`start_app` through `serve.py`, the way a hosted installation runs (the upload gate in front)."""
    return start_app(workspace_root, extra_env, timeout, script="serve.py")


@contextlib.contextmanager
def anonymous_session(url: str):
    """What a visitor who never signs in can get, as in issue 21: the XSRF cookie from /_stcore/health, and a session
    id from /_stcore/stream (the first message of a script run names it). Yields (requests session, session id)
    while the stream stays open, as a browser tab's would."""
    import requests
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    http = requests.Session()
    http.get(f"{url}/_stcore/health", timeout=10).raise_for_status()
    with connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                 open_timeout=10, max_size=None) as stream:
        request = BackMsg()
        request.rerun_script.query_string = ""
        stream.send(request.SerializeToString())
        deadline = time.time() + 30
        while time.time() < deadline:
            message = ForwardMsg.FromString(stream.recv(timeout=30))
            if message.HasField("new_session"):
                yield http, message.new_session.initialize.session_id
                return
        raise RuntimeError("the app never named the session")


def upload_as(http, url: str, session_id: str, size: int, file_id: str = "file") -> int:
    """PUT a file of `size` bytes to Streamlit's upload endpoint for `session_id`; the HTTP status."""
    token = http.cookies.get("_streamlit_xsrf", "")
    response = http.put(f"{url}/_stcore/upload_file/{session_id}/{file_id}", headers={"X-Xsrftoken": token},
                        files={"file": ("big.csv", b"x" * size, "text/csv")}, timeout=120)
    return response.status_code


def server_memory_mb(server: subprocess.Popen) -> float:
    """The resident memory of the app's server process, in MB."""
    for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS for the server process")
