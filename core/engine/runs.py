"""A workspace's runs: creating a run folder, finding runs, reading one run's files, deleting one.

The pages only read a run's files (`core.engine.run_folder` names them) and send a signal to stop it
(`core.engine.run_processes`), so a browser refresh, a second browser or a restarted server simply reads them
again. Runs are launched as separate processes in their own session, never as threads of the web server.
A run whose files are damaged (cut off by a full disk, edited by hand) is still listed: `Run.problem` says what is
wrong, so the pages show it as damaged, with a Delete button, instead of failing.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.engine.run_folder import (
    CONFIG_FILE,
    EVAL_FILE,
    METRICS_FILE,
    MODEL_DIR,
    MODEL_MARKERS,
    DamagedFile,
    checkpoint_folders,
    load_json,
    read_json_object,
    read_metrics,
    write_status,
)
from core.engine.run_processes import end_run_processes, refresh_status
from core.engine.run_status import RESUMABLE_STATES, RunState, RunStatus, kind_of
from core.messages import PlainError
from core.workspace import Workspace, safe_name

if TYPE_CHECKING:
    from core.config.train_config import TrainConfig

# core.config.train_config (and through it torch) is imported only where a config is read: the queue's consumer
# imports this module and should start in a blink and stay small.


class RunFolderError(PlainError):
    """A run's folder could not be made; the message says why and what to do."""


def read_config(folder: Path) -> TrainConfig:
    """The run's settings, or DamagedFile saying what is wrong with its config.json."""
    from core.config.train_config import TrainConfig

    try:
        data = load_json(folder / CONFIG_FILE)
    except FileNotFoundError:
        raise DamagedFile(f"{CONFIG_FILE} is missing") from None
    if not isinstance(data, dict):
        raise DamagedFile(f"{CONFIG_FILE} holds {kind_of(data)}, not a run's settings")
    try:
        return TrainConfig.from_dict(data)
    except (ValueError, TypeError, AttributeError, KeyError) as error:  # ConfigError and KnobError are ValueErrors
        raise DamagedFile(f"{CONFIG_FILE}: {error}") from error


@dataclass(frozen=True)
class Run:
    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def config(self) -> TrainConfig:
        """The run's settings; DamagedFile when config.json cannot be used (check `problem` first)."""
        return read_config(self.folder)

    @property
    def status(self) -> RunStatus:
        return refresh_status(self.folder)

    @property
    def problem(self) -> str | None:
        """What is damaged in this run's files, in plain words; None for a healthy run."""
        status = self.status
        if status.is_damaged:
            return status.message
        try:
            read_config(self.folder)
        except DamagedFile as error:
            return str(error)
        return None

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.folder)

    @property
    def evaluation(self) -> dict[str, Any] | None:
        return read_json_object(self.folder / EVAL_FILE)

    @property
    def model_dir(self) -> Path:
        return self.folder / MODEL_DIR

    @property
    def has_model(self) -> bool:
        return any((self.model_dir / name).is_file() for name in MODEL_MARKERS)

    @property
    def can_resume(self) -> bool:
        return self.status.state in RESUMABLE_STATES and bool(checkpoint_folders(self.folder))


def new_run_id(config: TrainConfig) -> str:
    model = config.model.name.removeprefix("bundled:").split("/")[-1]
    return safe_name(f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{config.dataset}")


def create_run(workspace: Workspace, config: TrainConfig) -> Run:
    """A new run folder, waiting to be queued. Its config.json is written last, as the mark of a whole run: a
    folder that could not be finished (a full disk) is removed, and RunFolderError says why."""
    folder = workspace.runs / new_run_id(config)
    suffix = 1
    while folder.exists():  # two runs started within the same second
        suffix += 1
        folder = workspace.runs / f"{new_run_id(config)}-{suffix}"
    try:
        folder.mkdir(parents=True)
        now = time.time()
        write_status(folder, RunStatus(state=RunState.QUEUED, message="Waiting to start.", created_at=now,
                                       updated_at=now))
        (folder / METRICS_FILE).touch()
        config.save(folder / CONFIG_FILE)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise RunFolderError(f"The run could not be created: {error.strerror or error}. Free some disk space (or "
                             "ask whoever runs this app to), then press Start again.") from error
    return Run(folder)


def list_runs(workspace: Workspace) -> list[Run]:
    folders = [f for f in workspace.runs.iterdir() if (f / CONFIG_FILE).is_file()]
    return [Run(f) for f in sorted(folders, key=lambda f: f.name, reverse=True)]


def runs_with_model(workspace: Workspace) -> list[Run]:
    """Runs with a trained model to try, and whole files (a damaged run's settings cannot say what it is)."""
    return [run for run in list_runs(workspace) if run.has_model and run.problem is None]


def get_run(workspace: Workspace, run_id: str) -> Run | None:
    folder = workspace.runs / safe_name(run_id)
    return Run(folder) if (folder / CONFIG_FILE).is_file() else None


def delete_run(run: Run) -> None:
    end_run_processes(run.folder)
    shutil.rmtree(run.folder, ignore_errors=True)
