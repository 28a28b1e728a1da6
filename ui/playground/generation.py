"""Playground for language models trained here: a prompt in, the model's continuation streamed out as it writes.

A model trained on prompt/response pairs gets the prompt wrapped in the template it was trained with; a LoRA run
can be exported as a standalone model folder (the adapter merged into its base model).
"""

from __future__ import annotations

import time

import streamlit as st

from core.engine.runs import Run
from core.tasks.text_classification.models import ModelError
from core.workspace import Workspace
from ui.playground.predictors import predictor_for

MAX_NEW_TOKENS = 2_000
REDRAW_SECONDS = 0.1


def settings(key: str) -> dict:
    """The sampling knobs; temperature 0 always picks the likeliest next token (the same text every time)."""
    columns = st.columns(3)
    chosen = {
        "temperature": columns[0].slider("Temperature", 0.0, 2.0, 0.8, 0.05, key=f"{key}_temperature",
                                         help="Higher writes more surprising text; 0 always takes the likeliest "
                                              "next token, so the same prompt gives the same text."),
        "top_p": columns[1].slider("Top-p", 0.05, 1.0, 0.95, 0.05, key=f"{key}_top_p",
                                   help="Only the likeliest tokens that together make up this share of the "
                                        "probability are considered: lower is safer and plainer."),
        "max_new_tokens": columns[2].number_input("Max new tokens", 1, MAX_NEW_TOKENS, 200, 10,
                                                  key=f"{key}_max_tokens",
                                                  help="How much it writes at most (a token is a character or a "
                                                       "word piece)."),
    }
    with st.expander("More settings: top-k, repetition penalty, stop text, seed"):
        more = st.columns(4)
        chosen["top_k"] = more[0].number_input("Top-k", 0, 1000, 50, key=f"{key}_top_k",
                                               help="Only the k likeliest next tokens are considered (0 = no limit).")
        chosen["repetition_penalty"] = more[1].number_input(
            "Repetition penalty", 1.0, 2.0, 1.0, 0.05, key=f"{key}_repetition",
            help="Above 1 makes repeating the same words less likely.")
        stop = more[2].text_input("Stop at this text", key=f"{key}_stop",
                                  help="Writing ends where this text appears, e.g. a blank line or '###'.")
        # People type a line break as \n in a one-line box.
        chosen["stop_sequences"] = (stop.replace("\\n", "\n"),) if stop else ()
        chosen["seed"] = int(more[3].number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed",
                                                  help="Same seed, prompt and settings: the same text."))
    return chosen


def render(run: Run) -> None:
    key = f"play_gen_{run.id}"
    try:
        predictor = predictor_for(run)
    except (ModelError, OSError) as error:
        st.error(f"This run's model could not be loaded: {error}", icon=":material/error:")
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
    chosen = settings(key)
    if st.button("Generate", type="primary", icon=":material/edit_note:", key=f"{key}_generate"):
        text = predictor.format_prompt(prompt) if wrap else prompt
        st.markdown("**The model writes:**")
        # A text model carries the prompt on, so its words lead; an instruction model's answer stands alone.
        shown = "" if predictor.is_instruction else prompt
        with st.container(border=True, key=f"{key}_output"):
            written = stream_verbatim(st.empty(), shown, predictor.stream(text, **chosen))
        if not written.strip():
            st.caption("It wrote nothing: it ended the text at once. Try a higher temperature or another prompt.")
    export_merged_button(run, key)


def stream_verbatim(placeholder, lead: str, pieces) -> str:
    """Draw the text as it is written, exactly as written: as Markdown, a line "1887." would turn into a
    numbered list and a "*" into italics. Redrawn at most every `REDRAW_SECONDS`, not once per token."""
    written, drawn_at = "", 0.0
    for piece in pieces:
        written += piece
        if time.monotonic() - drawn_at >= REDRAW_SECONDS:
            placeholder.code(lead + written, language=None, wrap_lines=True)
            drawn_at = time.monotonic()
    placeholder.code(lead + written, language=None, wrap_lines=True)
    return written


def export_merged_button(run: Run, key: str) -> None:
    """LoRA runs only: fold the adapter into its base model, as a folder any tool (or the Train page) can load."""
    if not (run.model_dir / "adapter_config.json").is_file():
        return
    st.divider()
    st.markdown("**Export as a standalone model** — this run keeps only its small LoRA add-ons; merging them into "
                "the base model gives one folder that loads anywhere without `peft`.")
    target = Workspace(run.folder.parent.parent).models / f"{run.id}-merged"
    if st.button("Export merged model", icon=":material/merge:", key=f"{key}_export"):
        from core.lm.predictor import export_merged

        with st.spinner("Merging the add-ons into the base model and saving it…"):
            try:
                export_merged(run.model_dir, target)
            except (ModelError, OSError, ValueError) as error:
                st.error(f"The export failed: {error}", icon=":material/error:")
                return
    if (target / "config.json").is_file():
        st.success("Saved a standalone model folder. Load it with `AutoModelForCausalLM.from_pretrained`, or "
                   "fine-tune it further on the Train page (pretrained → “A model folder on this machine…”):",
                   icon=":material/check_circle:")
        st.code(str(target), language=None)
