"""Text generation: a causal language model learns to continue a text or to answer instructions like the examples.

Data (saved by `core.generation_data`, format in `details["format"]`):
- "instruction" pairs are shown to the model through `PROMPT_TEMPLATE` and the loss counts only the response
  tokens (labels are -100 on the prompt), so the model learns to answer rather than to write questions;
- "text" (one document) is tokenized, concatenated and cut into blocks of the context length (`max_length`).

Models:
- pretrained: the bundled Gemma 3 270M (converted once by `core.lm`), a hub id or a local folder, safetensors
  only; fine-tuned in full or with LoRA through `peft` (only small add-on matrices learn);
- from scratch: a small GPT built from `transformers.GPT2Config`, with a tokenizer learned from the person's own
  text by `tokenizers` (single characters, or byte-level BPE word pieces) and saved beside the model.

While training, `SampleCallback` writes what the model makes of a fixed prompt at every evaluation to
`run_dir/samples.jsonl`, which the live panel shows under the charts. The model folder holds the weights (or, for
LoRA, the adapter only), the tokenizer and `text_generation.json` (the data format and prompt template, so the
Playground can wrap a prompt the way the model was trained). `export_merged` folds a LoRA adapter into its base
model (`merge_and_unload`) as a standalone folder.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    TextIteratorStreamer,
    Trainer,
    TrainerCallback,
)

from core.config import BUNDLED_PREFIX, LoraSpec, ModelSpec, TrainConfig
from core.dataset_store import PreparedDataset
from core.generation_data import FORMAT_INSTRUCTION, PROMPT_TEMPLATE, dataset_format, join_document
from core.lm import bundled_lm_folder, load_causal_lm
from core.runs import update_status, write_json_atomic
from core.text_models import ModelError
from core.training import DevicePlan, TrainingJob, count_parameters, save_trained_model, steps_per_epoch, total_steps
from core.workspace import Workspace

FORMAT_FILE = "text_generation.json"  # in the model folder: data format, prompt template, base model of an adapter
SAMPLES_FILE = "samples.jsonl"
MAX_EVAL_ROWS = 200  # validation blocks or pairs per check: enough for a steady loss, cheap enough to check often
LIVE_EVALUATIONS = 8  # checks per run when the person left "check every" at once per epoch and runs few epochs
SPECIAL_TOKENS = ("<|pad|>", "<|unk|>", "<|endoftext|>")
PAD, UNK, END = SPECIAL_TOKENS
MIN_BPE_VOCABULARY = 300  # the 256 byte symbols, the special tokens and a few merges


# ---------------------------------------------------------------------------------------------------- tokenizers


def train_char_tokenizer(texts: list[str], context: int) -> PreTrainedTokenizerFast:
    """One token per character seen in the training text (nanoGPT's shakespeare-char); unseen ones become <|unk|>."""
    characters = sorted(set(chain.from_iterable(texts)))
    vocabulary = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *characters])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token=UNK))
    # Oniguruma's (?m) is "dot matches newline": every character, line ends included, is its own piece.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()  # join the characters back without spaces between them
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return _wrap(tokenizer, context)


def train_bpe_tokenizer(texts: list[str], vocab_size: int, context: int) -> PreTrainedTokenizerFast:
    """GPT-2's byte-level BPE learned from the person's text: any character can be written, common words are one
    token."""
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=max(vocab_size, MIN_BPE_VOCABULARY), special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return _wrap(tokenizer, context)


def _wrap(tokenizer: Tokenizer, context: int) -> PreTrainedTokenizerFast:
    # clean_up_tokenization_spaces would turn "word ." into "word." and change the person's text on decoding.
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, unk_token=UNK, eos_token=END,
                                   bos_token=END, model_max_length=context, clean_up_tokenization_spaces=False)


def scratch_tokenizer(spec: ModelSpec, texts: list[str], context: int, workspace: Workspace):
    if spec.tokenizer == "char":
        return train_char_tokenizer(texts, context)
    if spec.tokenizer == "train":
        return train_bpe_tokenizer(texts, spec.vocab_size, context)
    return _load_tokenizer(lm_source(spec.tokenizer, workspace))


