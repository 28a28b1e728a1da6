"""Every task trained on CUDA through the app's worker, and the engine's speed against a plain Trainer script and a
raw PyTorch loop, in one command.

    python bench/gpu_check.py                                    # a GPU machine: under 8 minutes on one H100
    python bench/gpu_check.py --text .device/tinyshakespeare.txt # where ../shared/datasets is not at hand
    python bench/gpu_check.py --dry-run                          # the same code paths on the CPU, tiny sizes

It needs torch, transformers, peft, accelerate and datasets (plus huey for the queue part), no network and none of
the bundled model packages: the bundled models' architectures are built from their configurations with random
weights (bench/gpu_recipes.py). In order:

1. tasks: the text classifier (MiniLM's shape, and from scratch), the image CNN and the pretrained image model, the
   table MLP, the character GPT, a GPT on instruction pairs and Gemma (full and LoRA) each train a few steps
   through `python -m core.engine.worker RUN_DIR`; each must complete with a falling loss, a complete run folder
   and the bf16 path taken (fp32 on the CPU), the GPT compiled, the instruction pairs packed without padding on
   the GPU (padded and length-grouped on the CPU);
2. speed: four recipes (MiniLM-L6 classifier 64×128 tokens, Gemma 3 270M full 16×512, Gemma LoRA r16, GPT 11M
   from scratch 64×256) timed in the engine, in a plain Trainer script and in a raw loop (bench/gpu_baselines.py):
   samples/s, tokens/s, MFU, and the engine's ratios (goal: at least 2× the plain script);
3. the character GPT at nanoGPT's shape on tiny Shakespeare for a time budget: the best validation loss and when;
4. the queue (bench/gpu_queue.py): one run per GPU, torchrun on 2 GPUs when there are two, a real CUDA
   out-of-memory turned into the plain message with a smaller batch to try.

Ends with one summary table, also written as JSON (--out; default $OUT/gpu_check.json when $OUT is set). Exits 1
when a check failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import gpu_data, gpu_recipes, gpu_runs  # noqa: E402 - torch is imported once the packages are checked
from bench.gpu_report import Report  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "datasets" / "tinyshakespeare.txt"
GOAL_OVER_PLAIN = 2.0
WALL_GOAL_MINUTES = {"cuda": 8.0, "cpu": 3.0}  # one H100; the 2-core CPU, dry
NEEDED = ("torch", "transformers", "peft", "accelerate", "datasets")
PARTS = ("tasks", "speed", "shakespeare", "queue")


# ---------------------------------------------------------------------------------------------------- parts 1 and 2


def prepare_data(workspace, sizes: gpu_recipes.Sizes, text: Path | None) -> SimpleNamespace:
    """Every dataset, and the image model the task checks need."""
    texts, labels = gpu_data.save_words(workspace, sizes)
    document = gpu_data.save_text(workspace, "document", gpu_data.document(sizes.document_lines))
    lm_text, lm_dataset = document, "document"
    if text is not None:  # the GPT recipe trains on it too, so part 3 reuses the recipe's compiled kernels
        lm_text = gpu_data.save_text(workspace, "shakespeare", text.read_text(encoding="utf-8")[:sizes.text_characters])
        lm_dataset = "shakespeare"
    gpu_data.save_digits(workspace, sizes)
    gpu_data.save_wine(workspace)
    gpu_data.save_pairs(workspace)
    image = gpu_recipes.image_model(workspace, workspace.root / "random-models" / "vit-base", sizes)
    return SimpleNamespace(texts=texts, labels=labels, document=document, gpt_text=lm_text, gpt_dataset=lm_dataset,
                           image=image)


def train_tasks_and_recipes(workspace, sizes, prepared, parts: set[str], report: Report) -> None:
    """Parts 1 and 2: the task checks train (side by side) while the recipes' models are built; then each recipe
    trains alone through the engine, and then in the plain script and the raw loop."""
    gpu, timeout = sizes.device == "cuda", (600 if sizes.device == "cuda" else 300)
    tasks = {name: gpu_runs.create(workspace, config) for name, config in
             gpu_recipes.task_configs(sizes, prepared.image).items()} if "tasks" in parts else {}
    side_by_side = threading.Thread(target=gpu_runs.train_all, args=(list(tasks.values()), sizes.lanes, timeout))
    side_by_side.start()
    recipes, engine, baselines = [], {}, {}
    if "speed" in parts:
        models = workspace.root / "random-models"
        minilm = gpu_recipes.minilm_folder(models / "minilm-l6", sizes, prepared.texts)
        gemma = gpu_recipes.gemma_folder(models / "gemma-3-270m", sizes, prepared.document)
        recipes = gpu_recipes.recipes(sizes, minilm, gemma, prepared.gpt_dataset)
        engine = {r.key: gpu_runs.create(workspace, gpu_recipes.recipe_config(r, sizes)) for r in recipes}
        if gpu:  # each timed run alone on the GPU
            side_by_side.join()
            for folder in engine.values():
                gpu_runs.train(folder, timeout)
            baselines = measure_baselines(sizes, prepared, recipes)
        else:  # the dry run's timings are not judged: the engine runs train while the baselines run here
            alongside = threading.Thread(target=gpu_runs.train_all, args=(list(engine.values()), 1, timeout))
            alongside.start()
            baselines = measure_baselines(sizes, prepared, recipes)
            alongside.join()
    side_by_side.join()
    for name, folder in tasks.items():
        packing = name == gpu_recipes.PACKED_TASK
        report.add_checks("tasks", name, gpu_runs.run_checks(folder, gpu, packed=gpu if packing else None))
    for recipe in recipes:
        checks = gpu_runs.run_checks(engine[recipe.key], gpu, compiled=gpu and recipe.from_scratch)
        report.add_checks("tasks", recipe.title, checks)
    for recipe in recipes:
        speed_row(recipe, engine[recipe.key], baselines[recipe.key], sizes, report)


def measure_baselines(sizes, prepared, recipes) -> dict:
    """Every plain Trainer script first, then every raw loop (which turns TF32 on), in this process."""
    from bench import gpu_baselines

    compile_model = sizes.device == "cuda" and importlib.util.find_spec("triton") is not None
    data, plain = {}, {}
    for recipe in recipes:
        if recipe.task == "text-classification":
            data[recipe.key] = gpu_baselines.recipe_data(recipe, prepared.texts, prepared.labels)
        else:
            data[recipe.key] = gpu_baselines.recipe_data(
                recipe, [prepared.gpt_text if recipe.from_scratch else prepared.document])
        plain[recipe.key] = gpu_baselines.plain_trainer(recipe, data[recipe.key], sizes)
    raw = {r.key: gpu_baselines.raw_loop(r, data[r.key], sizes, compile_model) for r in recipes}
    return {key: {"plain_s": plain[key][0], "flops": plain[key][1], "raw_s": raw[key]} for key in plain}


def speed_row(recipe, folder: Path, baseline: dict, sizes, report: Report) -> None:
    from bench import gpu_baselines

    engine_s = gpu_runs.step_seconds(folder, recipe.shape.warmup)
    measures = {name: gpu_baselines.measure(recipe, seconds, baseline["flops"], sizes)
                for name, seconds in (("engine", engine_s), ("plain Trainer", baseline["plain_s"]),
                                      ("raw loop", baseline["raw_s"]))}
    engine = measures["engine"]
    if engine is None:
        report.add("speed", recipe.title, "FAIL", "the engine logged no timed steps")
        return
    over_plain = measures["plain Trainer"].step_seconds / engine.step_seconds
    over_raw = measures["raw loop"].step_seconds / engine.step_seconds
    parts = [f"{name} {m.samples_per_second:,.1f} samples/s, {m.tokens_per_second:,.0f} tokens/s"
             + (f", MFU {m.mfu:.1%}" if m.mfu is not None else "") for name, m in measures.items()]
    ratios = f"engine ÷ plain {over_plain:.2f}×, engine ÷ raw {over_raw:.2f}×"
    judged = sizes.device == "cuda"
    status = ("OK" if over_plain >= GOAL_OVER_PLAIN else "FAIL") if judged else "INFO"
    report.add("speed", f"{recipe.title} {recipe.shape.batch}×{recipe.shape.length}", status,
               "; ".join(parts) + f"; {ratios}" + ("" if judged else " (CPU dry run: not judged)"))
    report.speed[recipe.key] = {"title": recipe.title, "batch": recipe.shape.batch, "length": recipe.shape.length,
                                **{name: m.as_dict() for name, m in measures.items()},
                                "engine_over_plain": over_plain, "engine_over_raw": over_raw}


def shakespeare_run(workspace, sizes, text: Path | None, seconds: float, report: Report) -> None:
    """Part 3: the character GPT at the recipe's shape, nanoGPT's 5,000 steps asked for and stopped (the model
    saved) when the time budget runs out; the best validation check and when it came."""
    title = f"character GPT {sizes.gpt['width']} wide, {seconds:.0f} s"
    if text is None:
        report.add("shakespeare", title, "SKIP", f"no tinyshakespeare.txt at {DEFAULT_TEXT}: pass --text PATH")
        return
    from bench import shakespeare_char

    shape = sizes.gpt_shape
    arguments = SimpleNamespace(device=sizes.device, context=shape.length, batch_size=shape.batch,
                                learning_rate=1e-3 if sizes.device == "cuda" else 2e-3, **sizes.gpt)
    config = shakespeare_char.make_config(arguments, *sizes.shakespeare_steps)
    try:
        run, wall = shakespeare_char.train_run(workspace, config, seconds, True)
    except SystemExit as error:
        report.add("shakespeare", title, "FAIL", str(error)[:300])
        return
    checks = [r for r in gpu_runs.records(run.folder) if "eval_loss" in r]
    best = min(checks, key=lambda r: r["eval_loss"]) if checks else None
    status = gpu_runs.read_json(run.folder / "status.json", {})
    report.shakespeare = {"budget_s": seconds, "steps": status.get("step"), "wall_s": wall, "best": best,
                          "checks": [(r["step"], r["time"], r["eval_loss"]) for r in checks]}
    result = (f"best validation loss {best['eval_loss']:.3f} at step {best['step']:,}, {best['time']:.0f} s into "
              f"training ({status.get('step')} steps in the budget; nanoGPT's 5,000 reach 1.47)"
              if best else "no validation check was logged")
    report.add("shakespeare", title, "OK" if best else "FAIL", result)


def start_queue_check(sizes) -> subprocess.Popen | None:
    if importlib.util.find_spec("huey") is None:
        return None
    steps, timeout = ("30", "300") if sizes.device == "cuda" else ("4", "240")
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "gpu_queue.py"), "--device", sizes.device,
                             "--steps", steps, "--timeout", timeout], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish_queue_check(process: subprocess.Popen | None, report: Report) -> None:
    if process is None:
        report.add("queue", "one run per GPU, torchrun, real OOM", "SKIP",
                   "huey is not installed here (pip install 'huey>=2.5'): the queue cannot run")
        return
    output, _ = process.communicate()
    verdicts = [line for line in output.splitlines() if line.startswith(("OK  ", "FAIL "))]
    for line in verdicts:
        report.add("queue", "bench/gpu_queue.py", "OK" if line.startswith("OK") else "FAIL", line[4:].strip())
    if not verdicts or process.returncode not in (0, 1):
        report.add("queue", "bench/gpu_queue.py", "FAIL", f"exit code {process.returncode}: {output[-600:]}")


# ---------------------------------------------------------------------------------------------------- main


def text_path(given: Path | None) -> Path | None:
    path = given or DEFAULT_TEXT
    return path if path.is_file() else None


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="the same code paths on the CPU at tiny sizes")
    parser.add_argument("--text", type=Path, help=f"tinyshakespeare.txt (default {DEFAULT_TEXT})")
    parser.add_argument("--shakespeare-seconds", type=float, help="time budget of part 3 (default 60; 12 dry)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which parts to run (default {','.join(PARTS)})")
    parser.add_argument("--out", type=Path, help="the JSON summary (default $OUT/gpu_check.json when $OUT is set)")
    return parser.parse_args()


def main() -> int:
    arguments = parse_arguments()
    parts = set(arguments.parts.split(","))
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing or not parts <= set(PARTS):
        print(f"Missing packages: {', '.join(missing)}." if missing else f"--parts takes {', '.join(PARTS)}.")
        return 2
    import torch

    sizes = gpu_recipes.DRY if arguments.dry_run else gpu_recipes.GPU
    if sizes.device == "cuda" and not torch.cuda.is_available():
        print("No CUDA GPU is visible here: run on a GPU machine, or try the code paths with --dry-run.")
        return 2
    if sizes.device == "cpu":
        # Processes share the few cores: one thread each, or torch's threads wait on each other (an LSTM step took
        # 12 s instead of 0.5 s with two threads per process on a busy 2-core machine).
        os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        torch.set_num_threads(1)
    from core.workspace import HOME_VARIABLE, Workspace

    home = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    os.environ.update({HOME_VARIABLE: str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    workspace, report, text = Workspace(home), Report(WALL_GOAL_MINUTES[sizes.device]), text_path(arguments.text)
    device = torch.cuda.get_device_name(0) if sizes.device == "cuda" else f"CPU ({os.cpu_count()} cores)"
    title = f"{device}{' (dry run)' if arguments.dry_run else ''}"
    print(f"GPU check on {title}; workspace {home}", flush=True)
    # On a GPU the queue part runs alone, last: its out-of-memory run fills the GPU.
    queue = start_queue_check(sizes) if sizes.device == "cpu" and "queue" in parts else None
    with report.timed("prepare"):
        prepared = prepare_data(workspace, sizes, text)
    with report.timed("tasks and speed"):
        train_tasks_and_recipes(workspace, sizes, prepared, parts, report)
    if "shakespeare" in parts:
        with report.timed("shakespeare"):
            shakespeare_run(workspace, sizes, text, arguments.shakespeare_seconds or sizes.shakespeare_seconds,
                            report)
    if "queue" in parts:
        with report.timed("queue"):
            finish_queue_check(queue or start_queue_check(sizes), report)
    report.add_total(sizes.device == "cuda")
    print(f"\nGPU check summary: {title}\n{report.table()}")
    out = arguments.out or (Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else None)
    if out is not None:
        out.write_text(json.dumps({"device": device, "dry_run": arguments.dry_run, "ok": report.ok,
                                   "seconds": report.seconds, "rows": report.rows, "speed": report.speed,
                                   "shakespeare": report.shakespeare}, indent=2, default=str))
        print(f"written: {out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
