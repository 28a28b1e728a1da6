"""Prompt-based classification on tiny random language models: scoring, caching, calibration, prompts, recipes.

The models are built from configs in memory (a few thousand weights), the tokenizer is a byte-level BPE trained on
a dozen sentences in the test itself: everything runs in seconds and never touches the network.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from core.config.catalog import bundled_models_for
from core.engine.metrics import softmax
from core.lm.loading import LM_TASK, bundled_lm, load_causal_lm
from core.prompting import classify as prompting
from core.prompting import examples as prompt_examples
from core.prompting import recipe as prompt_recipe
from core.prompting import scoring as prompt_scoring
from core.prompting.classify import calibrate_probabilities, predict_probabilities
from core.prompting.evaluation import evaluate_recipe
from core.prompting.examples import SimilarityIndex, select_examples
from core.prompting.prompts import assemble_prompt, label_token_ids
from core.prompting.recipe import PromptRecipe
from core.prompting.scoring import score_continuations
from core.tasks.text_classification.models import ModelError

CORPUS = [
    "a great and moving film .", "a terrible , boring mess .", "the cast is great .", "the plot is terrible .",
    "great fun for the whole family .", "terrible acting and a dull script .", "it 's a charming journey .",
    "Review: the film\nSentiment: great", "Review: the plot\nSentiment: terrible", "N/A",
] * 4

TRAIN = [
    {"text": "a great and moving film .", "label": "pos"},
    {"text": "great fun for the whole family .", "label": "pos"},
    {"text": "the cast is great .", "label": "pos"},
    {"text": "a terrible , boring mess .", "label": "neg"},
    {"text": "terrible acting and a dull script .", "label": "neg"},
    {"text": "the plot is terrible .", "label": "neg"},
    {"text": "it is fine , i guess .", "label": "meh"},
    {"text": "neither good nor bad .", "label": "meh"},
]
HELD_OUT = [
    {"text": "a great cast .", "label": "pos"},
    {"text": "a terrible film .", "label": "neg"},
    {"text": "it is fine .", "label": "meh"},
    {"text": "boring .", "label": "neg"},
    {"text": "what a charming and moving journey through the whole family of great actors .", "label": "pos"},
]
WORDS = {"pos": "great", "neg": "terrible", "meh": "okay"}


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return byte_level_tokenizer()


def byte_level_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE of 320 tokens trained on CORPUS, with a leading <bos> as Gemma's."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    bpe.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")


def _tiny_gemma(vocab_size: int) -> Gemma3ForCausalLM:
    # A sliding window of 8 is shorter than the prompts, so the cached path must handle a window-limited cache.
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8,
                              layer_types=["sliding_attention", "full_attention"], max_position_embeddings=512,
                              pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return Gemma3ForCausalLM(config).eval()


def _tiny_llama(vocab_size: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module", params=["gemma", "llama"])
def model(request, tokenizer):
    build = {"gemma": _tiny_gemma, "llama": _tiny_llama}[request.param]
    return build(len(tokenizer))


def _recipe(**changes) -> PromptRecipe:
    # Raw scores unless a test asks for calibration, and then on "N/A", so each test names what it checks; one set
    # of worked examples, whose prompt the test can rebuild.
    settings = {"label_words": WORDS, "few_shot_k": 3, "selection": "class-balanced", "order": "shuffled",
                "calibrate": False, "calibrate_against": "content-free", "draws": 1}
    return PromptRecipe(**{**settings, **changes})


def _reference_log_likelihood(model, prefix, context, continuation) -> float:
    """The textbook computation: one full forward over everything, sum the continuation's log-probabilities."""
    ids = torch.tensor([list(prefix) + list(context) + list(continuation)])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    start = len(prefix) + len(context)
    return sum(float(log_probs[start - 1 + t, token]) for t, token in enumerate(continuation))


# ----------------------------------------------------------------------------------------------------- scoring


CONTEXTS = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15], [16, 17, 18, 19]]
PREFIX = [1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]  # longer than the tiny Gemma's sliding window


@pytest.mark.parametrize("continuations", [[[40], [41], [42]], [[40, 43], [41], [44, 45, 46]]],
                         ids=["single-token", "multi-token"])
def test_scores_are_the_summed_log_probabilities_of_the_label_tokens(model, continuations):
    scores = score_continuations(model, PREFIX, CONTEXTS, continuations, share_prefix_cache=False, batch_size=3)
    expected = [[_reference_log_likelihood(model, PREFIX, context, ids) for ids in continuations]
                for context in CONTEXTS]
    np.testing.assert_allclose(scores, expected, atol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 3, 16])
@pytest.mark.parametrize("continuations", [[[40], [41]], [[40, 43], [41], [44, 45, 46]]],
                         ids=["single-token", "multi-token"])
def test_cached_prefix_gives_the_same_scores_as_rereading_it(model, continuations, batch_size):
    cached = score_continuations(model, PREFIX, CONTEXTS, continuations, batch_size=batch_size)
    uncached = score_continuations(model, PREFIX, CONTEXTS, continuations, share_prefix_cache=False,
                                   batch_size=batch_size)
    np.testing.assert_allclose(cached, uncached, atol=1e-4)


def test_full_logits_fallback_gives_the_same_scores(model, monkeypatch):
    fast = score_continuations(model, PREFIX, CONTEXTS, [[40, 43], [41]])
    monkeypatch.setitem(prompt_scoring._HEAD_IS_EXACT, model, False)
    slow = score_continuations(model, PREFIX, CONTEXTS, [[40, 43], [41]])
    np.testing.assert_allclose(fast, slow, atol=1e-4)


def test_the_prefix_cache_is_not_changed_by_scoring(model):
    first = score_continuations(model, PREFIX, CONTEXTS, [[40], [41]], batch_size=2)
    again = score_continuations(model, PREFIX, CONTEXTS[::-1], [[40], [41]], batch_size=2)
    np.testing.assert_allclose(first, again[::-1], atol=1e-5)


def test_progress_reaches_the_number_of_texts(model):
    calls = []
    score_continuations(model, PREFIX, CONTEXTS, [[40], [41]], batch_size=1, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (len(CONTEXTS), len(CONTEXTS))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_label_words_are_tokenized_with_their_leading_space(tokenizer):
    ids = label_token_ids(tokenizer, _recipe())
    assert [tokenizer.decode(word) for word in ids] == [" great", " terrible", " okay"]
    on_a_new_line = label_token_ids(tokenizer, _recipe(template="Review: {text}\nSentiment:\n"))
    assert [tokenizer.decode(word) for word in on_a_new_line] == ["great", "terrible", "okay"]


@pytest.mark.parametrize("instructions", ["", "Classify each review as {labels}."])
def test_predictions_score_exactly_the_assembled_prompt(model, tokenizer, instructions):
    recipe = _recipe(calibrate=False, instructions=instructions)
    text = HELD_OUT[0]["text"]
    probabilities = predict_probabilities(model, tokenizer, recipe, TRAIN, [text]).probabilities[0]
    prompt = assemble_prompt(recipe, TRAIN, text, tokenizer).text
    prompt_ids = tokenizer(prompt)["input_ids"]
    log_likelihoods = [_reference_log_likelihood(model, [], prompt_ids, ids)
                       for ids in label_token_ids(tokenizer, recipe)]
    np.testing.assert_allclose(probabilities, softmax(np.array(log_likelihoods)), atol=1e-4)


# ------------------------------------------------------------------------------------------------- calibration


def test_calibration_divides_out_the_content_free_prediction():
    probabilities = np.array([[0.6, 0.4], [0.9, 0.1]])
    content_free = np.array([0.8, 0.2])
    calibrated = calibrate_probabilities(probabilities, content_free)
    np.testing.assert_allclose(calibrated, [[0.6 / 0.8, 0.4 / 0.2], [0.9 / 0.8, 0.1 / 0.2]]
                               / np.array([[0.75 + 2.0], [1.125 + 0.5]]))
    assert calibrated.argmax(axis=1).tolist() == [1, 0]  # the bias towards class 0 no longer wins the first row


def test_calibrated_predictions_use_the_na_input_with_the_same_prompt(model, tokenizer):
    recipe = _recipe(calibrate=True)
    texts = [example["text"] for example in HELD_OUT]
    raw = predict_probabilities(model, tokenizer, _recipe(calibrate=False), TRAIN, texts).probabilities
    calibrated = predict_probabilities(model, tokenizer, recipe, TRAIN, texts).probabilities
    content_free = predict_probabilities(model, tokenizer, _recipe(calibrate=False), TRAIN, ["N/A"]).probabilities
    np.testing.assert_allclose(calibrated, calibrate_probabilities(raw, content_free[0]), atol=1e-5)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, atol=1e-6)


