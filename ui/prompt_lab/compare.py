"""Prompt or fine-tune? The prompt without worked examples, the prompt as it is, the classifiers trained on this
dataset, guessing and always answering the most common class, all on the same held-out examples, in one table.

One yardstick: the page says which rows every approach answered, and a trained classifier reads each text cut where
its run cut it (`core.prompting.comparison.classifier_approach`), so on all the held-out rows its accuracy here is
the one the Runs page shows. A fragment with a progress bar, so the page never greys out; the result is kept
(`ui.prompt_lab.kept`).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.engine.runs import Run, runs_with_model
from core.messages import markdown_literal, plotly_literals
from core.prompting.comparison import (
    Approach,
    Comparison,
    classifier_approach,
    compare,
    prompt_approach,
    with_baselines,
)
from core.prompting.recipe import recipe_to_dict
from core.workspace import Workspace
from ui.common.widgets import KEEP
from ui.playground.predictors import predictor_for
from ui.prompt_lab import kept
from ui.prompt_lab.evaluate import how_many
from ui.prompt_lab.models import LoadedModel
from ui.prompt_lab.setup import PromptSetup, stamp

RESULT = "comparison"  # kept result: {"signature", "comparison": Comparison as plain data, "rows": sentence}
FEW_SHOT_WHEN_ZERO = 4  # the prompt with worked examples, when the recipe itself has none
ALL_ROWS_UP_TO = 1000  # with a trained classifier, every held-out row by default (as the Runs page) up to this many
COLOURS = {"prompt": "#1f77b4", "fine-tuned": "#ff7f0e", "baseline": "#9e9e9e"}


@st.fragment
def render(workspace: Workspace, lm: LoadedModel, setup: PromptSetup) -> None:
    st.subheader("Prompt or fine-tune?")
    st.markdown("Which works better on **your** data: asking a pretrained language model with a prompt, or a "
                "classifier you trained on the Train page? Every approach below answers the **same held-out "
                "examples**, beside guessing and always giving the most common answer.")
    zero_shot, few_shot = _prompt_recipes(setup)
    runs = _classifier_runs(workspace, setup)
    by_id = {run.id: run for run in runs}
    key = f"prompt_compare_runs_{setup.dataset.name}"
    st.session_state.setdefault(key, list(by_id)[:4])
    st.session_state[key] = [run_id for run_id in st.session_state[key] if run_id in by_id]
    chosen = st.multiselect("Trained classifiers to include", list(by_id), key=key, max_selections=6,
                            persist_state=KEEP, placeholder="No finished text-classification run on this dataset yet")
    if not runs:
        st.caption("Train a text classifier on this dataset (Train page) to see it here against the prompts.")
        st.page_link("pages/train.py", label="Train a classifier →", icon=":material/model_training:")
    if not setup.validation:
        st.info("This dataset has no held-out examples to compare on.")
        return
    total = len(setup.validation)
    count = how_many(setup, "prompt_compare_count", default=total if chosen and total <= ALL_ROWS_UP_TO else 200)
    rows = rows_sentence(setup, count, [by_id[run_id] for run_id in chosen])
    st.caption(markdown_literal(rows))
    wanted = json.dumps([lm.name, setup.dataset.name, recipe_to_dict(setup.recipe), chosen], sort_keys=True,
                        ensure_ascii=False)  # how many rows a result scored, it says itself
    if st.button(f"Compare on {count:,} held-out examples", key="prompt_compare_go", type="primary",
                 icon=":material/balance:"):
        approaches = [prompt_approach("prompt without worked examples", lm.model, lm.tokenizer, zero_shot,
                                      setup.train),
                      prompt_approach(f"prompt with {few_shot.few_shot_k} worked examples", lm.model, lm.tokenizer,
                                      few_shot, setup.train,
                                      index=setup.similarity_index() if few_shot == setup.recipe else None)]
        approaches += [_run_approach(by_id[run_id]) for run_id in chosen]
        comparison = _run(approaches, setup, count)
        if comparison is not None:
            kept.keep(workspace, RESULT, {"signature": wanted, "comparison": comparison.to_dict(), "rows": rows})
    stored = kept.kept(workspace, RESULT)
    if not stored:
        return
    if stored.get("signature") != wanted:
        st.caption("These results are for earlier settings: compare again to update them.")
    try:
        show(Comparison(**stored["comparison"]), stored.get("rows", ""))
    except (KeyError, TypeError):
        return  # kept by an older version of the app


def rows_sentence(setup: PromptSetup, count: int, runs: list[Run]) -> str:
    """Which rows every approach answers, and whether they are the rows the Runs page scored each run on."""
    total, name = len(setup.validation), setup.dataset.name
    which = (f"all {total:,} held-out examples of “{name}”" if count == total
             else f"the first {count:,} of the {total:,} held-out examples of “{name}” (rows 1 to {count:,})")
    notes = [f"Every approach answers {which}."]
    for run in runs:
        scored = (run.evaluation or {}).get("validation_rows")
        started = run.status.started_at or run.status.created_at or 0.0
        if stamp(setup.dataset) > started:
            notes.append(f"The dataset was saved again after run {run.id} trained: the Runs page's score is on the "
                         "held-out rows of that time.")
        elif count == total and scored == total:
            notes.append(f"These are the rows the Runs page scored run {run.id} on, so its accuracy here is the one "
                         "shown there.")
        elif scored:
            notes.append(f"The Runs page scores run {run.id} on all {int(scored):,}: use them all here to get its "
                         "number.")
    return " ".join(notes)


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
    return classifier_approach(f"trained: {run.id}", predictor_for(run), max_tokens=run.config.max_length)


def _run(approaches: list[Approach], setup: PromptSetup, count: int) -> Comparison | None:
    bar = st.progress(0.0, text="Comparing…")

    def progress(done: int, total: int, name: str) -> None:
        bar.progress(min(done / max(total, 1), 1.0),
                     text=f"Scoring with {markdown_literal(name)}: {done:,} of {total:,}")

    try:
        comparison = compare(approaches, setup.validation[:count], setup.dataset.info.labels, progress)
    except (ValueError, OSError) as error:
        st.error(f"The comparison could not run: {markdown_literal(error)}", icon=":material/error:")
        return None
    finally:
        bar.empty()
    return with_baselines(comparison, [example["label"] for example in setup.train])


def show(comparison: Comparison, rows: str) -> None:
    best = comparison.best
    st.success(f"Best on these {len(comparison.rows):,} examples: **{markdown_literal(best['approach'])}** with "
               f"{best['accuracy']:.1%} accuracy.", icon=":material/emoji_events:")
    if rows:
        st.caption(markdown_literal(rows))
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
    names = plotly_literals(entry["approach"] for entry in comparison.summary)  # run names are a person's
    figure = go.Figure(go.Bar(x=names, y=[entry["accuracy"] for entry in comparison.summary],
                              text=[f"{entry['accuracy']:.1%}" for entry in comparison.summary],
                              textposition="auto",
                              marker_color=[COLOURS.get(entry["kind"], "#1f77b4") for entry in comparison.summary]))
    figure.update_layout(title="Accuracy on the same held-out examples (blue: prompts, orange: trained, grey: the "
                               "floor)",
                         yaxis={"range": [0, 1], "tickformat": ".0%"}, template="plotly_white", height=320,
                         margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure
