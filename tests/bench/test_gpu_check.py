"""bench/gpu_check.py cannot rot unnoticed: its CPU dry run goes through every code path the GPU run takes (each
task through the real worker, the speed recipes in the engine, a plain Trainer script and a raw loop, the time
budget run, the queue), and its arithmetic (MFU, step timing, a falling loss) is checked on known numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT))

from bench import gpu_baselines, gpu_data, gpu_recipes, gpu_runs


def test_model_flops_per_token_agree_with_nanogpts_estimate():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=65, n_positions=256, n_embd=384, n_layer=6, n_head=6))
    # nanoGPT's estimate_mfu: 6N + 12·layers·heads·head size·context, N without the position embeddings.
    weights = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    nanogpt = 6 * weights + 12 * 6 * 384 * 256
    assert gpu_baselines.flops_per_token(model, 256, lora=False) == pytest.approx(nanogpt, rel=0.01)
    # LoRA computes no gradients for the frozen weights: two thirds of the work.
    assert gpu_baselines.flops_per_token(model, 256, lora=True) == pytest.approx(nanogpt * 2 / 3, rel=0.01)


def test_mfu_and_throughput_from_a_step_time():
    measure = gpu_baselines.Measure(step_seconds=0.5, batch=64, length=256, flops_per_token=1e9, peak_flops=1e14)
    assert (measure.samples_per_second, measure.tokens_per_second) == (128, 32768)
    assert measure.mfu == pytest.approx(32768 * 1e9 / 1e14)
    assert gpu_baselines.Measure(0.5, 64, 256, 1e9, None).mfu is None  # a CPU has no comparable peak


def write_metrics(folder: Path, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_step_time_is_measured_after_the_warm_up_and_the_loss_path_by_thirds(tmp_path):
    # Step 1 took 30 s (compiling), then 0.1 s a step; a check's record carries no training loss.
    logs = [{"step": 1, "time": 30.0, "loss": 4.0}] + [
        {"step": s, "time": 30.0 + 0.1 * (s - 1), "loss": 4.0 - 0.2 * s} for s in range(2, 11)]
    write_metrics(tmp_path, [*logs, {"step": 10, "time": 40.0, "eval_loss": 2.5}])
    assert gpu_runs.step_seconds(tmp_path, warmup=2) == pytest.approx(0.1)
    first, last = gpu_runs.loss_path(tmp_path)
    assert first == pytest.approx((4.0 + 3.6 + 3.4) / 3) and last == pytest.approx((2.4 + 2.2 + 2.0) / 3)


def test_the_dry_runs_configs_are_ones_the_train_page_accepts(tmp_path):
    sizes = gpu_recipes.DRY
    for recipe in gpu_recipes.recipes(sizes, tmp_path / "minilm", tmp_path / "gemma", "document"):
        config = gpu_recipes.recipe_config(recipe, sizes)
        assert (config.batch_size, config.max_length, config.max_steps) == (recipe.shape.batch, recipe.shape.length,
                                                                            recipe.shape.steps)
        assert config.eval_every == config.max_steps  # one check, after the timed steps
    tasks = gpu_recipes.task_configs(sizes, "bundled:some-image-model")
    assert {config.task for config in tasks.values()} == {"text-classification", "image-classification",
                                                          "tabular-classification", "text-generation"}


def test_the_labelled_texts_follow_a_rule_and_are_the_same_on_every_machine():
    pairs = gpu_data.labelled_texts(400, 30)
    assert pairs == gpu_data.labelled_texts(400, 30)
    alpha = {word for text, label in pairs if label == "alpha" for word in text.split()}
    beta = {word for text, label in pairs if label == "beta" for word in text.split()}
    assert len(alpha - beta) == len(beta - alpha) == 4  # each label's own words; every other word is shared


@pytest.mark.slow
def test_the_dry_run_passes_every_check_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--dry-run", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads(out.read_text())
    assert summary["ok"] and summary["dry_run"]
    rows = {(row["section"], row["item"]): row for row in summary["rows"]}
    tasks = [row for (section, _), row in rows.items() if section == "tasks"]
    assert len(tasks) == 9 and all(row["status"] == "OK" and "fp32 path" in row["result"] for row in tasks)
    assert "padded pairs (CPU)" in rows[("tasks", gpu_recipes.PACKED_TASK)]["result"]
    assert set(summary["speed"]) == {"minilm", "gemma-full", "gemma-lora", "gpt"}
    for recipe in summary["speed"].values():
        assert all(recipe[name]["samples_per_s"] > 0 for name in ("engine", "plain Trainer", "raw loop"))
    assert [row["section"] for row in summary["rows"]].count("queue") >= 2
    assert "GPU check summary" in result.stdout and "wall time" in result.stdout
