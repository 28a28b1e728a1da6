"""A text-generation run's training examples: prompt/response pairs tokenized with the loss on the response
only, a document cut into fixed blocks (validation) or drawn as random windows (training), and the texts a
from-scratch tokenizer learns from.

In `core/` rather than `core/tasks/` because the benches read validation blocks the same way. This module knows
nothing about models: it takes any tokenizer.
"""

from __future__ import annotations

from itertools import chain

import datasets
import pandas as pd
import torch

from core.lm.writing import leading_special_token
from core.tasks.text_generation.data import FORMAT_INSTRUCTION, PROMPT_TEMPLATE


def tokenize_pairs(rows: pd.DataFrame, tokenizer, max_length: int, template: str = PROMPT_TEMPLATE
                   ) -> datasets.Dataset:
    """Prompt (in the template) + response + end token, cut to the context; labels are -100 on the prompt so the
    loss counts the response only. A pair whose prompt alone fills the context teaches nothing and is left out."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        prompts = tokenizer([template.format(prompt=p) for p in batch["prompt"]])["input_ids"]
        responses = tokenizer(batch["response"], add_special_tokens=False)["input_ids"]
        encoded: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
        for prompt, response in zip(prompts, responses):
            if len(prompt) >= max_length:
                continue
            ids = (prompt + response + [tokenizer.eos_token_id])[:max_length]
            encoded["input_ids"].append(ids)
            encoded["attention_mask"].append([1] * len(ids))
            encoded["labels"].append([-100] * len(prompt) + ids[len(prompt):])
        return encoded

    table = datasets.Dataset.from_pandas(rows[["prompt", "response"]].astype(str), preserve_index=False)
    return table.map(encode, batched=True, remove_columns=table.column_names, desc="Tokenizing",
                     load_from_cache_file=False)


def text_blocks(rows: pd.DataFrame, tokenizer, block_size: int) -> datasets.Dataset:
    """The document's tokens cut into blocks of `block_size` (the end that fills no whole block is dropped; a text
    shorter than one block becomes one short block). Models that expect a begin token get it on every block, as
    their prompts will have it later."""
    begin = leading_special_token(tokenizer)
    body = block_size - (1 if begin is not None else 0)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        return {"ids": tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]}

    def group(batch: dict[str, list]) -> dict[str, list]:
        ids = list(chain.from_iterable(batch["ids"]))
        blocks = [ids[i:i + body] for i in range(0, len(ids) - body + 1, body)]
        if not blocks and len(ids) >= 2:
            blocks = [ids]
        blocks = [([begin] if begin is not None else []) + block for block in blocks]
        return {"input_ids": blocks, "attention_mask": [[1] * len(b) for b in blocks], "labels": blocks}

    table = datasets.Dataset.from_pandas(rows[["text"]].astype(str), preserve_index=False)
    tokenized = table.map(tokenize, batched=True, remove_columns=["text"], desc="Tokenizing",
                          load_from_cache_file=False)
    # Whole batches of 1,000 pieces (about 4 MB of text) are concatenated before cutting, so little is dropped.
    return tokenized.map(group, batched=True, batch_size=1000, remove_columns=["ids"], desc="Cutting into blocks",
                         load_from_cache_file=False)


class RandomWindows(torch.utils.data.Dataset):
    """Training blocks of a document that start at a random place each time they are drawn (nanoGPT's
    `get_batch`). Fixed blocks would show the model the same cuts on every pass, and the first characters of each
    block always without context; over many passes of a small text it learns those cuts by heart. An epoch is
    still one document's worth of tokens. Drawn with torch's generator, which the Trainer seeds and checkpoints,
    so a run is reproducible and resumes where it stopped."""

    def __init__(self, ids: list[int], block_size: int, begin: int | None):
        self.ids = torch.tensor(ids, dtype=torch.long)
        self.begin = begin
        self.body = min(block_size - (1 if begin is not None else 0), len(ids))
        self.count = max(1, len(ids) // max(self.body, 1))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        start = int(torch.randint(0, len(self.ids) - self.body + 1, (1,)))
        block = ([self.begin] if self.begin is not None else []) + self.ids[start:start + self.body].tolist()
        return {"input_ids": block, "attention_mask": [1] * len(block), "labels": block}


def random_windows(rows: pd.DataFrame, tokenizer, block_size: int) -> RandomWindows:
    # Piece by piece (each ends at a line end, where word pieces end too), a thousand at a time: a 200 MB text
    # tokenized in one call would hold every token's offsets in memory at once.
    pieces, ids = rows["text"].astype(str).tolist(), []
    for start in range(0, len(pieces), 1000):
        encoded = tokenizer(pieces[start:start + 1000], add_special_tokens=False, verbose=False)["input_ids"]
        ids.extend(chain.from_iterable(encoded))
    return RandomWindows(ids, block_size, leading_special_token(tokenizer))


def training_texts(rows: pd.DataFrame, text_format: str) -> list[str]:
    """What a from-scratch tokenizer learns from: the templated pairs, or the document's pieces."""
    if text_format == FORMAT_INSTRUCTION:
        return [PROMPT_TEMPLATE.format(prompt=p) + r for p, r in zip(rows["prompt"], rows["response"])]
    return rows["text"].astype(str).tolist()
