"""A finished text-generation run's model folder read back: `TextGeneratorPredictor` for the Playground (a LoRA
adapter is merged into its base model at load) and `export_merged`, which saves that merge as a standalone folder.

The folder holds the weights (or the adapter only), the tokenizer and `FORMAT_FILE` (the data format, the prompt
template and the adapter's base model), written by `core.tasks.text_generation.pipeline.save_model`. In `core/` rather
than
`core/tasks/` because the Playground's export button calls `export_merged` directly. Knows nothing about training.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, TextIteratorStreamer

from core.config.catalog import BUNDLED_PREFIX
from core.engine.run_folder import write_json_atomic
from core.lm.sampling import Sampling, context_of, cut_at_stop, generate_ids, never_written, prompt_ids
from core.tasks.text_classification.models import ModelError
from core.tasks.text_generation.data import FORMAT_INSTRUCTION
from core.tasks.text_generation.models import lm_source
from core.tasks.text_generation.tokenizers import load_tokenizer
from core.workspace import Workspace

FORMAT_FILE = "text_generation.json"  # in the model folder: data format, prompt template, base model of an adapter


class _RollingStreamer(TextIteratorStreamer):
    """Streams text across several `generate` rounds: a round's end flushes its text but does not end the stream;
    `close()` does."""

    def on_finalized_text(self, text: str, stream_end: bool = False):
        if text:
            self.text_queue.put(text, timeout=self.timeout)

    def close(self) -> None:
        self.text_queue.put(self.stop_signal, timeout=self.timeout)


class TextGeneratorPredictor:
    """A finished run's language model: a prompt in, its continuation out (whole, or streamed piece by piece).

    One generation at a time per loaded model, so a seed gives the same text even when two people use the
    Playground at once (the random generator is shared by the process)."""

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        self.description = _read_description(self.model_dir)
        self.tokenizer = load_tokenizer(str(self.model_dir))
        self.model = _load_generation_model(self.model_dir, self.description).eval()
        self.context = context_of(self.model)
        self.never_write = never_written(self.tokenizer, self.description.get("format", "text"),
                                         self.description.get("source", ""))
        self._lock = threading.Lock()

    @property
    def is_instruction(self) -> bool:
        return self.description.get("format") == FORMAT_INSTRUCTION

    def format_prompt(self, text: str) -> str:
        """The text laid out as during training: inside the instruction template for a model trained on pairs."""
        template = self.description.get("prompt_template")
        return template.format(prompt=text) if self.is_instruction and template else text

    def generate(self, prompt: str, max_new_tokens: int = 100, temperature: float = 0.8, top_p: float = 0.95,
                 top_k: int = 50, repetition_penalty: float = 1.0, seed: int = 0,
                 stop_sequences: tuple[str, ...] | list[str] = ()) -> str:
        sampling = Sampling(max_new_tokens, temperature, top_p, top_k, repetition_penalty, seed,
                            tuple(stop_sequences), self.never_write)
        with self._lock:
            new = generate_ids(self.model, self.tokenizer, prompt_ids(self.tokenizer, prompt), sampling)
        return cut_at_stop(self.tokenizer.decode(new, skip_special_tokens=True), sampling.stop_sequences)

    def stream(self, prompt: str, max_new_tokens: int = 100, temperature: float = 0.8, top_p: float = 0.95,
               top_k: int = 50, repetition_penalty: float = 1.0, seed: int = 0,
               stop_sequences: tuple[str, ...] | list[str] = ()) -> Iterator[str]:
        """The same text as `generate`, yielded as it is written (generation runs in a helper thread that only
        computes; the caller's thread draws)."""
        sampling = Sampling(max_new_tokens, temperature, top_p, top_k, repetition_penalty, seed,
                            tuple(stop_sequences), self.never_write)
        streamer = _RollingStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with self._lock:
                    generate_ids(self.model, self.tokenizer, prompt_ids(self.tokenizer, prompt), sampling, streamer)
            except BaseException as error:  # noqa: BLE001 - handed to the reading thread, which raises it
                failure.append(error)
            finally:
                streamer.close()

        threading.Thread(target=work, daemon=True).start()
        written = ""
        for piece in streamer:
            cut = cut_at_stop(written + piece, sampling.stop_sequences)
            if len(cut) < len(written + piece):
                yield cut[len(written):]
                return
            written += piece
            yield piece
        if failure:
            raise failure[0]


def _read_description(model_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((model_dir / FORMAT_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"format": "text"}  # a plain model folder: continue text as it is


def _load_generation_model(model_dir: Path, description: dict[str, Any]) -> PreTrainedModel:
    if not (model_dir / "adapter_config.json").is_file():
        return AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True, trust_remote_code=False)
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(_adapter_base(model_dir, description), use_safetensors=True,
                                                trust_remote_code=False, dtype=torch.float32)
    # Folded in once at load: a merged model generates as fast as the base model.
    return PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()


def _adapter_base(model_dir: Path, description: dict[str, Any]) -> str:
    """Where the adapter's base model is now: its recorded folder, or the bundled model converted again if that
    folder was cleared."""
    source = description.get("base_model_source") or \
        json.loads((model_dir / "adapter_config.json").read_text()).get("base_model_name_or_path")
    name = description.get("base_model") or ""
    if source and Path(source).is_dir():
        return source
    if name.startswith(BUNDLED_PREFIX):
        return lm_source(name, Workspace.default())
    if source:
        return source
    raise ModelError("This LoRA adapter does not say which model it was trained on; it cannot be loaded.")


def export_merged(model_dir: Path, target: Path) -> Path:
    """A LoRA run's adapter folded into its base model (`merge_and_unload`): a standalone folder of safetensors,
    config and tokenizer that `AutoModelForCausalLM.from_pretrained` loads anywhere, and that the Train page can
    fine-tune again. Written beside `target` and renamed into place, so a half-written folder never appears."""
    model_dir = Path(model_dir)
    if not (model_dir / "adapter_config.json").is_file():
        raise ModelError("This run's model is not a LoRA adapter: it is already a standalone model. Use the plain "
                         "export.")
    description = _read_description(model_dir)
    model = _load_generation_model(model_dir, description)
    tokenizer = load_tokenizer(str(model_dir))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
        merged = {**description, "finetune": "lora (merged)", "merged_at": time.time()}
        write_json_atomic(staging / FORMAT_FILE, merged)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
