"""Text classification: checked `text`/`label` rows → tokens → a pretrained or from-scratch classifier.

Pretrained models (the bundled MiniLM, a hub id, a folder) get a classification head on top; from-scratch models
(LSTM, small Transformer, bag of embeddings) get a tokenizer learned from the person's own training text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer

from core.config.train_config import TrainConfig
from core.data.dataset_store import PreparedDataset
from core.engine.class_weights import balanced_weights
from core.engine.metrics import accuracy_and_f1, classification_evaluation, ranked_answers, softmax
from core.engine.run_folder import EVAL_FILE, MODEL_DIR, write_json_atomic
from core.engine.training import (
    DevicePlan,
    EvaluationMemory,
    TrainingPlan,
    count_parameters,
    final_predictions,
    save_trained_model,
)
from core.tasks.text_classification import models as text_models
from core.tasks.text_classification.models import build_classifier, load_tokenizer, train_wordpiece_tokenizer


def load_splits(dataset: PreparedDataset, cache_dir: Path | None = None) -> datasets.DatasetDict:
    files = {"train": str(dataset.train_path), "validation": str(dataset.validation_path)}
    splits = datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache_dir) if cache_dir else None)
    # Labels are class names: keep them as text even when they look like numbers ("0", "1").
    return splits.cast_column("label", datasets.Value("string"))


def make_tokenizer(config: TrainConfig, train_texts: list[str]):
    spec = config.model
    if spec.source == "pretrained":
        return load_tokenizer(spec.name)
    if spec.tokenizer in ("train", "char"):
        return train_wordpiece_tokenizer(train_texts, spec.vocab_size)
    return load_tokenizer(spec.tokenizer)


def tokenize_splits(splits: datasets.DatasetDict, tokenizer, labels: list[str], max_length: int
                    ) -> datasets.DatasetDict:
    label2id = {label: i for i, label in enumerate(labels)}

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
        encoded["labels"] = [label2id[label] for label in batch["label"]]
        return encoded

    return splits.map(encode, batched=True, remove_columns=splits["train"].column_names,
                      desc="Tokenizing", load_from_cache_file=False)


def build_plan(config: TrainConfig, dataset: PreparedDataset, run_dir: Path, device: DevicePlan) -> TrainingPlan:
    labels = dataset.info.labels
    splits = load_splits(dataset, run_dir.parent.parent / "cache")
    tokenizer = make_tokenizer(config, splits["train"]["text"])
    tokenized = tokenize_splits(splits, tokenizer, labels, config.max_length)
    model = build_classifier(config.model, labels, tokenizer, config.max_length)
    validation_texts = list(splits["validation"]["text"])
    memory = EvaluationMemory()

    def finish(trainer: Trainer, run_dir: Path) -> dict[str, Any]:
        logits, gold = final_predictions(trainer, memory)
        report = classification_evaluation(logits, gold, labels, [{"text": t} for t in validation_texts])
        save_model(trainer, tokenizer, run_dir)
        write_json_atomic(run_dir / EVAL_FILE, report)
        return report

    return TrainingPlan(
        model=model,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        metric=lambda logits, gold: accuracy_and_f1(gold, logits.argmax(-1)),
        summary={"parameters": count_parameters(model), "vocabulary": len(tokenizer), "classes": labels},
        finish=finish,
        class_weights=balanced_weights(tokenized["train"]["labels"], len(labels)) if config.class_weights else None,
        memory=memory,
        group_by_length=groups_by_length(config),
        # A pretrained model's answers ignore padding, so a check may trim it. A from-scratch bidirectional LSTM
        # reads its padding backwards: its answers would change with the trimming, so its checks pad as it trained.
        trim_eval_padding=config.model.source == "pretrained",
    )


def groups_by_length(config: TrainConfig) -> bool:
    """Batches of similar length waste little on padding: the same epochs in much less time on a CPU. Only for
    pretrained models: a model built from zero, trained on one length at a time, lurched from batch to batch. An
    LSTM's pooled states grow with a text's length, so a batch of long texts after many short ones came out many
    times larger and was answered with confident mistakes: a loss that blew up within 20 steps (Quick on SST-2
    reviews that are 87 % positive, Balanced on SST-2 itself); the small Transformer's did too. Batches of mixed
    lengths train them stably (tests/core/tasks/text_classification/test_preset_stability.py)."""
    return config.model.source == "pretrained"


def estimate_parameters(config: TrainConfig, dataset: PreparedDataset) -> int | None:
    """The model's size before training (a learned vocabulary is at most `vocab_size` word pieces)."""
    if config.model.source == "pretrained" and not (config.model.is_bundled or Path(config.model.name).is_dir()):
        return None  # a hub id: sizing it would mean downloading it
    return text_models.estimate_parameters(config.model, len(dataset.info.labels), config.model.vocab_size)


def save_model(trainer: Trainer, tokenizer, run_dir: Path) -> None:
    save_trained_model(trainer, run_dir / MODEL_DIR)  # safetensors + config with the class names
    tokenizer.save_pretrained(str(run_dir / MODEL_DIR))


class TextClassifierPredictor:
    """A finished run's classifier: texts in, class probabilities out."""

    def __init__(self, model_dir: Path):
        import core.tasks.text_classification.models  # noqa: F401 - registers the from-scratch architectures with the Auto classes

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), use_safetensors=True, trust_remote_code=False).eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.max_length = int(getattr(self.model.config, "max_positions", 0) or 512)

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, float]]:
        """For each text, every class → probability, most likely first."""
        results = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[start:start + batch_size], truncation=True, padding=True,
                                   max_length=min(self.max_length, 512), return_tensors="pt")
            probabilities = softmax(self.model(**batch).logits.float().numpy())
            results += [ranked_answers(self.labels, row) for row in probabilities]
        return results


def load_predictor(model_dir: Path) -> TextClassifierPredictor:
    return TextClassifierPredictor(model_dir)
