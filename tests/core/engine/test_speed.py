"""The per-device speed choices (core.engine.speed): a CPU run trains exactly as before, and a GPU run (its device
plan faked, so this runs on any machine) gets bf16, TF32, fused AdamW, loader workers, pinned memory, larger
evaluation batches and, for models built from zero, torch.compile with a fallback that says so in the log."""

from __future__ import annotations

from dataclasses import replace

import pytest
from transformers import TrainingArguments

from core.config.presets import default_config
from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.engine.speed import (
    COMPILE_FALLBACK,
    CUDNN_BENCHMARK,
    LOG_PREFIX,
    Hardware,
    ModelKind,
    model_kind,
    plan_speed,
    say_when_compile_fails,
)
from core.engine.training import DevicePlan, training_arguments

CPU = DevicePlan(use_cpu=True, bf16=False, description="CPU (2 threads)")
H100 = DevicePlan(use_cpu=False, bf16=True, description="GPU: NVIDIA H100 (bf16)", gpu_count=1)
H100_MACHINE = Hardware(capability=(9, 0), cpu_count=16)
V100 = DevicePlan(use_cpu=False, bf16=False, description="GPU: Tesla V100 (fp32)", gpu_count=1)
GPT = ModelKind("text-generation", from_scratch=True)
GEMMA_LORA = ModelKind("text-generation", from_scratch=False, lora=True)


def test_a_cpu_run_gets_the_settings_it_had_before_plus_fused_adamw():
    # The CPU path was measured against a plain Trainer script (bench/sst2_minilm.py): only fused AdamW, which
    # made each step faster, was added to it.
    for kind in (GPT, GEMMA_LORA, ModelKind("image-classification", True), ModelKind("text-classification", False)):
        plan = plan_speed(CPU, kind, Hardware(cpu_count=2), batch_size=32)
        assert plan.arguments == {"bf16": False, "optim": "adamw_torch_fused", "per_device_eval_batch_size": 64,
                                  "dataloader_num_workers": 0}
        assert plan.backend_flags == {}


def test_the_engine_builds_a_cpu_runs_training_arguments_as_before(tmp_path):
    config = replace(default_config("text-generation", "doc", source="scratch"), device="cpu")
    arguments = training_arguments(config, tmp_path, 1000, CPU, show_progress_bar=False)
    defaults = TrainingArguments(output_dir=str(tmp_path), use_cpu=True)
    assert (arguments.bf16, arguments.per_device_eval_batch_size, arguments.dataloader_num_workers) == \
        (False, config.batch_size * 2, 0)
    assert arguments.optim == "adamw_torch_fused"
    for name in ("tf32", "torch_compile", "dataloader_pin_memory", "dataloader_persistent_workers",
                 "accelerator_config"):
        assert getattr(arguments, name) == getattr(defaults, name), name


def test_a_gpt_from_scratch_on_an_h100_gets_every_speed_up():
    plan = plan_speed(H100, GPT, H100_MACHINE, batch_size=64)
    assert plan.arguments == {
        "bf16": True, "tf32": True, "optim": "adamw_torch_fused", "torch_compile": True,
        "per_device_eval_batch_size": 256, "dataloader_num_workers": 4, "dataloader_pin_memory": True,
        "accelerator_config": {"non_blocking": True}, "dataloader_persistent_workers": True}
    assert plan.backend_flags == {COMPILE_FALLBACK: True}
    # TrainingArguments takes every one of them (TF32 aside, which it refuses on a machine without an Ampere GPU).
    built = TrainingArguments(output_dir="unused", use_cpu=True, **{k: v for k, v in plan.arguments.items()
                                                                     if k != "tf32"})
    assert built.torch_compile and built.bf16 and built.accelerator_config.non_blocking
    assert "tf32" in TrainingArguments.__dataclass_fields__


