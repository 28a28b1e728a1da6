"""Stop sequences, on both sides of a stream: `StopWhen` ends the model's writing once one appears (or once the
reader has gone), and `StopCutter` turns the pieces the model writes into the text to show, everything before the
first stop sequence, holding back a half-written one so it never flashes on screen.

Used only by `core.lm.writing`; knows nothing about settings, threads or Streamlit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria


class StopWhen(StoppingCriteria):
    """Stops generation when the newest written text contains a stop sequence, or when `cancelled` is set.

    `written_from` is where the written tokens start in the ids `generate` sees, so a stop sequence that began in
    an earlier round (or in the prompt) is told apart from one written now. `found` records why it stopped.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, written_from: int, stop_sequences: Sequence[str],
                 cancelled: threading.Event | None):
        self.tokenizer = tokenizer
        self.written_from = written_from
        self.stop_sequences = [s for s in stop_sequences if s]
        self.cancelled = cancelled
        self.found = False
        # Only the newest tokens can complete a stop sequence: decode a tail a little longer than the longest one.
        self.tail_tokens = max((len(s) for s in self.stop_sequences), default=0) + 4

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        if self.stop_sequences and not self.found:
            tail = self.tokenizer.decode(input_ids[0, self.written_from:][-self.tail_tokens:],
                                         skip_special_tokens=True)
            self.found = any(stop in tail for stop in self.stop_sequences)
        done = self.found or (self.cancelled is not None and self.cancelled.is_set())
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


def cut_at_stop(text: str, stop_sequences: Sequence[str]) -> str:
    """A whole text cut before its first stop sequence, by the same rule as a stream."""
    cutter = StopCutter(stop_sequences)
    return cutter.feed(text) + cutter.flush()
