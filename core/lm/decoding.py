"""How a language model picks its words: `DecodingSettings`, the one set of decoding knobs that the Prompt lab, the
Playground and the samples written during training all use, and the keyword arguments for `model.generate` they
become.

Each field is a `knob` with the line the UI shows beside it, its limits and (for the UI) a step; the UI reads them
with `knob_help`, `knob_limits` and `knob_default` and never writes a default again. Temperature 0 means greedy
decoding (always the likeliest token), so the same prompt gives the same text every time; above 0 the seed fixes
the random draws. This module knows nothing about models, threads or Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config.knobs import KnobError, check_limits, knob

MAX_STOP_SEQUENCES = 8


@dataclass(frozen=True)
class DecodingSettings:
    # 200 tokens: a paragraph from a pretrained model, a few lines from a character model; quick on a CPU either way.
    max_new_tokens: int = knob(200, "The most tokens the model writes (a token is a word piece, or one character "
                                    "for a character model).", min=1, max=2048, step=10)
    temperature: float = knob(0.8, "How adventurous the writing is: 0 always picks the likeliest token (the same "
                                   "text every time), higher values surprise more.", min=0.0, max=2.0, step=0.05)
    top_p: float = knob(0.95, "Only draw from the likeliest tokens that together make up this share of the "
                              "probability: lower is safer and plainer (1 = all tokens).", min=0.05, max=1.0,
                        step=0.05, label="Top-p")
    top_k: int = knob(50, "Only draw from this many of the likeliest tokens (0 = no limit).", min=0, max=1000,
                      step=1, label="Top-k")
    # 1.0 by default: the penalty falls on every token already in the text, the prompt's included, so for a
    # character model it would push down nearly every letter. Raise it when a model keeps repeating itself.
    repetition_penalty: float = knob(1.0, "Above 1 the model avoids tokens it has already written (try 1.1 to 1.3 "
                                          "when it repeats itself); 1 = no penalty.", min=1.0, max=2.0, step=0.05)
    stop_sequences: tuple[str, ...] = knob((), "The model stops as soon as it writes one of these (e.g. a blank "
                                               "line); they are not shown.", max_items=MAX_STOP_SEQUENCES)
    seed: int = knob(0, "Fixes the random draws: the same seed, prompt and settings give the same text.",
                     min=0, max=2**31 - 1, step=1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_sequences", tuple(str(s) for s in self.stop_sequences if str(s)))
        check_limits(self)
        if len(self.stop_sequences) > MAX_STOP_SEQUENCES:
            raise KnobError(f"There are {len(self.stop_sequences)} stop sequences; use at most "
                            f"{MAX_STOP_SEQUENCES}.")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def parse_stop_sequences(text: str) -> tuple[str, ...]:
    r"""What a person types into one box → stop sequences: one per line, with \n written as a backslash-n."""
    return tuple(line.replace("\\n", "\n").replace("\\t", "\t") for line in text.splitlines() if line)


def generate_arguments(settings: DecodingSettings, pad_token_id: int | None,
                       never_write: tuple[int, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for `model.generate` (all but the length, which each round sets). Greedy decoding passes
    no sampling knobs at all, so a model's own generation defaults (Gemma ships with sampling on) cannot turn it
    back into sampling. `never_write`: token ids that must never be drawn."""
    arguments: dict[str, Any] = {"repetition_penalty": settings.repetition_penalty, "pad_token_id": pad_token_id}
    if settings.greedy:
        arguments.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        arguments.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p,
                         top_k=settings.top_k or None)
    if never_write:
        arguments["suppress_tokens"] = list(never_write)
    return arguments
