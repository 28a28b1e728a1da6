"""Prompt or fine-tune? Zero-shot, few-shot and fine-tuned classifiers on the same held-out examples, side by side,
with the examples on which they disagree."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.engine.runs import Run, runs_with_model
from core.prompting.comparison import Approach, Comparison, classifier_approach, compare, prompt_approach
from core.prompting.recipe import recipe_to_dict
from core.workspace import Workspace
from ui.playground.predictors import predictor_for
from ui.prompt_lab.classify import PromptSetup
from ui.prompt_lab.evaluate import how_many
from ui.prompt_lab.models import LoadedModel

RESULT = "prompt_compare_result"  # session state: (signature, Comparison)
FEW_SHOT_WHEN_ZERO = 4  # the few-shot contender when the recipe itself is zero-shot


def render(workspace: Workspace, lm: LoadedModel, setup: PromptSetup) -> None:
    st.subheader("Prompt or fine-tune?")
    st.markdown("Which works better on **your** data: asking a pretrained language model with a prompt, or a "
                "classifier you fine-tuned on the Train page? Every approach below answers the **same held-out "
                "examples**, so the numbers compare like with like.")
    zero_shot, few_shot = _prompt_recipes(setup)
    runs = _classifier_runs(workspace, setup)
    by_id = {run.id: run for run in runs}
    chosen = st.multiselect("Fine-tuned classifiers to include", list(by_id), default=list(by_id)[:4],
                            key=f"prompt_compare_runs_{setup.dataset.name}", max_selections=6,
                            placeholder="No finished text-classification run on this dataset yet")
    if not runs:
        st.caption("Train a text classifier on this dataset (Train page) to see it here against the prompts.")
        st.page_link("pages/train.py", label="Train a classifier →", icon=":material/model_training:")
    st.caption(f"Prompts: zero-shot, and few-shot with {few_shot.few_shot_k} {few_shot.selection} worked "
               f"examples; both use your template and label words"
               + (", calibrated." if setup.recipe.calibrate else "."))
    if not setup.validation:
        st.info("This dataset has no held-out examples to compare on.")
        return
    count = how_many(setup, "prompt_compare_count", default=200)
    wanted = repr((lm.name, setup.dataset.name, sorted(recipe_to_dict(setup.recipe).items()), count, chosen))
    if st.button(f"Compare on {count:,} held-out examples", key="prompt_compare_go", type="primary",
                 icon=":material/balance:"):
        approaches = [prompt_approach("zero-shot prompt", lm.model, lm.tokenizer, zero_shot, setup.train),
                      prompt_approach(f"{few_shot.few_shot_k}-shot prompt", lm.model, lm.tokenizer, few_shot,
                                      setup.train, index=setup.similarity_index() if few_shot == setup.recipe
                                      else None)]
        approaches += [_run_approach(by_id[run_id]) for run_id in chosen]
        comparison = _run(approaches, setup, count)
        if comparison is not None:
            st.session_state[RESULT] = (wanted, comparison)
    stored = st.session_state.get(RESULT)
    if stored is None:
        return
    shown_signature, comparison = stored
    if shown_signature != wanted:
        st.caption("These results are for earlier settings: compare again to update them.")
    show(comparison)


def _prompt_recipes(setup: PromptSetup):
    recipe = setup.recipe
    zero_shot = replace(recipe, few_shot_k=0)
    few_shot = recipe if recipe.few_shot_k > 0 else replace(recipe, few_shot_k=FEW_SHOT_WHEN_ZERO)
    return zero_shot, few_shot


def _classifier_runs(workspace: Workspace, setup: PromptSetup) -> list[Run]:
    """Finished text-classification runs trained on this dataset (same classes, so the same answers)."""
    return [run for run in runs_with_model(workspace) if run.config.task == "text-classification"
            and run.config.dataset == setup.dataset.name]


def _run_approach(run: Run) -> Approach:
    return classifier_approach(f"fine-tuned: {run.id}", predictor_for(run))


def _run(approaches: list[Approach], setup: PromptSetup, count: int) -> Comparison | None:
    bar = st.progress(0.0, text="Comparing…")

    def progress(done: int, total: int, name: str) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"Scoring with {name}: {done:,} of {total:,}")

    try:
        comparison = compare(approaches, setup.validation[:count], setup.dataset.info.labels, progress)
    except (ValueError, OSError) as error:
        bar.empty()
        st.error(f"The comparison could not run: {error}", icon=":material/error:")
        return None
    bar.empty()
    return comparison


def show(comparison: Comparison) -> None:
    best = comparison.best
    st.success(f"Best on these {len(comparison.rows):,} examples: **{best['approach']}** with "
               f"{best['accuracy']:.1%} accuracy.", icon=":material/emoji_events:")
    frame = pd.DataFrame(comparison.summary).rename(columns={"macro_f1": "macro-F1", "seconds": "time (s)"})
    st.dataframe(frame, hide_index=True, key="prompt_compare_table", column_config={
        "accuracy": st.column_config.ProgressColumn("accuracy", min_value=0.0, max_value=1.0, format="percent"),
        "macro-F1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
        "time (s)": st.column_config.NumberColumn("time (s)", format="%.1f")})
    st.plotly_chart(_accuracy_bars(comparison), key="prompt_compare_bars")
    disagreements = comparison.disagreements
    st.markdown(f"**Where they disagree** — {len(disagreements):,} of {len(comparison.rows):,} examples")
    if disagreements:
        st.dataframe(pd.DataFrame(disagreements), hide_index=True, key="prompt_compare_disagreements")
    else:
        st.caption("Every approach gave the same answer on every example.")


def _accuracy_bars(comparison: Comparison) -> go.Figure:
    names = [entry["approach"] for entry in comparison.summary]
    figure = go.Figure(go.Bar(x=names, y=[entry["accuracy"] for entry in comparison.summary],
                              text=[f"{entry['accuracy']:.1%}" for entry in comparison.summary],
                              textposition="auto",
                              marker_color=["#1f77b4" if entry["kind"] == "prompt" else "#ff7f0e"
                                            for entry in comparison.summary]))
    figure.update_layout(title="Accuracy on the same held-out examples (blue: prompts, orange: fine-tuned)",
                         yaxis={"range": [0, 1], "tickformat": ".0%"}, template="plotly_white", height=320,
                         margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure
