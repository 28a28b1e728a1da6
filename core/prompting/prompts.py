"""The exact text a language model reads for prompt-based classification, and the tokens each answer is.

The boundary: a `PromptRecipe` (`core.prompting.recipe`) plus worked examples (chosen by `core.prompting.examples`)
and a text in; the prompt string, its length against the model's context, and each label word's tokens out. Nothing
here runs a model: scoring the label words is `core.prompting.classify`'s job (through `core.prompting.scoring`).
Examples are plain dicts `{"text": str, "label": str}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.prompting.examples import SimilarityIndex, select_examples
from core.prompting.recipe import TEXT_PLACEHOLDER, Example, PromptRecipe, rendered_instructions
from core.prompting.scoring import encode, encode_after, leading_special_ids


def render_query(template: str, text: str) -> str:
    # Trailing spaces are dropped because the label word brings its own leading space (" great" is one token).
    return template.replace(TEXT_PLACEHOLDER, str(text).strip()).rstrip(" \t")


def label_continuation(rendered_query: str, label_word: str) -> str:
    """What follows the prompt when the model says `label_word`: a space, unless the prompt ends a line."""
    word = label_word.strip()
    return word if rendered_query.endswith("\n") or not rendered_query else " " + word


def render_example(template: str, text: str, label_word: str) -> str:
    query = render_query(template, text)
    return query + label_continuation(query, label_word)


def examples_prefix(recipe: PromptRecipe, examples: Sequence[Example]) -> str:
    """The instructions and the worked examples, each followed by the separator: everything before the query."""
    instructions = rendered_instructions(recipe)
    parts = [instructions] if instructions else []
    parts += [render_example(recipe.template, example["text"], recipe.label_words[example["label"]])
              for example in examples]
    return "".join(part + recipe.example_separator for part in parts)


def build_prompt(recipe: PromptRecipe, examples: Sequence[Example], query_text: str) -> str:
    return examples_prefix(recipe, examples) + render_query(recipe.template, query_text)


@dataclass(frozen=True)
class AssembledPrompt:
    text: str
    examples: list[Example]
    token_count: int | None  # None when no tokenizer was given
    context_limit: int | None
    warning: str | None  # set when the prompt (plus the longest label word) will not fit


def assemble_prompt(recipe: PromptRecipe, train_examples: Sequence[Example], query_text: str,
                    tokenizer: PreTrainedTokenizerBase | None = None, model: PreTrainedModel | None = None,
                    max_tokens: int | None = None, index: SimilarityIndex | None = None) -> AssembledPrompt:
    """The exact prompt the model will read for `query_text`, its length in tokens, and a warning if too long."""
    examples = select_examples(recipe, train_examples, query_text, index)
    text = build_prompt(recipe, examples, query_text)
    limit = context_limit(model, tokenizer, max_tokens)
    if tokenizer is None:
        return AssembledPrompt(text, examples, None, limit, None)
    token_count = len(leading_special_ids(tokenizer)) + len(encode(tokenizer, text))
    longest_word = max(len(ids) for ids in label_token_ids(tokenizer, recipe))
    return AssembledPrompt(text, examples, token_count, limit,
                           prompt_length_warning(token_count + longest_word - 1, limit))


def context_limit(model: PreTrainedModel | None = None, tokenizer: PreTrainedTokenizerBase | None = None,
                  max_tokens: int | None = None) -> int | None:
    """The most tokens a prompt may have: the smallest of the model's context, the tokenizer's and `max_tokens`."""
    candidates = [max_tokens] if max_tokens else []
    if model is not None:
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                candidates.append(value)
                break
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 10_000_000:
        candidates.append(int(tokenizer.model_max_length))  # tokenizers without a limit report ~1e30
    return min(candidates) if candidates else None


def prompt_length_warning(token_count: int, limit: int | None) -> str | None:
    if limit is None or token_count <= limit:
        return None
    return (f"This prompt is {token_count} tokens long but the model reads at most {limit}: the oldest "
            f"{token_count - limit} tokens will be cut. Use fewer or shorter worked examples.")


def label_token_ids(tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe) -> list[list[int]]:
    """Each label word's tokens as they follow the prompt, leading space included (" great", not "great")."""
    anchor = render_query(recipe.template, "text")
    continuations = [label_continuation(anchor, recipe.label_words[label]) for label in recipe.labels]
    token_ids = encode_after(tokenizer, anchor, continuations)
    for label, ids in zip(recipe.labels, token_ids):
        if not ids:
            raise ValueError(f"The label word for {label!r} gives no tokens.")
    return token_ids
