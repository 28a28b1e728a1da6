"""Helpers for browser tests: start and stop the real app, and wait for Streamlit to settle."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(workspace_root: Path, extra_env: dict[str, str] | None = None,
              timeout: float = 60.0, streamlit_module: str = "streamlit") -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "AI_PLAYGROUND_HOME": str(workspace_root), **(extra_env or {})}
    server = subprocess.Popen(
        [sys.executable, "-m", streamlit_module, "run", str(ROOT / "app.py"), "--server.headless=true",
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
