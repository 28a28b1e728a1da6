"""The proxy settings docs/hosting.md gives (nginx, Caddy), run as written in front of `serve.py`: the app works
through them, a visitor's upload gets the app's 403, a body over the limit is stopped by the proxy, and (nginx) a
burst of uploads from one address gets 429.

The configurations are read from docs/hosting.md itself, so the documented settings are the tested ones. Only what
cannot run in a test is changed: plain HTTP on a free local port instead of TLS on 443, the app's port, and a 2 MB
body limit in place of 101 MB (the app's own limit is 1 MB here). Skipped where nginx or Caddy is not installed
(Debian: apt-get install nginx-light caddy).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import ROOT, anonymous_session, free_port, start_served_app, stop_app, upload_as

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
            .replace("127.0.0.1:8501", app.removeprefix("http://")).replace("max_size 101MB", "max_size 2MB"))
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


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request, app_url, tmp_path):
    binary = shutil.which(request.param) or shutil.which(request.param, path="/usr/sbin")
    if binary is None:
        pytest.skip(f"{request.param} is not installed")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if request.param == "nginx":
        (tmp_path / "nginx.conf").write_text(nginx_config(app_url, port, tmp_path))
        command = [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"]
    else:
        (tmp_path / "Caddyfile").write_text(caddy_config(app_url, port, tmp_path))
        command = [binary, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"]
    running = started(command, url, tmp_path)
    yield request.param, url
    running.terminate()
    running.wait(10)


def test_the_documented_proxy_passes_the_app_and_holds_back_what_it_must(proxy):
    name, url = proxy
    page = urllib.request.urlopen(url, timeout=10).read()
    assert b"<title>" in page  # Streamlit's page, through the proxy
    with anonymous_session(url) as (http, session_id):  # the WebSocket passes through
        assert upload_as(http, url, session_id, MB // 2) == 403  # the app's gate: this visitor never signed in
        # Over the proxy's body limit: nginx answers 413 from the Content-Length, before reading the body; Caddy 2.6
        # stops reading at the limit and answers 502 (later versions 413).
        assert upload_as(http, url, session_id, 3 * MB) == (413 if name == "nginx" else 502)
        if name == "nginx":  # 20 uploads a minute per address, 10 more at once
            statuses = [upload_as(http, url, session_id, 1_000, f"file-{n}") for n in range(15)]
            assert 429 in statuses and set(statuses) <= {403, 429}, statuses
