"""Write freely: a prompt, the sampling settings, and the model's continuation streamed as it is written."""

from __future__ import annotations

import streamlit as st

from core.lm.generation import GenerationSettings, parse_stop_sequences, settings_help
from ui.prompt_lab.models import LoadedModel

OUTPUT = "prompt_gen_output"  # session state: the last text written, kept across reruns


def render(lm: LoadedModel) -> None:
    st.caption("Give the model the start of a text; it carries on, word by word. A base model like Gemma 270M "
               "continues text rather than following orders: start the text you want, or show a pattern.")
    prompt = st.text_area("Prompt", key="prompt_gen_prompt", height=140,
                          value="Here are three tips for a good cup of coffee:\n1.")
    wrap = False
    if lm.instruction_template:
        wrap = st.checkbox("Lay the prompt out as during fine-tuning (instruction → response)", value=True,
                           key="prompt_gen_wrap", help="This run learned to answer instructions written in a "
                                                       "fixed layout; keep this on to ask it the same way.")
    settings = _settings_form()
    if settings is None:
        return
    if st.button("Generate", key="prompt_gen_go", type="primary", icon=":material/edit_note:"):
        text = lm.instruction_template.replace("{prompt}", prompt) if wrap and lm.instruction_template else prompt
        try:
            prepared = lm.generator.prepare(text, settings)
        except ValueError as error:
            st.error(str(error), icon=":material/error:")
            return
        if prepared.warning:
            st.warning(prepared.warning, icon=":material/warning:")
        with st.container(border=True):
            written = st.write_stream(lm.generator.stream(prepared, settings))
            st.session_state[OUTPUT] = written if isinstance(written, str) else "".join(map(str, written))
            if not st.session_state[OUTPUT].strip():
                st.caption("The model ended its text straight away. Try a longer prompt, another seed or a higher "
                           "temperature.")
        return
    if st.session_state.get(OUTPUT):
        with st.container(border=True):
            st.markdown(st.session_state[OUTPUT])


def _settings_form() -> GenerationSettings | None:
    help_for = settings_help()
    with st.expander("Settings", icon=":material/tune:"):
        first, second, third = st.columns(3)
        temperature = first.slider("Temperature", 0.0, 2.0, 0.8, 0.05, key="prompt_gen_temperature",
                                   help=help_for["temperature"])
        top_p = second.slider("Top-p", 0.05, 1.0, 0.95, 0.05, key="prompt_gen_top_p", help=help_for["top_p"])
        top_k = third.number_input("Top-k", 0, 1000, 50, key="prompt_gen_top_k", help=help_for["top_k"])
        max_new = first.number_input("Max new tokens", 1, 2048, 120, key="prompt_gen_max_new",
                                     help=help_for["max_new_tokens"])
        penalty = second.slider("Repetition penalty", 1.0, 2.0, 1.1, 0.05, key="prompt_gen_penalty",
                                help=help_for["repetition_penalty"])
        seed = third.number_input("Seed", 0, 2**31 - 1, 0, key="prompt_gen_seed", help=help_for["seed"])
        stops = st.text_area("Stop sequences (one per line; write a line break as \\n)", key="prompt_gen_stops",
                             height=68, help=help_for["stop_sequences"])
        if temperature == 0:
            st.caption("Temperature 0: the model always picks its likeliest word, so the same prompt gives the "
                       "same text (top-p, top-k and the seed do not matter).")
    try:
        return GenerationSettings(max_new_tokens=int(max_new), temperature=float(temperature), top_p=float(top_p),
                                  top_k=int(top_k), repetition_penalty=float(penalty),
                                  stop_sequences=parse_stop_sequences(stops), seed=int(seed))
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return None
