"""The automatic prompt search in a process of its own, so the page never freezes and a person may leave the page
(or refresh it) while it runs.

    <workspace>/prompt_searches/<id>/request.json   the model, the dataset, the starting recipe, the settings
                                     progress.json  what it has tried so far, what it tries now, its process
                                     result.json    the winner (saved as a recipe too) and every candidate, or
                                                    {"error": "..."}
                                     search.log     the process's own output

`python -m core.prompting.search_job FOLDER` loads the model and the dataset's training examples itself, runs
`core.prompting.search.find_best_prompt`, writes each candidate into progress.json as it is scored, and saves the
winner as a named recipe (`core.prompting.saved_recipes`). The page only starts the process and reads these files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from core.engine.launcher import end_process_tree
from core.engine.run_folder import read_json_object, write_json_atomic
from core.messages import PlainError
from core.prompting.recipe import PromptRecipe, recipe_from_dict, recipe_to_dict
from core.prompting.search import SearchSettings, Tried
from core.workspace import PROJECT_ROOT, Workspace, safe_name

FOLDER = "prompt_searches"
REQUEST, PROGRESS, RESULT, LOG = "request.json", "progress.json", "result.json", "search.log"


def recipe_name_for(dataset: str) -> str:
    """The saved recipe a search's winner is kept under: one per dataset, replaced by the next search."""
    return f"best prompt for {dataset}"


@dataclass(frozen=True)
class SearchJob:
    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def request(self) -> dict[str, Any]:
        return _read(self.folder / REQUEST)

    @property
    def progress(self) -> dict[str, Any]:
        return _read(self.folder / PROGRESS)

    @property
    def result(self) -> dict[str, Any]:
        return _read(self.folder / RESULT)

    @property
    def state(self) -> str:
        """"running", "finished", "failed" or "stopped" (the process ended without a result)."""
        result = self.result
        if result:
            return "failed" if "error" in result else "finished"
        return "running" if _alive(self.progress) else "stopped"

    def tried(self) -> list[dict[str, Any]]:
        """Every candidate scored so far (all of them once finished), as plain data."""
        return self.result.get("tried") or self.progress.get("tried") or []

    def stop(self) -> None:
        if self.state == "running":
            end_process_tree(int(self.progress["pid"]), grace_seconds=2.0)


def searches_folder(workspace: Workspace) -> Path:
    return workspace.root / FOLDER


def find_job(workspace: Workspace, job_id: str | None) -> SearchJob | None:
    """The search with this id in the workspace, or None (an id from a URL is checked, never trusted as a path)."""
    if not job_id or safe_name(job_id, fallback="") != job_id:
        return None
    folder = searches_folder(workspace) / job_id
    return SearchJob(folder) if (folder / REQUEST).is_file() else None


def start_search(workspace: Workspace, model_name: str, dataset: str, recipe: PromptRecipe,
                 settings: SearchSettings) -> SearchJob:
    """Write the request and start the search process in its own session (it outlives a refresh)."""
    job_id = safe_name(f"{time.strftime('%Y%m%d-%H%M%S')}-{dataset}", fallback="search")
    folder = searches_folder(workspace) / job_id
    for number in range(2, 100):
        if not folder.exists():
            break
        folder = folder.with_name(f"{job_id}-{number}")
    folder.mkdir(parents=True)
    request = {"model": model_name, "models_dir": str(workspace.models), "workspace": str(workspace.root),
               "dataset": dataset, "recipe": recipe_to_dict(recipe), "settings": asdict(settings),
               "recipe_name": recipe_name_for(dataset), "started_at": time.time()}
    _write(folder / REQUEST, request)
    with open(folder / LOG, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "core.prompting.search_job", str(folder)],
                                   cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _write(folder / PROGRESS, {"pid": process.pid, "created": _created(process.pid), "tried": [], "planned": 0,
                               "now": "Loading the model…"})
    threading.Thread(target=process.wait, daemon=True).start()  # reaped, so it never lingers as a zombie
    return SearchJob(folder)


# ----------------------------------------------------------------------------------------------- in the process


class _Reporter:
    """Writes progress.json after each candidate, so the page shows them as they come."""

    def __init__(self, folder: Path):
        self.folder, self.tried, self.planned = folder, [], 0
        self.base = {"pid": os.getpid(), "created": _created(os.getpid())}

    def candidate(self, tried: Tried) -> None:
        self.tried.append(tried_row(tried))

    def __call__(self, done: int, planned: int, now: str) -> None:
        self.planned = planned
        _write(self.folder / PROGRESS, {**self.base, "tried": self.tried, "planned": planned, "now": now,
                                        "updated_at": time.time()})


def tried_row(tried: Tried) -> dict[str, Any]:
    return {"recipe": recipe_to_dict(tried.recipe), "accuracy": tried.accuracy,
            "log_likelihood": tried.log_likelihood, "examples": tried.examples, "seconds": tried.seconds,
            "stage": tried.stage}


def run(folder: Path) -> dict[str, Any]:
    """Run the search a request describes and write its result (or the plain reason it failed)."""
    from core.data.dataset_store import load_dataset_info
    from core.lm.loading import load_causal_lm
    from core.prompting import search
    from core.prompting.saved_recipes import save_recipe

    request = _read(folder / REQUEST)
    reporter = _Reporter(folder)
    try:
        workspace = Workspace(Path(request["workspace"]))
        start = recipe_from_dict(request["recipe"])
        settings = SearchSettings(**request["settings"])
        reporter(0, 0, "Loading the model…")
        model, tokenizer = load_causal_lm(request["model"], Path(request["models_dir"]))
        reporter(0, 0, "Reading the training examples…")
        dataset = load_dataset_info(workspace, request["dataset"])
        train = [{"text": str(row["text"]), "label": str(row["label"])} for row in dataset.records("train")]
        result = search.find_best_prompt(model, tokenizer, start, train, settings, progress=reporter,
                                         on_tried=reporter.candidate)
        save_recipe(workspace, request["recipe_name"], result.best, dataset=request["dataset"])
        document = {"best": recipe_to_dict(result.best), "tried": [tried_row(t) for t in result.tried],
                    "held_apart": result.held_apart, "planned": result.planned, "out_of_time": result.out_of_time,
                    "seconds": result.seconds, "recipe_name": request["recipe_name"]}
    except (PlainError, ValueError, OSError, KeyError, TypeError) as error:
        document = {"error": str(error) or type(error).__name__}
    _write(folder / RESULT, document)
    return document


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / REQUEST).is_file():
        print("usage: python -m core.prompting.search_job SEARCH_FOLDER", file=sys.stderr)
        return 2
    return 1 if "error" in run(Path(argv[0])) else 0


# ----------------------------------------------------------------------------------------------------- files


def _read(path: Path) -> dict[str, Any]:
    return read_json_object(path) or {}


def _write(path: Path, data: dict[str, Any]) -> None:
    write_json_atomic(path, data)  # a reader never sees half a file


def _created(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(progress: dict[str, Any]) -> bool:
    pid, created = progress.get("pid"), progress.get("created")
    if not isinstance(pid, int):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return created is None or abs(process.create_time() - float(created)) < 1.0
    except psutil.Error:
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
