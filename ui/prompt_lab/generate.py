"""Write freely: a prompt, the decoding settings, and the model's continuation streamed as it is written.

The knobs, the note about a prompt longer than the model reads and the verbatim drawing are the Playground's
(`ui.playground.generation`), so both pages write the same way.
"""

from __future__ import annotations

import streamlit as st

from ui.playground.generation import decoding_form, show_fit, show_verbatim, stream_verbatim
from ui.prompt_lab.models import LoadedModel

OUTPUT = "prompt_gen_output"  # session state: the last text written, kept across reruns


def render(lm: LoadedModel) -> None:
    st.caption("Give the model the start of a text; it carries on, word by word. A base model like Gemma 270M "
               "continues text rather than following orders: start the text you want, or show a pattern.")
    prompt = st.text_area("Prompt", key="prompt_gen_prompt", height=140,
                          value="Here are three tips for a good cup of coffee:\n1.")
    wrap = lm.predictor.is_instruction and st.checkbox(
        "Lay the prompt out as during fine-tuning (instruction → response)", value=True, key="prompt_gen_wrap",
        help="This run learned to answer instructions written in a fixed layout; keep this on to ask it the same "
             "way.")
    settings = decoding_form("prompt_gen")
    if settings is None:
        return
    text = lm.predictor.format_prompt(prompt) if wrap else prompt
    show_fit(lm.predictor.fit(text, settings))  # before writing, so a cut-off start is no surprise
    generate = st.button("Generate", key="prompt_gen_go", type="primary", icon=":material/edit_note:")
    if not generate and not st.session_state.get(OUTPUT):
        return
    with st.container(border=True, key="prompt_gen_written"):
        if generate:
            st.session_state[OUTPUT] = stream_verbatim(st.empty(), "", lm.predictor.stream(text, settings))
        else:
            show_verbatim(st, st.session_state[OUTPUT])
    if generate and not st.session_state[OUTPUT].strip():
        st.caption("The model ended its text straight away. Try a longer prompt, another seed or a higher "
                   "temperature.")
