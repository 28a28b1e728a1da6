"""Task-aware starting prompts, the automatic prompt search, one text answered fast, and one yardstick for prompts and
trained classifiers.

Models are tiny and built in the test (or a stand-in scorer with known accuracies), so every test runs in seconds;
nothing touches the network.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from core.prompting import search
from core.prompting.classify import calibrate_probabilities, predict_probabilities
from core.prompting.comparison import Comparison, classifier_approach, compare, cut_to_tokens, with_baselines
from core.prompting.defaults import (
    NEUTRAL_TEMPLATE,
    SENTIMENT_TEMPLATE,
    TOPIC_TEMPLATE,
    label_word_variants,
    names_are_numbers,
    starting_recipe,
    task_kind,
)
from core.prompting.one_text import ready_prompt
from core.prompting.recipe import PromptRecipe
from core.prompting.search import CLEAR_GAIN, SearchError, SearchSettings, find_best_prompt, hold_apart, planned_count
from core.prompting.search_job import find_job, run, searches_folder
from tests.core.prompting.test_prompting import HELD_OUT, TRAIN, WORDS, _tiny_llama, byte_level_tokenizer

NEWS = ["World", "Sports", "Business", "Sci/Tech"]


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return byte_level_tokenizer()


# ---------------------------------------------------------------------------------------- starting prompts


@pytest.mark.parametrize("labels, kind, template", [
    (NEWS, "topic", TOPIC_TEMPLATE),
    (["negative", "positive"], "sentiment", SENTIMENT_TEMPLATE),
    (["Very negative", "Neutral", "Very positive"], "sentiment", SENTIMENT_TEMPLATE),
    (["spam", "ham"], "other", NEUTRAL_TEMPLATE),
    (["1", "2", "3", "4"], "other", NEUTRAL_TEMPLATE),
])
def test_a_new_dataset_starts_from_its_class_names_and_a_template_that_fits_them(labels, kind, template):
    assert task_kind(labels) == kind
    recipe = starting_recipe(labels)
    assert recipe.template == template
    assert list(recipe.label_words) == labels
    assert list(recipe.label_words.values()) == [label.lower() for label in labels]


def test_classes_stored_as_numbers_are_recognised():
    assert names_are_numbers(["1", "2", "3", "4"]) and names_are_numbers(["0", "1"])
    assert not names_are_numbers(["1", "two"])


def test_label_word_variants_give_every_class_its_own_word():
    variants = label_word_variants(["0", "1"], {"0": "negative", "1": "positive"})
    assert variants[0] == {"0": "negative", "1": "positive"}
    assert {"0": "bad", "1": "good"} in variants and {"0": "terrible", "1": "great"} in variants
    assert label_word_variants(NEWS)[:2] == [{label: label.lower() for label in NEWS}, {label: label for label in NEWS}]
    for words in variants + label_word_variants(NEWS):
        assert len(set(words.values())) == len(words)


# ----------------------------------------------------------------------------------------------- the search


REVIEWS = [{"text": f"review number {number}", "label": "pos" if number % 3 else "neg"} for number in range(90)]


def test_the_texts_held_apart_keep_each_class_share_and_are_fixed_by_the_seed():
    held = hold_apart(REVIEWS, 30, seed=3)
    assert len(held) == 30 and sum(example["label"] == "neg" for example in held) == 10
    assert held == hold_apart(REVIEWS, 30, seed=3) and held != hold_apart(REVIEWS, 30, seed=4)


def _stand_in_scorer(monkeypatch, accuracy_of):
    """Replace the model's scoring by known accuracies; record what each candidate was scored on."""
    scored = []

    def score(model, tokenizer, recipe, train_examples, held, batch_size=16):
        scored.append((recipe, list(train_examples), list(held)))
        return accuracy_of(recipe), -1.0 + accuracy_of(recipe), [{"text": f"shown {recipe.seed}", "label": "pos"}]

    monkeypatch.setattr(search, "score_candidate", score)
    return scored


def test_the_search_tries_worked_examples_then_templates_then_label_words_and_keeps_the_best(monkeypatch):
    start = PromptRecipe(template=SENTIMENT_TEMPLATE, label_words={"neg": "negative", "pos": "positive"},
                         calibrate=False, few_shot_k=4)
    settings = SearchSettings(draws=4, held_apart=40, seed=2)
    # The sets drawn from seed 2003 on are the best worked examples; with them the neutral template, then
    # "bad"/"good", do clearly better still; "great" does a little better, not clearly enough to be kept.
    bonus = {2003: 0.05, NEUTRAL_TEMPLATE: 0.03, "good": 0.04, "great": 0.045 - CLEAR_GAIN / 2}
    scored = _stand_in_scorer(monkeypatch, lambda r: 0.8 + bonus.get(r.seed, 0) + bonus.get(r.template, 0)
                              + bonus.get(r.label_words["pos"], 0))
    reported, tried = [], []
    result = find_best_prompt(None, None, start, REVIEWS, settings, progress=lambda *a: reported.append(a),
                              on_tried=tried.append)
    assert [t.stage for t in result.tried] == ["worked examples"] * 4 + ["template"] * 2 + ["label words"] * 3
    # Each candidate averages 3 sets of worked examples (seeds 2000-2002, 2003-2005, …): none shared.
    assert [t.recipe.seeds for t in result.tried[:4]] == [[2000, 2001, 2002], [2003, 2004, 2005],
                                                         [2006, 2007, 2008], [2009, 2010, 2011]]
    assert all(t.recipe.seed == 2003 for t in result.tried[4:])
    assert result.best == replace(start, seed=2003, template=NEUTRAL_TEMPLATE, calibrate=True,
                                  calibrate_against="classified-texts", label_words={"neg": "bad", "pos": "good"})
    assert result.planned == planned_count(start, settings) == 9 and not result.out_of_time
    assert tried == result.tried and reported[-1][:2] == (9, 9)
    # Every candidate is scored on the same training texts held apart; the held-out examples are never passed in.
    held = {json.dumps(scored_on, sort_keys=True) for _, _, scored_on in scored}
    assert len(held) == 1 and len(scored[0][2]) == 40
    assert all(candidate.calibrate for candidate, _, _ in scored)  # adjusted for the lean, as evaluated later


