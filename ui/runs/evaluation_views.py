"""A finished run's evaluation, drawn from its eval.json: the same views for every task, chosen by what the report
holds (a confusion matrix, R², or a language model's loss and samples).

The boundary: drawing one report; reading it is `core.engine.runs.Run.evaluation`, writing it the task pipelines.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.config.glossary import explain
from core.engine import charts
from core.engine.divergence import stopped_for_divergence
from core.engine.run_folder import EVAL_FILE
from core.engine.run_status import RunState
from core.engine.run_table import majority_rung
from core.engine.runs import Run
from core.engine.stop_evaluation import STOPPED_KEY
from core.messages import markdown_literal
from ui.common.widgets import number
from ui.runs import diagnosis_view, ladder_view


def evaluation_view(run: Run, key: str) -> None:
    """The same views for every task: what kind of report eval.json holds decides which one is drawn."""
    report = run.evaluation
    if not report and stopped_for_divergence(run.status):
        # No model was kept, so no evaluation will come; the way on is the retry above the tabs, the only button.
        st.caption("No evaluation: training was stopped when its loss blew up, before the model was ruined, so "
                   "there is no model to measure. Try again with a lower learning rate (the button above).")
        return
    if not report:
        st.caption("No evaluation: the run failed before its model was measured (why is said above)."
                   if run.status.state is RunState.FAILED else
                   "The evaluation appears here when the run finishes (or is stopped).")
        diagnosis_view.render(run, None, key)  # a run that failed: what went wrong, and what to change
        return
    try:
        stopped = report.get(STOPPED_KEY)
        if isinstance(stopped, dict) and isinstance(stopped.get("note"), str):
            st.info(stopped["note"], icon=":material/stop:")  # a stopped run: the model so far, on which rows
        ladder_view.render(report, key)  # what the score is worth, against chance and quick baselines
        diagnosis_view.render(run, report, key)
        if "confusion_matrix" in report:
            classification_view(report, key, image_root(run))
        elif "r2" in report:
            regression_view(report, key)
        else:
            generation_view(report)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        # An eval.json edited by hand or written by another version: the rest of the page still works.
        st.error(f"damaged: {EVAL_FILE} does not hold an evaluation this page can draw.",
                 icon=":material/broken_image:")


def image_root(run: Run) -> Path:
    """Thumbnails are shown only from inside the run's workspace, whatever path an eval.json names."""
    return run.folder.resolve().parent.parent


def classification_view(report: dict, key: str, image_root: Path | None = None) -> None:
    scores(report)
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


def scores(report: dict) -> None:
    """Accuracy with always-the-most-common-class beside it (the floor it must beat), macro-F1, and the rows."""
    majority = majority_rung(report)
    columns = iter(st.columns(3 if majority is None else 4))
    accuracy = report["accuracy"]
    gain = None if majority is None else (accuracy - majority.score) * 100
    above = None if gain is None else f"{gain:+.1f} points"
    floor = "" if majority is None else (" The arrow: how many points above (or below) always answering the most "
                                         "common class, shown beside it.")
    # No gain is no good news: grey, not green, when the model only matches answering without looking.
    next(columns).metric("Accuracy", f"{accuracy:.1%}", delta=above, help=explain("accuracy") + floor,
                         delta_color="off" if gain is not None and abs(gain) < 0.05 else "normal")
    if majority is not None:
        next(columns).metric("Always the most common class", f"{majority.score:.1%}",
                             help=markdown_literal(majority.description))
    next(columns).metric("Macro-F1", f"{report['macro_f1']:.3f}", help=explain("macro-F1"))
    next(columns).metric("Validation examples", f"{report.get('validation_rows', 0):,}")


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
            st.caption(f"true **{markdown_literal(mistake['gold'])}**, said {markdown_literal(mistake['predicted'])} "
                       f"({mistake['confidence']:.0%})")


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