def _load_tokenizer(source: str):
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ModelError(f"Could not load a tokenizer from {source!r}: {error}") from error
    if tokenizer.pad_token is None:  # Llama-style tokenizers have none; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# ---------------------------------------------------------------------------------------------------- models


def lm_source(name: str, workspace: Workspace, progress=None) -> str:
    """What `from_pretrained` reads: the converted bundled folder, a local folder, or a hub id as given."""
    if name.startswith(BUNDLED_PREFIX):
        return str(bundled_lm_folder(name.removeprefix(BUNDLED_PREFIX), workspace.models, progress))
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def gpt_config(spec: ModelSpec, tokenizer, context: int) -> GPT2Config:
    return GPT2Config(vocab_size=len(tokenizer), n_positions=context, n_embd=spec.embedding_dim,
                      n_layer=spec.num_layers, n_head=spec.num_heads, resid_pdrop=spec.dropout,
                      embd_pdrop=spec.dropout, attn_pdrop=spec.dropout, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def build_scratch_gpt(spec: ModelSpec, tokenizer, context: int) -> GPT2LMHeadModel:
    return GPT2LMHeadModel(gpt_config(spec, tokenizer, context))


def add_lora(model: PreTrainedModel, lora: LoraSpec):
    from peft import LoraConfig, get_peft_model

    try:
        return get_peft_model(model, LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
    except ValueError as error:
        names = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                        if isinstance(module, torch.nn.Linear)})
        raise ModelError(f"LoRA could not attach to {', '.join(lora.target_modules)}: this model has no such "
                         f"layers. Its layers are: {', '.join(names)}. Change the LoRA target modules.") from error


# ---------------------------------------------------------------------------------------------------- data


def tokenize_pairs(rows: pd.DataFrame, tokenizer, max_length: int, template: str = PROMPT_TEMPLATE
                   ) -> datasets.Dataset:
    """Prompt (in the template) + response + end token, cut to the context; labels are -100 on the prompt so the
    loss counts the response only. A pair whose prompt alone fills the context teaches nothing and is left out."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        prompts = tokenizer([template.format(prompt=p) for p in batch["prompt"]])["input_ids"]
        responses = tokenizer(batch["response"], add_special_tokens=False)["input_ids"]
        encoded: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
        for prompt, response in zip(prompts, responses):
            if len(prompt) >= max_length:
                continue
            ids = (prompt + response + [tokenizer.eos_token_id])[:max_length]
            encoded["input_ids"].append(ids)
            encoded["attention_mask"].append([1] * len(ids))
            encoded["labels"].append([-100] * len(prompt) + ids[len(prompt):])
        return encoded

    table = datasets.Dataset.from_pandas(rows[["prompt", "response"]].astype(str), preserve_index=False)
    return table.map(encode, batched=True, remove_columns=table.column_names, desc="Tokenizing",
                     load_from_cache_file=False)


def leading_special_token(tokenizer) -> int | None:
    """The begin-of-text token the tokenizer puts before every text (Gemma's <bos>), if it adds one."""
    ids = tokenizer("a")["input_ids"]
    return ids[0] if ids and tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id else None


def text_blocks(rows: pd.DataFrame, tokenizer, block_size: int) -> datasets.Dataset:
    """The document's tokens cut into blocks of `block_size` (the end that fills no whole block is dropped; a text
    shorter than one block becomes one short block). Models that expect a begin token get it on every block, as
    their prompts will have it later."""
    begin = leading_special_token(tokenizer)
    body = block_size - (1 if begin is not None else 0)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        return {"ids": tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]}

    def group(batch: dict[str, list]) -> dict[str, list]:
        ids = list(chain.from_iterable(batch["ids"]))
        blocks = [ids[i:i + body] for i in range(0, len(ids) - body + 1, body)]
        if not blocks and len(ids) >= 2:
            blocks = [ids]
        blocks = [([begin] if begin is not None else []) + block for block in blocks]
        return {"input_ids": blocks, "attention_mask": [[1] * len(b) for b in blocks], "labels": blocks}

    table = datasets.Dataset.from_pandas(rows[["text"]].astype(str), preserve_index=False)
    tokenized = table.map(tokenize, batched=True, remove_columns=["text"], desc="Tokenizing",
                          load_from_cache_file=False)
    # Whole batches of 1,000 pieces (about 4 MB of text) are concatenated before cutting, so little is dropped.
    return tokenized.map(group, batched=True, batch_size=1000, remove_columns=["ids"], desc="Cutting into blocks",
                         load_from_cache_file=False)