def test_the_search_stops_when_its_time_is_up_and_keeps_the_best_so_far(monkeypatch):
    _stand_in_scorer(monkeypatch, lambda recipe: 0.5 + recipe.seed % 1000 / 100)
    now = [0.0]

    def clock():
        now[0] += 5.0  # every look at the clock: 5 s later (a candidate costs about 10 s)
        return now[0]

    start = PromptRecipe(label_words={"neg": "negative", "pos": "positive"})
    result = find_best_prompt(None, None, start, REVIEWS, SearchSettings(seconds=40, draws=8), clock=clock)
    assert result.out_of_time and 2 <= len(result.tried) < 8
    assert result.best.seed == max(t.recipe.seed for t in result.tried)


def test_the_search_says_when_there_are_too_few_training_examples():
    with pytest.raises(SearchError, match="at least 20 labelled training examples"):
        find_best_prompt(None, None, PromptRecipe(label_words={"neg": "no", "pos": "yes"}), REVIEWS[:15])


def test_a_search_job_runs_in_its_own_process_files_and_saves_the_winner(workspace, sample_dataset, monkeypatch):
    from core.prompting import search_job
    from tests.pages.test_prompt_lab_page import make_tiny_lm

    folder = make_tiny_lm(workspace.root / "tiny-lm")
    start = starting_recipe(sample_dataset.info.labels)
    job_folder = searches_folder(workspace) / "20260101-000000-cafe"
    job_folder.mkdir(parents=True)
    (job_folder / search_job.REQUEST).write_text(json.dumps({
        "model": str(folder), "models_dir": str(workspace.models), "workspace": str(workspace.root),
        "dataset": "cafe", "recipe": start.__dict__ | {"label_words": start.label_words},
        "settings": {"seconds": 600, "held_apart": 24, "draws": 2, "seed": 0}, "recipe_name": "best for cafe"}))
    document = run(job_folder)
    assert "error" not in document, document
    job = find_job(workspace, job_folder.name)
    assert job.state == "finished" and len(job.tried()) == document["planned"]
    from core.prompting.saved_recipes import load_recipe

    saved = load_recipe(workspace, "best for cafe")
    assert saved.dataset == "cafe" and saved.recipe.template == document["best"]["template"]
    assert find_job(workspace, "../../etc") is None and find_job(workspace, "missing") is None


# ----------------------------------------------------------------------------------------------- one text


@pytest.mark.parametrize("changes", [
    {"few_shot_k": 2, "calibrate": True, "calibrate_against": "training-texts"},
    {"few_shot_k": 2, "calibrate": True, "calibrate_against": "classified-texts"},
    {"few_shot_k": 3, "calibrate": True, "calibrate_against": "content-free", "instructions": "Say {labels}."},
    {"few_shot_k": 2, "calibrate": False},
    {"few_shot_k": 0, "calibrate": True, "calibrate_against": "content-free"},
])
def test_one_text_answered_from_the_cached_examples_matches_scoring_it_from_scratch(tokenizer, changes):
    model = _tiny_llama(len(tokenizer))
    recipe = PromptRecipe(label_words=WORDS, **changes)
    reported = []
    ready = ready_prompt(model, tokenizer, recipe, TRAIN, progress=lambda done, total: reported.append(done))
    assert len(ready.sets) == len(recipe.seeds) == (3 if recipe.few_shot_k else 1)
    for example in HELD_OUT:
        answers = []
        for ready_set in ready.sets:  # each set answers on its own, its lean measured once
            one_set = ready_set.recipe
            if recipe.calibrate and recipe.calibrate_against != "content-free":
                raw = predict_probabilities(model, tokenizer, replace(one_set, calibrate=False), TRAIN,
                                            [example["text"]]).probabilities
                answers.append(calibrate_probabilities(raw, ready_set.bias)[0])
            else:
                answers.append(predict_probabilities(model, tokenizer, one_set, TRAIN,
                                                     [example["text"]]).probabilities[0])
        expected = np.mean(answers, axis=0)
        answer = ready.classify(example["text"])
        np.testing.assert_allclose([answer[label] for label in recipe.labels], expected / expected.sum(),
                                   atol=1e-5)
    assert bool(reported) == (recipe.calibrate and recipe.calibrate_against != "content-free")


