"""Every preset of every from-scratch text architecture trains stably on data of the shapes people bring (issue 17,
item 11): the LSTM's Quick preset blew up on SMS spam at step 35, and measured here it blew up at step 17 on SST-2
cut to 87 % positive reviews and at step 93 on SST-2 itself with Balanced; the small Transformer lurched too.

Each case trains the real pipeline with the preset's own settings and schedule for its warm-up and 30 steps more,
where the learning rate peaks and the blow-ups came. It uses real data from ../shared/datasets or a shape made in
the test, logs the loss at every step, and checks that the loss falls (the last third of the steps against the
first) and that no average of three steps after the first third climbs far above the first third's. With the old
behaviour (batches of one length at a time for every model, a Transformer without its last LayerNorm, a Xavier-sized
head) 8 of the 24 LSTM and Transformer cases fail.
"""

from __future__ import annotations

from dataclasses import replace
from statistics import mean

import pandas as pd
import pytest
from transformers import TrainerCallback, set_seed

from core.config.catalog import architectures_for
from core.config.presets import PRESET_NAMES, default_config
from core.data.sample_datasets import cafe_feedback
from core.data.splits import split_train_validation
from core.engine.training import StopSignal, build_trainer, plan_device
from core.tasks import pipeline
from core.tasks.text_classification.data import save_text_classification
from tests.conftest import shared_dataset

pytestmark = pytest.mark.slow  # 36 short trainings

AFTER_WARMUP = 30  # steps trained past the warm-up, where the learning rate peaks and the blow-ups came
WINDOW = 3  # a blow-up is an average of this many steps this far above the first third's: one batch is noisy
ARCHITECTURES = [a.key for a in architectures_for("text-classification")]


def sst2_rows(limit: int) -> pd.DataFrame:
    frame = pd.read_csv(shared_dataset("sst2/train_3k.tsv"), sep="\t", quoting=3)
    names = frame["label"].map({0: "negative", 1: "positive"})
    return pd.DataFrame({"text": frame["sentence"].astype(str), "label": names}).iloc[:limit]


def imbalanced(rows: pd.DataFrame, share: float = 0.87) -> pd.DataFrame:
    """All positive reviews and just enough negative ones that 87 % are positive, like ham among spam."""
    positive, negative = rows[rows.label == "positive"], rows[rows.label == "negative"]
    kept = negative.iloc[:round(len(positive) * (1 - share) / share)]
    return pd.concat([positive, kept]).sample(frac=1, random_state=0)


def shakespeare_parts(chunk: int = 1500, parts: int = 6) -> pd.DataFrame:
    """Long texts (about 300 words, longer than any preset reads) in six classes: which sixth of the plays."""
    text = shared_dataset("tinyshakespeare.txt").read_text(encoding="utf-8")
    pieces = [text[start:start + chunk] for start in range(0, len(text) - chunk, chunk)]
    labels = [f"part {1 + i * parts // len(pieces)}" for i in range(len(pieces))]
    return pd.DataFrame({"text": pieces, "label": labels})


SHAPES = {
    "short reviews, 2 classes": lambda: sst2_rows(1500),
    "short reviews, 87 % one class": lambda: imbalanced(sst2_rows(3000)),  # 1,700 reviews
    "long texts, 6 classes": lambda: shakespeare_parts().sample(400, random_state=0),
    "café messages, 3 classes": lambda: cafe_feedback(rows_per_class=120).rename(
        columns={"message": "text", "category": "label"}),
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    from core.workspace import Workspace

    workspace = Workspace(tmp_path_factory.mktemp("stability") / "workspace")
    prepared = {}
    for i, (shape, rows) in enumerate(SHAPES.items()):
        train, validation = split_train_validation(rows().reset_index(drop=True), 0.1)
        prepared[shape] = save_text_classification(workspace, f"shape{i}", train, validation, "test", [])
    return workspace, prepared


class EveryStep(TrainerCallback):
    """Logs the loss at every step and ends training `AFTER_WARMUP` steps after the warm-up: the schedule stays the
    preset's own."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.last_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.last_step = min(state.max_steps, args.warmup_steps + AFTER_WARMUP)

    def on_step_end(self, args, state, control, **kwargs):
        control.should_log = True
        control.should_training_stop = control.should_training_stop or state.global_step >= self.last_step
        control.should_evaluate = control.should_save = False
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])


def averages(losses: list[float]) -> list[float]:
    return [mean(losses[i:i + WINDOW]) for i in range(len(losses) - WINDOW + 1)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_loss_falls_and_never_blows_up(datasets, architecture, preset, shape):
    workspace, prepared = datasets
    dataset = prepared[shape]
    config = default_config("text-classification", dataset.name, source="scratch", preset=preset)
    config = replace(config, model=replace(config.model, name=architecture), device="cpu")
    run_dir = workspace.runs / f"{architecture}-{preset}-{dataset.name}"
    run_dir.mkdir(parents=True)
    set_seed(config.seed)  # the model is built before the Trainer seeds: the same weights whatever ran before
    plan = pipeline(config.task).build_plan(config, dataset, run_dir, plan_device("cpu"))
    steps = EveryStep()
    plan.callbacks.append(steps)
    trainer, watch = build_trainer(config, plan, run_dir, plan_device("cpu"), StopSignal())
    trainer.train()

    losses, third = steps.losses, len(steps.losses) // 3
    start, end = mean(losses[:third]), mean(losses[-third:])
    worst = max(averages(losses[third:]))  # the first steps of a fast start sit far above the first third's mean
    assert watch.diverged is None, watch.diverged
    assert worst < 1.5 * start, f"the loss rose to {worst:.3g} from {start:.3g}: {losses}"
    assert end < start, f"the loss did not fall from {start:.3g}: {losses}"
