"""Free text generation with a causal language model: settings, prompt fitting, and a token stream to show live.

`GenerationSettings` holds what a person can turn (temperature, top-p, top-k, length, repetition penalty, stop
sequences, seed); each field's help text is the line the UI shows beside it. `TextGenerator` wraps one loaded model
and streams its continuation piece by piece (`transformers.TextIteratorStreamer`): the model runs in a helper
thread that only computes, while the caller's thread reads the pieces and draws them.

Temperature 0 means greedy decoding (always the likeliest token), so the same prompt gives the same text every
time; above 0 the seed fixes the random draws. This module knows nothing about Streamlit or about where a model
comes from (`core.lm.loading` loads them).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from core.config.knobs import knob

MAX_STOP_SEQUENCES = 8
STREAM_TIMEOUT_S = 600  # how long the reader waits for the next piece before giving up on a stuck model


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = knob(120, "The most tokens (word pieces) the model writes.", min=1, max=2048)
    temperature: float = knob(0.8, "How adventurous the writing is: 0 always picks the likeliest word (the same "
                              "text every time), higher values surprise more.", min=0.0, max=2.0)
    top_p: float = knob(0.95, "Only draw from the likeliest words that together make up this share of the "
                        "probability (1 = all words).", min=0.01, max=1.0)
    top_k: int = knob(50, "Only draw from this many of the likeliest words (0 = no limit).", min=0, max=1000)
    repetition_penalty: float = knob(1.1, "Above 1 the model avoids repeating itself; 1 = no penalty.",
                                     min=1.0, max=2.0)
    stop_sequences: tuple[str, ...] = field(default=(), metadata={
        "help": "The model stops as soon as it writes one of these (e.g. a blank line); they are not shown."})
    seed: int = knob(0, "Fixes the random draws: the same seed and settings give the same text.",
                     min=0, max=2**31 - 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_sequences", tuple(str(s) for s in self.stop_sequences if str(s)))
        problems = settings_problems(self)
        if problems:
            raise ValueError(" ".join(problems))

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def settings_problems(settings: GenerationSettings) -> list[str]:
    """Plain-English reasons the settings cannot be used (empty when they are fine)."""
    problems = []
    if settings.max_new_tokens < 1:
        problems.append("The model must be allowed to write at least one token.")
    if settings.temperature < 0:
        problems.append("The temperature cannot be negative (0 means always the likeliest word).")
    if not 0 < settings.top_p <= 1:
        problems.append("Top-p must be above 0 and at most 1.")
    if settings.top_k < 0:
        problems.append("Top-k cannot be negative (0 means no limit).")
    if settings.repetition_penalty <= 0:
        problems.append("The repetition penalty must be above 0 (1 means no penalty).")
    if len(settings.stop_sequences) > MAX_STOP_SEQUENCES:
        problems.append(f"Use at most {MAX_STOP_SEQUENCES} stop sequences.")
    if settings.seed < 0:
        problems.append("The seed cannot be negative.")
    return problems


def settings_help() -> dict[str, str]:
    return {f.name: f.metadata["help"] for f in fields(GenerationSettings)}


def parse_stop_sequences(text: str) -> tuple[str, ...]:
    r"""What a person types into one box → stop sequences: one per line, with \n written as a backslash-n."""
    return tuple(line.replace("\\n", "\n").replace("\\t", "\t") for line in text.splitlines() if line)


def generate_arguments(settings: GenerationSettings, pad_token_id: int | None) -> dict[str, Any]:
    """Keyword arguments for `model.generate`. Greedy decoding passes no sampling knobs at all, so a model's own
    generation defaults (Gemma ships with sampling on) cannot turn it back into sampling."""
    arguments: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens,
                                 "repetition_penalty": settings.repetition_penalty, "pad_token_id": pad_token_id}
    if settings.greedy:
        arguments.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        arguments.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p,
                         top_k=settings.top_k or None)
    return arguments


# ------------------------------------------------------------------------------------------------ stopping


class _StopWhen(StoppingCriteria):
    """Stops generation when the text written so far contains a stop sequence, or when the reader has gone."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, prompt_length: int, stop_sequences: Sequence[str],
                 cancelled: threading.Event):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.stop_sequences = list(stop_sequences)
        self.cancelled = cancelled
        # Only the newest tokens can complete a stop sequence: decode a tail a little longer than the longest one.
        self.tail_tokens = max((len(s) for s in self.stop_sequences), default=0) + 4

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = self.cancelled.is_set()
        if not done and self.stop_sequences:
            new = input_ids[0, self.prompt_length:][-self.tail_tokens:]
            tail = self.tokenizer.decode(new, skip_special_tokens=True)
            done = any(stop in tail for stop in self.stop_sequences)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class StopCutter:
    """Turns streamed pieces into the text to show: everything before the first stop sequence.

    A piece may end with the start of a stop sequence ("\\n" of "\\n\\n"); that part is held back until the next
    piece shows whether the stop sequence is complete, so a stop sequence never flashes on screen.
    """

    def __init__(self, stop_sequences: Sequence[str]):
        self.stop_sequences = [s for s in stop_sequences if s]
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        text = self.pending + piece
        positions = [text.find(stop) for stop in self.stop_sequences if stop in text]
        if positions:
            self.stopped, self.pending = True, ""
            return text[:min(positions)]
        held = self._held_back(text)
        self.pending = text[len(text) - held:] if held else ""
        return text[:len(text) - held]

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return "" if self.stopped else rest

    def _held_back(self, text: str) -> int:
        """Length of the longest end of `text` that is the beginning of some stop sequence."""
        longest = 0
        for stop in self.stop_sequences:
            for length in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:length]):
                    longest = length
                    break
        return longest


