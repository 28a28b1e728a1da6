"""SST-2 with the bundled MiniLM: the app's engine against a hand-written Trainer script, in one run.

    python bench/sst2_minilm.py                      # CPU, the real bundled model and ../shared/datasets/sst2
    python bench/sst2_minilm.py --device cuda --model-folder DIR --data-dir DIR

1. The app's way: the training file and the separate dev file are read and checked by
`core.tasks.text_classification.data`, saved as a
   prepared dataset, and trained by the worker process (`python -m core.engine.worker RUN_DIR`) with the default
   config for text classification (the "balanced" preset), exactly as the Train page starts it.
2. The baseline: a plain script (`bench/plain_trainer_sst2.py`) as a person would write it from the transformers
   docs — `datasets` + tokenizer + `Trainer`, 2 epochs, evaluated once at the end.

Both run as fresh processes, one after the other, so start-up and imports count for both. Printed: each one's
wall time, dev accuracy and training samples/s, and the engine's wall-time ratio (goal ≤ 0.8).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "sst2"


def prepare_dataset(workspace, data_dir: Path):
    from core.data.uploads import read_upload
    from core.tasks.text_classification.data import align_validation, check_classification, save_text_classification

    train_file, dev_file = data_dir / "train_3k.tsv", data_dir / "dev.tsv"
    train = check_classification(read_upload(train_file.name, train_file.read_bytes(), workspace).frame,
                                 "sentence", "label")
    dev = check_classification(read_upload(dev_file.name, dev_file.read_bytes(), workspace).frame,
                               "sentence", "label", validation=True)
    validation, checks = align_validation(dev, train.labels)
    return save_text_classification(workspace, "sst2", train.frame, validation, "SST-2", train.checks + checks)


def run_app_engine(workspace, device: str, model: str) -> dict:
    from dataclasses import replace

    from core.config.presets import default_config
    from core.engine.runs import create_run

    config = default_config("text-classification", "sst2")  # pretrained bundled MiniLM, balanced preset
    config = replace(config, device=device, model=replace(config.model, name=model))
    run = create_run(workspace, config)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    report = json.loads((run.folder / "eval.json").read_text())
    summary = [r for r in map(json.loads, (run.folder / "metrics.jsonl").read_text().splitlines())
               if "train_samples_per_second" in r][-1]
    return {"wall_s": wall, "accuracy": report["accuracy"], "samples_per_s": summary["train_samples_per_second"],
            "config": {k: getattr(config, k) for k in ("epochs", "batch_size", "learning_rate", "max_length")}}


def run_plain_script(data_dir: Path, device: str, model_folder: str) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "plain_trainer_sst2.py"), "--data-dir",
                             str(data_dir), "--device", device, "--model-folder", model_folder],
                            cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return {"wall_s": wall, **json.loads(result.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--model-folder", help="a MiniLM folder (default: the bundled package)")
    arguments = parser.parse_args()
    if not (arguments.data_dir / "train_3k.tsv").is_file():
        sys.exit(f"SST-2 files not found in {arguments.data_dir}: pass --data-dir.")

    from core.tasks.text_classification.models import resolve_pretrained
    from core.workspace import HOME_VARIABLE, Workspace

    model_folder = arguments.model_folder or resolve_pretrained("bundled:minilm-l6")
    with tempfile.TemporaryDirectory() as home:
        os.environ[HOME_VARIABLE] = home
        workspace = Workspace(Path(home))
        prepare_dataset(workspace, arguments.data_dir)
        engine = run_app_engine(workspace, arguments.device,
                                "bundled:minilm-l6" if arguments.model_folder is None else model_folder)
    plain = run_plain_script(arguments.data_dir, arguments.device, model_folder)
    print(f"device: {arguments.device}")
    print(f"app engine  ({engine['config']}): {engine['wall_s']:.1f} s, dev accuracy {engine['accuracy']:.3f}, "
          f"{engine['samples_per_s']:.1f} training samples/s")
    print(f"plain script (2 epochs, lr 5e-5, batch 32, max length 128): {plain['wall_s']:.1f} s, dev accuracy "
          f"{plain['accuracy']:.3f}, {plain['samples_per_s']:.1f} training samples/s")
    ratio = engine["wall_s"] / plain["wall_s"]
    print(f"wall-time ratio app / plain: {ratio:.2f} (goal <= 0.8: {'met' if ratio <= 0.8 else 'NOT met'})")
    print(f"accuracy goal >= 0.83: {'met' if engine['accuracy'] >= 0.83 else 'NOT met'}")


if __name__ == "__main__":
    main()
