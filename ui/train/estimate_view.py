"""Before Start: how long the run will take and how much memory it needs, measured on this machine.

Under the preset, one line: "Quick · about 4 min on this CPU · needs ~1.2 GB of 24 GB". The numbers come from a
probe (`core.estimate.jobs` starts `python -m core.estimate.measurement` as its own process, never in the
server) that trains a few real steps of the exact configuration; measurements are cached per configuration, and
later runs of the same one on this machine correct the estimate (`core.estimate.extrapolation.calibration`). While the
probe runs, a fragment polls every second, and the page stays usable.

A probe starts only on the fragment's own timer, never in a full run of the page: every click on the form runs the
whole page again and restarts the count, so only a configuration left alone for a second gets measured, not each one
a person clicks through (and AppTest, which has no timers, never starts one by itself). This session's probe of a
configuration no longer on screen is ended.

A run over 30 minutes gets a warning with the quickest ways to cut it, and one that would not fit in memory an
error with the settings that fit (`core.estimate.advice`), each one click: the click writes the settings
into the form's widgets and runs the page again.
"""

from __future__ import annotations

import time
from typing import Any

import psutil
import streamlit as st

from core.config.train_config import TrainConfig
from core.data.dataset_store import PreparedDataset
from core.engine.training import plan_device
from core.estimate import jobs as estimate_jobs
from core.estimate.advice import Remedy, fitting_memory, shorter_run
from core.estimate.extrapolation import (
    LONG_RUN_SECONDS,
    Estimate,
    calibrated,
    describe,
    fits_gpu,
    fits_ram,
    plain_duration,
)
from core.estimate.measurement import Measurement, cached_measurement, measurement_key
from core.messages import PlainError
from core.workspace import Workspace
from ui.train import memory

POLL_SECONDS = 1.0
PROBE_KEY = "train_estimate_probe"  # the measurement this session's probe is taking
TICKS_KEY = "train_estimate_ticks"  # fragment runs since the page last ran whole


def show(workspace: Workspace, config: TrainConfig, dataset: PreparedDataset, preset: str) -> None:
    """The estimate for `config`, or word that it is being measured (polling until it is ready)."""
    try:
        device = plan_device(config.device)
    except PlainError:
        return  # the run itself will say why it cannot start
    key = measurement_key(config, dataset, device.description)
    _end_abandoned_probe(workspace, key)
    st.session_state[TICKS_KEY] = 0
    ready = cached_measurement(workspace, key) is not None

    @st.fragment(run_every=None if ready else POLL_SECONDS)
    def panel() -> None:
        st.session_state[TICKS_KEY] = st.session_state.get(TICKS_KEY, 0) + 1
        measurement = cached_measurement(workspace, key)
        if measurement is None:
            _waiting(workspace, config, key)
        elif not ready:
            st.rerun()  # measured: draw the whole page once, which also stops the polling
        else:
            _result(workspace, config, dataset, preset, measurement)

    panel()


def _end_abandoned_probe(workspace: Workspace, key: str) -> None:
    previous = st.session_state.get(PROBE_KEY)
    if previous and previous != key:
        estimate_jobs.end_probe(workspace, previous)
        st.session_state.pop(PROBE_KEY, None)


def _waiting(workspace: Workspace, config: TrainConfig, key: str) -> None:
    started = estimate_jobs.probe_started(workspace, key)
    if started is not None:
        st.caption(f":material/timer: Measuring time and memory on this machine with a few real training steps… "
                   f"({time.time() - started:.0f} s so far)")
    elif estimate_jobs.probe_vanished(workspace, key):
        st.caption(":material/warning: Measuring this run stopped without a result (it may have run out of memory).")
        _measure_again(workspace, key)
    elif estimate_jobs.training_now(workspace):
        st.caption(":material/timer: Time and memory are measured once the training running now has finished "
                   "(measured beside it, both would be slowed, or the GPU's memory shared).")
    elif estimate_jobs.probes_running(workspace):
        st.caption(":material/timer: Measuring another configuration first…")
    elif not estimate_jobs.measures_by_itself():
        if st.button("Measure time and memory", key="train_estimate_measure", icon=":material/timer:",
                     help="Trains a few real steps of these settings on this machine (about half a minute)."):
            _start(workspace, config, key)
    elif st.session_state.get(TICKS_KEY, 0) < 2:
        st.caption(":material/timer: Time and memory will be measured in a moment…")
    else:
        _start(workspace, config, key)


