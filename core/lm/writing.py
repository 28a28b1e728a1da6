"""A causal language model writing text: `TextGenerator` streams a continuation piece by piece, and `sample_text`
writes one during training. The Prompt lab, the Playground (through `core.lm.predictor`) and the training samples
all write through here, with the same settings (`core.lm.decoding`), stop handling (`core.lm.stopping`) and one
rule for the model's context:

The model reads at most `context` tokens at a time. When the prompt and everything it is asked to write fit, it
writes in one go; otherwise it writes in rounds of half a context, each reading the newest tokens (after the
begin token, for a model that starts every text with one). So a prompt longer than the context loses its start
(`TextGenerator.fit` says how much before anything is written), and a small GPT with a short context keeps
writing past it, the way nanoGPT crops its input.

While streaming, the model runs in a helper thread that only computes; the caller's thread reads the pieces and
draws them. This module knows nothing about Streamlit, run folders or where a model comes from.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, StoppingCriteriaList, TextIteratorStreamer

from core.lm.decoding import DecodingSettings, generate_arguments
from core.lm.stopping import StopCutter, StopWhen, cut_at_stop

STREAM_TIMEOUT_S = 600  # how long the reader waits for the next piece before giving up on a stuck model
UNKNOWN_CONTEXT = 2048  # for a model whose configuration names no context length


def context_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None = None) -> int:
    """The most tokens the model reads at once: the smallest limit its configuration or tokenizer names."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    limits = [value for name in ("max_position_embeddings", "n_positions")
              if isinstance(value := getattr(config, name, None), int) and value > 0]
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 10_000_000:
        limits.append(int(tokenizer.model_max_length))  # tokenizers without a limit report ~1e30
    return min(limits) if limits else UNKNOWN_CONTEXT


