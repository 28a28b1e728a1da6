"""The run folder's files: their names, and the one way to write and read each.

    runs/<run id>/
        config.json      the TrainConfig; written last when a run is created, so a folder without it is no run
        status.json      a RunStatus (`core.engine.run_status`), rewritten whole as training goes
        metrics.jsonl    one JSON object per log or evaluation, append-only
        samples.jsonl    a language model's sample text at each evaluation, append-only
        train.log        everything the worker printed
        checkpoints/     Trainer checkpoints while a run can still be resumed
        model/           the final model as safetensors + its tokenizer
        eval.json        final validation metrics, confusion matrix, worst mistakes

Every whole-file write is atomic (`write_json_atomic`): pages poll these files every second and must never see
half a file, and a full or read-only disk leaves the old file in place. Every read is defensive: a file cut off,
hand-edited or written by something else never raises in a reader. `read_status` reports such a status.json as a
DAMAGED status saying what is wrong; the lenient readers skip what they cannot use. The boundary: files only; what
runs exist is `core.engine.runs`, their processes `core.engine.run_processes`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.engine.run_status import RunStatus, StatusDamage
from core.messages import PlainError
from core.workspace import write_text_atomic

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.jsonl"  # written by core.tasks.text_generation.callbacks, shown by ui.runs.samples_view
LOG_FILE = "train.log"
EVAL_FILE = "eval.json"
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT_PREFIX = "checkpoint-"  # the Trainer's name for checkpoints/checkpoint-<step>
TRAINER_STATE_FILE = "trainer_state.json"  # written last into a checkpoint by the Trainer
# A saved model folder holds one of these: a whole model's config, or a LoRA adapter's (loaded over its base).
MODEL_MARKERS = ("config.json", "adapter_config.json")


class DamagedFile(PlainError):
    """A run file exists but cannot be used; the message names the file and what is wrong with it."""


# ---------------------------------------------------------------------------------------------------- JSON files


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2))


def load_json(path: Path) -> Any:
    """A JSON file's content, or DamagedFile saying plainly why it cannot be read (FileNotFoundError if absent)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        raise DamagedFile(f"{path.name} cannot be read ({_reason(error)})") from error
    if not text.strip():
        raise DamagedFile(f"{path.name} is empty (it was being written when the disk filled or the machine stopped)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DamagedFile(f"{path.name} is not valid JSON ({error.msg} at line {error.lineno})") from error


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file's content, or `default` when it is missing or cannot be read."""
    try:
        return load_json(path)
    except (FileNotFoundError, DamagedFile):
        return default


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON file holding an object, or None (missing, unreadable, or holding something else)."""
    value = read_json(path)
    return value if isinstance(value, dict) else None


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__


# ---------------------------------------------------------------------------------------------------- status


def read_status(run_dir: Path) -> RunStatus:
    """status.json as a RunStatus; a missing or damaged file is a DAMAGED status that says what is wrong."""
    try:
        return RunStatus.from_json(load_json(run_dir / STATUS_FILE))
    except FileNotFoundError:
        return RunStatus.damaged(f"{STATUS_FILE} is missing")
    except DamagedFile as error:
        return RunStatus.damaged(str(error))
    except StatusDamage as error:
        return RunStatus.damaged(f"{STATUS_FILE}: {error}")


def write_status(run_dir: Path, status: RunStatus) -> None:
    write_json_atomic(run_dir / STATUS_FILE, status.to_json())


def is_first_process() -> bool:
    """False in the second and later processes of a multi-GPU (torchrun) run: only the first one writes the run's
    files, so a run on 4 GPUs logs once, not four times."""
    return os.environ.get("RANK", "0") == "0"


def update_status(run_dir: Path, *, every_process: bool = False, **changes: Any) -> RunStatus:
    """Change some fields of status.json (named as RunStatus names them) and return the new status.

    A damaged file stays as it is unless the change gives the run a state (a worker starting or failing): a
    progress note written into it would only hide the damage behind a half-known status.
    """
    status = replace(read_status(run_dir), **changes)
    if status.is_damaged or not (every_process or is_first_process()):
        return status
    status = replace(status, updated_at=time.time())
    write_status(run_dir, status)
    return status


# ---------------------------------------------------------------------------------------------------- JSON lines


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON object line of an append-only file. A line the worker is still writing, or anything
    that is not an object (a hand-edited `[1, 2]`), is skipped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS_FILE, "a") as file:
        file.write(json.dumps(record) + "\n")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The logged records, each with its step: only numbers, which is all the worker writes and the charts draw."""
    records = []
    for record in read_jsonl(run_dir / METRICS_FILE):
        numbers = {key: value for key, value in record.items() if _is_number(value)}
        if isinstance(numbers.get("step"), int):
            records.append(numbers)
    return records


def read_samples(run_dir: Path) -> list[dict[str, Any]]:
    """A language model's samples ({"step", "prompt", "text"}), those with text only."""
    return [sample for sample in read_jsonl(run_dir / SAMPLES_FILE)
            if isinstance(sample.get("text"), str) and isinstance(sample.get("prompt", ""), str)
            and (sample.get("step") is None or isinstance(sample.get("step"), int))]


def tail_log(run_dir: Path, lines: int = 40) -> str:
    try:
        with open(run_dir / LOG_FILE, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 20000))
            return "\n".join(file.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """The run's Trainer checkpoints, oldest first."""
    found = [p for p in (run_dir / CHECKPOINTS_DIR).glob(f"{CHECKPOINT_PREFIX}*")
             if p.name.removeprefix(CHECKPOINT_PREFIX).isdigit()]
    return sorted(found, key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX)))
