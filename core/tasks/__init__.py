"""Task pipelines: one module per task, the only place that knows what a task's data and model look like.

Every pipeline module exposes two functions, which the engine and the Playground call without knowing the task:

    build_plan(config, dataset, run_dir, device) -> core.engine.training.TrainingPlan
        the model, the prepared splits, the collator, the metrics and how to save the result;
    load_predictor(model_dir) -> a predictor
        the trained model back from its run folder, with task-specific methods (`predict`, `generate`…).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from core.config.catalog import TASKS

PIPELINE_MODULES = {
    "text-classification": "core.tasks.text_classification.pipeline",
    "text-generation": "core.tasks.text_generation.pipeline",
    "image-classification": "core.tasks.image_classification.pipeline",
    "tabular-classification": "core.tasks.tabular.pipeline",
    "tabular-regression": "core.tasks.tabular.pipeline",
}
assert set(PIPELINE_MODULES) == set(TASKS), "every task in the catalog needs a pipeline"


def pipeline(task: str) -> ModuleType:
    """The pipeline module of a task, imported on first use (each pulls in its own heavy libraries)."""
    return importlib.import_module(PIPELINE_MODULES[task])
