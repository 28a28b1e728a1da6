"""Tabular acceptance, through the same path the app takes: read the file → suggested settings → split → save the
dataset → `python -m core.engine.worker` with the "balanced" preset → eval.json.

    python bench/tabular.py                      # Titanic (classification) and diabetes (regression), CPU
    python bench/tabular.py --seeds 0 1 2        # several validation splits, to see the spread
    python bench/tabular.py --device cuda        # the same on a GPU machine

Prints, per split seed, Titanic's held-out accuracy (always guessing "died" scores 0.62; the target is ≥ 0.78) and
diabetes's R², MAE and RMSE in real units, with how many points the predicted-vs-actual plot holds. A baseline
measured in the same run is printed beside each: the majority class, and a linear regression (scikit-learn).
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

from core.config.presets import default_config  # noqa: E402
from core.data.uploads import read_upload  # noqa: E402
from core.engine.runs import create_run  # noqa: E402
from core.tasks.tabular.columns import suggest_preprocess_config  # noqa: E402
from core.tasks.tabular.dataset import sample_table, save_table_dataset, split_table  # noqa: E402
from core.workspace import Workspace  # noqa: E402

TITANIC = ROOT.parent / "shared" / "datasets" / "titanic.csv"


def train(workspace: Workspace, dataset: str, task: str, device: str, preset: str) -> tuple[dict, float]:
    config = replace(default_config(task, dataset, preset=preset), device=device)
    run = create_run(workspace, config)
    started = time.time()
    result = subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT,
    capture_output=True,
                            text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if result.returncode != 0:
        raise SystemExit(f"the run failed:\n{result.stderr[-3000:]}")
    return json.loads((run.folder / "eval.json").read_text()), time.time() - started


def titanic(workspace: Workspace, seed: int, device: str, preset: str) -> None:
    table = read_upload(TITANIC.name, TITANIC.read_bytes(), workspace)  # the Data page's reader
    frame = table.frame
    settings = suggest_preprocess_config(frame, "Survived")
    split = split_table(frame, "Survived", settings.task, validation_share=0.2, seed=seed)
    save_table_dataset(workspace, f"titanic-{seed}", split, settings, source="bench")
    report, seconds = train(workspace, f"titanic-{seed}", "tabular-classification", device, preset)
    majority = split.validation["Survived"].value_counts(normalize=True).max()
    print(f"titanic   seed {seed}: held-out accuracy {report['accuracy']:.3f} (macro-F1 {report['macro_f1']:.3f}) "
          f"on {report['validation_rows']} rows; majority-class baseline {majority:.3f}; {seconds:.0f} s")
    print(f"          inputs: {', '.join(settings.input_columns)} (title from {settings.title_from or 'nothing'})")


def diabetes(workspace: Workspace, seed: int, device: str, preset: str) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    frame = sample_table("diabetes")
    settings = suggest_preprocess_config(frame, "progression")
    split = split_table(frame, "progression", settings.task, validation_share=0.2, seed=seed)
    save_table_dataset(workspace, f"diabetes-{seed}", split, settings, source="bench")
    report, seconds = train(workspace, f"diabetes-{seed}", "tabular-regression", device, preset)
    features = [c for c in frame.columns if c != "progression"]
    linear = LinearRegression().fit(split.train[features], split.train["progression"])
    baseline = r2_score(split.validation["progression"], linear.predict(split.validation[features]))
    print(f"diabetes  seed {seed}: R² {report['r2']:.3f}, MAE {report['mae']:.1f}, RMSE {report['rmse']:.1f} on "
          f"{report['validation_rows']} rows ({len(report['points']['actual'])} scatter points); linear-regression "
          f"baseline R² {baseline:.3f}; {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="validation-split seeds")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--preset", default="balanced", choices=("quick", "balanced", "thorough"))
    parser.add_argument("--only", choices=("titanic", "diabetes"), help="run one of the two")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace(Path(folder))
        for seed in arguments.seeds:
            if arguments.only != "diabetes":
                if TITANIC.is_file():
                    titanic(workspace, seed, arguments.device, arguments.preset)
                else:
                    print(f"titanic: {TITANIC} is not on this machine, skipped")
            if arguments.only != "titanic":
                diabetes(workspace, seed, arguments.device, arguments.preset)


if __name__ == "__main__":
    main()