# ------------------------------------------------------------------------------------------- choosing examples


def test_class_balanced_selection_takes_k_over_classes_from_each():
    picked = select_examples(_recipe(few_shot_k=6), TRAIN)
    assert sorted(example["label"] for example in picked) == ["meh", "meh", "neg", "neg", "pos", "pos"]
    uneven = select_examples(_recipe(few_shot_k=4), TRAIN)
    assert [example["label"] for example in uneven].count("pos") == 2  # the first class gets the remainder


def test_selection_is_fixed_by_the_seed_and_ignores_unlabelled_examples():
    train = [*TRAIN, {"text": "no word for me", "label": "other"}, {"text": "  ", "label": "pos"}]
    first = select_examples(_recipe(selection="random", few_shot_k=5, seed=3), train)
    assert first == select_examples(_recipe(selection="random", few_shot_k=5, seed=3), train)
    assert all(example in TRAIN for example in first)
    assert len(first) == 5


def test_order_options():
    by_class = select_examples(_recipe(few_shot_k=6, order="by-class"), TRAIN)
    assert [example["label"] for example in by_class] == ["pos", "pos", "neg", "neg", "meh", "meh"]
    shuffled = select_examples(_recipe(few_shot_k=6, order="shuffled"), TRAIN)
    assert sorted(map(str, shuffled)) == sorted(map(str, by_class))
    as_selected = select_examples(_recipe(few_shot_k=6, order="as-selected"), TRAIN)
    assert as_selected == by_class  # class-balanced picks class by class


def _bag_of_words(texts):
    vocabulary = sorted({word for example in TRAIN + HELD_OUT for word in example["text"].split()})
    return np.array([[text.split().count(word) for word in vocabulary] for text in texts], dtype=np.float32)


def test_similar_selection_puts_the_nearest_example_last():
    index = prompt_examples.build_similarity_index(_recipe(), TRAIN, embed=_bag_of_words)
    picked = select_examples(_recipe(selection="similar", few_shot_k=2, order="as-selected"), TRAIN,
                             "the plot is terrible and dull .", index)
    assert picked[-1]["text"] == "the plot is terrible ."
    assert len(picked) == 2


def test_minilm_finds_the_sentence_with_the_same_meaning():
    texts = ["stock prices fell sharply today", "a cat was sitting on a rug", "it will rain tomorrow"]
    index = SimilarityIndex(texts, prompt_examples.SentenceEmbedder())
    assert index.nearest(["the kitten sat on the mat"], 1) == [[1]]


def test_evaluation_with_similar_examples_runs_without_a_shared_cache(model, tokenizer):
    index = prompt_examples.build_similarity_index(_recipe(), TRAIN, embed=_bag_of_words)
    result = evaluate_recipe(model, tokenizer, _recipe(selection="similar", few_shot_k=2, calibrate=True),
                             TRAIN, HELD_OUT, index=index)
    assert len(result.rows) == len(HELD_OUT)


