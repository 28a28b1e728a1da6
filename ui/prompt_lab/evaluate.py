"""Evaluate a prompt recipe on the dataset's held-out examples: accuracy, macro-F1, confusion matrix, every example.

The result is kept in session state with the recipe and dataset it belongs to, so it stays on screen while the
person looks around, and is marked as out of date as soon as the recipe changes.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.engine import charts
from core.prompting.evaluation import EvaluationResult, evaluate_recipe
from core.prompting.recipe import recipe_to_dict
from ui.prompt_lab.classify import PromptSetup
from ui.prompt_lab.models import LoadedModel

RESULT = "prompt_eval_result"  # session state: (signature, EvaluationResult)


def signature(lm: LoadedModel, setup: PromptSetup, count: int) -> str:
    return repr((lm.name, setup.dataset.name, sorted(recipe_to_dict(setup.recipe).items()), count))


def how_many(setup: PromptSetup, key: str, default: int = 300) -> int:
    total = len(setup.validation)
    if total <= 10:
        return total
    return int(st.number_input(f"Held-out examples to use (of {total:,})", 1, total, min(default, total), key=key,
                               help="Fewer is quicker; all of them gives the most trustworthy number."))


def render(lm: LoadedModel, setup: PromptSetup) -> None:
    st.subheader("Evaluate on the held-out examples")
    if not setup.validation:
        st.info("This dataset has no held-out examples to evaluate on.")
        return
    count = how_many(setup, "prompt_eval_count")
    wanted = signature(lm, setup, count)
    if st.button(f"Evaluate this prompt on {count:,} held-out examples", key="prompt_eval_go", type="primary",
                 icon=":material/play_arrow:"):
        result = _run(lm, setup, count)
        if result is not None:
            st.session_state[RESULT] = (wanted, result)
    stored = st.session_state.get(RESULT)
    if stored is None:
        return
    shown_signature, result = stored
    if shown_signature != wanted:
        st.caption("These results are for an earlier recipe or model: evaluate again to update them.")
    show_result(result)
    st.info("Is a prompt enough, or is fine-tuning worth it? The **Prompt or fine-tune?** tab scores this prompt, "
            "its zero-shot version and your fine-tuned classifiers on the same examples.", icon=":material/balance:")


def _run(lm: LoadedModel, setup: PromptSetup, count: int) -> EvaluationResult | None:
    bar = st.progress(0.0, text="Scoring…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Scoring: {done:,} of {total:,} examples")

    try:
        result = evaluate_recipe(lm.model, lm.tokenizer, setup.recipe, setup.train, setup.validation[:count],
                                 index=setup.similarity_index(), progress=progress)
    except ValueError as error:
        bar.empty()
        st.error(str(error), icon=":material/error:")
        return None
    bar.empty()
    return result


def show_result(result: EvaluationResult) -> None:
    first, second, third, fourth = st.columns(4)
    first.metric("Accuracy", f"{result.accuracy:.1%}")
    second.metric("Macro-F1", f"{result.macro_f1:.3f}")
    third.metric("Examples", f"{len(result.rows):,}")
    fourth.metric("Time", f"{result.seconds:.1f} s")
    for warning in result.warnings:
        st.warning(warning, icon=":material/warning:")
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion_matrix_figure(result.labels, result.confusion_matrix),
                      key="prompt_eval_confusion")
    right.plotly_chart(charts.per_class_figure(result.per_class), key="prompt_eval_per_class")
    only_mistakes = st.toggle("Show only the mistakes", key="prompt_eval_mistakes")
    rows = [row for row in result.rows if not (only_mistakes and row["correct"])]
    frame = pd.DataFrame([{"text": row["text"], "gold": row["gold"], "predicted": row["predicted"],
                           "probability": row["probability"], "correct": row["correct"]} for row in rows])
    st.dataframe(frame, hide_index=True, key="prompt_eval_rows", column_config={
        "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0,
                                                       format="percent")})
