"""The training worker as its own process, exactly as the app launches it: the run folder it leaves behind, the
curves it writes, and what happens on stop, resume, kill and bad settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.config.presets import default_config
from core.config.train_config import TrainConfig
from core.engine.callbacks import MetricsCallback
from core.engine.divergence import divergence_reason
from core.engine.run_folder import read_metrics
from core.engine.run_processes import launch, refresh_status, request_stop
from core.engine.run_status import RunState
from core.engine.run_table import run_row
from core.engine.runs import create_run
from core.engine.worker import explain_failure
from core.tasks.text_classification.pipeline import load_predictor
from tests.support.paths import ROOT
from tests.support.queue_helpers import wait_for


def scratch_config(**changes) -> TrainConfig:
    config = default_config("text-classification", "cafe", source="scratch", preset="quick")
    model = replace(config.model, name="bag_of_embeddings", vocab_size=400, embedding_dim=32)
    return replace(config, **{"model": model, "epochs": 4, "learning_rate": 5e-3, **changes})


def run_worker(run_dir: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.engine.worker", str(run_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def files_in(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def test_a_finished_run_folder_holds_exactly_the_contract(workspace, sample_dataset):
    run = create_run(workspace, scratch_config())
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert files_in(run.folder) == {
        "config.json", "status.json", "metrics.jsonl", "train.log", "eval.json",
        "model/config.json", "model/model.safetensors", "model/tokenizer.json", "model/tokenizer_config.json",
    }
    status = json.loads((run.folder / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == status["max_steps"] > 0
    assert status["device"].startswith("CPU")
    assert status["headline"]["accuracy"] > 0.8  # three very different kinds of café messages
    assert TrainConfig.load(run.folder / "config.json") == scratch_config()

    records = read_metrics(run.folder)
    losses = [r["loss"] for r in records if "loss" in r]
    evaluations = [r for r in records if "eval_loss" in r]
    assert len(losses) >= 10 and losses[-1] < losses[0] * 0.8
    assert len(evaluations) == 4  # once per epoch
    assert evaluations[-1]["eval_loss"] < evaluations[0]["eval_loss"]
    assert {"eval_accuracy", "eval_f1", "learning_rate", "epoch", "time"} <= set().union(*records)

    report = json.loads((run.folder / "eval.json").read_text())
    assert report["labels"] == ["complaint", "praise", "question"]
    assert sum(map(sum, report["confusion_matrix"])) == report["validation_rows"] == 72
    predictor = load_predictor(run.folder / "model")
    assert next(iter(predictor.predict(["Is the tea vegan?"])[0])) == "question"


def test_the_surest_mistakes_pair_each_text_with_its_own_label(workspace, sample_dataset):
    """Training batches texts of similar length together (group_by_length); evaluation must still keep the
    validation split's order, or the Runs page shows each mistake's text beside another row's labels."""
    # Barely trained (6 small steps): plenty of mistakes to check on any machine (at 5e-3 a fast one made only 8).
    run = create_run(workspace, scratch_config(max_steps=6, learning_rate=1e-4))
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run.folder / "eval.json").read_text())
    _, validation = sample_dataset.frames()
    gold_of = dict(zip(validation["text"], validation["label"].astype(str)))
    mistakes = report["worst_mistakes"]
    assert len(mistakes) >= 10 and report["validation_rows"] == len(validation)
    assert [m["gold"] for m in mistakes] == [gold_of[m["text"]] for m in mistakes]
    answers = load_predictor(run.folder / "model").predict([m["text"] for m in mistakes])
    assert [m["predicted"] for m in mistakes] == [next(iter(answer)) for answer in answers]


