"""Under a language model's live charts: what it writes from the same prompt at every check, newest first.

Reading the same prompt continued at step 200, 400, 600… shows a person what a falling loss means: gibberish,
then words, then the style of their text. The worker appends to `samples.jsonl`; this view only reads it, so it
updates with the rest of the live panel.
"""

from __future__ import annotations

import streamlit as st

from core.engine.run_folder import read_samples
from core.engine.runs import Run
from core.messages import markdown_literal

EARLIER_SHOWN = 5


def render(run: Run, task: str, key: str) -> None:
    """Nothing for tasks other than text generation, so the live panel can call it for every run."""
    if task != "text-generation":
        return
    samples = read_samples(run.folder)  # from core.engine.run_folder, which imports no torch
    st.markdown("**What the model writes** — the same prompt, continued at every check")
    if not samples:
        st.caption("The first sample appears at the first check of the validation data.")
        return
    # A model trained on pairs answers below the prompt; one trained on a text carries the prompt on.
    continues_prompt = run.status.summary.get("format") != "instruction"
    latest = samples[-1]
    st.caption(f"Prompt: “{markdown_literal(_short(latest.get('prompt', '')))}”")
    show_sample(latest, continues_prompt)
    earlier = samples[-1 - EARLIER_SHOWN:-1][::-1]
    if earlier:
        with st.expander(f"Earlier samples ({len(samples) - 1} in all, the last {len(earlier)} shown)"):
            for sample in earlier:
                show_sample(sample, continues_prompt)


def show_sample(sample: dict, continues_prompt: bool) -> None:
    step = sample.get("step")
    st.markdown(f"Step {step:,}" if isinstance(step, int) else "Final model")
    text = sample.get("text", "")
    st.code((sample.get("prompt", "") + text) if continues_prompt else text, language=None, wrap_lines=True)


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"
