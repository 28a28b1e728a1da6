"""Playground for language models trained here: a prompt in, the model's continuation streamed out as it writes.

A model trained on prompt/response pairs gets the prompt wrapped in the template it was trained with; a LoRA run
can be exported as a standalone model folder (the adapter merged into its base model).

The writing widgets here serve the Prompt lab's "Write freely" panel too (`ui.prompt_lab.generate`), so both pages
turn the same knobs (`decoding_form`, whose help, limits and defaults come from `core.lm.decoding`), say the same
about a prompt longer than the model reads (`show_fit`) and draw model output the same way (`stream_verbatim`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import streamlit as st

from core.config.knobs import KnobError, knob_default, knob_field, knob_help, knob_label, knob_limits
from core.engine.runs import Run
from core.lm.decoding import DecodingSettings, parse_stop_sequences
from core.lm.loading import is_adapter
from core.lm.writing import PromptFit
from core.messages import markdown_literal
from core.tasks.text_classification.models import ModelError
from core.workspace import Workspace
from ui.playground.predictors import predictor_for

REDRAW_SECONDS = 0.1
LEFT_OUT_SHOWN = 600  # characters of a cut-off prompt start shown before writing


def decoding_form(key: str) -> DecodingSettings | None:
    """The decoding knobs (widget keys `<key>_<field>`); None, with the reason shown, when they do not fit
    together."""
    first = st.columns(3)
    values = {"temperature": _knob(first[0], "temperature", key, slider=True),
              "top_p": _knob(first[1], "top_p", key, slider=True),
              "max_new_tokens": _knob(first[2], "max_new_tokens", key)}
    with st.expander("More settings: top-k, repetition penalty, seed, stop sequences"):
        more = st.columns(3)
        values["top_k"] = _knob(more[0], "top_k", key)
        values["repetition_penalty"] = _knob(more[1], "repetition_penalty", key, slider=True)
        values["seed"] = _knob(more[2], "seed", key)
        stops = st.text_area("Stop sequences (one per line; write a line break as \\n)", height=68,
                             key=f"{key}_stop_sequences", help=knob_help(DecodingSettings, "stop_sequences"))
    if values["temperature"] == 0:
        st.caption("Temperature 0: the model always picks its likeliest token, so the same prompt gives the same "
                   "text (top-p, top-k and the seed do not matter).")
    try:
        return DecodingSettings(**values, stop_sequences=parse_stop_sequences(stops))
    except KnobError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return None


def _knob(container, name: str, key: str, slider: bool = False):
    """One number knob: its label, limits, step, default and help all read from `DecodingSettings`."""
    low, high = knob_limits(DecodingSettings, name)
    step = knob_field(DecodingSettings, name).metadata["step"]
    widget = container.slider if slider else container.number_input
    return widget(knob_label(DecodingSettings, name), low, high, knob_default(DecodingSettings, name), step,
                  key=f"{key}_{name}", help=knob_help(DecodingSettings, name))


def show_fit(fit: PromptFit) -> None:
    """Before writing: how long the prompt is against what the model reads, and which start it will not read."""
    st.caption(f"The prompt is {fit.prompt_tokens:,} tokens; the model reads {fit.context:,} at a time.")
    if not fit.left_out:
        return
    st.warning(f"The prompt and the writing do not fit the {fit.context:,} tokens the model reads: its first "
               f"{fit.left_out:,} tokens will be left out. Shorten the prompt, or ask for fewer new tokens, to keep "
               "them. Left out:", icon=":material/content_cut:")
    shown = fit.left_out_text
    # Shown as plain text, never as Markdown: it is what the person typed.
    st.code(shown if len(shown) <= LEFT_OUT_SHOWN else shown[:LEFT_OUT_SHOWN] + " …", language=None,
            wrap_lines=True)


def render(run: Run) -> None:
    key = f"play_gen_{run.id}"
    try:
        predictor = predictor_for(run)
    except (ModelError, OSError) as error:
        st.error(f"This run's model could not be loaded: {markdown_literal(error)}", icon=":material/error:")
        return
    if predictor.is_instruction:
        st.caption("This model was trained on instructions and answers: write an instruction, and it answers.")
        placeholder = "Give the opposite of the word.\n\nearly"
    else:
        st.caption("This model continues the text you start: write the first words.")
        placeholder = "ROMEO:"
    prompt = st.text_area("Prompt", height=120, key=f"{key}_prompt", placeholder=placeholder)
    wrap = predictor.is_instruction and st.checkbox(
        "Wrap the prompt as during training", value=True, key=f"{key}_wrap",
        help="Puts your text inside the “### Instruction / ### Response” layout the model learned from.")
    settings = decoding_form(key)
    if settings is None:
        return
    text = predictor.format_prompt(prompt) if wrap else prompt
    show_fit(predictor.fit(text, settings))
    if st.button("Generate", type="primary", icon=":material/edit_note:", key=f"{key}_generate"):
        st.markdown("**The model writes:**")
        # A text model carries the prompt on, so its words lead; an instruction model's answer stands alone.
        shown = "" if predictor.is_instruction else prompt
        with st.container(border=True, key=f"{key}_output"):
            written = stream_verbatim(st.empty(), shown, predictor.stream(text, settings))
        if not written.strip():
            st.caption("It wrote nothing: it ended the text at once. Try a higher temperature or another prompt.")
    export_merged_button(run, key)


def stream_verbatim(placeholder, lead: str, pieces: Iterable[str]) -> str:
    """Draw the text as it is written, exactly as written, line breaks kept: as Markdown, a line "1887." would turn
    into a numbered list, a "*" into italics and single line breaks into spaces. Redrawn at most every
    `REDRAW_SECONDS`, not once per token."""
    written, drawn_at = "", 0.0
    for piece in pieces:
        written += piece
        if time.monotonic() - drawn_at >= REDRAW_SECONDS:
            show_verbatim(placeholder, lead + written)
            drawn_at = time.monotonic()
    show_verbatim(placeholder, lead + written)
    return written


def show_verbatim(container, text: str) -> None:
    container.code(text, language=None, wrap_lines=True)


def export_merged_button(run: Run, key: str) -> None:
    """LoRA runs only: fold the adapter into its base model, as a folder any tool (or the Train page) can load."""
    if not is_adapter(run.model_dir):
        return
    st.divider()
    st.markdown("**Export as a standalone model** — this run keeps only its small LoRA add-ons; merging them into "
                "the base model gives one folder that loads anywhere without `peft`.")
    target = Workspace(run.folder.parent.parent).models / f"{run.id}-merged"
    if st.button("Export merged model", icon=":material/merge:", key=f"{key}_export"):
        from core.lm.predictor import export_merged

        with st.spinner("Merging the add-ons into the base model and saving it…"):
            try:
                export_merged(run.model_dir, target, target.parent)
            except (ModelError, OSError, ValueError) as error:
                st.error(f"The export failed: {markdown_literal(error)}", icon=":material/error:")
                return
    if (target / "config.json").is_file():
        st.success("Saved a standalone model folder. Load it with `AutoModelForCausalLM.from_pretrained`, or "
                   "fine-tune it further on the Train page (pretrained → “A model folder on this machine…”):",
                   icon=":material/check_circle:")
        st.code(str(target), language=None)
