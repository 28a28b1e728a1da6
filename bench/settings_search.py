"""Find good settings for me: does a search within a time budget reach (or beat) the default preset?

    python bench/settings_search.py                       # both figures, CPU
    python bench/settings_search.py --only titanic        # Titanic: default preset, then a 5-minute search
    python bench/settings_search.py --only sst2 --sst2-rows 1000   # SST-2 at a reduced scale (a loaded machine)

Both go through the app's own path: a prepared dataset, ordinary runs in the job queue (its consumer and worker
processes), the search's driver process (`python -m core.search.driver`) following them through their folders.

1. SST-2 (`train_3k` → the 872 dev sentences) with the bundled MiniLM: the "balanced" preset is trained first as
   one queued run, timing it from queueing to its end; then a search with 3× that time as its budget.
   Must show: the search's best dev accuracy ≥ the preset's.
2. Titanic (`Survived`, 20 % held out, split seed 0): the default preset as one queued run, then a 5-minute search.
   Must show: the search's best held-out accuracy > the default preset's.

A search's first try is the person's own settings; when the workspace already has a completed run of exactly those
settings (here the preset's run, trained just before), the search counts it instead of training it again and spends
its whole budget on other settings. So "≥ the preset" holds by construction; the figure that says whether the
search found better settings is the best of the other tries, printed beside it. The score a search picks by is the
validation score, the same one it is reported on (there is no third split here). The machine's load (`uptime`) is
printed before and after: the timings depend on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SST2 = ROOT.parent / "shared" / "datasets" / "sst2"
TITANIC = ROOT.parent / "shared" / "datasets" / "titanic.csv"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def prepare_sst2(workspace, rows: int) -> str:
    from core.data.uploads import read_upload
    from core.tasks.text_classification.data import align_validation, check_classification, save_text_classification

    train_frame = read_upload("train_3k.tsv", (SST2 / "train_3k.tsv").read_bytes(), workspace).frame
    if rows < len(train_frame):
        train_frame = train_frame.sample(rows, random_state=0)
    train = check_classification(train_frame, "sentence", "label")
    dev = check_classification(read_upload("dev.tsv", (SST2 / "dev.tsv").read_bytes(), workspace).frame,
                               "sentence", "label", validation=True)
    validation, checks = align_validation(dev, train.labels)
    save_text_classification(workspace, "sst2", train.frame, validation, "SST-2", train.checks + checks)
    return "sst2"


def prepare_titanic(workspace) -> str:
    from core.data.uploads import read_upload
    from core.tasks.tabular.columns import suggest_preprocess_config
    from core.tasks.tabular.dataset import save_table_dataset, split_table

    frame = read_upload(TITANIC.name, TITANIC.read_bytes(), workspace).frame
    settings = suggest_preprocess_config(frame, "Survived")
    split = split_table(frame, "Survived", settings.task, validation_share=0.2, seed=0)
    save_table_dataset(workspace, "titanic", split, settings, source="bench")
    return "titanic"


def train_preset(workspace, queue, config) -> tuple[float, float]:
    """(accuracy, seconds from queueing to the end) of one ordinary queued run."""
    from core.engine.runs import create_run

    run = create_run(workspace, config)
    started = time.time()
    queue.submit(run, owner="bench")
    while not run.status.is_final:
        time.sleep(1.0)
    status = run.status
    if "accuracy" not in status.headline:
        raise SystemExit(f"the preset's run ended {status.state}: {status.message}")
    return status.headline["accuracy"], time.time() - started


def search(workspace, config, budget: float):
    from core.search.folder import SearchSettings, create_search, read_search, start_driver

    folder = create_search(workspace, config, SearchSettings(budget_seconds=budget), owner="bench")
    started = time.time()
    start_driver(folder)
    while (record := read_search(folder)).is_live:
        time.sleep(2.0)
    return record, time.time() - started


def report(name: str, preset: float, preset_seconds: float, record, wall: float, beat: str) -> None:
    from core.search.folder import TrialState

    best = record.best
    others = [t for t in record.trials[1:] if t.state is TrialState.COMPLETED and t.score is not None]
    best_other = max((t.score for t in others), default=None)
    counts = {state: sum(t.state is state for t in record.trials) for state in TrialState}
    print(f"\n== {name}")
    print(f"preset: accuracy {preset:.4f} in {preset_seconds:.0f} s (queued run, queue to end)")
    print(f"search: budget {record.settings.budget_seconds:.0f} s, took {wall:.0f} s, {len(record.trials)} tries "
          f"({', '.join(f'{n} {s}' for s, n in counts.items() if n)}), {record.skipped} suggestions skipped")
    for position, trial in enumerate(record.trials, start=1):
        score = "–" if trial.score is None else f"{trial.score:.4f}"
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        print(f"  try {position}: {trial.state:<10} {score}  {params}")
    if best is None:
        print("search: no try completed")
        return
    print(f"search best: {best.score:.4f} (try {record.trials.index(best) + 1}); best of the tries other than the "
          f"preset: {'–' if best_other is None else f'{best_other:.4f}'}")
    met = best.score > preset if beat == ">" else best.score >= preset
    print(f"must show: search best {beat} preset: {'met' if met else 'NOT met'} ({best.score:.4f} vs {preset:.4f})")
    # Unless the search counted the preset's own run, try 1 trained the same settings again: the gap between the
    # two is run-to-run noise, and a try with other settings should beat both.
    first = record.trials[0].score
    if best_other is not None:
        print(f"a try with other settings beats the preset's settings ({preset:.4f}"
              f"{'' if first in (None, preset) else f' and {first:.4f} when trained again'}): "
              f"{'yes' if best_other > max(preset, first or preset) else 'no'} ({best_other:.4f})")


def run_sst2(workspace, queue, rows: int, factor: float, device: str) -> None:
    from dataclasses import replace

    from core.config.presets import default_config

    config = replace(default_config("text-classification", prepare_sst2(workspace, rows)), device=device)
    accuracy, seconds = train_preset(workspace, queue, config)
    record, wall = search(workspace, config, factor * seconds)
    report(f"SST-2 ({rows} training rows → 872 dev), bundled MiniLM, budget {factor:g}× the balanced preset",
           accuracy, seconds, record, wall, ">=")


def run_titanic(workspace, queue, budget: float, device: str) -> None:
    from dataclasses import replace

    from core.config.presets import default_config

    config = replace(default_config("tabular-classification", prepare_titanic(workspace)), device=device)
    accuracy, seconds = train_preset(workspace, queue, config)
    record, wall = search(workspace, config, budget)
    report(f"Titanic (20 % held out), default preset, budget {budget:.0f} s", accuracy, seconds, record, wall, ">")


def keep_default_priority(home: Path) -> None:
    """--renice: the app starts each worker at a lower CPU priority (nice 10) so the web server stays quick; on a
    machine shared with other busy processes at the default priority that starves the bench's runs. This puts the
    bench's workers back at the default priority (never above it), so the figures measure the search, not the
    queue for the CPU."""
    import contextlib
    import json
    import threading

    import psutil

    def loop() -> None:
        while True:
            for status in (home / "runs").glob("*/status.json"):
                with contextlib.suppress(OSError, ValueError, psutil.Error):
                    pid = json.loads(status.read_text()).get("pid")
                    if pid and psutil.Process(pid).nice() > 0:
                        psutil.Process(pid).nice(0)
            time.sleep(0.5)

    threading.Thread(target=loop, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sst2", "titanic"))
    parser.add_argument("--sst2-rows", type=int, default=3000, help="training rows of train_3k to use")
    parser.add_argument("--factor", type=float, default=3.0, help="SST-2 budget, times the preset's time")
    parser.add_argument("--titanic-budget", type=float, default=300.0, help="seconds")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--renice", action="store_true", help="run the bench's workers at the default CPU priority")
    arguments = parser.parse_args()

    from core.engine.launcher import stop_consumer
    from core.workspace import HOME_VARIABLE, Workspace

    print(f"load before: {load()}" + (" (workers at the default CPU priority)" if arguments.renice else ""))
    with tempfile.TemporaryDirectory() as home:
        os.environ[HOME_VARIABLE] = home
        from core.hosting.queue import JobQueue

        workspace, queue = Workspace(Path(home)), JobQueue()
        if arguments.renice:
            keep_default_priority(Path(home))
        try:
            if arguments.only in (None, "titanic"):
                run_titanic(workspace, queue, arguments.titanic_budget, arguments.device)
            if arguments.only in (None, "sst2"):
                run_sst2(workspace, queue, arguments.sst2_rows, arguments.factor, arguments.device)
        finally:
            stop_consumer(queue.folder)
    print(f"\nload after: {load()}")


if __name__ == "__main__":
    main()
