"""Which speed-ups a training run gets on its device, each with a one-line reason the run's log shows.

`plan_speed` is a pure function: the device plan, the kind of model and what the hardware offers go in, a
`SpeedPlan` comes out: `TrainingArguments` keyword arguments (bf16, TF32, fused AdamW, `torch.compile`, data
loader workers and pinned memory, the evaluation batch size) and the torch backend flags to set. `speed_arguments`
is the one call the engine makes: it looks at the hardware, plans, sets the backend flags, prints the choices
into the run's log and returns the keyword arguments.

On a CPU the choices are what the engine did before this module existed (bench/sst2_minilm.py measured that path
against a plain Trainer script) plus fused AdamW, which only made it faster, so a CPU run is never slower than it
was.

The boundary: torch and `TrainingArguments`' names only; nothing about run folders, tasks' data or any UI.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config.train_config import TrainConfig
    from core.engine.training import DevicePlan

# Every line this module writes to a run's log starts with this, so a bench can find them.
LOG_PREFIX = "speed:"
# Backend flags (not TrainingArguments fields), set by `apply_backend_flags`.
CUDNN_BENCHMARK = "cudnn.benchmark"
COMPILE_FALLBACK = "dynamo.suppress_errors"
BACKEND_FLAGS = (CUDNN_BENCHMARK, COMPILE_FALLBACK)
# Choices a task pipeline acts on (not TrainingArguments fields): read with `packing_choice`.
PACK_SEQUENCES = "pack_sequences"
PIPELINE_FLAGS = (PACK_SEQUENCES,)
# TF32 tensor cores and native bf16 arrived with compute capability 8.0 (Ampere).
AMPERE = (8, 0)
MAX_LOADER_WORKERS = 4
BF16_ON = "bf16 mixed precision: the GPU's tensor cores run it many times faster than fp32"
BF16_OFF = "this GPU has no bf16, so it trains in fp32"
COMPILE_FAILED = ("torch.compile failed on this model ({error}); training goes on without compiling, at the "
                  "speed it had before compiling was offered.")


@dataclass(frozen=True)
class ModelKind:
    """What the speed choices depend on in a model: its task, and whether it starts from zero or uses LoRA."""

    task: str
    from_scratch: bool
    lora: bool = False

    @property
    def language_model(self) -> bool:
        return self.task == "text-generation"


def model_kind(config: TrainConfig) -> ModelKind:
    return ModelKind(config.task, config.model.source == "scratch", config.uses_lora)


@dataclass(frozen=True)
class Hardware:
    """What the machine offers beyond the device plan: read by `probe_hardware`, faked in tests."""

    capability: tuple[int, int] | None = None  # the GPU's CUDA compute capability
    cpu_count: int = 1  # cores this process may use
    processes: int = 1  # training processes sharing those cores (one per GPU under torchrun)
    compile_blocker: str = ""  # why torch.compile cannot work here; empty when it can


def probe_hardware(device: DevicePlan) -> Hardware:
    import torch

    capability = None if device.use_cpu else tuple(torch.cuda.get_device_capability(0))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    blocker = ""
    if not device.use_cpu:
        if importlib.util.find_spec("triton") is None:
            blocker = "Triton, which compiles the GPU kernels, is not installed"
        elif not (shutil.which("cc") or shutil.which("gcc")):
            blocker = "no C compiler (cc or gcc) is installed, which Triton needs"
    return Hardware(capability, cores, int(os.environ.get("WORLD_SIZE", "1")), blocker)


@dataclass(frozen=True)
class Choice:
    name: str  # a TrainingArguments field, or one of BACKEND_FLAGS
    value: Any
    why: str


@dataclass(frozen=True)
class SpeedPlan:
    choices: tuple[Choice, ...]

    @property
    def arguments(self) -> dict[str, Any]:
        """The TrainingArguments keyword arguments."""
        return {c.name: c.value for c in self.choices if c.name not in BACKEND_FLAGS + PIPELINE_FLAGS}

    @property
    def backend_flags(self) -> dict[str, Any]:
        return {c.name: c.value for c in self.choices if c.name in BACKEND_FLAGS}

    def value(self, name: str, default: Any = None) -> Any:
        return next((c.value for c in self.choices if c.name == name), default)

    def log_lines(self) -> list[str]:
        return [f"{LOG_PREFIX} {c.name}={c.value!r}: {c.why}" for c in self.choices]


def plan_speed(device: DevicePlan, kind: ModelKind, hardware: Hardware, batch_size: int) -> SpeedPlan:
    """Every speed choice for one run on one device; pure, so each device's choices are tested on any machine."""
    choices = _cpu_choices(batch_size) if device.use_cpu else _gpu_choices(device, kind, hardware, batch_size)
    if kind.language_model:
        choices += (packing_choice(device),)
    return SpeedPlan(choices)


def packing_choice(device: DevicePlan) -> Choice:
    """Whether a language model's instruction pairs train in padding-free packed batches
    (`core.tasks.text_generation.packing`); documents are cut into full blocks and have no padding to remove."""
    if device.use_cpu:
        # Gemma 3 270M on Alpaca pairs, this project's 2-core CPU: 90 tokens/s length-grouped, 83 packed.
        return Choice(PACK_SEQUENCES, False, "instruction pairs are batched with others of similar length, which "
                                             "pads little; packing them was 8 % slower on a CPU")
    return Choice(PACK_SEQUENCES, True, "instruction pairs are packed end to end without padding, so the GPU "
                                        "computes no padded tokens (when the model's attention keeps them apart)")


