"""AI Playground for a team: `streamlit run serve.py` with the same flags as `app.py` (see docs/hosting.md).

The same app as `streamlit run app.py`, served through `st.App` so that the upload gate stands in front of it
(`core.hosting.upload_gate`): a visitor who has not signed in cannot make the server hold a file. A hosted app
(`hosted = true`) refuses to run without it. The largest upload is also lowered to the installation's per-person
limit (`max_upload_mb` in playground.toml), so Streamlit itself refuses a bigger file before reading it whole.
"""

from starlette.middleware import Middleware
from streamlit import config
from streamlit.starlette import App

from core.hosting.settings import load_settings
from core.hosting.upload_gate import UploadGate
from ui.common.auth import signed_in_sessions


def lower_upload_limit() -> None:
    """server.maxUploadSize (MB) down to max_upload_mb when that is set and smaller, whatever config.toml says."""
    per_person = load_settings().max_upload_mb
    if 0 < per_person < config.get_option("server.maxUploadSize"):
        config.set_option("server.maxUploadSize", per_person, "max_upload_mb in playground.toml")


lower_upload_limit()
app = App("app.py", middleware=[Middleware(UploadGate, sessions=signed_in_sessions)])