def test_an_early_stopped_run_says_why_and_which_model_it_kept_and_its_score_agrees(workspace, sample_dataset):
    run = create_run(workspace, scratch_config(epochs=30, eval_every=5, early_stopping_patience=2))
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-2000:]
    status = refresh_status(run.folder)
    assert status.state is RunState.COMPLETED and status.stopped_early and status.step < status.max_steps
    assert status.message.startswith(f"Stopped early at step {status.step:,} of {status.max_steps:,}: the "
                                     "validation accuracy had not improved for 2 checks in a row.")
    assert f"(step {status.kept_step:,})" in status.message and status.kept_epoch is not None
    assert status.kept_step < status.step
    # The Runs table's score, the status's headline and the Evaluation tab are the kept check's accuracy.
    kept_check = next(r["eval_accuracy"] for r in read_metrics(run.folder) if r["step"] == status.kept_step
                      and "eval_accuracy" in r)
    report = json.loads((run.folder / "eval.json").read_text())
    assert report["accuracy"] == pytest.approx(kept_check) == status.headline["accuracy"]
    assert run_row(run)["score"] == round(report["accuracy"], 4) and run_row(run)["metric"] == "accuracy"


def test_a_local_pretrained_folder_is_fine_tuned(workspace, sample_dataset, tiny_bert_folder):
    config = default_config("text-classification", "cafe", source="pretrained", preset="quick")
    config = replace(config, model=replace(config.model, name=str(tiny_bert_folder)), epochs=3,
                     learning_rate=1e-3)
    run = create_run(workspace, config)
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model/vocab.txt" in files_in(run.folder) or "model/tokenizer.json" in files_in(run.folder)
    assert json.loads((run.folder / "eval.json").read_text())["accuracy"] > 0.5  # chance is 1/3


def test_a_scratch_model_can_reuse_a_pretrained_tokenizer(workspace, sample_dataset):
    config = scratch_config(epochs=2)
    run = create_run(workspace, replace(config, model=replace(config.model, tokenizer="bundled:minilm-l6")))
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-2000:]
    predictor = load_predictor(run.folder / "model")
    assert predictor.tokenizer.vocab_size > 30_000  # MiniLM's word pieces, not a few hundred learned ones
    assert set(predictor.predict(["Is the soup vegan?"])[0]) >= set(sample_dataset.info.labels)


def test_stop_saves_the_model_and_resume_finishes_the_run(workspace, sample_dataset):
    run = create_run(workspace, scratch_config(epochs=400, eval_every=20))
    launch(run.folder)
    wait_for(lambda: refresh_status(run.folder).step >= 25)
    assert request_stop(run.folder)
    status = wait_for(lambda: (s := refresh_status(run.folder)).is_final and s, 60)
    assert status.state is RunState.STOPPED, status
    assert run.has_model and run.can_resume
    stopped_at = status.step

    # Resume runs on from the checkpoint saved at the stop; shorten it so the test ends soon.
    config = json.loads((run.folder / "config.json").read_text())
    config["max_steps"] = stopped_at + 40  # two loss-logging intervals or more, so the curve must grow
    (run.folder / "config.json").write_text(json.dumps(config))
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Resuming from" in (run.folder / "train.log").read_text()
    status = refresh_status(run.folder)
    assert status.state is RunState.COMPLETED and status.step == stopped_at + 40
    steps = [r["step"] for r in read_metrics(run.folder) if "loss" in r]
    assert max(steps) > stopped_at  # the curve carries on where it stopped


def test_a_killed_worker_is_marked_failed_with_a_reason(workspace, sample_dataset):
    run = create_run(workspace, scratch_config(epochs=400))
    launch(run.folder)
    wait_for(lambda: refresh_status(run.folder).step > 0)
    os.killpg(refresh_status(run.folder).pid, signal.SIGKILL)
    killed = time.time()
    status = wait_for(lambda: (s := refresh_status(run.folder)).state is RunState.FAILED and s, timeout=5)
    assert time.time() - killed < 5
    assert "ended unexpectedly" in status.message


