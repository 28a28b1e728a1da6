"""Which worked examples? A few-shot prompt's accuracy swings with the examples that happen to be drawn: compare
several draws on training texts, and keep the best one's seed.

The draws are scored on training texts (`core.prompting.evaluation.compare_example_draws`), never on the held-out
examples,
so the evaluation above stays an honest measure of the chosen draw.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from core.prompting.evaluation import DRAW_TEXTS, ExampleDraw, compare_example_draws
from core.prompting.recipe import recipe_to_dict
from ui.prompt_lab.classify import SEED_KEY, PromptSetup
from ui.prompt_lab.models import LoadedModel

RESULT = "prompt_draws_result"  # session state: (signature, list of ExampleDraw)


def signature(lm: LoadedModel, setup: PromptSetup) -> str:
    """The draws belong to this model, dataset and recipe, whatever seed the recipe now has."""
    return repr((lm.name, setup.dataset.name, sorted(recipe_to_dict(replace(setup.recipe, seed=0)).items())))


def render(lm: LoadedModel, setup: PromptSetup) -> None:
    recipe = setup.recipe
    if recipe.few_shot_k == 0 or recipe.selection == "similar":
        return  # nothing is drawn at random: there is nothing to compare
    # A toggle, not an expander: it stays open through the reruns its own widgets cause.
    if not st.toggle("Which worked examples? Compare several draws", key="prompt_draws_open"):
        return
    st.caption(f"With only {recipe.few_shot_k} worked examples, which ones are drawn can move the accuracy by "
               f"several points. This scores draws (seeds {recipe.seed}, {recipe.seed + 1}, …) on up to "
               f"{DRAW_TEXTS} of your training texts, never on the held-out ones, so the evaluation above stays "
               "honest.")
    count = int(st.number_input("Draws to compare", 2, 10, 5, key="prompt_draws_count",
                                help="Each draw takes about as long as evaluating a few hundred examples."))
    if st.button(f"Compare {count} draws", key="prompt_draws_go", icon=":material/play_arrow:"):
        draws = _run(lm, setup, count)
        if draws is not None:
            st.session_state[RESULT] = (signature(lm, setup), draws)
    stored = st.session_state.get(RESULT)
    if stored is not None:
        shown_signature, draws = stored
        if shown_signature != signature(lm, setup):
            st.caption("These draws are for an earlier recipe or model: compare again to update them.")
        show_draws(draws)


def _run(lm: LoadedModel, setup: PromptSetup, count: int) -> list[ExampleDraw] | None:
    bar = st.progress(0.0, text="Scoring the draws…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Scoring the draws: {done:,} of {total:,} texts")

    try:
        draws = compare_example_draws(lm.model, lm.tokenizer, setup.recipe, setup.train, count, progress=progress)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return None
    finally:
        bar.empty()
    return draws


def show_draws(draws: list[ExampleDraw]) -> None:
    st.dataframe(pd.DataFrame([{
        "seed": draw.seed, "accuracy": draw.accuracy, "macro-F1": draw.macro_f1,
        "worked examples": " · ".join(f"{example['label']}: {example['text']}" for example in draw.examples),
    } for draw in draws]), hide_index=True, key="prompt_draws_table", column_config={
        "accuracy": st.column_config.NumberColumn("accuracy", format="percent"),
        "macro-F1": st.column_config.NumberColumn("macro-F1", format="%.3f")})
    best = draws[0]
    st.button(f"Use the best draw (seed {best.seed})", key="prompt_draws_use", icon=":material/check:",
              on_click=_use_seed, args=(best.seed,),
              help="Sets the recipe's seed; evaluate it on the held-out examples above to see how it really does.")


def _use_seed(seed: int) -> None:
    st.session_state[SEED_KEY] = seed  # a callback runs before the seed box is drawn, so it may change its value
