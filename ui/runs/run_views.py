"""Views of one run: live progress and charts (polled from the run folder), evaluation, config, log, actions.

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

from core.config.catalog import TASKS
from core.config.train_config import as_flat_dict, headless_command
from core.engine import charts
from core.engine.runs import FINAL_STATES, Run, delete_run, is_live, request_stop, tail_log
from ui.common import state
from ui.common.widgets import duration, number
from ui.runs import queue_view, samples_view

# Each poll costs the browser too (a browser watching a live run used 13 % of a core with a 1 s status poll, 8 % at
# 2 s); ten people watching on one box add that up.
POLL_SECONDS = 2.0
CHART_SECONDS = 5.0
STATE_ICONS = {
    "queued": ":material/hourglass_top:", "starting": ":material/rocket_launch:",
    "running": ":material/directions_run:", "stopping": ":material/stop_circle:",
    "completed": ":material/check_circle:", "stopped": ":material/stop:", "failed": ":material/cancel:",
}


def state_label(status: dict) -> str:
    state = status.get("state", "unknown")
    return f"{STATE_ICONS.get(state, ':material/help:')} {state}"


# ---------------------------------------------------------------------------------------------------- live


def progress(status: dict) -> None:
    step, total = status.get("step") or 0, status.get("max_steps") or 0
    fraction = min(step / total, 1.0) if total else 0.0
    parts = [f"step {step:,} of {total:,}" if total else "preparing"]
    if status.get("epoch") is not None:
        parts.append(f"epoch {status['epoch']:.2f}")
    parts.append(f"elapsed {duration(status.get('elapsed_seconds'))}")
    if is_live(status) and total:
        parts.append(f"about {duration(status.get('eta_seconds'))} left")
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


def live_panel(run: Run, key: str, can_stop: bool = True) -> None:
    """Status, progress, charts and a Stop button (unless `can_stop` is off: a team mate's run seen read-only);
    polls while the run lives, then refreshes the page once."""
    started_live = is_live(run.status)

    @st.fragment(run_every=POLL_SECONDS if started_live else None)
    def status_panel() -> None:
        status = run.status
        header = st.columns([3, 1])
        header[0].markdown(f"**{state_label(status)}** · {status.get('device', '')} · {status.get('message', '')}")
        if can_stop and is_live(status) and header[1].button("Stop", key=f"{key}_stop", icon=":material/stop_circle:",
                                                help="Finishes the current step, saves the model, then stops."):
            request_stop(run)
            st.toast("Stopping after the current step; the model so far will be saved.")
        progress(status)
        if status.get("state") == "failed":
            st.error(status.get("message", "The run failed."), icon=":material/cancel:")
        if started_live and not is_live(status):
            st.rerun()  # the run ended: redraw the whole page once (final charts too), which also stops the polling

    @st.fragment(run_every=CHART_SECONDS if started_live else None)
    def charts_panel() -> None:
        training_charts(run.metrics, run.config.task, key)
        samples_view.render(run, key)  # text generation: what the model writes at each check

    status_panel()
    charts_panel()


# ---------------------------------------------------------------------------------------------------- results


def evaluation_view(run: Run, key: str) -> None:
    """The same views for every task: what kind of report eval.json holds decides which one is drawn."""
    report = run.evaluation
    if not report:
        st.caption("The evaluation appears here when the run finishes (or is stopped).")
        return
    if "confusion_matrix" in report:
        classification_view(report, key, image_root(run))
    elif "r2" in report:
        regression_view(report, key)
    else:
        generation_view(report)


def image_root(run: Run) -> Path:
    """Thumbnails are shown only from inside the run's workspace, whatever path an eval.json names."""
    return run.folder.resolve().parent.parent


def classification_view(report: dict, key: str, image_root: Path | None = None) -> None:
    columns = st.columns(3)
    columns[0].metric("Accuracy", f"{report['accuracy']:.1%}", help="Share of validation examples it got right.")
    columns[1].metric("Macro-F1", f"{report['macro_f1']:.3f}",
                      help="F1 averaged over classes, so small classes count as much as big ones.")
    columns[2].metric("Validation examples", f"{report.get('validation_rows', 0):,}")
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion_matrix_figure(report["labels"], report["confusion_matrix"]),
                      key=f"{key}_confusion")
    right.plotly_chart(charts.per_class_figure(report["per_class"]), key=f"{key}_per_class")
    with st.expander("Precision and recall per class, in numbers"):
        st.caption("Precision: of the examples it called this class, the share that were. Recall: of the examples "
                   "of this class, the share it found.")
        st.dataframe(report["per_class"], hide_index=True, key=f"{key}_per_class_table", column_config={
            name: st.column_config.NumberColumn(name, format="%.3f") for name in ("precision", "recall", "f1")})
    mistakes = report.get("worst_mistakes") or []
    st.markdown("**The mistakes it was surest about** — where wrong labels and blind spots show first")
    if not mistakes:
        st.caption("No mistakes on the validation data.")
    elif "image" in mistakes[0]:
        show_image_mistakes(mistakes, image_root)
    else:
        st.dataframe(mistakes, hide_index=True, key=f"{key}_mistakes", column_config={
            "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0,
                                                          format="percent")})