class RandomWindows(torch.utils.data.Dataset):
    """Training blocks of a document that start at a random place each time they are drawn (nanoGPT's
    `get_batch`). Fixed blocks would show the model the same cuts on every pass, and the first characters of each
    block always without context; over many passes of a small text it learns those cuts by heart. An epoch is
    still one document's worth of tokens. Drawn with torch's generator, which the Trainer seeds and checkpoints,
    so a run is reproducible and resumes where it stopped."""

    def __init__(self, ids: list[int], block_size: int, begin: int | None):
        self.ids = torch.tensor(ids, dtype=torch.long)
        self.begin = begin
        self.body = min(block_size - (1 if begin is not None else 0), len(ids))
        self.count = max(1, len(ids) // max(self.body, 1))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        start = int(torch.randint(0, len(self.ids) - self.body + 1, (1,)))
        block = ([self.begin] if self.begin is not None else []) + self.ids[start:start + self.body].tolist()
        return {"input_ids": block, "attention_mask": [1] * len(block), "labels": block}


def random_windows(rows: pd.DataFrame, tokenizer, block_size: int) -> RandomWindows:
    # Piece by piece (each ends at a line end, where word pieces end too), a thousand at a time: a 200 MB text
    # tokenized in one call would hold every token's offsets in memory at once.
    pieces, ids = rows["text"].astype(str).tolist(), []
    for start in range(0, len(pieces), 1000):
        encoded = tokenizer(pieces[start:start + 1000], add_special_tokens=False, verbose=False)["input_ids"]
        ids.extend(chain.from_iterable(encoded))
    return RandomWindows(ids, block_size, leading_special_token(tokenizer))


def training_texts(rows: pd.DataFrame, text_format: str) -> list[str]:
    """What a from-scratch tokenizer learns from: the templated pairs, or the document's pieces."""
    if text_format == FORMAT_INSTRUCTION:
        return [PROMPT_TEMPLATE.format(prompt=p) + r for p, r in zip(rows["prompt"], rows["response"])]
    return rows["text"].astype(str).tolist()


# ---------------------------------------------------------------------------------------------------- generating


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked. Temperature 0 always takes the likeliest token (same output every time)."""

    max_new_tokens: int = 100
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.0
    seed: int = 0
    stop_sequences: tuple[str, ...] = ()
    never_write: tuple[int, ...] = ()  # token ids that must not be sampled (see `never_written`)

    def generate_arguments(self, tokenizer) -> dict[str, Any]:
        arguments: dict[str, Any] = {"pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
                                     "repetition_penalty": self.repetition_penalty}
        if self.temperature <= 0:
            arguments["do_sample"] = False
        else:
            arguments.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k or None)
        if self.stop_sequences:
            arguments.update(stop_strings=list(self.stop_sequences), tokenizer=tokenizer)
        if self.never_write:
            arguments["suppress_tokens"] = list(self.never_write)
        return arguments


def never_written(tokenizer, text_format: str, source: str) -> tuple[int, ...]:
    """A GPT trained from scratch on one text never saw an end, padding or unknown token, yet a half-trained one
    still gives them some probability: sampled, an end token would cut its writing short for no reason."""
    if text_format == FORMAT_INSTRUCTION or source != "scratch":
        return ()
    return tuple(sorted(set(tokenizer.all_special_ids)))


def context_of(model) -> int:
    return int(getattr(model.config, "max_position_embeddings", 0) or 2048)


def _end_ids(model, tokenizer) -> set[int]:
    ends = getattr(model.generation_config, "eos_token_id", None)
    ends = ends if isinstance(ends, list) else [ends]
    return {i for i in [*ends, tokenizer.eos_token_id] if i is not None}


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    ids = tokenizer(prompt)["input_ids"] if prompt else []
    return ids or [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]


@torch.inference_mode()
def generate_ids(model, tokenizer, ids: list[int], sampling: Sampling, streamer=None) -> list[int]:
    """The new token ids after `ids`. A model with a short context (a small GPT) keeps writing past it: each round
    generates up to half a context from the latest tokens, the way nanoGPT crops its input."""
    context = context_of(model)
    device = next(model.parameters()).device
    arguments = sampling.generate_arguments(tokenizer)
    ends = _end_ids(model, tokenizer)
    ids, new = list(ids), []
    torch.manual_seed(sampling.seed)
    while len(new) < sampling.max_new_tokens:
        remaining = sampling.max_new_tokens - len(new)
        chunk = remaining if len(ids) + remaining <= context else min(remaining, max(1, context // 2))
        window = ids[-(context - chunk):]
        inputs = torch.tensor([window], device=device)
        output = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=chunk,
                                streamer=streamer, **arguments)
        produced = output[0, len(window):].tolist()
        ids += produced
        new += produced
        if len(produced) < chunk or (produced and produced[-1] in ends):
            break  # the model ended its text, or a stop sequence was written
    return new


def cut_at_stop(text: str, stop_sequences: tuple[str, ...]) -> str:
    positions = [text.find(s) for s in stop_sequences if s and s in text]
    return text[:min(positions)] if positions else text


def sample_text(model, tokenizer, prompt: str, sampling: Sampling) -> str:
    """One continuation of `prompt`, without disturbing the caller's random state (training stays reproducible)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            new = generate_ids(model, tokenizer, prompt_ids(tokenizer, prompt), sampling)
    finally:
        model.train(was_training)
    return cut_at_stop(tokenizer.decode(new, skip_special_tokens=True), sampling.stop_sequences)


# ---------------------------------------------------------------------------------------------------- callbacks


class SampleCallback(TrainerCallback):
    """At every evaluation, continues one fixed prompt and appends {"step", "prompt", "text"} to samples.jsonl, so
    a person can read how the writing improves."""

    def __init__(self, run_dir: Path, tokenizer, prompt: str, shown_prompt: str, sampling: Sampling):
        self.path = run_dir / SAMPLES_FILE
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.shown_prompt = shown_prompt
        self.sampling = sampling

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None:
            self.write(model, state.global_step)

    def write(self, model, step: int) -> dict[str, Any]:
        record = {"step": step, "prompt": self.shown_prompt,
                  "text": sample_text(model, self.tokenizer, self.prompt, self.sampling)}
        with open(self.path, "a") as file:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
        return record


class LiveEvaluation(TrainerCallback):
    """Checks the validation loss `LIVE_EVALUATIONS` times in a run of few epochs, when the person left "check
    every" at once per epoch: one pass over a large text is a single epoch, and a live chart with one point says
    nothing. Steps where an epoch ends are skipped, since the engine checks there already."""

    def __init__(self, every: int, epoch_steps: int, save: bool):
        self.every = every
        self.epoch_steps = epoch_steps
        self.save = save  # with early stopping the best check must be a saved checkpoint

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if step % self.every == 0 and step % self.epoch_steps and step != state.max_steps:
            control.should_evaluate = True
            control.should_save = control.should_save or self.save
        return control


def read_samples(run_dir: Path) -> list[dict[str, Any]]:
    try:
        lines = (run_dir / SAMPLES_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    samples = []
    for line in lines:
        try:
            samples.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written right now
    return samples


def live_evaluation(config: TrainConfig, train_rows: int) -> LiveEvaluation | None:
    if config.eval_every > 0 or (config.max_steps <= 0 and config.epochs >= LIVE_EVALUATIONS):
        return None
    steps = total_steps(config, train_rows)
    every = max(1, math.ceil(steps / LIVE_EVALUATIONS))
    return LiveEvaluation(every, steps_per_epoch(train_rows, config.batch_size),
                          save=config.early_stopping_patience > 0)


# ---------------------------------------------------------------------------------------------------- the job


def sample_prompt(config: TrainConfig, text_format: str, validation: pd.DataFrame) -> tuple[str, str]:
    """(what the model is given, what the person is shown): their prompt, else the start of a validation example."""
    if text_format == FORMAT_INSTRUCTION:
        shown = config.sample_prompt.strip() or str(validation["prompt"].iloc[0])
        return PROMPT_TEMPLATE.format(prompt=shown), shown
    if config.sample_prompt:
        return config.sample_prompt, config.sample_prompt
    start = join_document(validation)[:60]
    start = start[:start.rfind(" ")] if " " in start[20:] else start  # end on a whole word
    return start, start


def sample_length(config: TrainConfig) -> int:
    if config.model.source == "scratch":
        return 240 if config.model.tokenizer == "char" else 80
    return 64


def load_model(config: TrainConfig, texts: list[str], workspace: Workspace, run_dir: Path):
    """(model, tokenizer, base model source or None) as the config asks."""
    spec = config.model
    if spec.source == "scratch":
        tokenizer = scratch_tokenizer(spec, texts, config.max_length, workspace)
        return build_scratch_gpt(spec, tokenizer, config.max_length), tokenizer, None

    def progress(message: str) -> None:
        update_status(run_dir, message=message)
        print(message, flush=True)

    source = lm_source(spec.name, workspace, progress)
    # Loaded in float32 on the CPU whatever the device: the Trainer moves it and mixes precision on a GPU, and
    # full-precision master weights keep small updates from vanishing.
    model, tokenizer = load_causal_lm(source, workspace.models, progress, device="cpu")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if config.uses_lora:
        model = add_lora(model, config.lora)
    return model, tokenizer, source


def build_job(config: TrainConfig, dataset: PreparedDataset, run_dir: Path, device: DevicePlan) -> TrainingJob:
    workspace = Workspace(run_dir.resolve().parent.parent)
    text_format = dataset_format(dataset)
    train_rows, validation_rows = dataset.frames()
    model, tokenizer, base_source = load_model(config, training_texts(train_rows, text_format), workspace, run_dir)
    if text_format == FORMAT_INSTRUCTION:
        train, validation = (tokenize_pairs(rows, tokenizer, config.max_length)
                             for rows in (train_rows, validation_rows))
        if len(train) == 0 or len(validation) == 0:
            raise ModelError(f"Every prompt is longer than the context ({config.max_length} tokens), so nothing is "
                             "left to learn from. Raise the maximum length.")
    else:
        # Validation keeps fixed blocks, so every check measures the same text and the curve is comparable.
        train = random_windows(train_rows, tokenizer, config.max_length)
        validation = text_blocks(validation_rows, tokenizer, config.max_length)
        if len(train.ids) < 2 or len(validation) == 0:
            raise ModelError("The text is too short to make even one training example. Upload a longer text.")
    validation = validation.select(range(min(len(validation), MAX_EVAL_ROWS)))
    prompt, shown = sample_prompt(config, text_format, validation_rows)
    sampling = Sampling(max_new_tokens=sample_length(config), top_k=40, seed=config.seed,
                        never_write=never_written(tokenizer, text_format, config.model.source))
    sampler = SampleCallback(run_dir, tokenizer, prompt, shown, sampling)
    (run_dir / SAMPLES_FILE).touch()
    callbacks: list[TrainerCallback] = [sampler]
    live = live_evaluation(config, len(train))
    if live is not None:
        callbacks.append(live)

    def finish(trainer: Trainer, run_dir: Path) -> dict[str, Any]:
        loss = kept_eval_loss(trainer)
        if not any(s.get("step") == trainer.state.global_step for s in read_samples(run_dir)) or \
                trainer.args.load_best_model_at_end:
            sampler.write(trainer.model, trainer.state.global_step)
        save_model(trainer, tokenizer, run_dir / "model", config, text_format, base_source)
        report = {"eval_loss": loss, "perplexity": math.exp(loss) if loss < 50 else None,
                  "validation_rows": len(validation), "format": text_format, "samples": read_samples(run_dir)}
        write_json_atomic(run_dir / "eval.json", report)
        return report

    trainable = count_parameters(model, trainable_only=True)
    summary = {"parameters": count_parameters(model), "trainable_parameters": trainable,
               "vocabulary": len(tokenizer), "format": text_format, "context": config.max_length,
               "train_examples": len(train), "validation_examples": len(validation)}
    return TrainingJob(model=model, train_dataset=train, eval_dataset=validation, finish=finish,
                       data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
                       processing_class=tokenizer, callbacks=callbacks, summary=summary,
                       remove_unused_columns=False, group_by_length=text_format == FORMAT_INSTRUCTION)


def kept_eval_loss(trainer: Trainer) -> float:
    """The validation loss of the model that is kept: the best check with early stopping, else a check at the last
    step (measured now if training stopped between checks)."""
    state = trainer.state
    if trainer.args.load_best_model_at_end and state.best_metric is not None:
        return float(state.best_metric)
    for record in reversed(state.log_history):
        if "eval_loss" in record and record.get("step") == state.global_step:
            return float(record["eval_loss"])
    return float(trainer.evaluate()["eval_loss"])


def save_model(trainer: Trainer, tokenizer, folder: Path, config: TrainConfig, text_format: str,
               base_source: str | None) -> None:
    """Weights (a LoRA run: the adapter only, a few MB) + tokenizer + how prompts were laid out."""
    save_trained_model(trainer, folder)
    tokenizer.save_pretrained(str(folder))
    (folder / "README.md").unlink(missing_ok=True)  # peft's empty model card template
    description = {"format": text_format, "prompt_template": PROMPT_TEMPLATE if text_format == FORMAT_INSTRUCTION
                   else None, "context": config.max_length, "source": config.model.source,
                   "finetune": "lora" if config.uses_lora else ("full" if config.model.source == "pretrained"
                                                                else "scratch"),
                   "base_model": config.model.name if config.model.source == "pretrained" else None,
                   "base_model_source": base_source}
    write_json_atomic(folder / FORMAT_FILE, description)


# ---------------------------------------------------------------------------------------------------- sizing


def estimate_parameters(config: TrainConfig, dataset: PreparedDataset) -> int | None:
    """The model's size before training. A hub model is not downloaded to size it, nor is the bundled model
    converted: both are sized once they are on disk."""
    workspace = Workspace(dataset.folder.resolve().parent.parent)
    if config.model.source == "scratch":
        vocabulary = config.model.vocab_size
        if config.model.tokenizer == "char":
            train, _ = dataset.frames()
            vocabulary = len(set("".join(training_texts(train, dataset_format(dataset))))) + len(SPECIAL_TOKENS)
        elif config.model.tokenizer != "train":
            return None
        spec = config.model
        gpt = GPT2Config(vocab_size=vocabulary, n_positions=config.max_length, n_embd=spec.embedding_dim,
                         n_layer=spec.num_layers, n_head=spec.num_heads)
        with torch.device("meta"):
            return count_parameters(GPT2LMHeadModel(gpt))
    name = config.model.name
    if name.startswith(BUNDLED_PREFIX):
        folder = workspace.models / name.removeprefix(BUNDLED_PREFIX)
    else:
        folder = Path(name).expanduser()
    if not (folder / "config.json").is_file():
        return None
    with torch.device("meta"):
        return count_parameters(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder))))


# ---------------------------------------------------------------------------------------------------- predictor


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
        self.tokenizer = _load_tokenizer(str(self.model_dir))
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


def load_predictor(model_dir: Path) -> TextGeneratorPredictor:
    return TextGeneratorPredictor(model_dir)


# ---------------------------------------------------------------------------------------------------- export


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
    tokenizer = _load_tokenizer(str(model_dir))
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