def _start(workspace: Workspace, config: TrainConfig, key: str) -> None:
    if estimate_jobs.start_probe(workspace, config.to_json(), key):
        st.session_state[PROBE_KEY] = key
    st.caption(":material/timer: Measuring time and memory on this machine with a few real training steps…")


def _measure_again(workspace: Workspace, key: str) -> None:
    if st.button("Measure again", key="train_estimate_again", icon=":material/refresh:"):
        estimate_jobs.forget_probe(workspace, key)
        st.rerun()


def _result(workspace: Workspace, config: TrainConfig, dataset: PreparedDataset, preset: str,
            measurement: Measurement) -> None:
    available = psutil.virtual_memory().available
    if not measurement.usable:
        if not measurement.fits:
            st.error(f"{measurement.problem} Change one of these before you start:", icon=":material/memory:")
            _remedies(fitting_memory(config, measurement, available), "memory")
        else:
            st.caption(f":material/warning: {measurement.problem}")
        _measure_again(workspace, measurement.key)
        return
    guess = calibrated(config, measurement, workspace, dataset)
    st.caption(f":material/timer: **{preset.capitalize()}** · {describe(guess)}", help=_how_measured(guess,
                                                                                                    measurement))
    if not (fits_ram(guess, available) and fits_gpu(guess)):
        where = "the GPU's memory" if measurement.gpu_total else "this machine's free memory"
        st.error(f"This run would not fit in {where}. Change one of these before you start:",
                 icon=":material/memory:")
        _remedies(fitting_memory(config, measurement, available), "memory")
    elif guess.seconds > LONG_RUN_SECONDS:
        st.warning(f"This run would take {plain_duration(guess.seconds)} on this machine. The quickest ways to "
                   "cut it:", icon=":material/hourglass_top:")
        _remedies(shorter_run(config, measurement, preset), "time")


def _how_measured(guess: Estimate, measurement: Measurement) -> str:
    parts = guess.parts
    lines = [
        f"Measured on this machine with {measurement.timed_steps} real training steps "
        f"({measurement.probe_s:.0f} s), then worked out for the whole run:",
        f"- starting and loading: {parts['start']:.0f} s",
        f"- {guess.counts.steps:,} training steps of {measurement.step_s:.2g} s: {parts['training']:.0f} s",
        f"- {guess.counts.checks:,} checks on the validation data: {parts['checks']:.0f} s",
        f"- {guess.counts.checkpoints:,} checkpoints: {parts['checkpoints']:.0f} s",
        f"- saving the model and measuring simple baselines: {parts['end']:.0f} s",
    ]
    if guess.may_end_sooner:
        lines.append("Early stopping may end it sooner.")
    if guess.calibrated_by:
        lines.append(f"Corrected by how long {guess.calibrated_by} earlier run(s) of these settings took here.")
    if measurement.load_average > max(measurement.cpu_count, 1):
        lines.append(f"The machine was busy when measured (load {measurement.load_average:.1f} on "
                     f"{measurement.cpu_count} cores): it may go faster.")
    return "\n".join(lines)


def _remedies(remedies: list[Remedy], kind: str) -> None:
    if not remedies:
        st.caption("No setting of this form would change that; a machine with more memory would.")
        return
    columns = st.columns(min(len(remedies), 2))
    for index, remedy in enumerate(remedies):
        with columns[index % len(columns)]:
            label = f"{remedy.label} ({remedy.effect})" if remedy.effect else remedy.label
            if st.button(label, key=f"train_estimate_{kind}_{index}", on_click=apply, args=(remedy.changes,),
                         width="stretch"):
                st.rerun()  # the form outside this fragment shows the new settings


def apply(changes: dict[str, Any]) -> None:
    """Write a remedy's settings into the form's widgets (a callback: it runs before the page is drawn again)."""
    by_url_name = {param: key for key, (_, _, param) in memory.knob_keys().items()}
    for name, value in changes.items():
        if name == "preset":
            st.session_state["train_preset"] = value
            continue
        key = by_url_name[name]
        st.session_state[key] = value
        st.session_state.pop(f"{key}__text", None)  # list fields keep a text twin, rebuilt from the value