def thumbnail_path(value: str, root: Path | None) -> Path | None:
    """The image file a mistake names, when it exists inside `root` (a hand-edited eval.json could name any
    file on the machine)."""
    path = Path(str(value)).resolve()
    if root is not None and not path.is_relative_to(root):
        return None
    return path if path.is_file() else None


def show_image_mistakes(mistakes: list[dict], root: Path | None = None) -> None:
    columns = st.columns(6)
    for i, mistake in enumerate(mistakes[:18]):
        path = thumbnail_path(mistake["image"], root)
        with columns[i % 6]:
            if path is None:
                st.caption(":material/hide_image: image no longer available")
            else:
                st.image(str(path), width=96)
            st.caption(f"true **{mistake['gold']}**, said {mistake['predicted']} ({mistake['confidence']:.0%})")


def regression_view(report: dict, key: str) -> None:
    columns = st.columns(4)
    columns[0].metric("R²", number(report["r2"]), help="1 is perfect, 0 is no better than always guessing the "
                                                       "average.")
    columns[1].metric("MAE", number(report["mae"]), help="Average size of an error, in the target's units.")
    columns[2].metric("RMSE", number(report["rmse"]), help="Like MAE, but big errors count more.")
    columns[3].metric("Validation examples", f"{report.get('validation_rows', 0):,}")
    points = report.get("points", {})
    left, right = st.columns(2)
    left.plotly_chart(charts.regression_scatter(points.get("actual", []), points.get("predicted", [])),
                      key=f"{key}_scatter")
    right.plotly_chart(charts.residuals_figure(points.get("actual", []), points.get("predicted", [])),
                       key=f"{key}_residuals")
    errors = report.get("largest_errors") or []
    if errors:
        st.markdown("**The rows it missed by most** — unusual rows, or something the inputs cannot explain")
        st.dataframe(errors, hide_index=True, key=f"{key}_largest_errors")


def generation_view(report: dict) -> None:
    columns = st.columns(2)
    columns[0].metric("Validation loss", number(report.get("eval_loss")))
    columns[1].metric("Perplexity", number(report.get("perplexity"), 2),
                      help="Roughly how many next words the model hesitates between: lower is better.")
    for sample in report.get("samples", [])[-1:]:
        st.markdown("**A sample from the final model**")
        st.code(sample.get("text", ""), language=None, wrap_lines=True)


# ---------------------------------------------------------------------------------------------------- details


def detail_tabs(run: Run, key: str) -> None:
    """The run's evaluation, settings and log, one tab each. Only the open tab is computed and sent: a run's page
    is drawn again at every visit, and the others would cost the server and each browser for nothing until a
    person opens them (the code blocks of Settings and Log alone load 1.5 MB of JavaScript)."""
    evaluation, settings, log = st.tabs(["Evaluation", "Settings", "Log"], key=f"{key}_tabs", on_change="rerun")
    if evaluation.open:
        with evaluation:
            evaluation_view(run, key=f"{key}_eval")
    if settings.open:
        with settings:
            config_view(run)
    if log.open:
        with log:
            log_view(run)


def config_view(run: Run) -> None:
    st.markdown("Run it again without the app (same settings, a new run folder):")
    st.code(f"python -m core.engine.worker --config {run.folder / 'config.json'}", language="bash")
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
    columns = st.columns(4)
    resume = run.can_resume and columns[0].button("Resume", key=f"{key}_resume", icon=":material/play_arrow:",
                                                  help="Continue from the last checkpoint.")
    if resume and queue_view.submit(run):  # otherwise submit has said why the queue cannot take it
        st.rerun()
    if run.has_model and status.get("state") in FINAL_STATES:
        columns[1].download_button("Export model (.zip)", data=lambda: model_zip(run.model_dir),
                                   file_name=f"{run.id}-model.zip", key=f"{key}_export", icon=":material/download:",
                                   help="The weights as safetensors with config and tokenizer: loads with "
                                        "transformers' from_pretrained.")
    with columns[3].popover("Delete", icon=":material/delete:"):
        st.write("Delete this run and its model? This cannot be undone.")
        if st.button("Yes, delete", key=f"{key}_delete", type="primary"):
            delete_run(run)
            state.select("run", None)
            st.rerun()
