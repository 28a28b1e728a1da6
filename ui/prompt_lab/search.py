"""Find the best prompt: one button that tries a small set of prompts on training texts set aside, in a process of
its own, within a time budget shown before it starts; its progress, what it tried, and the winner put to use.

The search runs as `core.prompting.search_job` (a process: the page never freezes, and a person may leave the page
or refresh it meanwhile). Its id is kept in the session and the URL (`ui.prompt_lab.memory`); a fragment polls its
files once a second while it runs. When it has finished, `use_finished` puts the winner into the prompt's widgets
once, before they are drawn, and the winner is also saved as the recipe "best prompt for <dataset>".
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.dataset_store import PreparedDataset
from core.messages import markdown_literal
from core.prompting.recipe import PromptRecipe, recipe_from_dict
from core.prompting.search import MIN_HELD_APART, SearchSettings, planned_count
from core.prompting.search_job import SearchJob, find_job, start_search
from core.workspace import Workspace
from ui.common.widgets import KEEP
from ui.prompt_lab.memory import SEARCH
from ui.prompt_lab.models import LoadedModel
from ui.prompt_lab.recipe_form import apply_recipe
from ui.prompt_lab.setup import PromptSetup

BUDGETS = {60: "1 minute", 120: "2 minutes", 300: "5 minutes", 600: "10 minutes"}
BUDGET = "prompt_search_budget"
USED = "prompt_search_used"  # session state: the search whose winner was put into the widgets
STAGE_NAMES = {"worked examples": "other worked examples", "template": "another way to show the text",
               "label words": "other answer words"}


def current_job(workspace: Workspace) -> SearchJob | None:
    return find_job(workspace, st.session_state.get(SEARCH))


def use_finished(workspace: Workspace, dataset: PreparedDataset, brought: dict[str, str]) -> None:
    """Put a finished search's winner into the widgets, once (call before they are drawn). A search the URL names
    (a refreshed page) is already in the prompt the URL carries, edits included: it is only followed."""
    if brought.get("search"):
        st.session_state[SEARCH] = st.session_state[USED] = brought["search"]
        return
    job = current_job(workspace)
    if job is None or job.state != "finished" or st.session_state.get(USED) == job.id:
        return
    st.session_state[USED] = job.id
    if job.request.get("dataset") == dataset.name:
        apply_recipe(dataset, recipe_from_dict(job.result["best"]))


def render(workspace: Workspace, lm: LoadedModel, setup: PromptSetup) -> None:
    st.subheader("Find the best prompt")
    held = min(SearchSettings().held_apart, len(setup.train) - setup.recipe.few_shot_k)
    st.caption(f"Which worked examples are shown, how each text is laid out and which answer words are used can "
               f"move the accuracy by several points. This tries a few of each on {held:,} of your training texts "
               "set aside (never on the held-out ones, which stay for an honest measure) and keeps the best.")
    job = current_job(workspace)
    if job is not None and job.state == "running":
        _progress(job)
        return
    if held < MIN_HELD_APART:
        st.info(f"Finding the best prompt needs at least {MIN_HELD_APART + setup.recipe.few_shot_k} training "
                "examples.", icon=":material/info:")
        return
    st.session_state.setdefault(BUDGET, 120)
    left, right = st.columns([1, 2])
    budget = left.selectbox("Time it may take at most", list(BUDGETS), format_func=BUDGETS.get, key=BUDGET,
                            persist_state=KEEP, help="It tries the most promising prompts first and stops when the "
                                                     "time is up, keeping the best so far.")
    settings = SearchSettings(seconds=int(budget), held_apart=held)
    right.caption(f"Up to {planned_count(setup.recipe, settings)} prompts, each scored on {held:,} training texts, "
                  f"for at most {BUDGETS[budget]}. You can leave this page meanwhile.")
    if right.button("Find the best prompt", key="prompt_search_go", type="primary", icon=":material/auto_awesome:"):
        started = start_search(workspace, lm.name, setup.dataset.name, setup.recipe, settings)
        st.session_state[SEARCH] = started.id
        st.rerun()
    if job is not None:
        _finished(job, setup)


@st.fragment(run_every=1.0)
def _progress(job: SearchJob) -> None:
    if job.state != "running":
        st.rerun(scope="app")  # finished: the whole page shows the winner, in use
    progress = job.progress
    done, planned = len(job.tried()), int(progress.get("planned") or 0)
    shown = done / planned if planned else 0.0
    now = markdown_literal(progress.get("now", "Starting…"))  # it may quote an answer word
    st.progress(min(shown, 1.0), text=f"{now} · {done} of {planned or '…'} prompts "
                                      "tried")
    if job.tried():
        _table(job.tried(), None)
    st.button("Stop the search", key="prompt_search_stop", icon=":material/stop:", on_click=job.stop)


def _finished(job: SearchJob, setup: PromptSetup) -> None:
    state, result = job.state, job.result
    if state == "failed":
        st.error(f"The search could not finish: {markdown_literal(result['error'])}", icon=":material/error:")
        return
    if state == "stopped":
        st.warning("The search was stopped before it finished; here is what it tried.", icon=":material/warning:")
        if job.tried():
            _table(job.tried(), None)
        return
    best = recipe_from_dict(result["best"])
    note = " It ran out of time before trying every prompt." if result.get("out_of_time") else ""
    if job.request.get("dataset") == setup.dataset.name:
        st.success(f"The best of {len(result['tried'])} prompts is now in use below, and saved as the recipe "
                   f"“{markdown_literal(result['recipe_name'])}”.{note}", icon=":material/auto_awesome:")
    _table(result["tried"], best)


def _table(tried: list[dict], best: PromptRecipe | None) -> None:
    rows = []
    for number, row in enumerate(tried, start=1):
        recipe = recipe_from_dict(row["recipe"])
        rows.append({"#": number, "best": "★" if best is not None and recipe == best else "",
                     "what changed": STAGE_NAMES.get(row["stage"], row["stage"]),
                     "each text shown as": recipe.template.replace("\n", " ⏎ "),
                     "answer words": ", ".join(recipe.label_words.values()),
                     "worked examples": _examples_text(row["examples"], recipe),
                     "accuracy": row["accuracy"], "seconds": row["seconds"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="prompt_search_table", column_config={
        "accuracy": st.column_config.NumberColumn("accuracy on the texts set aside", format="percent"),
        "seconds": st.column_config.NumberColumn("time (s)", format="%.1f")})


def _examples_text(examples: list[dict], recipe: PromptRecipe) -> str:
    """The first set of worked examples, and how many more sets there are."""
    first = examples[:recipe.few_shot_k] if recipe.few_shot_k else []
    shown = " · ".join(f"{example['label']}: {example['text']}" for example in first) or "none"
    sets = len(recipe.seeds)
    return shown + (f"  (and {sets - 1} more sets)" if sets > 1 else "")
