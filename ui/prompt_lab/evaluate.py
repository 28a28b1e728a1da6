"""Measure the prompt on the dataset's held-out examples: accuracy, macro-F1, which classes it mixes up, every
example.

A fragment with a progress bar, so the rest of the page never greys out while hundreds of texts are scored. The
result is kept (`ui.prompt_lab.kept`) with the model, dataset and recipe it belongs to, so it stays on screen after
a visit to another page or a refresh, and is marked as out of date as soon as the recipe changes.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.engine import charts
from core.messages import markdown_literal
from core.prompting.evaluation import EvaluationResult, evaluate_recipe
from core.prompting.recipe import recipe_to_dict
from core.workspace import Workspace
from ui.common.widgets import KEEP
from ui.prompt_lab import kept
from ui.prompt_lab.models import LoadedModel
from ui.prompt_lab.setup import PromptSetup

RESULT = "evaluation"  # kept result: {"signature", "result": EvaluationResult as plain data}


def signature(lm: LoadedModel, setup: PromptSetup) -> str:
    """What a result belongs to (how many examples it scored, it says itself)."""
    return json.dumps([lm.name, setup.dataset.name, recipe_to_dict(setup.recipe)], sort_keys=True,
                      ensure_ascii=False)


def how_many(setup: PromptSetup, key: str, default: int = 300) -> int:
    total = len(setup.validation)
    if total <= 10:
        return total
    st.session_state.setdefault(key, min(default, total))
    st.session_state[key] = min(int(st.session_state[key]), total)
    return int(st.number_input(f"Held-out examples to use (of {total:,})", 1, total, key=key, persist_state=KEEP,
                               help="The first ones of the held-out part. Fewer is quicker; all of them gives the "
                                    "most trustworthy number."))


@st.fragment
def render(workspace: Workspace, lm: LoadedModel, setup: PromptSetup) -> None:
    st.subheader("Measure it on the held-out examples")
    if not setup.validation:
        st.info("This dataset has no held-out examples to measure on.")
        return
    count = how_many(setup, "prompt_eval_count")
    wanted = signature(lm, setup)
    if st.button(f"Measure this prompt on {count:,} held-out examples", key="prompt_eval_go",
                 icon=":material/play_arrow:"):
        result = _run(lm, setup, count)
        if result is not None:
            kept.keep(workspace, RESULT, {"signature": wanted, "result": result.to_dict()})
    stored = kept.kept(workspace, RESULT)
    if not stored:
        return
    if stored.get("signature") != wanted:
        st.caption("These results are for an earlier prompt or model: measure again to update them.")
    try:
        result = EvaluationResult(**stored["result"])
    except (KeyError, TypeError):
        return  # kept by an older version of the app
    show_result(result)
    st.info("Is a prompt enough, or is training a model worth it? The **Prompt or fine-tune?** tab scores this "
            "prompt, its version without worked examples and your trained classifiers on the same examples.",
            icon=":material/balance:")


def _run(lm: LoadedModel, setup: PromptSetup, count: int) -> EvaluationResult | None:
    bar = st.progress(0.0, text="Scoring…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Scoring: {done:,} of {total:,} examples")

    try:
        result = evaluate_recipe(lm.model, lm.tokenizer, setup.recipe, setup.train, setup.validation[:count],
                                 index=setup.similarity_index(), progress=progress)
    except ValueError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return None
    finally:
        bar.empty()
    return result


def show_result(result: EvaluationResult) -> None:
    first, second, third, fourth = st.columns(4)
    first.metric("Accuracy", f"{result.accuracy:.1%}", help="The share of examples it got right.")
    second.metric("Macro-F1", f"{result.macro_f1:.3f}", help="How well each class is found, averaged so rare "
                  "classes count as much as common ones (1 is perfect).")
    third.metric("Examples", f"{len(result.rows):,}")
    fourth.metric("Time", f"{result.seconds:.1f} s")
    for warning in result.warnings:
        st.warning(markdown_literal(warning), icon=":material/warning:")  # it may quote a class
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion_matrix_figure(result.labels, result.confusion_matrix),
                      key="prompt_eval_confusion")
    right.plotly_chart(charts.per_class_figure(result.per_class), key="prompt_eval_per_class")
    only_mistakes = st.toggle("Show only the mistakes", key="prompt_eval_mistakes", persist_state=KEEP)
    rows = [row for row in result.rows if not (only_mistakes and row["correct"])]
    frame = pd.DataFrame([{"text": row["text"], "right answer": row["gold"], "its answer": row["predicted"],
                           "sure": row["probability"], "correct": row["correct"]} for row in rows])
    st.dataframe(frame, hide_index=True, key="prompt_eval_rows", column_config={
        "sure": st.column_config.ProgressColumn("sure", min_value=0.0, max_value=1.0, format="percent",
                                                help="How likely the model found its answer.")})
