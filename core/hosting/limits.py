"""What one person may use on a hosted installation: live runs at once, upload size, epochs and steps per run.

The boundary: `Limits` (0 means no limit) come from the settings, overridden by what an admin saved on the Team
page (`team/limits.json` in the data folder); the functions here say, in plain words, why a run or an upload goes
over them. Who the person is lives in `core.hosting.people`; refusing a whole launch in `core.hosting.vetting`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from core.config.train_config import TrainConfig
from core.engine.run_folder import read_json, write_json_atomic
from core.engine.runs import list_runs
from core.hosting.people import AccessError
from core.hosting.settings import Settings
from core.messages import counted
from core.workspace import Workspace

LIMITS_FILE = Path("team") / "limits.json"


@dataclass(frozen=True)
class Limits:
    """What one person may use. 0 means no limit."""

    max_live_runs: int = 0  # runs waiting or training at once
    max_upload_mb: int = 0
    max_epochs: float = 0.0
    max_steps: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) < 0:
                raise AccessError(f"{item.name.replace('_', ' ')} cannot be negative (0 means no limit).")


def current_limits(root: Path, settings: Settings) -> Limits:
    """The settings' limits, overridden by what an admin saved on the Team page."""
    saved = read_json(root / LIMITS_FILE, {}) or {}
    defaults = Limits.from_settings(settings)
    known = {f.name: type(getattr(defaults, f.name))(saved[f.name]) for f in fields(Limits) if f.name in saved}
    return replace(defaults, **known)


def save_limits(root: Path, limits: Limits) -> None:
    (root / LIMITS_FILE).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / LIMITS_FILE, asdict(limits))


def limit_problem(config: TrainConfig, limits: Limits, live_runs: int, train_rows: int | None) -> str | None:
    """Why this person may not start this run now, in plain words; None when they may."""
    if limits.max_live_runs and live_runs >= limits.max_live_runs:
        return (f"You already have {counted(live_runs, 'run')} waiting or training; the limit is "
                f"{limits.max_live_runs} per person. Wait for one to finish, or stop one on the Runs page.")
    if limits.max_epochs and config.epochs > limits.max_epochs and config.max_steps <= 0:
        return f"Runs here may train for at most {limits.max_epochs:g} epochs. Lower 'Epochs' to {limits.max_epochs:g}."
    steps = planned_steps(config, train_rows)
    if limits.max_steps and (steps is None or steps > limits.max_steps):
        planned = f"This run would take about {steps:,} steps; " if steps else ""
        return (f"{planned}runs here may train for at most {limits.max_steps:,} steps. Set 'Max steps' (under "
                f"'More settings') to {limits.max_steps:,} or less, or lower the epochs.")
    return None


def planned_steps(config: TrainConfig, train_rows: int | None) -> int | None:
    """Training steps the run will take: its max_steps, or rows ÷ batch size × epochs. None when that cannot be
    known before training (a language model's steps depend on how its text is tokenised)."""
    if config.max_steps > 0:
        return config.max_steps
    if train_rows is None or config.task == "text-generation":
        return None
    return math.ceil(math.ceil(train_rows / config.batch_size) * config.epochs)


def live_run_count(workspace: Workspace) -> int:
    return sum(1 for run in list_runs(workspace) if run.status.is_live)


def upload_problem(size_bytes: int, limits: Limits) -> str | None:
    if limits.max_upload_mb and size_bytes > limits.max_upload_mb * 2**20:
        return (f"The file is {size_bytes / 2**20:.1f} MB; files here may be at most {limits.max_upload_mb} MB. "
                "Upload a sample of it.")
    return None