# ---------------------------------------------------------------------------------------------- prompts, limits


def test_prompt_shows_examples_with_their_words_then_the_query(tokenizer):
    recipe = _recipe(few_shot_k=2, selection="random", example_separator="\n\n")
    assembled = assemble_prompt(recipe, TRAIN, "a new film", tokenizer)
    blocks = assembled.text.split("\n\n")
    assert len(blocks) == 3
    for block, example in zip(blocks, assembled.examples):
        assert block == f"Review: {example['text']}\nSentiment: {WORDS[example['label']]}"
    assert blocks[-1] == "Review: a new film\nSentiment:"
    assert assembled.token_count == len(tokenizer(assembled.text)["input_ids"])
    assert assembled.warning is None


@pytest.mark.parametrize("k", [0, 2])
def test_instructions_come_once_at_the_top_with_the_label_words_spelled_out(tokenizer, k):
    recipe = _recipe(few_shot_k=k, selection="random", instructions="  Classify each review as {labels}. ")
    text = assemble_prompt(recipe, TRAIN, "a new film", tokenizer).text
    instructions = "Classify each review as great, terrible or okay."
    assert text.startswith(instructions + "\n\n")
    assert text.count(instructions) == 1
    assert text.removeprefix(instructions + "\n\n") == assemble_prompt(_recipe(few_shot_k=k, selection="random"),
                                                                       TRAIN, "a new film", tokenizer).text


def test_a_prompt_longer_than_the_limit_comes_with_a_warning(model, tokenizer):
    assembled = assemble_prompt(_recipe(few_shot_k=6), TRAIN, "a new film", tokenizer, model, max_tokens=40)
    assert assembled.context_limit == 40
    assert "40" in assembled.warning and "cut" in assembled.warning
    assert assemble_prompt(_recipe(few_shot_k=0), TRAIN, "a film", tokenizer, model).warning is None


def test_evaluation_cuts_overlong_prompts_and_says_so(model, tokenizer):
    result = evaluate_recipe(model, tokenizer, _recipe(few_shot_k=6), TRAIN, HELD_OUT, max_tokens=48)
    assert result.warnings and "cut" in result.warnings[0]
    assert len(result.rows) == len(HELD_OUT)


# --------------------------------------------------------------------------------------------------- evaluating


def test_evaluation_reports_metrics_rows_and_progress(model, tokenizer):
    calls = []
    result = evaluate_recipe(model, tokenizer, _recipe(), TRAIN, HELD_OUT, batch_size=2,
                             progress=lambda done, total: calls.append((done, total)))
    assert result.labels == ["pos", "neg", "meh"]
    assert np.array(result.confusion_matrix).sum() == len(HELD_OUT)
    assert result.accuracy == pytest.approx(np.mean([row["correct"] for row in result.rows]))
    assert 0.0 <= result.macro_f1 <= 1.0
    row = result.rows[0]
    assert set(row) == {"text", "gold", "predicted", "probability", "probabilities", "correct"}
    assert row["probability"] == pytest.approx(max(row["probabilities"].values()))
    assert calls[-1] == (len(HELD_OUT), len(HELD_OUT))
    json.dumps(result.to_dict())  # the UI stores results as JSON


def test_evaluation_refuses_classes_without_a_label_word(model, tokenizer):
    with pytest.raises(ValueError, match="no label word"):
        evaluate_recipe(model, tokenizer, _recipe(), TRAIN, [{"text": "x", "label": "unknown"}])


def test_zero_shot_needs_no_training_examples(model, tokenizer):
    result = evaluate_recipe(model, tokenizer, _recipe(few_shot_k=0), [], HELD_OUT)
    assert len(result.rows) == len(HELD_OUT)


# ------------------------------------------------------------------------------------------------------ recipes


