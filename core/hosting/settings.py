"""Settings of the installation (not of a run): the job queue, GPU sharing, checkpoints, hosting.

A local user needs none of them: every field has a default that works on one machine with no server. Someone
hosting the app for a team sets them in `playground.toml` beside the code (or the file named by
`AI_PLAYGROUND_SETTINGS`), or as environment variables `AI_PLAYGROUND_<FIELD NAME IN CAPITALS>`, which win over
the file. Each field's `help` is the one line the docs and the admin page show.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import tomllib

from core.config.knobs import KnobError, check_limits, knob
from core.hosting.gpus import parse_gpu_list
from core.messages import PlainError
from core.workspace import HOME_VARIABLE, PROJECT_ROOT

SETTINGS_FILE_VARIABLE = "AI_PLAYGROUND_SETTINGS"
ENVIRONMENT_PREFIX = "AI_PLAYGROUND_"


KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


class SettingsError(PlainError, ValueError):
    """A setting has a value the app cannot use; the message names it and says what it accepts."""


@dataclass(frozen=True)
class Settings:
    queue_backend: str = knob("sqlite", "Where queued runs wait: 'sqlite' (a file, no server to start) or "
                                        "'redis' (one queue shared by several GPU machines).")
    queue_file: str = knob("", "The SQLite queue file (empty = queue/jobs.db under the data folder).")
    redis_url: str = knob("redis://localhost:6379/0", "The Redis server the 'redis' queue uses.")
    consume_here: bool = knob(True, "This machine trains queued runs. Turn off on a web server without GPUs "
                                    "whose runs are trained by GPU machines sharing its Redis queue.")
    gpus: str = knob("", "Which GPUs the queue may use, as their numbers (e.g. '0,1'); empty = all of them.")
    runs_per_gpu: int = knob(1, "How many runs may share one GPU at the same time.", min=1, max=16)
    cpu_runs: int = knob(1, "On a machine without a GPU: how many runs train at the same time.", min=1, max=64)
    checkpoint_every: int = knob(200, "Save a checkpoint every this many steps, so a crashed run resumes losing "
                                     "at most this much work (0 = only at each check).", min=0, max=10_000_000)
    # People and limits (hosting for a team). Off by default: a local user signs in to nothing.
    hosted: bool = knob(False, "Hosting for a team: everyone signs in, gets their own workspace, and sees the "
                               "team's runs read-only.")
    sign_in: str = knob("password", "How people sign in when hosted: 'password' (one team password from "
                                    "secrets, for a small team) or 'oidc' (Google, Microsoft, Okta… via st.login).")
    oidc_provider: str = knob("", "With sign_in = 'oidc': the provider's name under [auth] in secrets.toml "
                                  "(empty = the [auth] section itself).")
    allowed_emails: str = knob("", "With sign_in = 'oidc': e-mail addresses allowed in, separated by commas.")
    allowed_domains: str = knob("", "With sign_in = 'oidc': e-mail domains allowed in, separated by commas "
                                    "(example.org lets in everyone@example.org).")
    admins: str = knob("", "With sign_in = 'oidc': the e-mails of those who may stop any run and set the "
                           "limits, separated by commas. (With a team password, admins sign in with the "
                           "admin_password from secrets instead.)")
    max_live_runs: int = knob(0, "Runs one person may have waiting or training at once (0 = no limit).",
                              min=0, max=1000)
    max_upload_mb: int = knob(0, "Largest file one person may upload, in MB (0 = only the server's limit).",
                              min=0, max=100_000)
    max_epochs: float = knob(0.0, "Most epochs one run may ask for (0 = no limit).", min=0.0, max=1_000_000.0)
    max_steps: int = knob(0, "Most training steps one run may ask for (0 = no limit).", min=0, max=100_000_000)

    def __post_init__(self) -> None:
        if self.queue_backend not in ("sqlite", "redis"):
            raise SettingsError(f"queue_backend must be 'sqlite' or 'redis', not {self.queue_backend!r}.")
        if self.sign_in not in ("password", "oidc"):
            raise SettingsError(f"sign_in must be 'password' or 'oidc', not {self.sign_in!r}.")
        try:
            check_limits(self, label=str)  # named as written in playground.toml
        except KnobError as error:
            raise SettingsError(str(error)) from None  # what the app's start-up reports as a settings problem
        try:
            parse_gpu_list(self.gpus)
        except ValueError:
            raise SettingsError(f"gpus must be GPU numbers separated by commas (like 0,1), not {self.gpus!r}.") \
                from None

    @property
    def data_folder(self) -> Path:
        """The folder shared by everyone using this installation (the queue lives there)."""
        return Path(os.environ.get(HOME_VARIABLE) or PROJECT_ROOT / "workspace").resolve()

    @property
    def queue_path(self) -> Path:
        return Path(self.queue_file) if self.queue_file else self.data_folder / "queue" / "jobs.db"


def settings_file() -> Path:
    return Path(os.environ.get(SETTINGS_FILE_VARIABLE) or PROJECT_ROOT / "playground.toml")


def _convert(name: str, kind: type, raw: Any) -> Any:
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        return raw
    text = str(raw).strip()
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        return kind(text)
    except ValueError:
        raise SettingsError(f"The setting {name} must be {KIND_WORDS.get(kind, kind.__name__)}, not {raw!r}.") from None


def _kind(item) -> type:
    default = item.default if item.default is not MISSING else item.default_factory()
    return type(default)


def load_settings(environment: dict[str, str] | None = None, path: Path | None = None) -> Settings:
    """Defaults, then the TOML file, then environment variables. Cheap enough to call on every page run, which
    keeps no settings object alive between users."""
    environment = os.environ if environment is None else environment
    path = path or settings_file()
    from_file: dict[str, Any] = {}
    if path.is_file():
        try:
            from_file = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise SettingsError(f"{path} is not valid TOML: {error}") from None
    values: dict[str, Any] = {}
    for item in fields(Settings):
        raw = environment.get(ENVIRONMENT_PREFIX + item.name.upper(), from_file.get(item.name))
        if raw is not None:
            values[item.name] = _convert(item.name, _kind(item), raw)
    return Settings(**values)
