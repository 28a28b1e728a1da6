"""Checks of texts run in parts of similar length (core.engine.eval_batches): the same answer for every row, in
the split's own order, with less padding; left-padded batches are left as they are."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

from core.engine.eval_batches import length_sorted_parts, merged
from core.engine.training import RunTrainer

TEXTS = ["ok", "the coffee was cold and the waiter never came back to our table in the garden", "fine",
         "great cake", "a long wait for a small cup of tea that was not even warm when it arrived at last", "no",
         "lovely staff and a quiet room", "bad"]


def test_parts_are_trimmed_to_their_own_longest_text_and_merge_back_in_place():
    lengths = torch.tensor([2, 9, 3, 9, 1, 5, 2, 7])
    mask = (torch.arange(9)[None] < lengths[:, None]).long()
    inputs = {"input_ids": torch.arange(72).reshape(8, 9) * mask, "attention_mask": mask,
              "labels": torch.arange(8)}
    parts = length_sorted_parts(inputs, parts=4)
    assert [p.inputs["input_ids"].shape[1] for p in parts] == [2, 3, 7, 9]  # the short rows pad to 2, not 9
    # A fake model whose answer is each row's first id: merged, the answers are back in the batch's order.
    results = [(torch.tensor(1.0 + i), p.inputs["input_ids"][:, :1].float(), p.inputs["labels"])
               for i, p in enumerate(parts)]
    loss, logits, labels = merged(parts, results)
    assert torch.equal(logits[:, 0], inputs["input_ids"][:, 0].float())
    assert torch.equal(labels, inputs["labels"])
    assert loss.item() == pytest.approx(2.5)  # two rows per part: the mean of 1, 2, 3 and 4


def test_a_left_padded_batch_or_one_without_a_mask_is_left_whole():
    mask = torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert length_sorted_parts({"input_ids": torch.ones(2, 3), "attention_mask": mask}) is None
    assert length_sorted_parts({"input_ids": torch.ones(2, 3)}) is None


def evaluate(folder, tmp_path, trim: bool):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    rows = datasets.Dataset.from_dict({"text": TEXTS, "labels": [i % 2 for i in range(len(TEXTS))]})
    rows = rows.map(lambda batch: tokenizer(batch["text"]), batched=True, remove_columns=["text"])
    args = TrainingArguments(output_dir=str(tmp_path / str(trim)), per_device_eval_batch_size=8, use_cpu=True,
                             report_to=[])
    trainer = RunTrainer(model=model, args=args, eval_dataset=rows, data_collator=DataCollatorWithPadding(tokenizer),
                         trim_eval_padding=trim)
    return trainer.predict(rows)


def test_a_trimmed_check_gives_every_row_the_answer_it_had_padded(tiny_bert_folder, tmp_path):
    torch.manual_seed(0)
    padded, trimmed = evaluate(tiny_bert_folder, tmp_path, False), evaluate(tiny_bert_folder, tmp_path, True)
    assert np.allclose(trimmed.predictions, padded.predictions, atol=1e-5)
    assert np.array_equal(trimmed.label_ids, padded.label_ids)
    assert trimmed.metrics["test_loss"] == pytest.approx(padded.metrics["test_loss"], abs=1e-5)
