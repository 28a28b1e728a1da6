"""Views of one run: live progress and charts (polled from the run folder), settings, log, actions, and the panel
of a run whose files are damaged. Its evaluation is `ui.runs.evaluation_views`.

The live view is two fragments that re-run themselves while the run lives and stop polling once it ends, so a
refresh, a second browser or a restarted server simply re-reads the run folder: the status line and progress bar
every `POLL_SECONDS`, the charts every `CHART_SECONDS`. Redrawing a Plotly chart is the costly part of a poll, in
the server and most of all in the browser, and a curve that grows every few seconds still reads as live.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import streamlit as st

from core.coach.diagnosis import diagnose
from core.config.catalog import TASKS
from core.config.train_config import as_flat_dict, headless_command
from core.engine import charts
from core.engine.divergence import stopped_for_divergence
from core.engine.run_folder import CONFIG_FILE, DamagedFile, tail_log
from core.engine.run_processes import request_stop
from core.engine.run_status import RunState, RunStatus
from core.engine.run_table import run_duration
from core.engine.runs import Run, delete_run
from core.messages import markdown_literal
from ui.common import state
from ui.common.widgets import duration
from ui.runs import diagnosis_view, evaluation_views, queue_view, samples_view

# Each poll costs the browser too (a browser watching a live run used 13 % of a core with a 1 s status poll, 8 % at
# 2 s); ten people watching on one box add that up.
POLL_SECONDS = 2.0
CHART_SECONDS = 5.0
STATE_ICONS = {
    RunState.QUEUED: ":material/hourglass_top:", RunState.STARTING: ":material/rocket_launch:",
    RunState.RUNNING: ":material/directions_run:", RunState.STOPPING: ":material/stop_circle:",
    RunState.COMPLETED: ":material/check_circle:", RunState.STOPPED: ":material/stop:",
    RunState.FAILED: ":material/cancel:", RunState.DAMAGED: ":material/broken_image:",
}


def state_label(status: RunStatus) -> str:
    return f"{STATE_ICONS[status.state]} {status.state}"


# ---------------------------------------------------------------------------------------------------- live


def progress(status: RunStatus) -> None:
    step, total = status.step, status.max_steps
    fraction = min(step / total, 1.0) if total else 0.0
    if status.stopped_early:
        parts = [f"stopped early at step {step:,} of {total:,} (validation stopped improving)"]
        if status.kept_step is not None:
            kept = f"epoch {status.kept_epoch:.3g}, step {status.kept_step:,}" if status.kept_epoch is not None \
                else f"step {status.kept_step:,}"
            parts.append(f"model kept from {kept}")
    else:
        parts = [f"step {step:,} of {total:,}" if total else "preparing"]
        if status.epoch is not None:
            parts.append(f"epoch {status.epoch:.2f}")
    if status.is_final and (took := run_duration(status)) is not None:
        parts.append(f"took {duration(took)} from start to finish")  # loading and the last check included
    else:
        parts.append(f"elapsed {duration(status.elapsed_seconds)}")
    if status.is_live and total:
        parts.append(f"about {duration(status.eta_seconds)} left")
    st.progress(fraction, text=" · ".join(parts))


def training_charts(records: list[dict], task: str, key: str) -> None:
    records = charts.with_perplexity(records) if task == "text-generation" else records
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_figure(records), key=f"{key}_loss")
    metric_keys = {"accuracy": ("eval_accuracy", "eval_f1"), "r2": ("eval_r2",),
                   "loss": ("eval_perplexity",)}[TASKS[task].metric]
    title = {"accuracy": "Validation accuracy and F1 (higher is better)", "r2": "Validation R² (higher is better)",
             "loss": "Validation perplexity (lower is better)"}[TASKS[task].metric]
    right.plotly_chart(charts.metric_figure(records, metric_keys, title), key=f"{key}_metric")
    # Drawn only on request: few people look at it, and every chart on screen is redrawn at every poll.
    if st.toggle("Show the learning rate", key=f"{key}_show_lr",
                 help="How big the training steps are over time: warm-up, then decay."):
        st.plotly_chart(charts.learning_rate_figure(records), key=f"{key}_lr")


def open_run(run: Run, key: str, in_full: bool = True) -> None:
    """One run under its name: a damaged one says what is wrong with it; a readable one shows its progress and, in
    full (the Runs page), its actions and its evaluation, charts, settings and log."""
    st.divider()
    st.subheader(f"Run “{markdown_literal(run.id)}”")
    problem = run.problem
    if problem:
        damaged_panel(run, problem, key=f"{key}_damaged")
        return
    live_panel(run, key=f"{key}_live")
    if in_full:
        actions(run, key=f"{key}_actions")
        detail_tabs(run, key=key)


def live_panel(run: Run, key: str, can_stop: bool = True) -> None:
    """Status, progress, charts and a Stop button (unless `can_stop` is off: a team mate's run seen read-only);
    polls while the run lives, then refreshes the page once. Call it for a run whose files are whole (no
    `Run.problem`); a run damaged while it is watched shows as damaged at the next poll."""
    started_live = run.status.is_live
    task = run.config.task  # settings never change once a run exists: read them once, not at every poll

    @st.fragment(run_every=POLL_SECONDS if started_live else None)
    def status_panel() -> None:
        status = run.status
        header = st.columns([3, 1])
        header[0].markdown(f"**{state_label(status)}** · {markdown_literal(status.device)} · "
                           f"{markdown_literal(status.message)}")
        if can_stop and status.is_live and header[1].button("Stop", key=f"{key}_stop", icon=":material/stop_circle:",
                                                            help="Finishes the current step, saves the model, "
                                                                 "then stops."):
            request_stop(run.folder)
            st.toast("Stopping after the current step; the model so far will be saved.")
        progress(status)
        if status.state is RunState.FAILED:
            st.error(markdown_literal(status.message or "The run failed."), icon=":material/cancel:")
        if started_live and not status.is_live:
            st.rerun()  # the run ended: redraw the whole page once (final charts too), which also stops the polling

    @st.fragment(run_every=CHART_SECONDS if started_live else None)
    def charts_panel() -> None:
        training_charts(run.metrics, task, key)
        samples_view.render(run, task, key)  # text generation: what the model writes at each check

    status_panel()
    charts_panel()


# ---------------------------------------------------------------------------------------------------- details


def detail_tabs(run: Run, key: str) -> None:
    """The run's evaluation, settings and log, one tab each. Only the open tab is computed and sent: a run's page
    is drawn again at every visit, and the others would cost the server and each browser for nothing until a
    person opens them (the code blocks of Settings and Log alone load 1.5 MB of JavaScript)."""
    evaluation, settings, log = st.tabs(["Evaluation", "Settings", "Log"], key=f"{key}_tabs", on_change="rerun")
    if evaluation.open:
        with evaluation:
            evaluation_views.evaluation_view(run, key=f"{key}_eval")
    if settings.open:
        with settings:
            config_view(run)
    if log.open:
        with log:
            log_view(run)


def config_view(run: Run) -> None:
    st.markdown("Run it again without the app (same settings, a new run folder):")
    st.code(f"python -m core.engine.worker --config {run.folder / CONFIG_FILE}", language="bash")
    st.markdown("Or continue this very run folder (resumes from its last checkpoint):")
    st.code(headless_command(run.folder), language="bash")
    st.dataframe([{"setting": k, "value": str(v)} for k, v in as_flat_dict(run.config).items()], hide_index=True)


def log_view(run: Run) -> None:
    st.code(tail_log(run.folder, 60) or "(nothing logged yet)", language=None)


def model_zip(model_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # weights barely compress
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                archive.write(path, Path(model_dir.name) / path.relative_to(model_dir))
    return buffer.getvalue()


def actions(run: Run, key: str) -> None:
    status = run.status
    if stopped_for_divergence(status):
        retry_panel(run, key)  # resuming would only blow up again
    columns = st.columns(4)
    resume = (run.can_resume and not stopped_for_divergence(status)
              and columns[0].button("Resume", key=f"{key}_resume", icon=":material/play_arrow:",
                                    help="Continue from the last checkpoint."))
    if resume and queue_view.submit(run):  # otherwise submit has said why the queue cannot take it
        st.rerun()
    if run.has_model and status.is_final:
        columns[1].download_button("Export model (.zip)", data=lambda: model_zip(run.model_dir),
                                   file_name=f"{run.id}-model.zip", key=f"{key}_export", icon=":material/download:",
                                   help="The weights as safetensors with config and tokenizer: loads with "
                                        "transformers' from_pretrained.")
    delete_button(run, columns[3], key)


def retry_panel(run: Run, key: str) -> None:
    """A run stopped because its loss blew up: one button that starts it again with a tenth of the learning rate,
    every other setting the same, and the change it makes shown before it is pressed."""
    try:
        config = run.config
    except DamagedFile:
        return  # the run's panel says what is damaged
    found = diagnose(run.metrics, None, config, run.status.message)
    diagnosis = next((d for d in found if d.key == "learning-rate-high"), None)
    if diagnosis is None:
        return
    with st.container(border=True):
        st.markdown("**Try again with a lower learning rate.** Everything else stays as it was:")
        st.dataframe(diagnosis_view.diff_rows(config, diagnosis), hide_index=True, key=f"{key}_retry_diff")
        if st.button("Try again with a lower learning rate", key=f"{key}_retry", type="primary",
                     icon=":material/restart_alt:", help="A new run with the same dataset and settings and the "
                                                         "learning rate above; it joins the queue."):
            diagnosis_view.start_improved_run(run, config, diagnosis)


def delete_button(run: Run, place, key: str, selected_param: str = "run") -> None:
    with place.popover("Delete", icon=":material/delete:"):
        st.write("Delete this run and its model? This cannot be undone.")
        if st.button("Yes, delete", key=f"{key}_delete", type="primary"):
            delete_run(run)
            state.select(selected_param, None)
            st.rerun()


def damaged_panel(run: Run, problem: str, key: str, can_delete: bool = True, selected_param: str = "run") -> None:
    """A run whose files cannot be read: what is damaged, its log, and (for its owner) a Delete button."""
    st.error(f"damaged: {markdown_literal(problem)}", icon=":material/broken_image:")
    st.caption("This run's files cannot be read as a run (cut off when a disk filled, or edited by hand), so its "
               "charts and evaluation cannot be shown. Your other runs are not affected.")
    if can_delete:
        delete_button(run, st, key, selected_param)
    with st.expander("Its log"):
        log_view(run)
