"""A settings search's folder: its files, the one way to read each, and starting, listing and stopping searches.

    searches/<search id>/
        search.json      the base config, the search space, the budget, and each trial's run and result
                         (`SearchRecord`); written whole by the search's driver, read every few seconds by the page
        optuna.journal   Optuna's own record of the study: JSON lines (a JournalFileBackend), never a pickle
        driver.json      the driver's process id, for telling whether it still lives
        stop             present once someone asked the search to stop
        search.log       everything the driver printed

Each trial is an ordinary run in the workspace's runs/ folder, queued like any other. The page only reads these
files and creates the `stop` file, so a refresh or a second browser simply reads them again; the driver
(`python -m core.search.driver SEARCH_DIR`) is a process of its own, never a thread of the web server.
The boundary: files and the driver's process; what is sampled is `core.search.driver`, what is varied
`core.search.space`.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import psutil

from core.config.catalog import TASKS
from core.config.knobs import check_limits, knob
from core.config.train_config import TrainConfig
from core.engine.run_folder import DamagedFile, load_json, read_json_object, write_json_atomic
from core.search.space import Dimension, search_space
from core.workspace import PROJECT_ROOT, Workspace, safe_name

SEARCH_FILE = "search.json"
JOURNAL_FILE = "optuna.journal"
DRIVER_FILE = "driver.json"
STOP_FILE = "stop"
LOG_FILE = "search.log"
SEARCHES_DIR = "searches"


class SearchState(StrEnum):
    STARTING = "starting"  # made by the page; its driver process is starting
    RUNNING = "running"
    FINISHED = "finished"  # the time was spent
    STOPPED = "stopped"  # a person stopped it
    FAILED = "failed"


LIVE_SEARCH_STATES = frozenset({SearchState.STARTING, SearchState.RUNNING})


class TrialState(StrEnum):
    RUNNING = "running"  # queued or training
    COMPLETED = "completed"
    PRUNED = "pruned"  # stopped early: its scores so far were below the tries before it
    CUT_SHORT = "cut short"  # stopped when the search's time ran out
    STOPPED = "stopped"  # a person stopped its run
    FAILED = "failed"


@dataclass(frozen=True)
class SearchSettings:
    budget_seconds: float = knob(900.0, "How long the search may take, in seconds: it starts no try that would not "
                                        "finish in time, and stops any still training when the time is up.",
                                 min=30.0, max=7 * 24 * 3600.0)
    parallel_trials: int = knob(1, "How many tries train at the same time: as many as the GPUs that share the queue "
                                   "(each try waits in the queue like any run).", min=1, max=64)

    def __post_init__(self) -> None:
        check_limits(self)


@dataclass(frozen=True)
class TrialRecord:
    number: int
    run: str  # the run's id in the workspace ("" when its settings could not make a run)
    params: dict[str, Any]
    state: TrialState = TrialState.RUNNING
    score: float | None = None
    message: str = ""
    started_at: float | None = None
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "run": self.run, "params": self.params, "state": str(self.state),
                "score": self.score, "message": self.message, "started_at": self.started_at,
                "finished_at": self.finished_at}

    @classmethod
    def from_json(cls, data: Any) -> TrialRecord:
        if not isinstance(data, dict) or not isinstance(data.get("number"), int) or data.get("state") not in \
                TrialState._value2member_map_ or not isinstance(data.get("params", {}), dict):
            raise DamagedFile(f"{SEARCH_FILE} holds a trial that is not one: {str(data)[:80]}")
        score = data.get("score")
        return cls(number=data["number"], run=str(data.get("run") or ""), params=data.get("params") or {},
                   state=TrialState(data["state"]), message=str(data.get("message") or ""),
                   score=float(score) if _is_number(score) and math.isfinite(score) else None,
                   started_at=_number_or_none(data.get("started_at")),
                   finished_at=_number_or_none(data.get("finished_at")))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


@dataclass(frozen=True)
class SearchRecord:
    """Everything search.json holds."""

    folder: Path
    base_config: TrainConfig
    space: tuple[Dimension, ...]
    settings: SearchSettings
    state: SearchState = SearchState.STARTING
    message: str = ""
    owner: str = ""
    created_at: float | None = None
    started_at: float | None = None
    deadline: float | None = None
    finished_at: float | None = None
    skipped: int = 0  # suggestions too long for the time left (tried with fewer epochs, or not at all)
    trials: tuple[TrialRecord, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def metric(self) -> str:
        return TASKS[self.base_config.task].metric

    @property
    def greater_is_better(self) -> bool:
        return TASKS[self.base_config.task].greater_is_better

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_SEARCH_STATES

    @property
    def best(self) -> TrialRecord | None:
        """The completed try with the best score (the earliest, when several tie)."""
        scored = [trial for trial in self.trials if trial.state is TrialState.COMPLETED and trial.score is not None]
        if not scored:
            return None
        sign = 1 if self.greater_is_better else -1
        return max(scored, key=lambda trial: (sign * trial.score, -trial.number))

    def to_json(self) -> dict[str, Any]:
        return {"base_config": self.base_config.to_dict(), "space": [d.to_json() for d in self.space],
                "budget_seconds": self.settings.budget_seconds, "parallel_trials": self.settings.parallel_trials,
                "state": str(self.state), "message": self.message, "owner": self.owner,
                "created_at": self.created_at, "started_at": self.started_at, "deadline": self.deadline,
                "finished_at": self.finished_at, "skipped": self.skipped,
                "trials": [trial.to_json() for trial in self.trials]}

    @classmethod
    def from_json(cls, folder: Path, data: Any) -> SearchRecord:
        """The record a file holds, or DamagedFile saying what is wrong with it."""
        if not isinstance(data, dict):
            raise DamagedFile(f"{SEARCH_FILE} does not hold a search")
        try:
            config = TrainConfig.from_dict(data["base_config"])
            space = tuple(Dimension.from_json(item) for item in data["space"])
            settings = SearchSettings(budget_seconds=data["budget_seconds"],
                                      parallel_trials=data.get("parallel_trials", 1))
            state = SearchState(data.get("state", SearchState.STARTING))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DamagedFile(f"{SEARCH_FILE} cannot be used ({error})") from error
        trials = data.get("trials") or []
        if not isinstance(trials, list):
            raise DamagedFile(f"{SEARCH_FILE}: its trials are not a list")
        return cls(folder=folder, base_config=config, space=space, settings=settings, state=state,
                   message=str(data.get("message") or ""), owner=str(data.get("owner") or ""),
                   created_at=_number_or_none(data.get("created_at")),
                   started_at=_number_or_none(data.get("started_at")),
                   deadline=_number_or_none(data.get("deadline")),
                   finished_at=_number_or_none(data.get("finished_at")),
                   skipped=data.get("skipped") if isinstance(data.get("skipped"), int) else 0,
                   trials=tuple(TrialRecord.from_json(item) for item in trials))


# ---------------------------------------------------------------------------------------------------- files


def searches_folder(workspace: Workspace) -> Path:
    folder = workspace.root / SEARCHES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_search(record: SearchRecord) -> None:
    write_json_atomic(record.folder / SEARCH_FILE, record.to_json())


def load_search(folder: Path) -> SearchRecord:
    """search.json as written, or DamagedFile (FileNotFoundError when there is none)."""
    return SearchRecord.from_json(folder, load_json(folder / SEARCH_FILE))


def read_search(folder: Path) -> SearchRecord:
    """The search as the page shows it: a live search whose driver has gone (killed, machine restarted) is shown
    as failed, saying so. DamagedFile when search.json cannot be used."""
    try:
        record = load_search(folder)
    except FileNotFoundError:
        raise DamagedFile(f"{SEARCH_FILE} is missing") from None
    if record.is_live and not driver_alive(folder) and time.time() - (record.created_at or 0) > 30:
        return replace(record, state=SearchState.FAILED, message=(
            "The search's process ended unexpectedly (it was killed, or the machine restarted). Its tries so far "
            "are kept below; start a new search to go on."))
    return record


def list_searches(workspace: Workspace) -> list[Path]:
    """The search folders, newest first."""
    folders = [f for f in searches_folder(workspace).iterdir() if (f / SEARCH_FILE).is_file()]
    return sorted(folders, key=lambda f: f.name, reverse=True)


def get_search(workspace: Workspace, search_id: str) -> Path | None:
    folder = searches_folder(workspace) / safe_name(search_id)
    return folder if (folder / SEARCH_FILE).is_file() else None


def new_search_id(config: TrainConfig) -> str:
    return safe_name(f"{time.strftime('%Y%m%d-%H%M%S')}-search-{config.dataset}")


def create_search(workspace: Workspace, config: TrainConfig, settings: SearchSettings, owner: str = "") -> Path:
    """A new search folder around this config, waiting for its driver; OSError if the folder cannot be made."""
    root = searches_folder(workspace)
    folder, suffix = root / new_search_id(config), 1
    while folder.exists():
        suffix += 1
        folder = root / f"{new_search_id(config)}-{suffix}"
    folder.mkdir()
    write_search(SearchRecord(folder=folder, base_config=config, space=search_space(config), settings=settings,
                              owner=owner, created_at=time.time(), message="Starting…"))
    return folder


def request_search_stop(folder: Path) -> None:
    """Ask the driver to stop: it stops the tries still training (keeping their models) and marks the best."""
    (folder / STOP_FILE).touch()


def stop_requested(folder: Path) -> bool:
    return (folder / STOP_FILE).exists()


# ---------------------------------------------------------------------------------------------------- driver


def driver_command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "core.search.driver", str(folder)]


def start_driver(folder: Path) -> subprocess.Popen:
    """Start the search's driver in its own session (so it outlives a browser refresh or a server restart)."""
    with open(folder / LOG_FILE, "ab") as log:
        process = subprocess.Popen(driver_command(folder), cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        created = psutil.Process(process.pid).create_time()
    except psutil.Error:
        created = None
    write_json_atomic(folder / DRIVER_FILE, {"pid": process.pid, "pid_created": created})
    threading.Thread(target=process.wait, daemon=True).start()  # reaped, never a zombie of the web server
    return process


def driver_alive(folder: Path) -> bool:
    info = read_json_object(folder / DRIVER_FILE) or {}
    pid, created = info.get("pid"), info.get("pid_created")
    if not isinstance(pid, int):
        return False
    try:
        process = psutil.Process(pid)
        same = not _is_number(created) or abs(process.create_time() - created) < 1.0  # pids are reused
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
