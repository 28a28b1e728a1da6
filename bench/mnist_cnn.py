"""Acceptance check: 500 MNIST digits (50 per class) → the classic CNN from scratch → held-out accuracy and time.

Does what a person does in the app, through the same code: unpack the zip safely, take the suggested image
settings, split 80/20 stratified, save the dataset, build the Train page's default config for a from-scratch
image model with the "balanced" preset, and train it with the real worker (`python -m core.engine.worker`). Prints the
held-out (validation) accuracy and the wall time against the 3-minute budget.

    python bench/mnist_cnn.py                   # CPU, as the acceptance asks
    python bench/mnist_cnn.py --device cuda     # the same on a GPU machine
    python bench/mnist_cnn.py --no-cache        # images decoded per batch with PIL, as before the cache
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config.presets import default_config  # noqa: E402
from core.engine.runs import create_run  # noqa: E402
from core.tasks.image_classification.data import save_image_classification, split_images  # noqa: E402
from core.tasks.image_classification.decoded import BUDGET_VARIABLE  # noqa: E402
from core.tasks.image_classification.labelled import load_labelled_images  # noqa: E402
from core.tasks.image_classification.preview import suggest_preprocess, summarize_images  # noqa: E402
from core.tasks.image_classification.safe_zip import safe_extract_zip  # noqa: E402
from core.tasks.image_classification.transforms import ImagePreprocessConfig  # noqa: E402
from core.workspace import Workspace  # noqa: E402

DEFAULT_ZIP = ROOT.parent / "shared" / "datasets" / "mnist_png_500.zip"
BUDGET_SECONDS = 180.0


def prepare(workspace: Workspace, zip_path: Path, share: float, seed: int):
    report = safe_extract_zip(zip_path, workspace.uploads / "mnist-bench")
    labelled = load_labelled_images(report.root)
    preprocess = suggest_preprocess(summarize_images(labelled))
    train, validation = split_images(labelled, share, seed)
    return save_image_classification(workspace, "mnist", labelled, train, validation, preprocess, source=zip_path.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--preset", default="balanced", choices=("quick", "balanced", "thorough"))
    parser.add_argument("--architecture", default="cnn", choices=("cnn", "mlp"))
    parser.add_argument("--share", type=float, default=0.2, help="validation share (held out)")
    parser.add_argument("--split-seed", type=int, default=42)
    parser.add_argument("--seed", type=int, default=42, help="training seed")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode every image per batch with PIL instead of once into memory (for comparison)")
    arguments = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        workspace = Workspace(Path(home))
        dataset = prepare(workspace, arguments.zip, arguments.share, arguments.split_seed)
        config = default_config("image-classification", dataset.name, "scratch", arguments.preset)
        config = replace(config, model=replace(config.model, name=arguments.architecture), device=arguments.device,
                         seed=arguments.seed,
                         image=ImagePreprocessConfig.from_dict(dataset.info.details["image_preprocess"]))
        run = create_run(workspace, config)
        env = {**os.environ, BUDGET_VARIABLE: "0"} if arguments.no_cache else None
        result = subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT,
                                capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            return 1
        report = json.loads((run.folder / "eval.json").read_text())
        status = json.loads((run.folder / "status.json").read_text())
    print(f"dataset: {dataset.info.train_rows} train / {dataset.info.validation_rows} held-out images, "
          f"{len(dataset.info.labels)} classes; image settings {config.image.to_dict()}")
    print(f"model: {arguments.architecture}, preset {arguments.preset}: {config.epochs:g} epochs, "
          f"lr {config.learning_rate:g}, batch {config.batch_size}; {status.get('device')}; "
          f"{status['summary']['parameters']:,} parameters")
    images = [line for line in result.stdout.splitlines() if "decoded" in line.lower()]
    print(f"images: {images[0] if images else 'no decoding line in the worker output'}")
    print(f"held-out accuracy: {report['accuracy']:.3f} (macro-F1 {report['macro_f1']:.3f}) — target ≥ 0.90")
    # CPU seconds do not grow when other programs share the machine; wall time does.
    worker_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"wall time: {elapsed:.1f} s = {elapsed / BUDGET_SECONDS:.2f} × the {BUDGET_SECONDS:.0f} s budget "
          f"(training alone {status.get('elapsed_seconds', float('nan')):.1f} s; the worker used "
          f"{worker_cpu.ru_utime + worker_cpu.ru_stime:.1f} CPU s)")
    return 0 if report["accuracy"] >= 0.90 and elapsed < BUDGET_SECONDS else 2


if __name__ == "__main__":
    sys.exit(main())
