"""Diagnoses on the Runs page's evaluation: what the curves and the evaluation show, in plain words with the
evidence, and a one-click "Start a new run with this change" that shows the settings it changes first.

The boundary: drawing `core.coach.diagnosis`'s findings and turning a click into a new run (the remedy applied
with `core.coach.remedies`, vetted like the Train page's settings, put in the queue like the Train page's runs,
with the run it improves on recorded in its folder). A team mate's run (outside this person's workspace) shows its
diagnoses without the button.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.coach.diagnosis import Diagnosis, diagnose
from core.coach.remedies import apply_remedy, read_parent, record_parent, settings_diff
from core.config.catalog import ConfigError
from core.engine.run_folder import DamagedFile
from core.engine.runs import Run, get_run
from core.messages import markdown_literal, plain_number
from ui.common import state
from ui.runs import queue_view
from ui.runs.ladder_view import words_help


def in_my_workspace(run: Run) -> bool:
    return run.folder.resolve().parent == state.workspace().runs.resolve()


def parent_note(run: Run) -> None:
    """For a run started from a diagnosis: which run it improves on, and what it changed."""
    parent = read_parent(run.folder)
    if parent is None:
        return
    change = ", ".join(f"{name.replace('_', ' ')} → {plain_number(value)}" for name, value in parent["change"].items())
    exists = get_run(state.workspace(), parent["parent_run"]) is not None
    st.caption(markdown_literal(f"This run tries the change suggested for run “{parent['parent_run']}” "
                                f"({parent.get('diagnosis', '')}): {change}."
                                + ("" if exists else " That run has since been deleted.")))


def diff_rows(config, diagnosis: Diagnosis) -> list[dict[str, Any]]:
    return [{"setting": change.label, "this run": change.before_text, "new run": change.after_text}
            for change in settings_diff(config, diagnosis.remedy)]


def start_improved_run(run: Run, config, diagnosis: Diagnosis) -> None:
    """A new run with the remedy's settings, queued; the page then follows it. Any reason it cannot start is
    shown in plain words and leaves nothing behind."""
    try:
        changed = apply_remedy(config, diagnosis.remedy)
    except (ConfigError, ValueError, KeyError) as error:
        st.error(f"This change cannot be made to this run's settings: {markdown_literal(error)}",
                 icon=":material/error:")
        return
    vetted = state.vet_config(changed)
    if isinstance(vetted, str):
        st.error(markdown_literal(vetted), icon=":material/error:")
        return
    new_run = queue_view.start(state.workspace(), vetted)
    if new_run is None:
        return  # start has said why
    record_parent(new_run.folder, run.id, diagnosis.key, diagnosis.remedy)
    state.select("run", new_run.id)
    st.rerun()


def diagnosis_card(run: Run, config, diagnosis: Diagnosis, key: str, can_start: bool) -> None:
    with st.container(border=True):
        st.markdown(f"**{diagnosis.title}**", help=words_help(diagnosis.title, diagnosis.evidence,
                                                               diagnosis.remedy_note))
        st.markdown(markdown_literal(diagnosis.evidence))
        st.markdown(f"**What to change:** {markdown_literal(diagnosis.remedy_note)}")
        rows = diff_rows(config, diagnosis)
        if rows:
            st.dataframe(rows, hide_index=True, key=f"{key}_diff")
        if not can_start:
            st.caption("Copy this run into your workspace to try the change.")
        elif st.button("Start a new run with this change", key=f"{key}_start", icon=":material/restart_alt:",
                       help="Same dataset and settings as this run, with the change above; it joins the queue."):
            start_improved_run(run, config, diagnosis)


def render(run: Run, report: dict[str, Any] | None, key: str) -> None:
    """The diagnoses of a finished (or failed, or stopped) run, the most pressing first."""
    parent_note(run)
    status = run.status
    if not status.is_final:
        return
    try:
        config = run.config
    except DamagedFile:
        return  # the run's panel already says what is damaged
    found = diagnose(run.metrics, report, config, status.message, status.kept_epoch)
    if not found:
        if report:
            st.caption(":material/check_circle: Nothing worrying in the curves or the evaluation: no sign of "
                       "over-fitting, under-fitting, a bad learning rate or a collapse onto one class.",
                       help=words_help("over-fitting under-fitting learning rate"))
        return
    st.markdown("**What the curves and the evaluation show**",
                help="Each finding names what was seen and the settings change that usually helps. The change "
                     "starts a new run: this one stays as it is, to compare with.")
    can_start = in_my_workspace(run)
    for i, diagnosis in enumerate(found):
        diagnosis_card(run, config, diagnosis, f"{key}_diagnosis_{i}", can_start)
