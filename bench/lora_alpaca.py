"""LoRA fine-tune of Gemma 3 270M on 1,000 Alpaca instructions, end to end through the app's own engine.

    python bench/lora_alpaca.py --device cpu --steps 3                      # the real bundled Gemma, a few steps
    python bench/lora_alpaca.py --device cuda --steps 300 --random-weights  # Gemma 3 270M's shape, random weights
    python bench/lora_alpaca.py --device cuda --steps 300 --random-weights --tokenizer DIR  # with Gemma's tokenizer

The JSON goes through the Data page's code (`core.tasks.text_generation.data`: instruction + input → prompt, output →
response, 10% kept for validation) and is trained by the worker process (`python -m core.engine.worker RUN_DIR`) as the
Train page starts it: LoRA rank 8 on the attention projections, the loss on the response tokens only, a sample
answer at every check. Then the adapter is merged into a standalone folder (`export_merged`), loaded back with
plain `transformers` and asked to answer.

`--random-weights` builds Gemma 3 270M from its configuration with random weights, for machines without the
bundled GGUF package (the GPU machine): the timing is the real model's, the answers are noise. Without
`--tokenizer` it uses a byte-level BPE vocabulary learned from the data, so token counts differ somewhat from
Gemma's own tokenizer. Printed: trainable parameters, training and validation loss, samples/s and tokens/s, and
the merged model's answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "alpaca_1k.json"
QUESTION = "Give three tips for staying healthy."
# Gemma 3 270M's configuration, as the bundled GGUF converts to (core.lm.loading), for --random-weights.
GEMMA_3_270M = {
    "vocab_size": 262144, "hidden_size": 640, "intermediate_size": 2048, "num_hidden_layers": 18,
    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "max_position_embeddings": 32768,
    "sliding_window": 512, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-6,
    "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 3,
    "rope_parameters": {"full_attention": {"rope_theta": 1_000_000.0, "rope_type": "default"},
                        "sliding_attention": {"rope_theta": 10_000.0, "rope_type": "default"}},
}
SHAPES = {"cuda": {"batch_size": 8, "context": 256, "validation_examples": 100},
          "cpu": {"batch_size": 2, "context": 128, "validation_examples": 8}}


def prepare_dataset(workspace, path: Path, validation_examples: int):
    from core.tasks.text_generation.data import check_pairs, guess_pair_columns, read_generation_upload, split_pairs
    from core.tasks.text_generation.saving import save_pairs

    upload = read_generation_upload(path.name, path.read_bytes(), workspace)
    columns = guess_pair_columns(upload.frame)
    checked = check_pairs(upload.frame, columns)
    train, validation = split_pairs(checked.frame, 0.1)
    return save_pairs(workspace, "alpaca", train, validation.head(validation_examples), "JSON",
                      upload.checks + checked.checks, columns)


def random_gemma(folder: Path, dataset, tokenizer_folder: Path | None) -> Path:
    """Gemma 3 270M's shape with random weights, saved as a local model folder."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from core.tasks.text_generation.data import PROMPT_TEMPLATE
    from core.tasks.text_generation.tokenizers import train_bpe_tokenizer

    if tokenizer_folder:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder), trust_remote_code=False)
    else:
        train, _ = dataset.frames()
        texts = [PROMPT_TEMPLATE.format(prompt=p) + r for p, r in zip(train["prompt"], train["response"])]
        tokenizer = train_bpe_tokenizer(texts, vocab_size=8000, context=2048)
    special = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
               "bos_token_id": tokenizer.bos_token_id}
    torch.manual_seed(0)
    Gemma3ForCausalLM(Gemma3TextConfig(**GEMMA_3_270M, **special)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def train(workspace, config):
    from core.engine.launcher import LOG_REDIRECTED
    from core.engine.run_folder import read_json, read_metrics
    from core.engine.runs import create_run

    run = create_run(workspace, config)
    started = time.perf_counter()
    with open(run.folder / "train.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, LOG_REDIRECTED: "1"})
    printed, message = 0, ""
    while process.poll() is None:
        time.sleep(2.0)
        status = read_json(run.folder / "status.json", {})
        if status.get("message") != message:
            message = status.get("message", "")
            print(f"  {message}", flush=True)
        logged = [r for r in read_metrics(run.folder) if "loss" in r or "eval_loss" in r]
        for record in logged[printed:]:
            kind = "validation loss" if "eval_loss" in record else "training loss"
            print(f"  step {record['step']:>5}  {kind} {record.get('eval_loss', record.get('loss')):.4f}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        printed = len(logged)
    if process.returncode != 0:
        sys.exit(f"The worker failed: {read_json(run.folder / 'status.json', {}).get('message')}\n"
                 f"{(run.folder / 'train.log').read_text()[-3000:]}")
    return run, time.perf_counter() - started


def seconds_per_step(records: list[dict], summary: dict) -> float:
    """The median time between consecutive logged training steps that no check fell between; a run with a check
    after every step has only its average."""
    logs = [r for r in records if "loss" in r and "eval_loss" not in r]
    checked = {r["step"] for r in records if "eval_loss" in r}
    gaps = [(b["time"] - a["time"]) / (b["step"] - a["step"]) for a, b in zip(logs, logs[1:])
            if b["step"] > a["step"] and not any(a["step"] <= s < b["step"] for s in checked)]
    if not gaps:
        return summary["train_runtime"] / max(1, max((r["step"] for r in logs), default=1))
    return statistics.median(gaps[len(gaps) // 4:] or gaps)


def mean_tokens_per_example(dataset, model_dir: Path, context: int) -> float:
    from transformers import AutoTokenizer

    from core.tasks.text_generation.data import PROMPT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    train, _ = dataset.frames()
    lengths = [min(context, len(tokenizer(PROMPT_TEMPLATE.format(prompt=p) + r)["input_ids"]) + 1)
               for p, r in zip(train["prompt"], train["response"])]
    return sum(lengths) / len(lengths)


def merged_answer(run, target: Path, device: str) -> tuple[float, str]:
    """Merge the adapter into a standalone folder, load it with plain transformers, and ask it a question."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.lm.predictor import export_merged
    from core.tasks.text_generation.data import PROMPT_TEMPLATE

    started = time.perf_counter()
    export_merged(run.model_dir, target)
    seconds = time.perf_counter() - started
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    model = AutoModelForCausalLM.from_pretrained(str(target), use_safetensors=True).to(device).eval()
    inputs = tokenizer(PROMPT_TEMPLATE.format(prompt=QUESTION), return_tensors="pt").to(device)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=48, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    return seconds, tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--random-weights", action="store_true",
                        help="Gemma 3 270M's configuration with random weights (no bundled package needed)")
    parser.add_argument("--tokenizer", type=Path, help="with --random-weights: a folder with Gemma's tokenizer")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="alpaca_1k.json")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--context", type=int, help="longest example in tokens (default 256 on cuda, 128 on cpu)")
    parser.add_argument("--validation-examples", type=int, help="default 100 on cuda, 8 on cpu")
    arguments = parser.parse_args()
    for name, value in SHAPES[arguments.device].items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    if not arguments.data.is_file():
        sys.exit(f"{arguments.data} not found: pass --data PATH/alpaca_1k.json.")

    from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
    from core.engine.run_folder import read_metrics
    from core.workspace import HOME_VARIABLE, Workspace

    app_models = Workspace.default().models  # the bundled model is converted once, into the app's own workspace
    with tempfile.TemporaryDirectory() as home:
        os.environ[HOME_VARIABLE] = home
        workspace = Workspace(Path(home))
        if not arguments.random_weights:
            (Path(home) / "models").symlink_to(app_models, target_is_directory=True)
        dataset = prepare_dataset(workspace, arguments.data, arguments.validation_examples)
        print(f"data: {dataset.info.train_rows} training and {dataset.info.validation_rows} validation pairs",
              flush=True)
        if arguments.random_weights:
            name = str(random_gemma(Path(home) / "gemma-3-270m-random", dataset, arguments.tokenizer))
        else:
            name = "bundled:gemma-3-270m"
        checks = min(arguments.steps, 4)
        config = TrainConfig(dataset="alpaca", task="text-generation", device=arguments.device,
                             model=ModelSpec(source="pretrained", name=name, finetune="lora"), lora=LoraSpec(),
                             max_length=arguments.context, batch_size=arguments.batch_size, learning_rate=2e-4,
                             max_steps=arguments.steps, eval_every=max(1, arguments.steps // checks),
                             warmup_ratio=0.1, sample_prompt=QUESTION)
        run, wall = train(workspace, config)

        status = json.loads((run.folder / "status.json").read_text())
        records = read_metrics(run.folder)
        losses = [r["loss"] for r in records if "loss" in r]
        evaluations = [r["eval_loss"] for r in records if "eval_loss" in r]
        summary = [r for r in records if "train_runtime" in r][-1]
        base = json.loads((run.model_dir / "text_generation.json").read_text())["base_model_source"]
        tokens = mean_tokens_per_example(dataset, Path(base), arguments.context)
        overall = status["step"] * arguments.batch_size / summary["train_runtime"]
        in_steps = arguments.batch_size / seconds_per_step(records, summary)
        merge_seconds, answer = merged_answer(run, Path(home) / "merged", arguments.device)
        adapter_kb = sum(p.stat().st_size for p in run.model_dir.glob("adapter_model.*")) / 1024

        print(f"model: {'Gemma 3 270M shape, random weights' if arguments.random_weights else 'bundled Gemma 3 270M'}"
              f" on {status.get('device')}; {status['summary']['parameters'] / 1e6:.1f} M parameters, "
              f"{status['summary']['trainable_parameters'] / 1e6:.2f} M trainable (LoRA rank 8 on q/k/v/o), "
              f"adapter {adapter_kb:,.0f} kB")
        print(f"trained {status['step']} steps of {arguments.batch_size} in {summary['train_runtime']:.0f} s "
              f"(worker wall {wall:.0f} s incl. loading); {tokens:.0f} tokens per example on average")
        print(f"throughput: {in_steps:.2f} examples/s ≈ {in_steps * tokens:,.0f} tokens/s in training steps alone, "
              f"{overall:.2f} examples/s ≈ {overall * tokens:,.0f} tokens/s including checks and samples")
        print(f"training loss {losses[0]:.3f} → {losses[-1]:.3f}; validation loss "
              + " → ".join(f"{v:.3f}" for v in evaluations))
        samples = json.loads((run.folder / "eval.json").read_text()).get("samples") or []
        if samples:
            print(f"sample at step {samples[-1]['step']} for {QUESTION!r}: {samples[-1]['text'][:200]!r}")
        print(f"merged export: {merge_seconds:.0f} s; loaded back with AutoModelForCausalLM, it answers: "
              f"{answer[:200]!r}")


if __name__ == "__main__":
    main()
