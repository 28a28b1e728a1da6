"""Tokenizers for a language model trained from scratch, learned from the person's own text with `tokenizers`.

Single characters (nanoGPT's shakespeare-char) or GPT-2's byte-level BPE word pieces, wrapped as a
`PreTrainedTokenizerFast` that is saved beside the model; plus `load_tokenizer` for a tokenizer folder or hub id.
In `core/` rather than `core/tasks/` because nothing here is tied to a run: the benches train one the same way.
This module knows nothing about models, datasets or run folders.
"""

from __future__ import annotations

from itertools import chain

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from core.tasks.text_classification.models import ModelError

SPECIAL_TOKENS = ("<|pad|>", "<|unk|>", "<|endoftext|>")
PAD, UNK, END = SPECIAL_TOKENS
MIN_BPE_VOCABULARY = 300  # the 256 byte symbols, the special tokens and a few merges


def train_char_tokenizer(texts: list[str], context: int) -> PreTrainedTokenizerFast:
    """One token per character seen in the training text (nanoGPT's shakespeare-char); unseen ones become <|unk|>."""
    characters = sorted(set(chain.from_iterable(texts)))
    vocabulary = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *characters])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token=UNK))
    # Oniguruma's (?m) is "dot matches newline": every character, line ends included, is its own piece.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()  # join the characters back without spaces between them
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return _wrap(tokenizer, context)


def train_bpe_tokenizer(texts: list[str], vocab_size: int, context: int) -> PreTrainedTokenizerFast:
    """GPT-2's byte-level BPE learned from the person's text: any character can be written, common words are one
    token."""
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=max(vocab_size, MIN_BPE_VOCABULARY), special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return _wrap(tokenizer, context)


def _wrap(tokenizer: Tokenizer, context: int) -> PreTrainedTokenizerFast:
    # clean_up_tokenization_spaces would turn "word ." into "word." and change the person's text on decoding.
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, unk_token=UNK, eos_token=END,
                                   bos_token=END, model_max_length=context, clean_up_tokenization_spaces=False)


def load_tokenizer(source: str):
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ModelError(f"Could not load a tokenizer from {source!r}: {error}") from error
    if tokenizer.pad_token is None:  # Llama-style tokenizers have none; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
