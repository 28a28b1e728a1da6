"""The Train page's "Find good settings for me": what a search varies, a time budget said plainly, and the button
that starts a search around the settings above (its driver runs as a process of its own, its tries in the queue).

The search is `core.search.folder` (files, the driver's process) and `core.search.driver` (the driver); this
module only draws the form and turns the click into those calls. The search is followed on the Runs page.
"""

from __future__ import annotations

import streamlit as st

from core.config.knobs import knob_help
from core.config.train_config import TrainConfig
from core.messages import markdown_literal
from core.search.budget import (
    BUDGET_MINUTES,
    DEFAULT_BUDGET_MINUTES,
    budget_words,
    minutes_in_words,
    seconds_per_try,
)
from core.search.folder import SearchSettings, create_search, start_driver
from core.search.space import heaviest, search_space
from core.workspace import Workspace
from ui.common import auth, state


def render(workspace: Workspace, config: TrainConfig) -> None:
    """The section, filled only once opened (most people never open it, and the estimate reads earlier runs)."""
    box = st.expander("Find good settings for me", key="train_search", on_change="rerun", icon=":material/tune:")
    if not box.open:
        return
    with box:
        st.markdown("The app trains your model several times with different settings, one try after another, "
                    "and keeps the best: each try is an ordinary run in the queue, and tries that fall behind the "
                    "others are stopped early to save time. The first try is your settings above (a finished run "
                    "of exactly these settings counts, so they are not trained again), so the best try is never "
                    "worse than them. What it varies:")
        space = search_space(config)
        for dimension in space:
            st.markdown(f"- **{dimension.label}**: {dimension.words}")
        minutes = st.select_slider("Time for the search", BUDGET_MINUTES, value=DEFAULT_BUDGET_MINUTES,
                                   format_func=minutes_in_words, key="train_search_minutes")
        parallel = st.number_input("Tries at the same time", min_value=1, max_value=64, value=1, step=1,
                                   key="train_search_parallel", help=knob_help(SearchSettings, "parallel_trials"))
        st.info(budget_words(minutes, seconds_per_try(workspace, config)), icon=":material/schedule:")
        if st.button("Start the search", icon=":material/manage_search:", key="train_search_start"):
            start(workspace, config, SearchSettings(budget_seconds=minutes * 60.0, parallel_trials=int(parallel)))


def start(workspace: Workspace, config: TrainConfig, settings: SearchSettings) -> None:
    """Check the longest try against this person's limits, then make the search and start its driver."""
    vetted = state.vet_config(heaviest(config, search_space(config)))
    if isinstance(vetted, str):
        st.error(f"The search's longest try would not be allowed: {markdown_literal(vetted)}",
                 icon=":material/error:")
        return
    person = auth.current_person()
    try:
        folder = create_search(workspace, config, settings,
                               owner=person.identity if person is not None else "")
        start_driver(folder)
    except OSError as error:
        st.error(f"The search could not be started: {markdown_literal(error.strerror or error)}. Free some disk "
                 "space (or ask whoever runs this app to), then try again.", icon=":material/error:")
        return
    state.select("search", folder.name)
    st.success("The search has started. Follow it on the Runs page: its tries appear there as they run.",
               icon=":material/manage_search:")
    st.page_link("pages/runs.py", label="See the search on the Runs page →", icon=":material/monitoring:",
                 query_params={"search": folder.name})
