"""The glossary: every word of the trade the app shows has one plain line, every line is about a word the app
really shows, the Runs page's ladder and diagnoses explain the words they use, and numbers read as people read
them."""

from __future__ import annotations

import pytest

from core.config.glossary import GLOSSARY, explain, terms_in
from core.messages import percent, plain_number
from tests.support.paths import ROOT
from ui.runs.ladder_view import words_help

# The words issue 18 asked the glossary to cover: each appears somewhere on the Train, Runs, Data or Playground page.
REQUIRED = ("macro-F1", "perplexity", "learning rate", "warmup", "weight decay", "gradient clipping", "LoRA rank",
            "LoRA alpha", "target modules", "top-p", "top-k", "tokens", "stratified split", "safetensors", "epoch",
            "accuracy", "R²", "validation", "checkpoint", "batch size", "over-fitting")


def shown_text() -> str:
    """Everything the pages and the settings' help can show, with field names read as labels ("weight_decay" is
    shown as "Weight decay")."""
    files = [p for folder in ("ui", "pages", "core") for p in (ROOT / folder).rglob("*.py")
             if p.name != "glossary.py"]
    return "\n".join(p.read_text(encoding="utf-8").replace("_", " ") for p in files)


def test_every_required_term_has_one_plain_line():
    assert set(REQUIRED) <= set(GLOSSARY)
    for term, line in GLOSSARY.items():
        assert line == line.strip() and "\n" not in line and line.endswith("."), term
        assert 20 <= len(line) <= 200, f"{term}: one short line, not {len(line)} characters"


@pytest.mark.parametrize("term", sorted(GLOSSARY))
def test_every_term_is_used_where_people_read(term):
    assert term in terms_in(shown_text()), f"“{term}” is explained but never shown: drop it or use it"


def test_terms_are_found_in_their_other_spellings():
    assert terms_in("Train for 20 epochs; the validation loss rose") == ["loss", "validation", "epoch"]
    assert terms_in("It is overfitting.") == ["over-fitting"]
    assert terms_in("Macro F1 far below the accuracy") == ["accuracy", "macro-F1"]
    assert terms_in("R² 0.45") == ["R²"]
    assert terms_in("an epochal change") == []  # whole words only


def test_the_ladder_and_diagnoses_explain_their_words_from_the_glossary():
    tooltip = words_help("Your model does no better than always answering “ham” (87.6 %).",
                         "accuracy 87.6 % looks good, but macro-F1 is 0.467", "Train for 20 epochs")
    assert f"**macro-F1**: {explain('macro-F1')}" in tooltip
    assert f"**epoch**: {explain('epoch')}" in tooltip
    assert words_help("nothing technical here") is None
    for module in ("ui/runs/ladder_view.py", "ui/runs/diagnosis_view.py"):
        assert "words_help(" in (ROOT / module).read_text(encoding="utf-8")


@pytest.mark.parametrize(("value", "shown"), [
    (10.0, "10"), (10, "10"), (2.5, "2.5"), (0.00005, "0.00005"), (3e-4, "0.0003"), (0.12345, "0.123"),
    (12345.6, "12,346"), (1e-7, "0.0000001"), (True, "on"), (False, "off"), (None, "–"), ("cnn", "cnn"),
    (float("nan"), "not a number"),
])
def test_numbers_read_as_people_write_them(value, shown):
    assert plain_number(value) == shown


def test_shares_read_as_percentages():
    assert (percent(0.8763), percent(0.25), percent(1.0), percent(None)) == ("87.6 %", "25 %", "100 %", "–")
