"""The Team page of a hosted app: everyone's runs, read-only; copying one into your own workspace; and, for admins,
stopping any run and setting the limits each person works within."""

from __future__ import annotations

from dataclasses import fields

import streamlit as st

from core.config.knobs import all_help
from core.engine.run_table import run_row
from core.hosting.limits import Limits, current_limits, save_limits
from core.hosting.people import AccessError, Person, Team, TeamRun, copy_run
from core.hosting.settings import Settings
from core.messages import markdown_literal
from core.workspace import Workspace
from ui.common import state
from ui.runs import run_table, run_views

TEAM_RUN_PARAM = "team_run"  # "<person id>/<run id>" in the URL, so a refresh keeps the open run
LIMIT_TITLES = {"max_live_runs": "Runs waiting or training, per person", "max_upload_mb": "Largest upload (MB)",
                "max_epochs": "Most epochs per run", "max_steps": "Most steps per run"}


def runs_table(runs: list[TeamRun], me: Person) -> TeamRun | None:
    rows = [{"person": "you" if item.owner == me.id else item.owner_name, **run_row(item.run)} for item in runs]
    picked = run_table.runs_table(rows, key="team_table")
    if picked is not None:
        chosen = runs[picked]
        state.select(TEAM_RUN_PARAM, f"{chosen.owner}/{chosen.run.id}")
    st.caption("Click a row to open the run. Team mates' runs are read-only; copy one to work on it.")
    owner, _, run_id = (state.selected(TEAM_RUN_PARAM) or "").partition("/")
    return next((item for item in runs if item.owner == owner and item.run.id == run_id), None)


def run_detail(item: TeamRun, me: Person, workspace: Workspace) -> None:
    mine = item.owner == me.id
    st.subheader(markdown_literal(f"“{item.run.id}” · {'your run' if mine else item.owner_name + '’s run'}"))
    problem = item.run.problem
    if problem:  # its owner (or an admin) may delete it here; nobody can open or copy it
        run_views.damaged_panel(item.run, problem, key="team_damaged", can_delete=mine or me.is_admin,
                                selected_param=TEAM_RUN_PARAM)
        return
    run_views.live_panel(item.run, key="team_live", can_stop=mine or me.is_admin)
    if not mine:
        copy_button(item, workspace)
    run_views.detail_tabs(item.run, key="team")


def copy_button(item: TeamRun, workspace: Workspace) -> None:
    live = item.run.status.is_live
    if st.button("Copy into my workspace", key="team_copy", icon=":material/content_copy:", disabled=live,
                 help="Finished runs only. The copy has its settings, charts, evaluation and model (and its "
                      "dataset, if you have none of that name): compare it, try it, or train it again your way."):
        try:
            copy = copy_run(item, workspace)
        except AccessError as error:
            st.error(markdown_literal(error), icon=":material/error:")
            return
        st.success(f"Copied as “{markdown_literal(copy.id)}” into your workspace.", icon=":material/content_copy:")
        st.page_link("pages/runs.py", label="Open it on the Runs page →", icon=":material/monitoring:",
                     query_params={"run": copy.id})


def limits_form(root, settings: Settings) -> None:
    """Admins only: the limits every person works within (0 = no limit)."""
    limits = current_limits(root, settings)
    helps = all_help(Settings)
    with st.form("team_limits"):
        columns = st.columns(4)
        values = {}
        for column, item in zip(columns, fields(Limits)):
            current = getattr(limits, item.name)
            values[item.name] = column.number_input(
                LIMIT_TITLES[item.name], min_value=type(current)(0), value=current, key=f"team_limit_{item.name}",
                help=helps[item.name], step=type(current)(1))
        if st.form_submit_button("Save limits", icon=":material/save:"):
            save_limits(root, Limits(**values))
            st.success("Saved. The limits apply to every run started from now on.", icon=":material/save:")


def render(me: Person, team: Team, workspace: Workspace, settings: Settings) -> None:
    runs = team.runs()
    if not runs:
        st.info("Nobody on the team has started a run yet.")
    else:
        item = runs_table(runs, me)
        if item is not None:
            st.divider()
            run_detail(item, me, workspace)
    if me.is_admin:
        st.divider()
        st.subheader("Limits for everyone")
        limits_form(team.root, settings)
