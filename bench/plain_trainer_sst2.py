"""The baseline for bench/sst2_minilm.py: SST-2 fine-tuning as a person writes it from the transformers docs.

Nothing from the app is used. Prints one JSON line: dev accuracy and training samples/s.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import datasets
import numpy as np
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--model-folder", required=True)
    parser.add_argument("--device", default="cpu")
    arguments = parser.parse_args()
    datasets.disable_progress_bars()

    data = datasets.load_dataset("csv", delimiter="\t", data_files={
        "train": f"{arguments.data_dir}/train_3k.tsv", "dev": f"{arguments.data_dir}/dev.tsv"})
    tokenizer = AutoTokenizer.from_pretrained(arguments.model_folder)
    data = data.map(lambda batch: tokenizer(batch["sentence"], truncation=True, max_length=128), batched=True)
    model = AutoModelForSequenceClassification.from_pretrained(arguments.model_folder, num_labels=2)
    with tempfile.TemporaryDirectory() as output:
        args = TrainingArguments(output_dir=output, num_train_epochs=2, per_device_train_batch_size=32,
                                 per_device_eval_batch_size=64, learning_rate=5e-5, eval_strategy="no",
                                 save_strategy="no", report_to=[], disable_tqdm=True,
                                 use_cpu=arguments.device == "cpu", bf16=arguments.device == "cuda")
        trainer = Trainer(model=model, args=args, train_dataset=data["train"], data_collator=DataCollatorWithPadding(
            tokenizer), processing_class=tokenizer)
        summary = trainer.train()
        predictions = trainer.predict(data["dev"])
    accuracy = float((np.argmax(predictions.predictions, -1) == np.asarray(data["dev"]["label"])).mean())
    print(json.dumps({"accuracy": accuracy, "samples_per_s": summary.metrics["train_samples_per_second"]}))


if __name__ == "__main__":
    main()
