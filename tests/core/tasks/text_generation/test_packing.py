"""Padding-free packed batches of instruction pairs (core.tasks.text_generation.packing): the same loss and
gradients as padded batches, used on GPUs only where the model keeps packed examples apart, and a whole training
run through the engine with them."""

from __future__ import annotations

import torch
from transformers import DataCollatorForSeq2Seq, GPT2Config, GPT2LMHeadModel

from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.engine.callbacks import StopSignal
from core.engine.speed import PACK_SEQUENCES, Hardware, ModelKind, plan_speed
from core.engine.stop_evaluation import rows_in
from core.engine.training import DevicePlan, build_trainer
from core.tasks.text_generation.packing import PackedBatches, packing_is_exact
from core.tasks.text_generation.pipeline import build_plan

CPU = DevicePlan(use_cpu=True, bf16=False, description="CPU (2 threads)")
GPU = DevicePlan(use_cpu=False, bf16=True, description="GPU: NVIDIA H100 (bf16)", gpu_count=1)
PAIRS = [([5, 6, 7, 8, 9, 10, 11], 3), ([12, 13, 14, 15], 2), ([16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 4)]


def features() -> list[dict]:
    return [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * prompt + ids[prompt:]}
            for ids, prompt in PAIRS]


def loss_and_gradients(model, batch) -> tuple[float, torch.Tensor]:
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_a_packed_batch_trains_exactly_as_the_padded_one(tiny_gemma_folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_gemma_folder)
    tokenizer = AutoTokenizer.from_pretrained(tiny_gemma_folder)
    model.eval()  # no dropout, so the two passes can be compared
    padded = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, return_tensors="pt")(features())
    packed = PackedBatches()(features())
    assert packed["input_ids"].shape == (1, 21)  # 7 + 4 + 10 tokens, none of them padding
    padded_loss, padded_gradients = loss_and_gradients(model, {**padded, "use_cache": False})
    packed_loss, packed_gradients = loss_and_gradients(model, packed)
    assert abs(packed_loss - padded_loss) < 1e-5
    assert torch.allclose(packed_gradients, padded_gradients, atol=1e-5)
    assert rows_in(packed) == 3 and rows_in(padded) == 3  # a stop's "first K rows" still counts examples


class CarriedAcross(torch.nn.Module):
    """A model whose every position sees all the tokens before it in the row, packed neighbours included."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(64, 8)

    def forward(self, input_ids, position_ids=None, use_cache=None, **_):
        states = self.embed(input_ids).cumsum(dim=1)
        return type("Output", (), {"logits": states})()


def test_packing_is_used_only_where_the_model_keeps_examples_apart(tiny_gemma_folder):
    from transformers import AutoModelForCausalLM

    gpt = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=32))
    assert packing_is_exact(AutoModelForCausalLM.from_pretrained(tiny_gemma_folder)) and packing_is_exact(gpt)
    assert not packing_is_exact(CarriedAcross())


def test_packing_is_chosen_on_gpus_and_not_on_a_cpu_where_it_was_slower():
    gemma = ModelKind("text-generation", from_scratch=False, lora=True)
    assert plan_speed(GPU, gemma, Hardware(capability=(9, 0), cpu_count=16), 8).value(PACK_SEQUENCES) is True
    on_cpu = plan_speed(CPU, gemma, Hardware(cpu_count=2), 8)
    assert on_cpu.value(PACK_SEQUENCES) is False and PACK_SEQUENCES not in on_cpu.arguments
    assert any("8 % slower on a CPU" in line for line in on_cpu.log_lines())


def test_a_lora_run_planned_for_a_gpu_trains_on_packed_pairs_through_the_engine(workspace, pairs_dataset,
                                                                                tiny_gemma_folder, tmp_path):
    config = TrainConfig(dataset="pairs", task="text-generation", max_length=96, batch_size=8, max_steps=12,
                         eval_every=6, learning_rate=5e-3, warmup_ratio=0.0, device="cpu",
                         model=ModelSpec(source="pretrained", name=str(tiny_gemma_folder), finetune="lora"),
                         lora=LoraSpec(rank=4, alpha=8, target_modules=("q_proj", "v_proj")))
    run_dir = workspace.runs / "packed"
    run_dir.mkdir(parents=True)
    plan = build_plan(config, pairs_dataset, run_dir, GPU)  # planned as for a GPU, trained here on the CPU
    assert plan.packed and isinstance(plan.data_collator, PackedBatches) and not plan.group_by_length
    trainer, _ = build_trainer(config, plan, run_dir, CPU, StopSignal())
    trainer.train()
    losses = [r["eval_loss"] for r in trainer.state.log_history if "eval_loss" in r]
    assert len(losses) == 2 and losses[-1] < losses[0]
