"""A run's status as typed data: `RunState` (what it is doing) and `RunStatus` (everything status.json holds).

status.json is written by the queue, the worker and the pages, and read every second by every page that shows the
run. This module is the one place that knows its fields and their types: `RunStatus.from_json` turns whatever is in
the file into a `RunStatus`, or says in plain words what is wrong with it (`StatusDamage`), and `to_json` writes
the same JSON the file always held (`RunState` is a `StrEnum`, so states stay the strings "queued", "running"…).
Reading and writing the file itself is `core.engine.run_folder`'s job.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Union, get_args, get_origin, get_type_hints


class RunState(StrEnum):
    QUEUED = "queued"  # waiting in the queue for a GPU (or a CPU slot)
    STARTING = "starting"  # the worker process is being started
    RUNNING = "running"
    STOPPING = "stopping"  # asked to stop: finishing the current step and saving the model
    COMPLETED = "completed"
    STOPPED = "stopped"  # stopped by a person (or cancelled while it waited); its model so far is kept
    FAILED = "failed"
    # Never written: what a reader makes of a run whose files it cannot read (a half-written or hand-edited file).
    DAMAGED = "damaged"


LIVE_STATES = frozenset({RunState.QUEUED, RunState.STARTING, RunState.RUNNING, RunState.STOPPING})
# A worker process is (or should be) alive in these: one that vanished without a word means the run failed.
WORKER_STATES = frozenset({RunState.STARTING, RunState.RUNNING, RunState.STOPPING})
FINAL_STATES = frozenset({RunState.COMPLETED, RunState.STOPPED, RunState.FAILED})
RESUMABLE_STATES = frozenset({RunState.STOPPED, RunState.FAILED})


class StatusDamage(ValueError):
    """status.json holds something no writer of it ever writes; the message says what, in plain words."""


@dataclass(frozen=True)
class RunStatus:
    state: RunState = RunState.QUEUED
    message: str = ""
    # When (seconds since the epoch): created, last written, put in the queue, started, and finished.
    created_at: float | None = None
    updated_at: float | None = None
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    owner: str = ""  # who queued it (their e-mail or name on a hosted app)
    # The worker (or torchrun, for a multi-GPU run): its pid, that pid's start time (pids are reused), and how
    # it was started, which decides how it is asked to stop.
    pid: int | None = None
    pid_created: float | None = None
    launcher: str = "python"
    gpus: tuple[int, ...] = ()
    device: str = ""
    step: int = 0
    max_steps: int = 0
    epoch: float | None = None
    elapsed_seconds: float | None = None
    eta_seconds: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # what the pipeline says of its model and data
    headline: dict[str, float] = field(default_factory=dict)  # the final evaluation's main numbers
    # Early stopping: the run ended before its last step because validation stopped improving; the model kept
    # is the one from the best check, at this step and epoch.
    stopped_early: bool = False
    kept_step: int | None = None
    kept_epoch: float | None = None
    copied_from: str = ""  # "<person> · <run id>" for a run copied from a team mate
    extra: dict[str, Any] = field(default_factory=dict)  # fields this version does not know, kept as they were

    def __post_init__(self) -> None:
        # Callers name states through RunState; a hand-typed string is a bug this catches where it is made.
        if not isinstance(self.state, RunState):
            raise TypeError(f"state must be a RunState, not {self.state!r}")
        object.__setattr__(self, "gpus", tuple(self.gpus))

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_damaged(self) -> bool:
        return self.state is RunState.DAMAGED

    @property
    def worker_expected(self) -> bool:
        return self.state in WORKER_STATES

    def to_json(self) -> dict[str, Any]:
        data = {item.name: getattr(self, item.name) for item in fields(self) if item.name != "extra"}
        data["gpus"] = list(self.gpus)
        return {**self.extra, **data}

    @classmethod
    def from_json(cls, data: Any) -> RunStatus:
        """The status a file holds, or StatusDamage saying what is wrong with it."""
        if not isinstance(data, dict):
            raise StatusDamage(f"it holds {kind_of(data)}, not a status")
        if "state" not in data:
            raise StatusDamage("it has no state")
        hints = _field_types()
        values: dict[str, Any] = {"extra": {k: v for k, v in data.items() if k not in hints}}
        for name, hint in hints.items():
            if name in data and name != "extra":
                values[name] = _checked(name, data[name], hint)
        return cls(**values)

    @classmethod
    def damaged(cls, what: str) -> RunStatus:
        return cls(state=RunState.DAMAGED, message=what)


def _field_types() -> dict[str, Any]:
    return get_type_hints(RunStatus)


def kind_of(value: Any) -> str:
    """What a JSON value is, in words: "a list", "text"…"""
    names = {list: "a list", dict: "an object", str: "text", bool: "true/false", type(None): "nothing (null)"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _checked(name: str, value: Any, hint: Any) -> Any:
    """`value` as field `name` holds it, or StatusDamage naming the field, what it holds and what it should."""
    options = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in (o for o in options if o is not type(None)):
        converted = _as(option, value)
        if converted is not _WRONG:
            return converted
    shown = repr(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else kind_of(value)
    wanted = next(_WANTED[_plain(option)] for option in options if _plain(option) in _WANTED)
    if get_args(hint)[1:] == (float,):
        wanted = "an object of numbers"
    raise StatusDamage(f"its {name.replace('_', ' ')} is {shown}, not {wanted}")


def _plain(option: Any) -> Any:
    return get_origin(option) or option


_WANTED = {int: "a whole number", float: "a number", str: "text", bool: "true or false", RunState: "a known state",
           tuple: "a list of whole numbers", dict: "an object"}
_WRONG = object()


def _is_number(value: Any) -> bool:
    # true/false is an int to Python, never a number in this file. NaN is (an R² of a constant target is one).
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as(option: Any, value: Any) -> Any:
    """`value` converted to `option` (one type a field may hold), or _WRONG."""
    plain = _plain(option)
    if plain is RunState:
        known = isinstance(value, str) and value in RunState._value2member_map_ and value != RunState.DAMAGED
        return RunState(value) if known else _WRONG
    checks = {
        bool: lambda: isinstance(value, bool),
        int: lambda: _is_number(value) and isinstance(value, int),
        float: lambda: _is_number(value),
        str: lambda: isinstance(value, str),
        tuple: lambda: isinstance(value, list) and all(_is_number(v) and isinstance(v, int) for v in value),
        # A dict of numbers (the headline) must hold numbers: the pages round and compare them.
        dict: lambda: isinstance(value, dict) and (get_args(option)[1:] != (float,)
                                                   or all(_is_number(v) for v in value.values())),
    }
    if not checks[plain]():
        return _WRONG
    return {float: float, tuple: tuple}.get(plain, lambda v: v)(value)
