"""The proxy settings docs/hosting.md gives (nginx, Caddy), run as written: in front of `serve.py`, the app works
through them, a visitor's upload gets the app's 403 and (nginx) a burst of uploads from one address gets 429; in
front of an upstream that counts what reaches it, a body over the limit never arrives whole.

The configurations are read from docs/hosting.md itself, so the documented settings are the tested ones. Only what
cannot run in a test is changed: plain HTTP on a free local port instead of TLS on 443, the app's port, and a 2 MB
body limit in place of 101 MB (the app's own limit is 1 MB here). Skipped where nginx or Caddy is not installed
(Debian: apt-get install nginx-light caddy).
"""

from __future__ import annotations

import contextlib
import http.server
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.browser import ROOT, anonymous_session, free_port, start_served_app, stop_app, upload_as

DOCS = ROOT / "docs" / "hosting.md"
MB = 2**20


def documented(language: str) -> str:
    """The first fenced block of that language in docs/hosting.md."""
    return re.search(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxied") / "workspace"
    secrets = root.parent / "secrets.toml"
    secrets.write_text('team_password = "a long phrase"\n')
    server, url = start_served_app(root, {"AI_PLAYGROUND_HOSTED": "true", "AI_PLAYGROUND_MAX_UPLOAD_MB": "1",
                                          "STREAMLIT_SECRETS_FILES": str(secrets)})
    yield url
    stop_app(server, root)


def nginx_config(app: str, port: int, folder: Path) -> str:
    site = documented("nginx")
    site = site[:site.index("server {                                          # plain HTTP only redirects")]
    site = re.sub(r"\n\s*ssl_certificate.*", "", site)
    site = (site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
            .replace("http://127.0.0.1:8501", app).replace("client_max_body_size 101m;", "client_max_body_size 2m;"))
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                       "scgi"))
    return (f"user root; pid {folder}/nginx.pid; error_log {folder}/error.log;\nevents {{}}\n"
            f"http {{\naccess_log off;\n{temp}\n{site}\n}}\n")


def caddy_config(app: str, port: int, folder: Path) -> str:
    site = documented("caddyfile")
    site = (site.replace("playground.example.org {", f"http://127.0.0.1:{port} {{")
            .replace("127.0.0.1:8501", app.removeprefix("http://")).replace("max_size 101MiB", "max_size 2MiB"))
    return f"{{\n    admin off\n    storage file_system {folder}/data\n}}\n{site}"


def started(command: list[str], url: str, folder: Path) -> subprocess.Popen:
    proxy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                             env={"HOME": str(folder), "XDG_DATA_HOME": str(folder), "XDG_CONFIG_HOME": str(folder),
                                  "PATH": "/usr/sbin:/usr/bin:/bin"})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proxy
        except OSError:
            if proxy.poll() is not None:
                break
            time.sleep(0.2)
    proxy.kill()
    raise RuntimeError(f"the proxy did not start: {proxy.stdout.read().decode()[-2000:]}")


@contextlib.contextmanager
def documented_proxy(name: str, upstream: str, folder: Path):
    """nginx or Caddy, configured as docs/hosting.md says, in front of `upstream`; yields its URL."""
    binary = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if binary is None:
        pytest.skip(f"{name} is not installed")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if name == "nginx":
        (folder / "nginx.conf").write_text(nginx_config(upstream, port, folder))
        command = [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    else:
        (folder / "Caddyfile").write_text(caddy_config(upstream, port, folder))
        command = [binary, "run", "--config", str(folder / "Caddyfile"), "--adapter", "caddyfile"]
    running = started(command, url, folder)
    try:
        yield url
    finally:
        running.terminate()
        running.wait(10)


class Counting(http.server.BaseHTTPRequestHandler):
    """An upstream that reads whatever body reaches it and keeps count (`received`)."""

    received: list[int] = []

    def do_GET(self):  # the health check `started` makes
        self.send_response(200)
        self.end_headers()

    def do_PUT(self):
        expected, total = int(self.headers.get("Content-Length", 0)), 0
        while total < expected and (chunk := self.rfile.read1(65536)):
            total += len(chunk)
        Counting.received.append(total)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("name", ["nginx", "caddy"])
def test_the_documented_proxy_passes_the_app_and_its_answers(name, app_url, tmp_path):
    with documented_proxy(name, app_url, tmp_path) as url:
        page = urllib.request.urlopen(url, timeout=10).read()
        assert b"<title>" in page  # Streamlit's page, through the proxy
        with anonymous_session(url) as (http_session, session_id):  # the WebSocket passes through
            assert upload_as(http_session, url, session_id, MB // 2) == 403  # the app's gate: never signed in
            if name == "nginx":  # 20 uploads a minute per address, 10 more at once
                statuses = [upload_as(http_session, url, session_id, 1_000, f"file-{n}") for n in range(15)]
                assert 429 in statuses and set(statuses) <= {403, 429}, statuses


@pytest.mark.parametrize("name", ["nginx", "caddy"])
def test_the_documented_proxy_never_passes_a_body_over_the_limit(name, tmp_path):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    Counting.received = []
    try:
        with documented_proxy(name, f"http://127.0.0.1:{upstream.server_port}", tmp_path) as url:
            import requests

            status = requests.put(f"{url}/_stcore/upload_file/session/file", data=b"x" * 3 * MB, timeout=60).status_code
            small = requests.put(f"{url}/_stcore/upload_file/session/file", data=b"x" * MB, timeout=60).status_code
    finally:
        upstream.shutdown()
    # nginx answers 413 from the length, before reading the body; Caddy 2.6 stops at the limit and answers 502.
    assert status == (413 if name == "nginx" else 502) and small == 204
    assert MB in Counting.received and max(Counting.received) <= 2 * MB, Counting.received
