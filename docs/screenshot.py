"""Regenerates docs/screenshot.png: the Runs page of a freshly trained run, in headless Chromium.

    python docs/screenshot.py

It prepares the built-in café sample in a throwaway workspace, trains a small from-scratch classifier with the
real worker, starts the app on that workspace and photographs the run's page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def trained_run(home: Path) -> str:
    from core.config.presets import default_config
    from core.data.sample_datasets import cafe_feedback
    from core.data.splits import split_train_validation
    from core.engine.runs import create_run
    from core.tasks.text_classification.data import (
        check_classification,
        save_text_classification,
    )
    from core.workspace import Workspace

    workspace = Workspace(home)
    checked = check_classification(cafe_feedback(), "message", "category")
    train, validation = split_train_validation(checked.frame, 0.2)
    save_text_classification(workspace, "cafe", train, validation, "sample", checked.checks)
    config = default_config("text-classification", "cafe", source="scratch", preset="quick")
    config = replace(config, model=replace(config.model, name="bag_of_embeddings"), epochs=15, eval_every=10)
    run = create_run(workspace, config)
    subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT, check=True,
                   capture_output=True)
    return run.id


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.support.browser import start_app, stop_app, wait_for_app

    with tempfile.TemporaryDirectory() as home:
        os.environ["AI_PLAYGROUND_HOME"] = home
        run_id = trained_run(Path(home))
        server, url = start_app(Path(home))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(f"{url}/runs?run={run_id}")
                page.wait_for_selector(".js-plotly-plot", timeout=60_000)
                wait_for_app(page)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))
                browser.close()
        finally:
            stop_app(server, Path(home))


if __name__ == "__main__":
    main()