def leading_special_token(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The begin-of-text token the tokenizer puts before every text (Gemma's <bos>), if it adds one."""
    ids = tokenizer("a")["input_ids"]
    return ids[0] if ids and tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id else None


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[int]:
    """The prompt's tokens; an empty prompt starts from the beginning of a text."""
    ids = list(tokenizer(prompt)["input_ids"]) if prompt else []
    if ids:
        return ids
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [start if start is not None else 0]


def round_length(text_tokens: int, still_to_write: int, context: int) -> int:
    """How many tokens the next round writes: all that are left when they fit beside the text, else half a
    context."""
    if text_tokens + still_to_write <= context:
        return still_to_write
    return min(still_to_write, max(1, context // 2))


def window(ids: list[int], room: int, lead: int | None) -> list[int]:
    """The newest tokens of `ids` that fill `room`, after the begin token `lead` when the text starts with it."""
    if len(ids) <= room:
        return list(ids)
    head = [lead] if lead is not None and ids[0] == lead else []
    newest = max(room - len(head), 1)
    return head + ids[len(ids) - newest:]


@dataclass(frozen=True)
class PromptFit:
    """How a prompt meets the model's context, known before anything is written."""

    prompt_tokens: int
    context: int
    left_out: int  # tokens at the start of the prompt the model will not read
    left_out_text: str


class _RollingStreamer(TextIteratorStreamer):
    """Streams one text across several `generate` rounds. A round's end only marks that the next round starts with
    its input, which is not shown; the written tokens are decoded as one text across rounds (decoded round by
    round, word pieces lose the space between them), and `close()` ends the stream."""

    def end(self) -> None:
        self.next_tokens_are_prompt = True

    def close(self) -> None:
        super().end()


class TextGenerator:
    """One loaded model, writing one text at a time.

    The lock makes a seed mean the same text even when two people generate at once: torch's random generator is
    shared by the whole process, so seeding and drawing must not interleave. `never_write`: token ids the model
    must not draw (see `core.lm.predictor.never_written`).
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, never_write: tuple[int, ...] = ()):
        self.model = model
        self.tokenizer = tokenizer
        self.never_write = tuple(never_write)
        self.context = context_length(model, tokenizer)
        self.lead = leading_special_token(tokenizer)
        self._lock = threading.Lock()

    def fit(self, prompt: str, settings: DecodingSettings) -> PromptFit:
        """How many tokens the prompt has, and which of them the first round will not read."""
        ids = prompt_ids(self.tokenizer, prompt)
        kept = window(ids, self.context - round_length(len(ids), settings.max_new_tokens, self.context), self.lead)
        left_out = len(ids) - len(kept)
        start = 1 if left_out and ids[0] == self.lead else 0  # the begin token stays
        text = self.tokenizer.decode(ids[start:start + left_out], skip_special_tokens=True) if left_out else ""
        return PromptFit(len(ids), self.context, left_out, text)

    def stream(self, prompt: str, settings: DecodingSettings) -> Iterator[str]:
        """The continuation, piece by piece, as the model writes it; stops before any stop sequence."""
        streamer = _RollingStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                    timeout=STREAM_TIMEOUT_S)
        cancelled = threading.Event()
        failure: list[BaseException] = []
        worker = threading.Thread(target=self._work, daemon=True,
                                  args=(prompt_ids(self.tokenizer, prompt), settings, streamer, cancelled, failure))
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

    def generate(self, prompt: str, settings: DecodingSettings) -> str:
        return "".join(self.stream(prompt, settings))

    def _work(self, ids: list[int], settings: DecodingSettings, streamer: _RollingStreamer,
              cancelled: threading.Event, failure: list[BaseException]) -> None:
        try:
            with self._lock:
                self.write_ids(ids, settings, streamer, cancelled)
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread, which raises it
            failure.append(error)
        finally:
            streamer.close()

    @torch.inference_mode()
    def write_ids(self, ids: list[int], settings: DecodingSettings, streamer: TextIteratorStreamer | None = None,
                  cancelled: threading.Event | None = None) -> list[int]:
        """The new token ids after `ids`, written in rounds by the context rule; the caller holds the lock."""
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        arguments = generate_arguments(settings, pad, self.never_write)
        ends = self._end_ids()
        text, new = list(ids), []
        torch.manual_seed(settings.seed)
        while len(new) < settings.max_new_tokens and not (cancelled is not None and cancelled.is_set()):
            chunk = round_length(len(text), settings.max_new_tokens - len(new), self.context)
            seen = window(text, self.context - chunk, self.lead)
            written_from = len(seen) - min(len(new), len(seen) - (seen[0] == self.lead))
            stop = StopWhen(self.tokenizer, written_from, settings.stop_sequences, cancelled)
            inputs = torch.tensor([seen], dtype=torch.long, device=device)
            output = self.model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                         max_new_tokens=chunk, streamer=streamer,
                                         stopping_criteria=StoppingCriteriaList([stop]), **arguments)
            produced = output[0, len(seen):].tolist()
            text += produced
            new += produced
            if stop.found or len(produced) < chunk or (produced and produced[-1] in ends):
                break  # a stop sequence, the reader left, or the model ended its text
        return new

    def _end_ids(self) -> set[int]:
        ends = getattr(self.model.generation_config, "eos_token_id", None)
        ends = ends if isinstance(ends, list) else [ends]
        return {i for i in [*ends, self.tokenizer.eos_token_id] if i is not None}


def sample_text(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str, settings: DecodingSettings,
                never_write: tuple[int, ...] = ()) -> str:
    """One continuation of `prompt`, written during training without disturbing the caller's random state (so
    training stays reproducible) and leaving the model in the mode it was in."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            new = TextGenerator(model, tokenizer, never_write).write_ids(prompt_ids(tokenizer, prompt), settings)
    finally:
        model.train(was_training)
    return cut_at_stop(tokenizer.decode(new, skip_special_tokens=True), settings.stop_sequences)
