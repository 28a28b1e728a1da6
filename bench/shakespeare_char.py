"""Tiny Shakespeare, character level, trained from scratch by the app's own engine for a fixed time budget.

    python bench/shakespeare_char.py --device cuda --minutes 3          # nanoGPT's shakespeare-char model
    python bench/shakespeare_char.py --device cpu --minutes 2           # the app's CPU default (smaller)
    python bench/shakespeare_char.py --device cuda --data .device/tinyshakespeare.txt

The text goes through the Data page's code (`core.tasks.text_generation.data`: read, checked, last 10% kept for
validation in one piece; `core.tasks.text_generation.saving` saves it) and is trained by the worker process
(`python -m core.engine.worker RUN_DIR`), exactly as the Train page does it: a GPT-2 architecture with a character
tokenizer learned from the text, samples written at every check.

A short calibration run first measures the seconds per step on this machine, so the real run gets as many steps
as fit in `--minutes` with its learning-rate schedule complete (the worker is also told to stop, saving its model,
should it run over). Printed: validation loss at every check as it falls, the final validation loss on the whole
validation text (nanoGPT's published shakespeare-char run reaches 1.47), tokens/s, and the last sample.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "tinyshakespeare.txt"
# nanoGPT's config/train_shakespeare_char.py on a GPU; the app's own default for text generation on a CPU.
SHAPES = {
    "cuda": {"layers": 6, "heads": 6, "width": 384, "context": 256, "batch_size": 64, "learning_rate": 1e-3,
             "dropout": 0.2},
    "cpu": {"layers": 4, "heads": 6, "width": 192, "context": 128, "batch_size": 32, "learning_rate": 2e-3,
            "dropout": 0.1},
}
CHECKS = 10  # validation checks (each with a sample) in the timed run
WARMUP_STEPS = 100


def prepare_dataset(workspace, path: Path):
    from core.tasks.text_generation.data import check_document, read_generation_upload, split_document
    from core.tasks.text_generation.saving import save_document

    upload = read_generation_upload(path.name, path.read_bytes(), workspace)
    checks = check_document(upload.text)
    train, validation = split_document(upload.text, 0.1)
    return save_document(workspace, "shakespeare", train, validation, "TXT", upload.checks + checks)


def make_config(arguments, max_steps: int, eval_every: int):
    from core.config.presets import default_config
    from core.config.train_config import ModelSpec

    config = default_config("text-generation", "shakespeare", source="scratch")
    model = ModelSpec(source="scratch", name="gpt", tokenizer="char", embedding_dim=arguments.width,
                      num_layers=arguments.layers, num_heads=arguments.heads, dropout=arguments.dropout)
    return replace(config, model=model, device=arguments.device, max_length=arguments.context,
                   batch_size=arguments.batch_size, learning_rate=arguments.learning_rate, max_steps=max_steps,
                   eval_every=eval_every, warmup_ratio=min(0.5, WARMUP_STEPS / max_steps), weight_decay=0.1,
                   sample_prompt="ROMEO:\n")


def records(run) -> list[dict]:
    from core.engine.run_folder import read_metrics

    return read_metrics(run.folder)


def train_run(workspace, config, deadline_seconds: float | None, show_progress: bool):
    """Run the worker; print each check as it lands; ask it to stop (it saves) if it runs past the deadline."""
    from core.engine.launcher import LOG_REDIRECTED
    from core.engine.run_folder import read_json
    from core.engine.runs import create_run

    run = create_run(workspace, config)
    started = time.perf_counter()
    with open(run.folder / "train.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, LOG_REDIRECTED: "1"})
    training_started, printed = None, 0
    while process.poll() is None:
        time.sleep(1.0)
        status = read_json(run.folder / "status.json", {})
        if training_started is None and status.get("message") == "Training.":
            training_started = time.perf_counter()
        checks = [r for r in records(run) if "eval_loss" in r]
        if show_progress:
            for record in checks[printed:]:
                print(f"  step {record['step']:>6,}  validation loss {record['eval_loss']:.4f}  "
                      f"({time.perf_counter() - (training_started or started):.0f} s)", flush=True)
        printed = len(checks)
        if deadline_seconds and training_started and time.perf_counter() - training_started > deadline_seconds:
            process.terminate()  # the worker's SIGTERM handler stops after this step and saves the model
            deadline_seconds = None
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"The worker failed: {read_json(run.folder / 'status.json', {}).get('message')}\n"
                 f"{(run.folder / 'train.log').read_text()[-3000:]}")
    return run, wall


def seconds_per_step(run) -> float:
    """The median time between consecutive logged training steps that no check fell between."""
    logs = [r for r in records(run) if "loss" in r and "eval_loss" not in r]
    checked = {r["step"] for r in records(run) if "eval_loss" in r}
    gaps = [(b["time"] - a["time"]) / (b["step"] - a["step"]) for a, b in zip(logs, logs[1:])
            if b["step"] > a["step"] and not any(a["step"] <= s < b["step"] for s in checked)]
    if not gaps:  # a run so short that a check fell between every pair of logs
        summary = [r for r in records(run) if "train_runtime" in r][-1]
        return summary["train_runtime"] / max(1, max((r["step"] for r in logs), default=1))
    return statistics.median(gaps[len(gaps) // 4:] or gaps)  # the first steps include warm-up


def seconds_per_check(run) -> float:
    """From the last training step to the end of a run that checked once at its end: a pass over the validation
    blocks, a sample written, a checkpoint saved."""
    logs = [r for r in records(run) if "loss" in r and "eval_loss" not in r]
    end = [r for r in records(run) if "train_runtime" in r][-1]
    return max(0.0, end["time"] - logs[-1]["time"])


def full_validation_loss(run, device: str) -> float:
    """Mean next-character loss over every whole block of the validation text, with the final model."""
    import datasets
    import torch
    from transformers.utils import logging as transformers_logging

    from core.data.dataset_store import load_dataset_info
    from core.tasks.text_generation.blocks import text_blocks
    from core.tasks.text_generation.pipeline import load_predictor
    from core.workspace import Workspace

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    predictor = load_predictor(run.model_dir)
    model = predictor.model.to(device)
    _, validation = load_dataset_info(Workspace(run.folder.parent.parent), "shakespeare").frames()
    blocks = text_blocks(validation, predictor.tokenizer, predictor.context)["input_ids"]
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(blocks), 32):
            batch = torch.tensor(blocks[start:start + 32], device=device)
            loss = model(input_ids=batch, labels=batch).loss.item()
            total, count = total + loss * len(batch), count + len(batch)
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--minutes", type=float, default=3.0, help="training time budget of the timed run")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="tinyshakespeare.txt")
    for name, kind in (("layers", int), ("heads", int), ("width", int), ("context", int), ("batch-size", int),
                       ("learning-rate", float), ("dropout", float)):
        parser.add_argument(f"--{name}", type=kind, help="default: nanoGPT's on cuda, the app's on cpu")
    parser.add_argument("--calibration-steps", type=int, help="default: 60 on cuda, 15 on cpu")
    arguments = parser.parse_args()
    for name, value in SHAPES[arguments.device].items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    if not arguments.data.is_file():
        sys.exit(f"{arguments.data} not found: pass --data PATH/tinyshakespeare.txt.")
    calibration = arguments.calibration_steps or (60 if arguments.device == "cuda" else 15)

    from core.workspace import HOME_VARIABLE, Workspace

    with tempfile.TemporaryDirectory() as home:
        os.environ[HOME_VARIABLE] = home
        workspace = Workspace(Path(home))
        dataset = prepare_dataset(workspace, arguments.data)
        print(f"data: {dataset.info.details['train_characters']:,} training and "
              f"{dataset.info.details['validation_characters']:,} validation characters", flush=True)

        probe, _ = train_run(workspace, make_config(arguments, calibration, calibration), None, False)
        step_seconds, check_seconds = seconds_per_step(probe), seconds_per_check(probe)
        budget = arguments.minutes * 60
        # The checks take their share of the budget; 10% is kept for the unexpected.
        steps = max(CHECKS, int((budget * 0.9 - CHECKS * check_seconds) / step_seconds))
        config = make_config(arguments, steps, max(1, math.ceil(steps / CHECKS)))
        tokens_per_step = arguments.batch_size * arguments.context
        print(f"calibration: {step_seconds * 1000:.1f} ms per step ({tokens_per_step / step_seconds:,.0f} "
              f"tokens/s), {check_seconds:.1f} s per check → {steps:,} steps and {CHECKS} checks in "
              f"{arguments.minutes:g} min", flush=True)
        print(f"model: {arguments.layers} layers, {arguments.heads} heads, width {arguments.width}, context "
              f"{arguments.context}, batch {arguments.batch_size}, learning rate {arguments.learning_rate:g}",
              flush=True)

        run, wall = train_run(workspace, config, budget + 20, True)
        status = json.loads((run.folder / "status.json").read_text())
        summary = [r for r in records(run) if "train_runtime" in r][-1]
        done = status["step"]
        report = json.loads((run.folder / "eval.json").read_text())
        full = full_validation_loss(run, arguments.device)
        samples = report.get("samples") or []

        print(f"device: {status.get('device')}; {status['summary']['parameters'] / 1e6:.2f} M parameters, "
              f"vocabulary {status['summary']['vocabulary']}")
        print(f"trained {done:,} steps in {summary['train_runtime']:.0f} s (worker wall time {wall:.0f} s, "
              f"incl. start-up and data)")
        print(f"tokens/s: {done * tokens_per_step / summary['train_runtime']:,.0f} including checks and samples, "
              f"{tokens_per_step / seconds_per_step(run):,.0f} in training steps alone")
        print(f"validation loss reached: {full:.4f} on the whole validation text "
              f"({report['eval_loss']:.4f} on the checked blocks); nanoGPT's shakespeare-char: 1.47")
        if samples:
            print(f"last sample (step {samples[-1]['step']}):\n{samples[-1]['prompt']}{samples[-1]['text']}")


if __name__ == "__main__":
    main()
