"""A language model ready to write, with what its run recorded about it: `TextGeneratorPredictor` for the Playground
and the Prompt lab, and `export_merged`, which saves a LoRA run's adapter merged into its base model.

A run's model folder holds the weights (or the adapter only), the tokenizer and `FORMAT_FILE` (the data format, the
prompt template and the adapter's base model), written by `core.tasks.text_generation.pipeline.save_model`.
Loading (and the one LoRA merge) is `core.lm.loading`'s, writing `core.lm.writing`'s; this module adds what the
run recorded: the prompt layout of a model trained on instructions, and the tokens a model built from scratch
never saw. Knows nothing about training or Streamlit.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.engine.run_folder import write_json_atomic
from core.lm.decoding import DecodingSettings
from core.lm.loading import FORMAT_FILE, Progress, is_adapter, load_causal_lm, read_description
from core.lm.writing import PromptFit, TextGenerator
from core.tasks.text_classification.models import ModelError
from core.tasks.text_generation.data import FORMAT_INSTRUCTION
from core.workspace import Workspace


def never_written(tokenizer, text_format: str, source: str) -> tuple[int, ...]:
    """A GPT trained from scratch on one text never saw an end, padding or unknown token, yet a half-trained one
    still gives them some probability: drawn, an end token would cut its writing short for no reason."""
    if text_format == FORMAT_INSTRUCTION or source != "scratch":
        return ()
    return tuple(sorted(set(tokenizer.all_special_ids)))


def instruction_template(description: dict[str, Any]) -> str | None:
    """The prompt layout a run trained on instructions used ({prompt} marks the text); None for any other model."""
    template = description.get("prompt_template")
    if description.get("format") == FORMAT_INSTRUCTION and isinstance(template, str) and "{prompt}" in template:
        return template
    return None


class TextGeneratorPredictor:
    """A language model by name (a run's model folder, "bundled:<key>", any folder or hub id): a prompt in, its
    continuation out, whole or streamed piece by piece.

    On the CPU unless a device is named: the Playground serves every session from the web server's process, and
    the GPUs belong to the training queue."""

    def __init__(self, name: str | Path, models_dir: Path | None = None, progress: Progress = None,
                 device: str | None = "cpu"):
        self.description = read_description(Path(name))
        self.model, self.tokenizer = load_causal_lm(str(name), models_dir or Workspace.default().models, progress,
                                                    device)
        self.template = instruction_template(self.description)
        never_write = never_written(self.tokenizer, self.description.get("format", ""),
                                    self.description.get("source", ""))
        self.generator = TextGenerator(self.model, self.tokenizer, never_write)
        self.context = self.generator.context

    @property
    def is_instruction(self) -> bool:
        return self.template is not None

    def format_prompt(self, text: str) -> str:
        """The text laid out as during training: inside the instruction template for a model trained on pairs."""
        return self.template.replace("{prompt}", text) if self.template else text

    def fit(self, prompt: str, settings: DecodingSettings) -> PromptFit:
        return self.generator.fit(prompt, settings)

    def stream(self, prompt: str, settings: DecodingSettings) -> Iterator[str]:
        return self.generator.stream(prompt, settings)

    def generate(self, prompt: str, settings: DecodingSettings) -> str:
        return self.generator.generate(prompt, settings)


def export_merged(model_dir: Path, target: Path, models_dir: Path | None = None) -> Path:
    """A LoRA run's adapter folded into its base model: a standalone folder of safetensors, config and tokenizer
    that `AutoModelForCausalLM.from_pretrained` loads anywhere, and that the Train page can fine-tune again. Written
    beside `target` and renamed into place, so a half-written folder never appears."""
    model_dir = Path(model_dir)
    if not is_adapter(model_dir):
        raise ModelError("This run's model is not a LoRA adapter: it is already a standalone model. Use the plain "
                         "export.")
    model, tokenizer = load_causal_lm(str(model_dir), models_dir or Workspace.default().models, device="cpu")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
        merged = {**read_description(model_dir), "finetune": "lora (merged)", "merged_at": time.time()}
        write_json_atomic(staging / FORMAT_FILE, merged)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
