"""The door in front of Streamlit's upload endpoint: only a session someone has signed in to may upload a file.

Streamlit accepts `PUT /_stcore/upload_file/<session>/<file>` from any session, signed in or not: all it takes is
the XSRF cookie from `/_stcore/health` and a session id from `/_stcore/stream`. Each file is then held in the
server's memory until the session ends, so before this door four 50 MB files sent by a visitor who never signed in
raised the server's memory from 575 to 778 MB. `UploadGate` is ASGI middleware (`serve.py` puts it in front of
the app through `st.App`, Streamlit's supported way to add middleware): it answers 403 to an upload for a session
that is not in `SignedInSessions` before reading a byte of the body (the rest is then read and dropped, never
kept, so the connection closes cleanly). The app adds a session there once someone has signed in to it
(`ui.common.auth`), and takes it out when they sign out.

The boundary: no Streamlit here (only the ASGI calling convention), and no knowledge of who signed in, only which
sessions did. Session ids are random (UUID 4), so a visitor cannot borrow a signed-in session's id.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

UPLOAD_PATH = re.compile(r"/_stcore/upload_file/([^/]+)/[^/]+/?$")
UPLOAD_METHODS = ("PUT", "POST")
REFUSAL = b"Sign in before uploading files."
DISCARD_LIMIT = 256 * 2**20  # bytes read and dropped after a refusal; past that the connection is simply closed


class SignedInSessions:
    """The Streamlit session ids someone has signed in to; thread-safe (sessions run in threads), bounded (the
    longest unused forgotten first: a session that long idle has ended, or will sign in again)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self.guarded = False  # set by the UploadGate in front of the app: a hosted app refuses to run without it

    def add(self, session_id: str) -> None:
        with self._lock:
            self._ids[session_id] = None
            self._ids.move_to_end(session_id)
            while len(self._ids) > self._max_entries:
                self._ids.popitem(last=False)

    def discard(self, session_id: str) -> None:
        with self._lock:
            self._ids.pop(session_id, None)

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            return session_id in self._ids


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class UploadGate:
    """ASGI middleware: an upload for a session nobody has signed in to is answered 403 without reading its body.

    `sessions` gives the process's one `SignedInSessions` (the app keeps it with `st.cache_resource`, and asks for
    it the same way, so both sides hold the same object).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 sessions: Callable[[], SignedInSessions]) -> None:
        self.app, self.sessions = app, sessions
        self.sessions().guarded = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in UPLOAD_METHODS:
            upload = UPLOAD_PATH.search(scope.get("path", ""))
            if upload and upload[1] not in self.sessions():
                await _answer(send, 403, REFUSAL)
                await _discard_body(receive)
                return
        await self.app(scope, receive, send)


async def _discard_body(receive: Receive) -> None:
    """Reads what is left of the body, keeping none of it (up to DISCARD_LIMIT), after the answer has gone out.
    Closing a connection with unread data makes the kernel reset it, and a proxy in front (Caddy) can then lose
    the answer it was relaying: the visitor saw a broken connection instead of the 403."""
    discarded = 0
    while discarded <= DISCARD_LIMIT:
        message = await receive()
        discarded += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