@pytest.mark.parametrize("changes, message", [
    ({"template": "no placeholder"}, "{text}"),
    ({"instructions": "Classify {text}."}, "instructions"),
    ({"label_words": {"a": "same", "b": "same"}}, "share"),
    ({"label_words": {"a": "only"}}, "two classes"),
    ({"selection": "best"}, "selection"),
    ({"order": "sorted"}, "order"),
])
def test_invalid_recipes_say_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        _recipe(**changes)


def test_every_recipe_field_has_help_text():
    assert all(prompt_recipe.recipe_help().values())


# ------------------------------------------------------------------------------------------------- loading LMs


@pytest.mark.parametrize("entry", bundled_models_for(LM_TASK), ids=lambda entry: entry.key)
def test_bundled_language_models_are_installed(entry):
    import importlib.util

    assert bundled_lm(entry.key) is entry
    assert entry.title and entry.description
    assert importlib.util.find_spec(entry.package) is not None


def test_unknown_bundled_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no bundled language model"):
        load_causal_lm("bundled:gpt-9", tmp_path)


def test_a_local_folder_loads_from_safetensors(tmp_path, tokenizer):
    original = _tiny_llama(len(tokenizer))
    original.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    messages = []
    model, loaded_tokenizer = load_causal_lm(str(tmp_path / "tiny"), tmp_path / "models", progress=messages.append,
                                             device="cpu")
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, original(input_ids=ids).logits)
    assert loaded_tokenizer("a film")["input_ids"] == tokenizer("a film")["input_ids"]
    assert messages and not list((tmp_path / "models").glob("*"))


def test_a_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelError):
        load_causal_lm(str(tmp_path / "empty"), tmp_path / "models", device="cpu")


def test_similar_order_uses_a_fresh_random_generator():
    # Shuffling similar examples must not depend on how many queries came before.
    recipe = _recipe(selection="similar", few_shot_k=3, order="shuffled")
    index = prompt_examples.build_similarity_index(recipe, TRAIN, embed=_bag_of_words)
    first = select_examples(recipe, TRAIN, "a great film", index)
    random.seed(123)
    assert select_examples(recipe, TRAIN, "a great film", index) == first


def test_a_lora_adapter_folder_loads_over_its_base_model(tmp_path, tokenizer):
    from peft import LoraConfig, get_peft_model

    base = _tiny_llama(len(tokenizer))
    base.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    tuned = get_peft_model(_tiny_llama(len(tokenizer)), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"],
                                                                   init_lora_weights=False))
    tuned.save_pretrained(tmp_path / "adapter")  # records the base as the folder it was built from: none here
    config_path = tmp_path / "adapter" / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "base_model_name_or_path": str(tmp_path / "base")}))

    model, loaded_tokenizer = load_causal_lm(str(tmp_path / "adapter"), tmp_path / "models", device="cpu")
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, tuned(input_ids=ids).logits, atol=1e-5, rtol=1e-4)
        assert not torch.allclose(model(input_ids=ids).logits, base(input_ids=ids).logits)
    assert loaded_tokenizer("a film")["input_ids"] == tokenizer("a film")["input_ids"]


