"""Try the prompt on one typed text: the exact prompt the model reads, and its answer in well under a second once
the prompt is ready.

A fragment, so that classifying reruns only this part: the rest of the page stays as it is instead of greying out.
The worked examples' key/value cache and the model's lean are prepared once per model, dataset and recipe
(`core.prompting.one_text.ready_prompt`, with a progress bar over the training texts it scores) and kept in the
session, so text after text costs only its own tokens. The last answer is kept too (`ui.prompt_lab.kept`).
"""

from __future__ import annotations

import json
import time

import streamlit as st

from core.engine import charts
from core.messages import markdown_literal  # a class name comes from a person's file: text, not Markdown
from core.prompting.one_text import ReadyPrompt, ready_prompt
from core.prompting.prompts import assemble_prompt
from core.prompting.recipe import one_text_calibration, recipe_to_dict
from core.workspace import Workspace
from ui.common.widgets import KEEP
from ui.prompt_lab import kept
from ui.prompt_lab.models import LoadedModel
from ui.prompt_lab.recipe_form import CALIBRATION_NAMES
from ui.prompt_lab.setup import PromptSetup

READY = "prompt_try_ready"  # session state: (signature, ReadyPrompt)
ANSWER = "one_text"  # kept result: {"signature", "text", "answer", "seconds"}


def signature(lm: LoadedModel, setup: PromptSetup) -> str:
    return json.dumps([lm.name, str(setup.dataset.folder), setup.dataset.train_path.stat().st_mtime_ns,
                       recipe_to_dict(setup.recipe)], sort_keys=True, ensure_ascii=False)


def text_key(setup: PromptSetup) -> str:
    return f"prompt_try_{setup.dataset.name}"


@st.fragment
def render(workspace: Workspace, lm: LoadedModel, setup: PromptSetup) -> None:
    st.subheader("Try it on one text")
    key = text_key(setup)
    st.session_state.setdefault(key, setup.validation[0]["text"] if setup.validation else "")
    text = st.text_area("Text to classify", key=key, height=80, persist_state=KEEP)
    if not text.strip():
        st.caption("Type a text to see the prompt the model reads.")
        return
    _show_prompt(lm, setup, text)
    wanted = signature(lm, setup)
    if st.button("Classify this text", key="prompt_try_go", icon=":material/label:", type="primary"):
        started = time.perf_counter()  # the first text of a prompt includes preparing it
        ready = _ready(lm, setup, wanted)
        answer = ready.classify(text)
        kept.keep(workspace, ANSWER, {"signature": wanted, "text": text, "answer": answer,
                                      "seconds": time.perf_counter() - started})
    shown = kept.kept(workspace, ANSWER)
    if shown and shown.get("signature") == wanted and shown.get("text") == text:
        _show_answer(setup, shown["answer"], shown["seconds"])


def _show_prompt(lm: LoadedModel, setup: PromptSetup, text: str) -> None:
    assembled = assemble_prompt(setup.recipe, setup.train, text, lm.tokenizer, lm.model,
                                index=setup.similarity_index())
    limit = f" of the {assembled.context_limit:,} it can read" if assembled.context_limit else ""
    words = markdown_literal(", ".join(word.strip() for word in setup.recipe.label_words.values()))
    with st.expander(f"What the model reads: {assembled.token_count:,} tokens{limit}", icon=":material/article:",
                     expanded=setup.recipe.few_shot_k <= 8):
        sets = len(setup.recipe.seeds)
        again = (f" It reads it {sets} times, each time with another set of worked examples (this is the first), "
                 "and averages its answers." if sets > 1 else "")
        st.caption(f"The model reads this text and answers with the likeliest of: {words}.{again} Tokens are the "
                   "pieces a text is cut into.")
        st.code(assembled.text, language=None, wrap_lines=True)
    if assembled.warning:
        st.warning(markdown_literal(assembled.warning), icon=":material/warning:")


def _ready(lm: LoadedModel, setup: PromptSetup, wanted: str) -> ReadyPrompt:
    """The prompt ready for text after text: prepared once per model, dataset and recipe, with progress."""
    stored = st.session_state.get(READY)
    if stored is not None and stored[0] == wanted:
        return stored[1]
    bar = st.progress(0.0, text="Reading the worked examples once…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Measuring the model's lean once for this prompt: {done:,} of "
                                                f"{total:,} training texts")

    ready = ready_prompt(lm.model, lm.tokenizer, setup.recipe, setup.train, index=setup.similarity_index(),
                         progress=progress)
    bar.empty()
    st.session_state[READY] = (wanted, ready)
    return ready


def _show_answer(setup: PromptSetup, answer: dict[str, float], seconds: float) -> None:
    best = max(answer, key=answer.get)
    against = one_text_calibration(setup.recipe)
    note = f", adjusted for the model's lean measured on {CALIBRATION_NAMES[against]}" if against else ""
    st.markdown(f"**{markdown_literal(best)}** ({answer[best]:.0%}){note} · answered in {seconds:.1f} s")
    st.plotly_chart(charts.probability_bars(answer), key="prompt_try_bars")
