"""GPU check of the job queue, on a machine with one or more GPUs: queued runs share the GPUs one run per GPU,
a run asking for two GPUs trains data-parallel under torchrun (when there are two), a real CUDA out-of-memory fails
in plain words with a smaller batch suggested, and the next run still starts on the freed GPU.

    python bench/gpu_queue.py                  # GPUs as nvidia-smi lists them
    python bench/gpu_queue.py --device cpu     # the same flow on the CPU (one run at a time, no OOM run)

Everything goes through the app's own path: a throwaway workspace with the café sample, `JobQueue.submit` (as the
Train page does), the consumer the queue starts, the real worker. Prints one line per run and the checks; exits 1 if
a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare_dataset(workspace) -> int:
    """The café sample, larger than the tests' one; returns its number of training rows."""
    from core.data.sample_datasets import cafe_feedback
    from core.data.splits import split_train_validation
    from core.tasks.text_classification.data import (
        check_classification,
        save_text_classification,
    )

    checked = check_classification(cafe_feedback(rows_per_class=400), "message", "category")
    train, validation = split_train_validation(checked.frame, 0.2)
    save_text_classification(workspace, "cafe", train, validation, "sample", checked.checks)
    return len(train)


def plan_runs(workspace, device: str, gpu_count: int, steps: int):
    """(label, run) pairs in queue order."""
    from core.engine.runs import create_run
    from tests.support.queue_helpers import tiny_config

    plan = []
    if device == "cuda":
        oom = create_run(workspace, tiny_config(device="cuda", max_steps=steps, batch_size=64))
        (oom.folder / "fault.json").write_text(json.dumps({"fault": "oom-real", "at_step": 3}))
        plan.append(("real CUDA OOM", oom))
    for index in range(gpu_count + 1):  # one more than the GPUs: someone has to wait
        plan.append((f"1 GPU #{index + 1}", create_run(workspace, tiny_config(device=device, max_steps=steps))))
    if gpu_count >= 2:
        plan.append(("2 GPUs (torchrun)", create_run(workspace, tiny_config(device="cuda", num_gpus=2,
                                                                          max_steps=steps))))
    plan.append(("last in line", create_run(workspace, tiny_config(device=device, max_steps=steps))))
    return plan


def watch(plan, timeout: float) -> dict[str, dict]:
    """Poll until every run ends; note the GPUs each held, its peak GPU memory, and the most runs per GPU."""
    from core.engine.launcher import process_tree
    from core.hosting.gpus import memory_by_process

    seen = {run.id: {"gpus": set(), "peak_mb": 0} for _, run in plan}
    most_per_gpu: dict[int, int] = {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        statuses = {run.id: run.status.to_json() for _, run in plan}
        by_process = memory_by_process()
        per_gpu: dict[int, int] = {}
        for run_id, status in statuses.items():
            if status.get("state") in ("starting", "running", "stopping"):
                for gpu in status.get("gpus") or []:
                    per_gpu[gpu] = per_gpu.get(gpu, 0) + 1
                    seen[run_id]["gpus"].add(gpu)
                if status.get("pid"):
                    used = sum(by_process.get(p.pid, 0) for p in process_tree(status["pid"]))
                    seen[run_id]["peak_mb"] = max(seen[run_id]["peak_mb"], used)
        for gpu, count in per_gpu.items():
            most_per_gpu[gpu] = max(most_per_gpu.get(gpu, 0), count)
        if all(s.get("state") in ("completed", "failed", "stopped") for s in statuses.values()):
            break
        time.sleep(0.5)
    seen["_most_per_gpu"] = most_per_gpu
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--timeout", type=float, default=900)
    arguments = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="gpu-queue-"))
    os.environ.update({"AI_PLAYGROUND_HOME": str(home), "AI_PLAYGROUND_WORKER_MODULE": "tests.support.fault_worker",
                       "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    from core.engine.launcher import stop_consumer
    from core.hosting.queue import JobQueue
    from core.workspace import Workspace

    workspace = Workspace.default()
    train_rows = prepare_dataset(workspace)
    queue = JobQueue()
    gpu_count = len(queue.machine_gpus()) if arguments.device == "cuda" else 0
    if arguments.device == "cuda" and gpu_count == 0:
        print("nvidia-smi lists no GPU here: run with --device cpu.")
        return 2
    plan = plan_runs(workspace, arguments.device, gpu_count, arguments.steps)
    started = time.time()
    for _, run in plan:
        queue.submit(run, owner="bench")
    print(f"{len(plan)} runs queued on {gpu_count} GPU(s): "
          f"{[(entry.run.id[-12:], entry.position) for entry in queue.entries()]}")
    try:
        seen = watch(plan, arguments.timeout)
    finally:
        stop_consumer(queue.folder)

    print(f"\n{'run':<22}{'state':<11}{'GPUs':<8}{'peak MB':>9}{'start s':>9}{'end s':>8}  message")
    for label, run in plan:
        status = run.status.to_json()
        start = (status.get("started_at") or started) - started
        end = (status.get("finished_at") or time.time()) - started
        print(f"{label:<22}{status.get('state', '?'):<11}{','.join(map(str, sorted(seen[run.id]['gpus']))):<8}"
              f"{seen[run.id]['peak_mb']:>9}{start:>9.1f}{end:>8.1f}  {status.get('message', '')[:90]}")

    checks = []
    most = seen["_most_per_gpu"]
    checks.append(("at most one run per GPU at a time", all(count <= 1 for count in most.values()), most))
    healthy = [run for label, run in plan if "OOM" not in label]
    checks.append(("every other run completed", all(r.status.state == "completed" for r in healthy), ""))
    if arguments.device == "cuda":
        oom = plan[0][1].status.to_json()
        checks.append(("the OOM run failed in plain words with a smaller batch",
                       oom.get("state") == "failed" and "32 instead of 64" in oom.get("message", ""),
                       oom.get("message", "")[:120]))
    for label, run in plan:
        if "torchrun" in label:
            status = run.status.to_json()
            ratio = status.get("epoch", 0) * train_rows / max(status.get("step", 1), 1) / run.config.batch_size
            checks.append(("the 2-GPU run read 2 batches a step (data parallel)", abs(ratio - 2) < 0.1,
                           f"{ratio:.2f} batches a step, GPUs {sorted(seen[run.id]['gpus'])}"))
    print()
    for name, passed, detail in checks:
        print(f"{'OK  ' if passed else 'FAIL'} {name} {detail}")
    return 0 if all(passed for _, passed, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
