"""Text classifiers: a catalog of pretrained ones and three architectures built from zero, plus their tokenizers.

The from-scratch models are ordinary `PreTrainedModel`s so that `Trainer`, `save_pretrained` (safetensors) and
`AutoModelForSequenceClassification.from_pretrained` treat them exactly like a downloaded model.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from core.config.catalog import ModelError, resolve_pretrained
from core.config.train_config import ModelSpec
from core.engine.training import count_parameters

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}


# ---------------------------------------------------------------------------------------------------- from scratch


class ScratchTextClassifierConfig(PretrainedConfig):
    model_type = "aipg_scratch_text_classifier"

    def __init__(self, architecture: str = "lstm", vocab_size: int = 8000, embedding_dim: int = 128,
                 hidden_size: int = 128, num_layers: int = 1, num_heads: int = 4, dropout: float = 0.1,
                 bidirectional: bool = True, max_positions: int = 128, pad_token_id: int = 0,
                 final_norm: bool = False, **kwargs):
        self.architecture = architecture
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.max_positions = max_positions
        # Transformer only: a LayerNorm over the last layer's states. Off for models saved before it existed, whose
        # weights were trained without it.
        self.final_norm = final_norm
        super().__init__(pad_token_id=pad_token_id, **kwargs)


def _masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class _LSTMEncoder(nn.Module):
    """The classic Embedding → LSTM → Dense recipe; the LSTM's states are mean-pooled over real tokens."""

    def __init__(self, config: ScratchTextClassifierConfig):
        super().__init__()
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, num_layers=config.num_layers,
                            batch_first=True, bidirectional=config.bidirectional,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.output_size = config.hidden_size * (2 if config.bidirectional else 1)

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(embedded)
        return _masked_mean(states, mask)


class _TransformerEncoder(nn.Module):
    def __init__(self, config: ScratchTextClassifierConfig):
        super().__init__()
        self.positions = nn.Embedding(config.max_positions, config.embedding_dim)
        layer = nn.TransformerEncoderLayer(config.embedding_dim, config.num_heads, config.hidden_size,
                                           config.dropout, batch_first=True, norm_first=True)
        # A pre-norm stack leaves its output unnormalised: without this last LayerNorm the pooled states were large
        # at random, the first loss 2.9 for two classes, and training on imbalanced reviews lurched (a loss of 0.7
        # climbing to 2.3 within 20 steps of Quick).
        norm = nn.LayerNorm(config.embedding_dim) if config.final_norm else None
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, norm=norm, enable_nested_tensor=False)
        self.output_size = config.embedding_dim

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(embedded.shape[1], device=embedded.device)
        states = self.encoder(embedded + self.positions(positions), src_key_padding_mask=~mask.bool())
        return _masked_mean(states, mask)


class _BagOfEmbeddings(nn.Module):
    """The baseline: average the word vectors, ignore order. Fast, and a yardstick for the others."""

    def __init__(self, config: ScratchTextClassifierConfig):
        super().__init__()
        self.output_size = config.embedding_dim

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _masked_mean(embedded, mask)


_ENCODERS = {"lstm": _LSTMEncoder, "transformer": _TransformerEncoder, "bag_of_embeddings": _BagOfEmbeddings}


class ScratchTextClassifier(PreTrainedModel):
    config_class = ScratchTextClassifierConfig
    base_model_prefix = "scratch"

    def __init__(self, config: ScratchTextClassifierConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.encoder = _ENCODERS[config.architecture](config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.encoder.output_size, config.num_labels)
        self.post_init()

    @property
    def _is_transformer(self) -> bool:
        return self.config.architecture == "transformer"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.1)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.Linear):
            if module is getattr(self, "classifier", None) and self.config.final_norm and self._is_transformer:
                # Small answers at first, so the first loss is that of an even guess: the Transformer's pooled states
                # have unit size, and a Xavier-sized head began from losses of 1.2 to 2.9 for two classes. Only
                # there: a bag of embeddings' small pooled states behind so small a head barely learned in 4 epochs, and
                # the LSTM trains stably without it.
                nn.init.normal_(module.weight, std=0.02)
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **_: object) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        pooled = self.encoder(self.embeddings(input_ids), attention_mask)
        logits = self.classifier(self.dropout(pooled))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(ScratchTextClassifierConfig.model_type, ScratchTextClassifierConfig, exist_ok=True)
AutoModelForSequenceClassification.register(ScratchTextClassifierConfig, ScratchTextClassifier, exist_ok=True)


# ---------------------------------------------------------------------------------------------------- tokenizers


def train_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A lower-casing WordPiece vocabulary learned from the person's own text."""
    tokenizer = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()))
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def load_tokenizer(name: str):
    try:
        return AutoTokenizer.from_pretrained(resolve_pretrained(name), trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ModelError(f"No tokenizer could be loaded from '{name}'. Check the model id or folder, and the "
                         "internet connection for Hugging Face ids.") from error


# ---------------------------------------------------------------------------------------------------- building


def build_classifier(spec: ModelSpec, labels: list[str], tokenizer, max_length: int) -> PreTrainedModel:
    id2label = dict(enumerate(labels))
    label2id = {label: i for i, label in id2label.items()}
    if spec.source == "scratch":
        config = ScratchTextClassifierConfig(
            architecture=spec.name, vocab_size=len(tokenizer), embedding_dim=spec.embedding_dim,
            hidden_size=spec.hidden_size, num_layers=spec.num_layers, num_heads=spec.num_heads,
            dropout=spec.dropout, bidirectional=spec.bidirectional, max_positions=max_length,
            pad_token_id=tokenizer.pad_token_id or 0, num_labels=len(labels), id2label=id2label, label2id=label2id,
            final_norm=True)
        return ScratchTextClassifier(config)
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            resolve_pretrained(spec.name), num_labels=len(labels), id2label=id2label, label2id=label2id,
            ignore_mismatched_sizes=True, use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ModelError(f"The model '{spec.name}' could not be loaded. Check the Hugging Face id (and the internet "
                         "connection) or the folder path; only models saved as safetensors are accepted.") from error


def estimate_parameters(spec: ModelSpec, num_labels: int, vocab_size: int | None = None) -> int:
    """Parameter count shown before training, built on the meta device so nothing is allocated or loaded."""
    with torch.device("meta"):
        if spec.source == "scratch":
            config = ScratchTextClassifierConfig(
                architecture=spec.name, vocab_size=vocab_size or spec.vocab_size, embedding_dim=spec.embedding_dim,
                hidden_size=spec.hidden_size, num_layers=spec.num_layers, num_heads=spec.num_heads,
                dropout=spec.dropout, bidirectional=spec.bidirectional, num_labels=num_labels, final_norm=True)
            return count_parameters(ScratchTextClassifier(config))
        config = AutoConfig.from_pretrained(resolve_pretrained(spec.name), num_labels=num_labels,
                                            trust_remote_code=False)
        return count_parameters(AutoModelForSequenceClassification.from_config(config))