def test_an_adapter_without_a_known_base_is_a_clear_error(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(ModelError, match="which model it was trained on"):
        load_causal_lm(str(tmp_path / "adapter"), tmp_path / "models", device="cpu")


# ------------------------------------------------------------------------------------------ prompt or fine-tune


def test_the_comparison_scores_every_approach_on_the_same_examples_and_lists_disagreements(model, tokenizer):
    from core.prompting.comparison import Approach, classifier_approach, compare, prompt_approach

    class AlwaysPraise:  # a "fine-tuned classifier": class → probability, most likely first
        def predict(self, texts):
            return [{"pos": 0.7, "neg": 0.2, "meh": 0.1} for _ in texts]

    seen: dict[str, list[str]] = {}

    def spy(name, answers):
        def classify(texts, progress):
            seen[name] = list(texts)
            return [answers(text) for text in texts]
        return Approach(name, "prompt", classify)

    calls = []
    comparison = compare(
        [prompt_approach("3-shot", model, tokenizer, _recipe(), TRAIN),
         classifier_approach("fine-tuned", AlwaysPraise(), batch_size=2),
         spy("oracle", {example["text"]: example["label"] for example in HELD_OUT}.get),
         spy("unknown class", lambda text: "other")],
        HELD_OUT, ["pos", "neg", "meh"], progress=lambda done, total, name: calls.append((done, total, name)))
    summary = {entry["approach"]: entry for entry in comparison.summary}
    assert summary["oracle"]["accuracy"] == 1.0 and comparison.best["approach"] == "oracle"
    assert summary["fine-tuned"]["accuracy"] == pytest.approx(2 / 5) and summary["fine-tuned"]["kind"] == "fine-tuned"
    assert summary["unknown class"]["accuracy"] == 0.0  # an answer outside the classes counts as wrong
    assert seen["oracle"] == [example["text"] for example in HELD_OUT]
    assert [row["gold"] for row in comparison.rows] == [example["label"] for example in HELD_OUT]
    assert comparison.disagreements == comparison.rows  # "other" never agrees with anyone
    assert calls[-1] == (4 * len(HELD_OUT), 4 * len(HELD_OUT), "unknown class")
    json.dumps(comparison.to_dict())


def test_the_comparison_refuses_what_it_cannot_compare():
    from core.prompting.comparison import Approach, compare

    same = Approach("a", "prompt", lambda texts, progress: ["pos"] * len(texts))
    with pytest.raises(ValueError, match="at least one"):
        compare([], HELD_OUT, ["pos", "neg", "meh"])
    with pytest.raises(ValueError, match="same name"):
        compare([same, same], HELD_OUT, ["pos", "neg", "meh"])
    with pytest.raises(ValueError, match="not among"):
        compare([same], HELD_OUT, ["pos", "neg"])


# ------------------------------------------------------------------------------------- a model with known logits


def _bigram_model(table: dict[str, dict[str, float]]):
    """A Llama whose next-token logits depend only on the current token, and are exactly `table[current][next]`.

    Attention and MLP outputs are zeroed, so each position's hidden state is its token's embedding (one-hot here);
    the final norm scales it by a known factor, which the output layer divides back out.
    """
    from tokenizers import models as token_models

    words = ["<pad>", "<bos>", "<eos>", "<unk>", "Review:", "Sentiment:", "good", "bad", "meh", "N/A", "great",
             "terrible"]
    vocabulary = {word: i for i, word in enumerate(words)}
    word_tokenizer = Tokenizer(token_models.WordLevel(vocabulary, unk_token="<unk>"))
    word_tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    word_tokenizer.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=word_tokenizer, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")
    size = len(words)
    config = LlamaConfig(vocab_size=size, hidden_size=size, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=1, num_key_value_heads=1, head_dim=size, rms_norm_eps=1e-9,
                         max_position_embeddings=64, tie_word_embeddings=False, pad_token_id=0, bos_token_id=1)
    bigram = LlamaForCausalLM(config).eval()
    logits = torch.zeros(size, size)  # [current, next]
    for current, row in table.items():
        for following, value in row.items():
            logits[vocabulary[current], vocabulary[following]] = value
    with torch.no_grad():
        bigram.model.embed_tokens.weight.copy_(torch.eye(size))
        for layer in bigram.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        bigram.lm_head.weight.copy_(logits.T / size ** 0.5)  # RMS-normalising a one-hot vector multiplies it by √size
    return bigram, fast, vocabulary


def _review_recipe(**changes) -> PromptRecipe:
    """The recipe the known-logits tests share: "Review: {text}", answered by "great" (pos) or "terrible" (neg)."""
    settings = {"calibrate": False, "calibrate_against": "content-free", "draws": 1, **changes}
    return PromptRecipe(template="Review: {text}", label_words={"pos": "great", "neg": "terrible"}, **settings)


def _answers(table: dict[str, dict[str, float]], texts: list[str]) -> np.ndarray:
    """What the bigram model says after each text: softmax over ("great", "terrible")."""
    return softmax(np.array([[table[t]["great"], table[t]["terrible"]] for t in texts]))


def _divided_out(probabilities: np.ndarray, bias: np.ndarray) -> np.ndarray:
    adjusted = probabilities / bias
    return adjusted / adjusted.sum(axis=1, keepdims=True)


def test_rank_scores_and_calibration_match_a_model_with_known_logits():
    # After "good" the model leans to "great", after "bad" to "terrible"; after "meh" slightly to "great", but it
    # leans to "great" even more after the content-free "N/A": calibration turns "meh" into "terrible".
    table = {"good": {"great": 2.0, "terrible": 0.0, "meh": 5.0}, "bad": {"great": 0.0, "terrible": 1.5},
             "meh": {"great": 0.8, "terrible": 0.2}, "N/A": {"great": 1.0, "terrible": 0.0}}
    bigram, word_tokenizer, _ = _bigram_model(table)
    recipe = _review_recipe(few_shot_k=0)
    texts = ["good", "bad", "meh"]

    raw = predict_probabilities(bigram, word_tokenizer, recipe, [], texts).probabilities
    expected_raw = _answers(table, texts)
    np.testing.assert_allclose(raw, expected_raw, atol=1e-5)  # other words' logits ("meh": 5.0) cancel out

    calibrated = predict_probabilities(bigram, word_tokenizer, replace(recipe, calibrate=True), [], texts)
    content_free = _answers(table, ["N/A"])[0]
    np.testing.assert_allclose(calibrated.probabilities, _divided_out(expected_raw, content_free), atol=1e-5)
    assert raw.argmax(axis=1).tolist() == [0, 1, 0]
    assert calibrated.probabilities.argmax(axis=1).tolist() == [0, 1, 1]


def test_few_shot_scores_with_the_cached_prefix_match_the_known_logits():
    table = {"good": {"great": 2.0, "terrible": 0.0}, "bad": {"great": 0.0, "terrible": 1.5}}
    bigram, word_tokenizer, _ = _bigram_model(table)
    recipe = _review_recipe(few_shot_k=2, example_separator=" ")
    train = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    assert assemble_prompt(recipe, train, "bad").text.count("Review:") == 3
    # The worked examples are read once and cached; the label still follows the query's last word.
    result = predict_probabilities(bigram, word_tokenizer, recipe, train, ["good", "bad"])
    expected = softmax(np.array([[2.0, 0.0], [0.0, 1.5]]))
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)