def test_one_text_with_several_sets_answers_as_evaluating_it_does(tokenizer):
    # Without adjusting (or against a blank text) the one-text answers are exactly the batch's: the average of
    # every set's answers.
    model = _tiny_llama(len(tokenizer))
    for recipe in (PromptRecipe(label_words=WORDS, few_shot_k=2, calibrate=False),
                   PromptRecipe(label_words=WORDS, few_shot_k=2, calibrate_against="content-free")):
        ready = ready_prompt(model, tokenizer, recipe, TRAIN)
        batch = predict_probabilities(model, tokenizer, recipe, TRAIN, [e["text"] for e in HELD_OUT]).probabilities
        one = [[ready.classify(e["text"])[label] for label in recipe.labels] for e in HELD_OUT]
        np.testing.assert_allclose(one, batch, atol=1e-5)


def test_the_lean_for_one_text_is_the_training_texts_average_answer(tokenizer):
    model = _tiny_llama(len(tokenizer))
    recipe = PromptRecipe(label_words=WORDS, few_shot_k=2, calibrate_against="classified-texts")
    ready = ready_prompt(model, tokenizer, recipe, TRAIN)
    from core.prompting.classify import training_text_bias

    for ready_set in ready.sets:
        np.testing.assert_allclose(ready_set.bias, training_text_bias(model, tokenizer, ready_set.recipe, TRAIN),
                                   atol=1e-6)


# ----------------------------------------------------------------------------------------------- one yardstick


def _wordpiece() -> PreTrainedTokenizerFast:
    texts = [example["text"] for example in TRAIN + HELD_OUT] * 3
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=60, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    wordpiece.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                             special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=wordpiece, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")


@pytest.mark.parametrize("max_tokens", [4, 7, 12, 200])
def test_a_text_cut_where_the_run_cut_it_reads_the_same_tokens(max_tokens):
    wordpiece = _wordpiece()
    for example in HELD_OUT + TRAIN:
        cut = cut_to_tokens(wordpiece, example["text"], max_tokens)
        assert wordpiece(cut)["input_ids"] == wordpiece(example["text"], truncation=True,
                                                         max_length=max_tokens)["input_ids"]


class _Predictor:
    """A trained classifier as the Playground loads it: reads up to 512 tokens of each text."""

    def __init__(self):
        self.tokenizer = _wordpiece()
        torch.manual_seed(0)
        self.model = BertForSequenceClassification(BertConfig(
            vocab_size=len(self.tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, num_labels=3)).eval()
        self.labels = list(WORDS)

    @torch.inference_mode()
    def predict(self, texts, max_length=512):
        batch = self.tokenizer(list(texts), truncation=True, max_length=max_length, padding=True,
                               return_tensors="pt")
        probabilities = self.model(**batch).logits.softmax(-1).numpy()
        return [dict(zip(self.labels, row.tolist())) for row in probabilities]


def test_a_trained_classifier_is_scored_on_the_text_its_run_read():
    predictor = _Predictor()
    texts = [example["text"] for example in HELD_OUT]
    as_trained = [max(p, key=p.get) for p in predictor.predict(texts, max_length=6)]
    approach = classifier_approach("trained", predictor, max_tokens=6)
    assert approach.classify(texts, None) == as_trained


def test_the_floor_is_measured_on_the_same_rows_and_never_wins():
    comparison = compare([classifier_approach("trained", _Predictor())], HELD_OUT, list(WORDS))
    floored = with_baselines(comparison, [example["label"] for example in TRAIN])
    assert isinstance(floored, Comparison)
    guessing, always = floored.summary[-2:]
    assert guessing["approach"] == "Guessing" and guessing["accuracy"] == pytest.approx(1 / 3)
    assert always["approach"] == "Always “pos”" and always["accuracy"] == pytest.approx(2 / 5)
    assert floored.best["approach"] == "trained"


def test_several_sets_of_worked_examples_average_their_answers(tokenizer):
    model = _tiny_llama(len(tokenizer))
    recipe = PromptRecipe(label_words=WORDS, few_shot_k=2, seed=4, draws=3, calibrate_against="classified-texts")
    texts = [example["text"] for example in HELD_OUT + TRAIN] * 2  # enough to adjust on the texts themselves
    reported = []
    together = predict_probabilities(model, tokenizer, recipe, TRAIN, texts,
                                     progress=lambda done, total: reported.append((done, total)))
    apart = [predict_probabilities(model, tokenizer, recipe.one_set(seed), TRAIN, texts).probabilities
             for seed in (4, 5, 6)]
    np.testing.assert_allclose(together.probabilities, np.mean(apart, axis=0), atol=1e-6)
    assert reported[-1] == (3 * len(texts), 3 * len(texts))
    assert PromptRecipe(label_words=WORDS, few_shot_k=0, draws=3).seeds == [0]  # nothing drawn: one set