def test_a_missing_dataset_fails_in_plain_words(workspace):
    run = create_run(workspace, scratch_config(dataset="gone"))
    result = run_worker(run.folder)
    assert result.returncode == 1
    status = refresh_status(run.folder)
    assert status.state is RunState.FAILED
    assert status.message == "There is no prepared dataset called 'gone'. Prepare one on the Data page."


def test_out_of_memory_suggests_a_smaller_batch(tmp_path):
    config_path = tmp_path / "config.json"
    scratch_config(batch_size=64).save(config_path)
    message = explain_failure(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), config_path)
    assert "ran out of memory" in message and "32 instead of 64" in message


def test_a_nan_loss_stops_training_with_an_explanation(tmp_path):
    (tmp_path / "status.json").write_text('{"state": "running"}')
    callback = MetricsCallback(tmp_path)

    class State:
        global_step, epoch, is_world_process_zero = 12, 0.5, True

    class Control:
        should_training_stop = False

    control = callback.on_log(None, State(), Control(), logs={"loss": float("nan")})
    assert control.should_training_stop
    assert "not-a-number at step 12" in callback.diverged and "Lower the learning rate" in callback.diverged
    assert divergence_reason({"loss": 0.3, "grad_norm": float("inf"), "step": 3}).startswith("The grad norm")


def test_an_exploding_but_finite_loss_stops_training_with_an_explanation(tmp_path):
    (tmp_path / "status.json").write_text('{"state": "running"}')
    callback = MetricsCallback(tmp_path)

    class Control:
        should_training_stop = False

    def log(step: int, loss: float) -> bool:
        state = type("State", (), {"global_step": step, "epoch": step / 100, "is_world_process_zero": True})()
        return callback.on_log(None, state, Control(), logs={"loss": loss}).should_training_stop

    # Ordinary training: falling, with a noisy bump back to near the start; then a learning rate far too high.
    assert not any(log(step, loss) for step, loss in [(1, 0.7), (10, 0.4), (20, 0.05), (30, 0.6), (40, 0.1)])
    assert log(50, 48.0)
    assert "exploded at step 50" in callback.diverged and "Lower the learning rate" in callback.diverged
    assert '"loss": 48.0' in (tmp_path / "metrics.jsonl").read_text()  # the chart still shows the jump


def test_the_headless_command_creates_and_trains_a_run(workspace, sample_dataset, tmp_path):
    config_path = tmp_path / "config.json"
    scratch_config(epochs=1).save(config_path)
    result = subprocess.run([sys.executable, "-m", "core.engine.worker", "--config", str(config_path), "--workspace",
                             str(workspace.root)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    [run_dir] = list((workspace.root / "runs").iterdir())
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"
    assert f"Created {run_dir}" in result.stdout


def test_the_worker_refuses_a_folder_without_a_config(tmp_path):
    result = subprocess.run([sys.executable, "-m", "core.engine.worker", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "has no config.json" in result.stderr


@pytest.mark.parametrize("preset", ["quick", "balanced", "thorough"])
@pytest.mark.parametrize("source", ["pretrained", "scratch"])
def test_every_text_preset_builds_a_valid_config(preset, source):
    config = default_config("text-classification", "cafe", source=source, preset=preset)
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config


def test_the_last_steps_checkpoint_is_not_written_only_to_be_deleted(tmp_path):
    # A finished run saves its model and deletes its checkpoints, so the one of its last step would be wasted
    # time and disk (1.6 GB for Gemma 3 270M); the ones before it stay, for a kill mid-run.
    import torch
    from transformers import Trainer, TrainingArguments

    from core.engine.callbacks import NoFinalCheckpoint

    class Line(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, labels):
            return {"loss": ((self.weight * x - labels) ** 2).mean()}

    rows = [{"x": torch.tensor([float(i)]), "labels": torch.tensor([2.0 * i])} for i in range(8)]
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=2,
                             save_strategy="epoch", use_cpu=True, report_to=[], disable_tqdm=True)
    Trainer(model=Line(), args=args, train_dataset=rows, callbacks=[NoFinalCheckpoint()]).train()
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-4"]