def test_calibration_against_training_texts_divides_out_their_average_answer():
    table = {"good": {"great": 2.0, "terrible": 0.0}, "bad": {"great": 0.0, "terrible": 1.5},
             "meh": {"great": 0.8, "terrible": 0.2}}
    bigram, word_tokenizer, _ = _bigram_model(table)
    recipe = _review_recipe(few_shot_k=0, calibrate=True, calibrate_against="training-texts")
    train = [{"text": "good", "label": "pos"}, {"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    bias = _answers(table, ["good", "bad"]).mean(axis=0)  # each distinct training text once
    calibrated = predict_probabilities(bigram, word_tokenizer, recipe, train, ["meh", "good"])
    np.testing.assert_allclose(calibrated.probabilities, _divided_out(_answers(table, ["meh", "good"]), bias),
                               atol=1e-5)
    assert not calibrated.warnings

    without_texts = predict_probabilities(bigram, word_tokenizer, recipe, [], ["meh"])
    assert "N/A" in without_texts.warnings[0]


# A bigram model that says "great" after every text, after "bad" only a little less so: its average shows the lean.
LEANING = {"good": {"great": 3.0, "terrible": 0.0}, "bad": {"great": 0.5, "terrible": 0.0},
           "meh": {"great": 1.5, "terrible": 0.0}}


def test_calibration_against_the_classified_texts_divides_out_their_own_average_answer():
    table = LEANING
    bigram, word_tokenizer, _ = _bigram_model(table)
    recipe = _review_recipe(few_shot_k=0, calibrate=True, calibrate_against="classified-texts")
    texts = ["good", "bad", "meh"] * 6  # enough texts for their average to be the bias
    raw = _answers(table, texts)
    calibrated = predict_probabilities(bigram, word_tokenizer, recipe, [], texts)
    np.testing.assert_allclose(calibrated.probabilities, _divided_out(raw, raw.mean(axis=0)), atol=1e-5)
    assert raw.argmax(axis=1).tolist()[:3] == [0, 0, 0]
    assert calibrated.probabilities.argmax(axis=1).tolist()[:3] == [0, 1, 0] and not calibrated.warnings

    # One text alone would always come out 50/50: the training texts measure the bias instead, and it says so.
    train = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    alone = predict_probabilities(bigram, word_tokenizer, recipe, train, ["meh"])
    assert "training texts were used instead" in alone.warnings[0]
    assert alone.probabilities[0].max() > 0.51


def test_a_new_recipe_corrects_the_models_lean_without_being_asked():
    # A person who never opens the calibration settings still gets the lean divided out: with worked examples an
    # unlucky draw otherwise makes the model answer one class for everything (SST-2 draws scored as low as 0.51).
    table = LEANING
    bigram, word_tokenizer, _ = _bigram_model(table)
    fresh = PromptRecipe(template="Review: {text}", label_words={"pos": "great", "neg": "terrible"}, few_shot_k=0)
    texts = ["good", "bad", "meh"] * 6
    predicted = predict_probabilities(bigram, word_tokenizer, fresh, [], texts).probabilities.argmax(axis=1)
    raw = predict_probabilities(bigram, word_tokenizer, replace(fresh, calibrate=False), [], texts)
    assert raw.probabilities.argmax(axis=1).tolist()[:3] == [0, 0, 0]  # "great" for everything
    assert predicted.tolist()[:3] == [0, 1, 0]  # "bad" is now "terrible"


def test_calibration_texts_are_a_fixed_sample_that_leaves_out_the_shown_examples():
    recipe = _recipe(few_shot_k=3, calibrate=True, calibrate_against="training-texts")
    shown = select_examples(recipe, TRAIN)
    texts = prompting.calibration_texts(recipe, TRAIN, shown)
    assert len(texts) == len(TRAIN) - 3 and not {example["text"] for example in shown} & set(texts)
    assert texts == prompting.calibration_texts(recipe, TRAIN, shown)


def test_similar_examples_for_a_training_text_never_show_the_text_itself(tokenizer, monkeypatch):
    index = prompt_examples.build_similarity_index(_recipe(), TRAIN, embed=_bag_of_words)
    recipe = _recipe(selection="similar", few_shot_k=2, calibrate=True, calibrate_against="training-texts")
    calls = []
    original = prompting._tokenize_for_scoring

    def spy(tokenizer, recipe, texts, examples_per_text, fixed_examples):
        calls.append((list(texts), examples_per_text))
        return original(tokenizer, recipe, texts, examples_per_text, fixed_examples)

    monkeypatch.setattr(prompting, "_tokenize_for_scoring", spy)
    predict_probabilities(_tiny_llama(len(tokenizer)), tokenizer, recipe, TRAIN, ["a great film"], index=index)
    texts, examples_per_text = calls[-1]  # the calibration pass over training texts
    assert sorted(texts) == sorted(example["text"] for example in TRAIN)
    for text, examples in zip(texts, examples_per_text):
        assert text not in [example["text"] for example in examples]
        assert len(examples) == 2