def test_pretrained_language_models_are_not_compiled_and_check_in_modest_batches():
    for kind in (GEMMA_LORA, replace(GEMMA_LORA, lora=False)):
        plan = plan_speed(H100, kind, H100_MACHINE, batch_size=16)
        assert plan.value("torch_compile") is False
        assert plan.value("per_device_eval_batch_size") == 32  # a 262k-word vocabulary's scores fill the GPU
        assert COMPILE_FALLBACK not in plan.backend_flags
        assert plan.value("bf16") and plan.value("optim") == "adamw_torch_fused"


def test_classifiers_check_in_batches_eight_times_larger_and_images_let_cudnn_pick_its_fastest_method():
    text = plan_speed(H100, ModelKind("text-classification", False), H100_MACHINE, batch_size=32)
    images = plan_speed(H100, ModelKind("image-classification", True), H100_MACHINE, batch_size=32)
    assert text.value("per_device_eval_batch_size") == images.value("per_device_eval_batch_size") == 256
    assert images.backend_flags == {COMPILE_FALLBACK: True, CUDNN_BENCHMARK: True}
    assert CUDNN_BENCHMARK not in text.backend_flags


def test_a_tables_small_network_is_not_compiled():
    plan = plan_speed(H100, ModelKind("tabular-classification", True), H100_MACHINE, batch_size=32)
    assert plan.value("torch_compile") is False
    assert "longer" in next(line for line in plan.log_lines() if "torch_compile" in line)


def test_an_older_gpu_gets_neither_tf32_nor_bf16():
    plan = plan_speed(V100, GPT, Hardware(capability=(7, 0), cpu_count=8), batch_size=64)
    assert "tf32" not in plan.arguments
    assert plan.value("bf16") is False
    assert "fp32" in next(line for line in plan.log_lines() if "bf16" in line)


def test_without_a_compiler_the_log_says_why_the_model_is_not_compiled():
    plan = plan_speed(H100, GPT, replace(H100_MACHINE, compile_blocker="Triton is not installed"), batch_size=64)
    assert plan.value("torch_compile") is False and COMPILE_FALLBACK not in plan.backend_flags
    assert "Triton is not installed" in next(line for line in plan.log_lines() if "torch_compile" in line)


def test_loader_workers_share_the_cores_between_the_gpus_of_a_run():
    assert plan_speed(H100, GPT, replace(H100_MACHINE, processes=4), 64).value("dataloader_num_workers") == 3
    assert plan_speed(H100, GPT, Hardware((9, 0), cpu_count=2), 64).value("dataloader_num_workers") == 1


def test_every_choice_is_logged_with_its_reason():
    for device in (CPU, H100):
        plan = plan_speed(device, GPT, H100_MACHINE, batch_size=8)
        lines = plan.log_lines()
        assert len(lines) == len(plan.choices)
        assert all(line.startswith(LOG_PREFIX) and len(line.split(": ", 1)[1]) > 20 for line in lines)


def test_the_model_kind_comes_from_the_config():
    lora = TrainConfig(dataset="d", task="text-generation", lora=LoraSpec(),
                       model=ModelSpec(source="pretrained", name="some/model", finetune="lora"))
    assert model_kind(lora) == GEMMA_LORA
    assert model_kind(default_config("tabular-regression", "t")) == ModelKind("tabular-regression", True)


@pytest.mark.filterwarnings("ignore")
def test_a_model_that_fails_to_compile_trains_uncompiled_and_the_log_says_so(capfd):
    import torch
    import torch._dynamo

    def broken_compiler(graph, inputs):
        raise RuntimeError("no C compiler")

    torch._dynamo.reset()
    previous = torch._dynamo.config.suppress_errors
    torch._dynamo.config.suppress_errors = True
    say_when_compile_fails()
    try:
        model = torch.nn.Linear(4, 2)
        loss = torch.compile(model, backend=broken_compiler)(torch.ones(3, 4)).sum()
        loss.backward()
    finally:
        torch._dynamo.config.suppress_errors = previous
        torch._dynamo.reset()
    assert model.weight.grad is not None  # it trained, uncompiled
    assert "torch.compile failed on this model (BackendCompilerFailed); training goes on" in capfd.readouterr().out
