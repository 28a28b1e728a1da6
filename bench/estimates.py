"""Estimate vs actual: the Train page's time and memory estimate against the real run, for each task's Quick preset.

    python bench/estimates.py                       # all six, on the CPU
    python bench/estimates.py --only gpt,table      # some of them
    python bench/estimates.py --device cuda

For each task the data goes through the Data page's code into a fresh workspace; the probe (`python -m
core.estimate.measurement`) measures a few real steps of the exact configuration, `core.estimate.extrapolation`
extrapolates the whole run, and then the worker (`python -m core.engine.worker RUN_DIR`) trains it as the queue would.
Printed: estimated and actual wall time (the worker process from start to exit) and peak memory (the worker's own
high-water mark, from `os.wait4`), each error in percent, the probe's own time, and the machine's load average before
and after (a busy machine slows both sides, but not always equally).

The runs: a text classifier from MiniLM and one from scratch (an LSTM) on SST-2's 3,000 training sentences, the CNN on
500 MNIST digits, the table MLP on Titanic, the character GPT on tiny Shakespeare (its first `--shakespeare-chars`
characters, by default all), and Gemma 3 270M with LoRA on 1,000 Alpaca pairs, capped at `--gemma-steps` steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "datasets"
MODEL_CACHE = ROOT / "workspace" / "models"  # the bundled Gemma, converted once and kept between benches
ENVIRONMENT = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


# ---------------------------------------------------------------------------------------------------- datasets


def sst2(workspace):
    from bench.sst2_minilm import prepare_dataset

    return prepare_dataset(workspace, DATA / "sst2")


def mnist(workspace):
    from bench.mnist_cnn import prepare

    return prepare(workspace, DATA / "mnist_png_500.zip", 0.2, 42)


def titanic(workspace):
    from core.data.uploads import read_upload
    from core.tasks.tabular.columns import suggest_preprocess_config
    from core.tasks.tabular.dataset import save_table_dataset, split_table

    path = DATA / "titanic.csv"
    frame = read_upload(path.name, path.read_bytes(), workspace).frame
    settings = suggest_preprocess_config(frame, "Survived")
    split = split_table(frame, "Survived", settings.task, validation_share=0.2, seed=42)
    return save_table_dataset(workspace, "titanic", split, settings, source="bench")


def shakespeare(workspace, characters: int):
    from bench.shakespeare_char import prepare_dataset

    path = DATA / "tinyshakespeare.txt"
    if characters:  # the first characters only, under the file's own name
        cut = workspace.uploads / path.name
        cut.write_bytes(path.read_bytes()[:characters])
        path = cut
    return prepare_dataset(workspace, path)


def alpaca(workspace):
    from bench.lora_alpaca import prepare_dataset

    return prepare_dataset(workspace, DATA / "alpaca_1k.json", validation_examples=16)


def cases(arguments) -> dict[str, tuple]:
    """name → (what it is, dataset maker, task, model source, changes to the Quick preset)."""
    return {
        "minilm": ("text classifier, MiniLM", sst2, "text-classification", "pretrained", {}),
        "scratch": ("text classifier, from scratch", sst2, "text-classification", "scratch", {}),
        "cnn": ("image CNN, MNIST 500", mnist, "image-classification", "scratch", {}),
        "table": ("table MLP, Titanic", titanic, "tabular-classification", "scratch", {}),
        "gpt": ("character GPT, Shakespeare", lambda ws: shakespeare(ws, arguments.shakespeare_chars),
                "text-generation", "scratch", {}),
        "gemma": (f"Gemma LoRA, {arguments.gemma_steps} steps", alpaca, "text-generation", "pretrained",
                  {"max_steps": arguments.gemma_steps}),
    }


# ---------------------------------------------------------------------------------------------------- measuring


def probe(workspace, config) -> tuple[object, float]:
    from core.engine.training import plan_device
    from core.estimate.measurement import cached_measurement, measurement_key

    config_file = workspace.root / f"probe-{config.dataset}.json"
    config.save(config_file)
    started = time.time()
    result = subprocess.run([sys.executable, "-m", "core.estimate.measurement", str(config_file), "--workspace",
                             str(workspace.root), "--again"], cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True)
    seconds = time.time() - started
    from core.data.dataset_store import load_dataset_info

    key = measurement_key(config, load_dataset_info(workspace, config.dataset), plan_device(config.device).description)
    measurement = cached_measurement(workspace, key)
    if measurement is None or not measurement.usable:
        sys.exit(f"The probe failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return measurement, seconds


def train(workspace, config) -> tuple[float, int]:
    """(wall seconds, peak resident bytes) of the worker training the run."""
    from core.engine.launcher import LOG_REDIRECTED
    from core.engine.runs import create_run

    run = create_run(workspace, config)
    started = time.time()
    with open(run.folder / "train.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT, env={**ENVIRONMENT, LOG_REDIRECTED: "1"})
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.time() - started
    if process.returncode != 0:
        sys.exit(f"The run failed:\n{(run.folder / 'train.log').read_text()[-3000:]}")
    return seconds, usage.ru_maxrss * 1024


def error(estimated: float, actual: float) -> str:
    return f"{(estimated - actual) / actual * 100:+.0f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--only", default="", help="comma-separated: minilm,scratch,cnn,table,gpt,gemma")
    parser.add_argument("--gemma-steps", type=int, default=4)
    parser.add_argument("--shakespeare-chars", type=int, default=0, help="0 = the whole text")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--keep", type=Path, help="an empty folder to use as the workspace and keep afterwards")
    arguments = parser.parse_args()

    from core.config.presets import default_config
    from core.estimate.extrapolation import estimate, plain_bytes
    from core.workspace import Workspace

    chosen = cases(arguments)
    names = [name for name in arguments.only.split(",") if name] or list(chosen)
    load_before = os.getloadavg()
    rows, made = [], {}
    with tempfile.TemporaryDirectory() as home:
        workspace = Workspace(arguments.keep.resolve() if arguments.keep else Path(home))
        MODEL_CACHE.mkdir(parents=True, exist_ok=True)
        (workspace.root / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
        for name in names:
            title, make, task, source, changes = chosen[name]
            dataset = made[make] if make in made else made.setdefault(make, make(workspace))
            config = default_config(task, dataset.name, source=source, preset="quick")
            config = replace(config, device=arguments.device, **changes)
            measurement, probe_seconds = probe(workspace, config)
            guess = estimate(config, measurement)
            seconds, peak = train(workspace, config)
            row = {"run": title, "estimated_s": guess.seconds, "actual_s": seconds, "estimated_peak": guess.peak_ram,
                   "actual_peak": peak, "probe_s": probe_seconds, "steps": guess.counts.steps,
                   "checks": guess.counts.checks, "load": os.getloadavg()[0]}
            rows.append(row)
            print(f"{title:34} time {guess.seconds:7.0f} s est. / {seconds:7.0f} s actual "
                  f"({error(guess.seconds, seconds)})"
                  f"   memory {plain_bytes(guess.peak_ram):>7} est. / {plain_bytes(peak):>7} actual "
                  f"({error(guess.peak_ram, peak)})   probe {probe_seconds:.0f} s   load {row['load']:.1f}", flush=True)
            print("    " + ", ".join(f"{part} {value:.0f} s" for part, value in guess.parts.items())
                  + f"; {guess.counts.steps} steps × {measurement.step_s:.3f} s, {guess.counts.checks} checks, "
                  f"{guess.counts.checkpoints} checkpoints", flush=True)
    load_after = os.getloadavg()
    print(f"\nload average (1, 5, 15 min) before: {', '.join(f'{v:.1f}' for v in load_before)}; after: "
          f"{', '.join(f'{v:.1f}' for v in load_after)}; {os.cpu_count()} CPUs")
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