# ------------------------------------------------------------------------------------------------ generating


@dataclass(frozen=True)
class PreparedPrompt:
    input_ids: list[int]
    warning: str | None  # set when the start of the prompt had to be cut to leave room for the answer


def context_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None = None) -> int | None:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    limits = [value for name in ("max_position_embeddings", "n_positions")
              if isinstance(value := getattr(config, name, None), int) and value > 0]
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 10_000_000:
        limits.append(int(tokenizer.model_max_length))  # tokenizers without a limit report ~1e30
    return min(limits) if limits else None


class TextGenerator:
    """One loaded model, generating one text at a time.

    The lock makes a seed mean the same text even when two people generate at once: torch's random generator is
    shared by the whole process, so seeding and drawing must not interleave.
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase):
        self.model = model
        self.tokenizer = tokenizer
        self._lock = threading.Lock()

    def prepare(self, prompt: str, settings: GenerationSettings) -> PreparedPrompt:
        """The prompt's tokens, cut from the front if the prompt plus the answer would not fit the model."""
        ids = list(self.tokenizer(prompt)["input_ids"]) if prompt else []
        if not ids:
            start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None \
                else self.tokenizer.eos_token_id
            ids = [start if start is not None else 0]
        limit = context_length(self.model, self.tokenizer)
        if limit is None or len(ids) + settings.max_new_tokens <= limit:
            return PreparedPrompt(ids, None)
        room = limit - settings.max_new_tokens
        if room < 1:
            raise ValueError(f"This model reads at most {limit} tokens: ask for fewer than {limit} new tokens.")
        lead = ids[:1] if ids[0] == self.tokenizer.bos_token_id else []
        kept = lead + ids[len(ids) - (room - len(lead)):]
        return PreparedPrompt(kept, f"The prompt is {len(ids)} tokens long; with {settings.max_new_tokens} new "
                                    f"tokens it would not fit the {limit} the model reads, so its first "
                                    f"{len(ids) - len(kept)} tokens were left out.")

    def stream(self, prompt: str | PreparedPrompt, settings: GenerationSettings) -> Iterator[str]:
        """The continuation, piece by piece, as the model writes it; stops before any stop sequence."""
        prepared = prompt if isinstance(prompt, PreparedPrompt) else self.prepare(prompt, settings)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=STREAM_TIMEOUT_S)
        cancelled = threading.Event()
        failure: list[BaseException] = []
        worker = threading.Thread(target=self._generate, args=(prepared, settings, streamer, cancelled, failure),
                                  daemon=True)
        worker.start()
        cutter = StopCutter(settings.stop_sequences)
        try:
            for piece in streamer:
                shown = cutter.feed(piece)
                if shown:
                    yield shown
                if cutter.stopped:
                    break
            rest = cutter.flush()
            if rest:
                yield rest
        finally:
            cancelled.set()  # the reader stopped (done, stop sequence, or the page moved on): let the model stop
        worker.join(timeout=STREAM_TIMEOUT_S)
        if failure:
            raise failure[0]

    def generate(self, prompt: str | PreparedPrompt, settings: GenerationSettings) -> str:
        return "".join(self.stream(prompt, settings))

    def _generate(self, prepared: PreparedPrompt, settings: GenerationSettings, streamer: TextIteratorStreamer,
                  cancelled: threading.Event, failure: list[BaseException]) -> None:
        try:
            device = next(self.model.parameters()).device
            ids = torch.tensor([prepared.input_ids], dtype=torch.long, device=device)
            stop = _StopWhen(self.tokenizer, ids.shape[1], settings.stop_sequences, cancelled)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None \
                else self.tokenizer.eos_token_id
            with self._lock, torch.inference_mode():
                torch.manual_seed(settings.seed)
                self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                                    stopping_criteria=StoppingCriteriaList([stop]), **generate_arguments(settings, pad))
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread, which raises it
            failure.append(error)
            streamer.end()