def _cpu_choices(batch_size: int) -> tuple[Choice, ...]:
    return (
        Choice("bf16", False, "full precision: most CPUs have no fast bf16 arithmetic"),
        # torch >= 2.4 (requirements.txt) has a fused AdamW for CPUs too: on MiniLM-L6 it updates the weights in
        # 20 ms instead of 95 ms, and with short texts that update was a third of each step.
        Choice("optim", "adamw_torch_fused", "fused AdamW: one pass updates every weight, instead of a loop over "
                                             "the tensors"),
        Choice("per_device_eval_batch_size", batch_size * 2,
               "twice the training batch: checking keeps no gradients, and larger batches only queue on a CPU"),
        Choice("dataloader_num_workers", 0, "batches are made in the training process: on a CPU, worker "
                                            "processes would take cores from the training itself"),
    )


def _gpu_choices(device: DevicePlan, kind: ModelKind, hardware: Hardware, batch_size: int) -> tuple[Choice, ...]:
    workers = max(1, min(MAX_LOADER_WORKERS, hardware.cpu_count // max(1, hardware.processes) - 1))
    compile_choice = _compile_choice(kind, hardware)
    choices = [
        Choice("bf16", device.bf16, BF16_ON if device.bf16 else BF16_OFF),
        Choice("optim", "adamw_torch_fused", "fused AdamW: one GPU kernel updates every weight, instead of a "
                                             "loop over the tensors"),
        Choice("per_device_eval_batch_size", batch_size * _eval_batch_factor(kind), _eval_batch_why(kind)),
        Choice("dataloader_num_workers", workers, "worker processes prepare the next batches while the GPU "
                                                  "trains on this one"),
        Choice("dataloader_pin_memory", True, "batches in pinned memory reach the GPU without a stop"),
        Choice("accelerator_config", {"non_blocking": True}, "each batch is copied to the GPU while it still "
                                                             "computes the step before"),
        Choice("dataloader_persistent_workers", True, "the workers stay between epochs instead of restarting"),
        compile_choice,
    ]
    if hardware.capability is not None and tuple(hardware.capability) >= AMPERE:
        choices.append(Choice("tf32", True, "what stays in fp32 (outside bf16) still runs on TF32 tensor cores"))
    if compile_choice.value:
        choices.append(Choice(COMPILE_FALLBACK, True, "a model that fails to compile trains uncompiled, and the "
                                                      "log says so, instead of the run failing"))
    if kind.task == "image-classification":
        choices.append(Choice(CUDNN_BENCHMARK, True, "the images all have one size, so cuDNN times its "
                                                     "convolution methods once and keeps the fastest"))
    return tuple(choices)


def _eval_batch_factor(kind: ModelKind) -> int:
    if kind.language_model:
        return 4 if kind.from_scratch else 2
    return 8


def _eval_batch_why(kind: ModelKind) -> str:
    if kind.language_model and not kind.from_scratch:
        return ("twice the training batch, as on a CPU: a pretrained model's scores over its whole vocabulary "
                "take most of a check's GPU memory")
    if kind.language_model:
        return "four times the training batch: a check keeps no gradients, and a small vocabulary's scores fit"
    return "eight times the training batch: a check keeps no gradients, so larger batches fill the GPU"


def _compile_choice(kind: ModelKind, hardware: Hardware) -> Choice:
    if not kind.from_scratch:
        return Choice("torch_compile", False, "pretrained models come in many architectures, not all of which "
                                              "compile; they train uncompiled")
    if kind.task.startswith("tabular"):
        return Choice("torch_compile", False, "a table's small network trains in seconds; compiling it would take "
                                              "longer than that")
    if hardware.compile_blocker:
        return Choice("torch_compile", False, f"not compiled: {hardware.compile_blocker}")
    return Choice("torch_compile", True, "a model built from zero is compiled into fused GPU kernels (the first "
                                         "steps take longer while it compiles)")


# ---------------------------------------------------------------------------------------------------- applying


def apply_backend_flags(plan: SpeedPlan) -> None:
    """Set the plan's torch backend flags in this process (the training process: one run)."""
    flags = plan.backend_flags
    if flags.get(CUDNN_BENCHMARK):
        import torch

        torch.backends.cudnn.benchmark = True
    if flags.get(COMPILE_FALLBACK):
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True
        say_when_compile_fails()


class CompileFailureNotice(logging.Handler):
    """Turns the warning torch logs when it gives up compiling a model into one plain line in the run's log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.said or not record.exc_info or record.exc_info[1] is None:
            return
        self.said = True
        error = record.exc_info[1]
        print(f"{LOG_PREFIX} {COMPILE_FAILED.format(error=type(error).__name__)}", flush=True)


def say_when_compile_fails() -> None:
    # With suppress_errors, torch._dynamo logs a failed compilation as a warning (with the exception) and runs
    # the model uncompiled.
    logger = logging.getLogger("torch._dynamo")
    if not any(isinstance(handler, CompileFailureNotice) for handler in logger.handlers):
        logger.addHandler(CompileFailureNotice())


def speed_arguments(config: TrainConfig, device: DevicePlan) -> dict[str, Any]:
    """The engine's one call: plan this run's speed-ups, set the backend flags, log the choices (first process
    only) and return the TrainingArguments keyword arguments."""
    plan = plan_speed(device, model_kind(config), probe_hardware(device), config.batch_size)
    apply_backend_flags(plan)
    if os.environ.get("RANK", "0") == "0":
        print("\n".join(plan.log_lines()), flush=True)
    if plan.value("dataloader_num_workers", 0) > 0:
        # Tokenizers used before the workers fork would otherwise warn once per worker, cluttering the log.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return plan.arguments
