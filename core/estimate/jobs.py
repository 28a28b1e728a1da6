"""Probes started from the pages: `python -m core.estimate.measurement` as a process of its own, one per measurement.

A probe trains real steps, so it never runs in the web server: it is started in its own session, at a worker's
lower CPU priority, its output in `<workspace>/estimates/<key>.log`. A marker file `<key>.running` (the process id
and its start time, made with O_EXCL so two sessions never start the same probe) says it is measuring; the probe
writes `<key>.json` when done, whatever the outcome. A marker whose process is gone without a result means the probe
was killed (out of memory, a restart): the page says so and offers to measure again rather than retrying forever.

An installation can have probes started only when asked (`MODE_VARIABLE`). The page starts no probe while a run
trains in the same workspace: on a CPU both would share the same cores, the measurement would come out slow and the
run be slowed too; on a GPU the probe would take memory the run may need.

The boundary: starting, watching and ending probe processes; what they measure is `core.estimate.probe`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from core.engine.launcher import WORKER_NICENESS, end_process_tree
from core.engine.run_folder import STATUS_FILE, read_status
from core.engine.run_status import WORKER_STATES
from core.estimate.measurement import estimates_folder, measurement_path
from core.workspace import PROJECT_ROOT, Workspace

RUNNING_SUFFIX = ".running"
# "manual": the Train page measures only when asked (a button), for installations (or test suites) where probes
# started by every visit to the page would compete with the runs; anything else: it measures by itself.
MODE_VARIABLE = "AI_PLAYGROUND_ESTIMATES"
STARTING_GRACE_SECONDS = 30.0  # a marker without a process id yet: the probe is being started


def measures_by_itself() -> bool:
    return os.environ.get(MODE_VARIABLE, "").strip().lower() != "manual"


def marker_path(workspace: Workspace, key: str) -> Path:
    return estimates_folder(workspace) / f"{key}{RUNNING_SUFFIX}"


def _marker(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(marker: dict) -> bool:
    pid, created = marker.get("pid"), marker.get("created")
    if not pid:
        return time.time() - float(marker.get("started", 0)) < STARTING_GRACE_SECONDS
    try:
        process = psutil.Process(int(pid))
        same = created is None or abs(process.create_time() - float(created)) < 1.0
        return same and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def probe_started(workspace: Workspace, key: str) -> float | None:
    """When the probe measuring `key` started, while it still runs; else None."""
    marker = _marker(marker_path(workspace, key))
    return float(marker.get("started", time.time())) if marker and _alive(marker) else None


def probe_vanished(workspace: Workspace, key: str) -> bool:
    """A probe of `key` was started but its process is gone without leaving a measurement."""
    path = marker_path(workspace, key)
    marker = _marker(path)
    return marker is not None and not _alive(marker) and not measurement_path(workspace, key).exists()


def probes_running(workspace: Workspace) -> list[str]:
    """The keys being measured now in this workspace."""
    keys = [path.name.removesuffix(RUNNING_SUFFIX) for path in estimates_folder(workspace).glob(f"*{RUNNING_SUFFIX}")]
    return [key for key in keys if probe_started(workspace, key) is not None]


def training_now(workspace: Workspace) -> bool:
    """Whether a run of this workspace has a worker at work (starting, training or stopping)."""
    return any(read_status(status.parent).state in WORKER_STATES for status in workspace.runs.glob(f"*/{STATUS_FILE}"))


def start_probe(workspace: Workspace, config_json: str, key: str) -> bool:
    """Start measuring `key` (the config as JSON); False when a probe of it is already running or just ran."""
    path = marker_path(workspace, key)
    if probe_vanished(workspace, key):
        path.unlink(missing_ok=True)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        json.dump({"started": time.time()}, file)
    config_file = estimates_folder(workspace) / f"{key}.config.json"
    config_file.write_text(config_json)
    with open(estimates_folder(workspace) / f"{key}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.estimate.measurement", str(config_file), "--workspace", str(workspace.root),
             "--again"], cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    created = None
    with contextlib.suppress(psutil.Error):
        probe = psutil.Process(process.pid)
        probe.nice(WORKER_NICENESS)  # like a training run: the people clicking in the app go first
        created = probe.create_time()
    path.write_text(json.dumps({"started": time.time(), "pid": process.pid, "created": created}))
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends, never a zombie
    return True


def end_probe(workspace: Workspace, key: str) -> None:
    """End the probe measuring `key` (a configuration nobody looks at any more) and forget that it ran."""
    path = marker_path(workspace, key)
    marker = _marker(path)
    if marker and marker.get("pid") and _alive(marker):
        end_process_tree(int(marker["pid"]), grace_seconds=2.0)
    path.unlink(missing_ok=True)


def forget_probe(workspace: Workspace, key: str) -> None:
    """Let `key` be measured again: its result and its marker go."""
    measurement_path(workspace, key).unlink(missing_ok=True)
    if probe_started(workspace, key) is None:
        marker_path(workspace, key).unlink(missing_ok=True)
