"""Trained models, loaded once per server and shared across sessions (`st.cache_resource`).

The cache key includes the weights file's modification time, so a resumed run that saved a newer model is loaded
afresh. Predictors are only read from, never changed, since every session shares them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.engine.runs import Run
from core.tasks import pipeline


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load(task: str, model_dir: str, weights_mtime: float):
    return pipeline(task).load_predictor(Path(model_dir))


def predictor_for(run: Run):
    weights = sorted(run.model_dir.glob("*.safetensors"))
    mtime = max((w.stat().st_mtime for w in weights), default=0.0)
    return _load(run.config.task, str(run.model_dir), mtime)
