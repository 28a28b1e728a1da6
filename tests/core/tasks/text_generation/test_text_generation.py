"""Text generation end to end on tiny models: tokenizers learned from the text, a character GPT trained from
scratch by the worker (run folder, falling loss, samples), a LoRA fine-tune of a tiny Gemma and its merged export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.config.presets import default_config
from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.engine.run_folder import read_json, read_metrics, read_samples
from core.engine.runs import create_run
from core.lm.decoding import DecodingSettings
from core.lm.predictor import export_merged
from core.tasks.text_classification.models import ModelError
from core.tasks.text_generation.blocks import random_windows, text_blocks, tokenize_pairs
from core.tasks.text_generation.data import (
    PROMPT_TEMPLATE,
    check_document,
    split_document,
)
from core.tasks.text_generation.models import add_lora
from core.tasks.text_generation.pipeline import estimate_parameters, load_predictor
from core.tasks.text_generation.samples import lighthouse_log
from core.tasks.text_generation.saving import document_rows, save_document
from core.tasks.text_generation.tokenizers import train_bpe_tokenizer, train_char_tokenizer
from core.workspace import HOME_VARIABLE, Workspace
from tests.support.paths import ROOT


def run_worker(run_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.engine.worker", str(run_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def files_in(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def save_log(workspace):
    """40,000 characters of the lighthouse log, saved as a plain-text dataset called "log"."""
    text = lighthouse_log()[:40_000]
    train, validation = split_document(text, 0.1)
    return save_document(workspace, "log", train, validation, "TXT", check_document(text))


@pytest.fixture
def log_dataset(workspace):
    return save_log(workspace)


# ---------------------------------------------------------------------------------------------------- pieces


def test_character_tokenizer_round_trips_every_character():
    text = "To be, or not to be:\n  that is the question.\t(1603)"
    tokenizer = train_char_tokenizer([text], context=64)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.convert_ids_to_tokens(tokenizer("Z")["input_ids"]) == ["<|unk|>"]  # never seen
    assert len(tokenizer) == len(set(text)) + 3


def test_bpe_tokenizer_writes_any_text_back_unchanged():
    tokenizer = train_bpe_tokenizer([lighthouse_log()[:20_000]], vocab_size=500, context=128)
    text = "Wind north-east, fresh. Ünïcode ☃ and spaces  twice ."
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert len(tokenizer("Lamp lit at 16:30. All well.")["input_ids"]) < 20  # common words became single pieces


def test_pairs_learn_only_the_response_and_documents_become_blocks():
    tokenizer = train_char_tokenizer([PROMPT_TEMPLATE + "abcdefghij"], context=64)
    rows = pd.DataFrame({"prompt": ["abc", "a" * 80], "response": ["defg", "b"]})
    encoded = tokenize_pairs(rows, tokenizer, max_length=64)
    assert len(encoded) == 1  # the second prompt alone is longer than the context
    prompt_length = len(PROMPT_TEMPLATE.format(prompt="abc"))
    labels = encoded[0]["labels"]
    assert labels[:prompt_length] == [-100] * prompt_length
    assert tokenizer.decode(labels[prompt_length:]) == "defg<|endoftext|>"

    blocks = text_blocks(pd.DataFrame({"text": ["abcdefghij" * 10]}), tokenizer, block_size=16)
    assert len(blocks) == 100 // 16 and {len(b) for b in blocks["input_ids"]} == {16}


def test_training_windows_start_anywhere_in_the_text():
    text = lighthouse_log()[:3_000]
    tokenizer = train_char_tokenizer([text], context=32)
    windows = random_windows(document_rows(text, piece_characters=500), tokenizer, block_size=32)
    assert len(windows) == 3_000 // 32  # an epoch is one text's worth of tokens
    torch.manual_seed(0)
    drawn = [tokenizer.decode(windows[0]["input_ids"]) for _ in range(20)]
    assert all(len(window) == 32 and window in text for window in drawn)
    assert len(set(drawn)) > 15  # not the same fixed cut every time


def test_lora_on_missing_layers_names_the_layers_there_are(tiny_gemma_folder):
    model = AutoModelForCausalLM.from_pretrained(tiny_gemma_folder)
    with pytest.raises(ModelError, match="Its layers are: .*q_proj"):
        add_lora(model, LoraSpec(target_modules=("query", "value")))


def test_scratch_size_is_estimated_before_training(log_dataset):
    config = default_config("text-generation", "log", source="scratch")
    assert config.model.tokenizer == "char"
    count = estimate_parameters(config, log_dataset)
    assert 1_500_000 < count < 2_500_000  # 4 layers of width 192: about 1.8 M


# ---------------------------------------------------------------------------------------------------- runs


def char_gpt_config(**changes) -> TrainConfig:
    config = default_config("text-generation", "log", source="scratch", preset="quick")
    model = replace(config.model, embedding_dim=64, num_layers=2, num_heads=4, dropout=0.0)
    return replace(config, **{"model": model, "max_length": 64, "batch_size": 16, "max_steps": 60,
                              "eval_every": 20, "learning_rate": 3e-3, **changes})


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    """A character GPT trained from scratch by the worker, shared by the run-folder test and the Playground test."""
    workspace = Workspace(tmp_path_factory.mktemp("generation") / "workspace")
    save_log(workspace)
    run = create_run(workspace, char_gpt_config())
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def test_a_character_gpt_trained_from_scratch_leaves_samples_and_a_falling_loss(char_run):
    run = char_run
    assert files_in(run.folder) == {
        "config.json", "status.json", "metrics.jsonl", "train.log", "eval.json", "samples.jsonl",
        "model/config.json", "model/generation_config.json", "model/model.safetensors", "model/tokenizer.json",
        "model/tokenizer_config.json", "model/text_generation.json",
    }
    evaluations = [r for r in read_metrics(run.folder) if "eval_loss" in r]
    assert [r["step"] for r in evaluations] == [20, 40, 60]
    assert evaluations[-1]["eval_loss"] < evaluations[0]["eval_loss"] < 3.5  # ln(vocabulary) ≈ 3.9 at the start

    samples = read_samples(run.folder)
    assert [s["step"] for s in samples] == [20, 40, 60]
    assert samples[0]["prompt"].startswith(split_document(lighthouse_log()[:40_000], 0.1)[1][:10])
    assert all(len(s["text"]) > 50 for s in samples)

    status = read_json(run.folder / "status.json")
    assert status["state"] == "completed" and status["summary"]["format"] == "text"
    assert status["headline"]["perplexity"] < 30
    report = read_json(run.folder / "eval.json")
    assert report["eval_loss"] == pytest.approx(evaluations[-1]["eval_loss"]) and report["samples"] == samples

    predictor = load_predictor(run.folder / "model")
    assert not predictor.is_instruction and predictor.format_prompt("Wind") == "Wind"
    greedy = DecodingSettings(max_new_tokens=300, temperature=0)
    first = predictor.generate("12 March 1887. Wind", greedy)
    assert len(first) == 300  # longer than the 64-character context: written in rounds
    assert predictor.generate("12 March 1887. Wind", greedy) == first
    assert "".join(predictor.stream("12 March 1887. Wind", greedy)) == first
    seeded = predictor.generate("Wind", DecodingSettings(max_new_tokens=40, temperature=1.5, seed=3))
    assert predictor.generate("Wind", DecodingSettings(max_new_tokens=40, temperature=1.5, seed=3)) == seeded
    assert len(seeded) == 40  # never cut short by an end token it never saw in training


def test_lora_fine_tune_of_a_tiny_gemma_exports_a_merged_standalone_model(workspace, pairs_dataset,
                                                                         tiny_gemma_folder, tmp_path):
    config = TrainConfig(dataset="pairs", task="text-generation", max_length=96, batch_size=8, max_steps=12,
                         eval_every=6, learning_rate=5e-3, warmup_ratio=0.0,
                         sample_prompt="Write the number in words.\n\n7",
                         model=ModelSpec(source="pretrained", name=str(tiny_gemma_folder), finetune="lora"),
                         lora=LoraSpec(rank=4, alpha=8, target_modules=("q_proj", "v_proj")))
    run = create_run(workspace, config)
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-3000:]
    model_files = files_in(run.folder / "model")
    assert {"adapter_config.json", "adapter_model.safetensors", "text_generation.json"} <= model_files
    assert "model.safetensors" not in model_files  # the adapter only: a few kB, not the base model
    summary = read_json(run.folder / "status.json")["summary"]
    assert 0 < summary["trainable_parameters"] < summary["parameters"] / 5
    samples = read_samples(run.folder)
    assert [s["step"] for s in samples] == [6, 12] and samples[0]["prompt"] == "Write the number in words.\n\n7"
    evaluations = [r["eval_loss"] for r in read_metrics(run.folder) if "eval_loss" in r]
    assert evaluations[-1] < evaluations[0]

    adapter = load_predictor(run.folder / "model")
    assert adapter.is_instruction and adapter.format_prompt("hi") == PROMPT_TEMPLATE.format(prompt="hi")
    expected = adapter.generate(adapter.format_prompt("Give the opposite of the word.\n\nhot"),
                                DecodingSettings(temperature=0, max_new_tokens=12))

    merged_dir = export_merged(run.folder / "model", tmp_path / "merged")
    assert {"config.json", "model.safetensors", "tokenizer.json", "text_generation.json"} <= files_in(merged_dir)
    assert not (merged_dir / "adapter_config.json").exists()
    standalone = AutoModelForCausalLM.from_pretrained(merged_dir)  # plain transformers, no peft needed
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    assert standalone.config.model_type == "gemma3_text" and len(tokenizer) == standalone.config.vocab_size
    merged = load_predictor(merged_dir)
    assert merged.is_instruction
    assert merged.generate(merged.format_prompt("Give the opposite of the word.\n\nhot"),
                           DecodingSettings(temperature=0, max_new_tokens=12)) == expected
    with pytest.raises(ModelError, match="not a LoRA adapter"):
        export_merged(merged_dir, tmp_path / "again")
    assert json.loads((merged_dir / "text_generation.json").read_text())["finetune"] == "lora (merged)"


def test_playground_streams_the_trained_model_and_offers_no_merge_for_a_full_model(char_run, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(HOME_VARIABLE, str(char_run.folder.parent.parent))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/playground.py")
    at.run()
    assert not at.exception, at.exception
    assert "continues the text you start" in " ".join(c.value for c in at.caption)
    key = f"play_gen_{char_run.id}"
    at.text_area(key=f"{key}_prompt").input("3 May 1887. Wind")
    at.slider(key=f"{key}_temperature").set_value(0.0)
    at.number_input(key=f"{key}_max_new_tokens").set_value(80)
    at.button(key=f"{key}_generate").click().run()
    assert not at.exception, at.exception
    expected = load_predictor(char_run.model_dir).generate("3 May 1887. Wind",
                                                           DecodingSettings(max_new_tokens=80, temperature=0))
    assert len(expected) == 80 and at.code[-1].value == "3 May 1887. Wind" + expected  # verbatim, not Markdown
    assert not [b for b in at.button if b.key == f"{key}_export"]  # a model trained from scratch has no adapter


def test_playground_exports_a_lora_run_merged(workspace, pairs_dataset, tiny_gemma_folder):
    from streamlit.testing.v1 import AppTest

    config = TrainConfig(dataset="pairs", task="text-generation", max_length=96, batch_size=8, max_steps=2,
                         eval_every=2, model=ModelSpec(source="pretrained", name=str(tiny_gemma_folder),
                                                       finetune="lora"), lora=LoraSpec(rank=2, alpha=4))
    run = create_run(workspace, config)
    assert run_worker(run.folder).returncode == 0
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/playground.py")
    at.run()
    assert "trained on instructions and answers" in " ".join(c.value for c in at.caption)
    at.button(key=f"play_gen_{run.id}_export").click().run()
    assert not at.exception, at.exception
    merged = workspace.models / f"{run.id}-merged"
    assert "standalone model folder" in " ".join(s.value for s in at.success)
    assert str(merged) in " ".join(c.value for c in at.code)
    assert AutoModelForCausalLM.from_pretrained(merged).config.model_type == "gemma3_text"


def test_train_page_offers_a_small_gpt_and_lora_for_a_text_dataset(workspace, log_dataset):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception
    at.radio(key="train_source_text-generation").set_value("scratch").run()
    assert at.selectbox(key="train_model_tokenizer").value == "char"
    assert "Model size: **1.8" in " ".join(c.value for c in at.caption)  # 4 layers of width 192
    at.number_input(key="train_model_num_heads").set_value(5).run()
    assert "must be a multiple of the number of heads" in " ".join(e.value for e in at.error)
    at.radio(key="train_source_text-generation").set_value("pretrained").run()
    assert at.radio(key="train_model_finetune").value == "lora"
    assert at.number_input(key="train_lora_rank").value == 8
    assert not at.exception, at.exception
