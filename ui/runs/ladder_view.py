"""The baseline ladder on the Runs page's evaluation: one sentence that says what the model's score is worth, and
the rungs it is measured against (guessing, the most common answer, a classical model), each with what it means.

The boundary: drawing eval.json's ladder (computed by `core.engine.baselines` in the worker). Class names come from
a person's data, so every sentence that may quote one is shown as text, never as Markdown.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.config.glossary import explain, terms_in
from core.engine.baselines import LADDER_KEY, Rung, rungs_of, verdict
from core.messages import markdown_literal, percent, plain_number

KIND_TITLES = {"chance": "guessing", "majority": "without looking", "mean": "without looking",
               "classical": "classical, seconds to train", "model": "this run"}


def words_help(*texts: str) -> str | None:
    """The glossary's lines for the terms these texts use, as a tooltip (None when they use none)."""
    terms = terms_in(" ".join(texts))
    return "\n\n".join(f"**{term}**: {explain(term)}" for term in terms) or None


def seconds_text(seconds: float) -> str:
    if seconds < 1:
        return "under a second" if seconds > 0 else "none"
    if seconds < 90:
        return f"{plain_number(round(seconds))} s"
    return f"{plain_number(round(seconds / 60, 1))} min"


def score_text(rung: Rung, metric: str) -> str:
    return percent(rung.score) if metric == "accuracy" else f"R² {plain_number(rung.score)}"


def tone(stored: dict[str, Any]):
    """Green when the model beats every rung, amber when a rung beats or matches it, blue when it is level with a
    classical baseline but above the rest."""
    sentence = verdict(stored)
    if sentence.startswith("Your model does no better") or " beats your model " in sentence:
        return st.warning, ":material/warning:"
    if " is level with " in sentence:
        return st.info, ":material/balance:"
    return st.success, ":material/trending_up:"


def rows(stored: dict[str, Any]) -> list[dict[str, Any]]:
    metric = stored.get("metric", "accuracy")
    return [{"": rung.name, "kind": KIND_TITLES.get(rung.kind, rung.kind),
             "score": rung.score * 100 if metric == "accuracy" else rung.score,
             "time to train": seconds_text(rung.seconds)} for rung in reversed(rungs_of(stored))]


def meanings(stored: dict[str, Any]) -> str:
    """What each rung is, one line each, best first: a table cell would cut these sentences off."""
    return "\n".join(f"- **{markdown_literal(rung.name)}**: {markdown_literal(rung.description)}"
                     for rung in reversed(rungs_of(stored)))


def render(report: dict[str, Any], key: str) -> None:
    """The ladder of a finished run's report; nothing for a run from before ladders (or text generation)."""
    stored = report.get(LADDER_KEY)
    if not isinstance(stored, dict) or not stored.get("rungs"):
        return
    metric = stored.get("metric", "accuracy")
    sentence = verdict(stored)
    descriptions = " ".join(r.description for r in rungs_of(stored))
    st.markdown("**How good is this?** Your model against simple baselines, on the same validation rows",
                help=words_help(sentence, descriptions, "accuracy" if metric == "accuracy" else "R²", "baseline",
                                "validation"))
    show, icon = tone(stored)
    show(markdown_literal(sentence), icon=icon)
    accuracy = metric == "accuracy"
    lowest = min([0.0, *(r.score for r in rungs_of(stored))])
    st.dataframe(rows(stored), hide_index=True, key=f"{key}_ladder", column_config={
        "score": st.column_config.ProgressColumn(
            "accuracy" if accuracy else "R²", min_value=0.0 if accuracy else lowest,
            max_value=100.0 if accuracy else 1.0, format="%.1f %%" if accuracy else "%.2f",
            help=explain("accuracy") if accuracy else explain("R²")),
        "time to train": st.column_config.TextColumn("time to train", help="How long each one took to learn."),
    })
    st.caption(meanings(stored))
    st.caption(f"Measured on the same {stored.get('validation_rows', 0):,} validation rows; the baselines learned "
               f"from the same {stored.get('train_rows', 0):,} training rows.")
