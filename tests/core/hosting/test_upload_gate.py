"""Only a session someone has signed in to may upload (core.hosting.upload_gate, serve.py): the ASGI gate on its
own, then the served app under the attack of issue 21 (four 50 MB files from a visitor who never signed in)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.hosting.upload_gate import SignedInSessions, UploadGate
from tests.support.browser import anonymous_session, server_memory_mb, start_served_app, stop_app, upload_as


def call(gate: UploadGate, method: str, path: str) -> tuple[int, bool]:
    """(the status answered, whether the app behind the gate was reached); the body is 3 chunks of 1 MB."""
    reached, answered, events = [], [], []
    chunks = [{"type": "http.request", "body": b"x" * 2**20, "more_body": n < 2} for n in range(3)]

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        events.append("read")
        return chunks.pop(0)

    async def send(message):
        events.append("answer")
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    gate.app = app
    scope = {"type": "http", "method": method, "path": path}
    with ThreadPoolExecutor(1) as thread:  # a loop of its own: Playwright's may be running in this thread
        thread.submit(asyncio.run, gate(scope, receive, send)).result()
    if answered[0] == 403:  # answered before a byte was read, then the rest read and dropped to close cleanly
        assert events == ["answer", "answer", "read", "read", "read"], events
    return answered[0], bool(reached)


def test_an_upload_for_a_session_nobody_signed_in_to_is_refused_unread():
    sessions = SignedInSessions()
    gate = UploadGate(None, lambda: sessions)
    assert sessions.guarded
    assert call(gate, "PUT", "/_stcore/upload_file/anonymous-id/file-1") == (403, False)
    sessions.add("signed-in-id")
    assert call(gate, "PUT", "/_stcore/upload_file/signed-in-id/file-1") == (204, True)
    assert call(gate, "PUT", "/playground/_stcore/upload_file/anonymous-id/file-1") == (403, False)  # a base URL
    assert call(gate, "DELETE", "/_stcore/upload_file/anonymous-id/file-1") == (204, True)  # removing holds nothing
    assert call(gate, "GET", "/_stcore/health") == (204, True)
    sessions.discard("signed-in-id")
    assert call(gate, "PUT", "/_stcore/upload_file/signed-in-id/file-1") == (403, False)


def test_the_signed_in_sessions_are_bounded():
    sessions = SignedInSessions(max_entries=100)
    for number in range(1_000):
        sessions.add(f"session {number}")
    assert "session 999" in sessions and "session 0" not in sessions and len(sessions._ids) == 100


# ---------------------------------------------------------------------------------------------------- served


@pytest.fixture
def hosted_env(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('team_password = "a long phrase"\n')
    return {"AI_PLAYGROUND_HOSTED": "true", "STREAMLIT_SECRETS_FILES": str(secrets)}


def test_a_visitor_who_never_signed_in_cannot_make_the_server_hold_files(workspace, hosted_env):
    server, url = start_served_app(workspace.root, hosted_env)
    try:
        with anonymous_session(url) as (http, session_id):
            time.sleep(2)  # the sign-in page's first run settles
            before = server_memory_mb(server)
            started = time.perf_counter()
            statuses = [upload_as(http, url, session_id, 50 * 2**20, f"file-{n}") for n in range(4)]
            took = time.perf_counter() - started
            grown = server_memory_mb(server) - before
    finally:
        stop_app(server, workspace.root)
    assert statuses == [403] * 4  # through `streamlit run app.py` they were [204] * 4 and memory grew ~320 MB
    assert grown < 20, f"the server grew {grown:.0f} MB"
    assert took < 30

