"""The Prompt lab through Streamlit's AppTest, with a tiny language model folder instead of the bundled Gemma.

The model source is what a person would type under "Another model": a local folder. The folder holds a 2-layer
Llama with a byte-level tokenizer trained on the café sample, so every action runs in seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from core.config.presets import default_config
from core.data.sample_datasets import cafe_feedback
from core.engine.run_folder import update_status
from core.engine.run_status import RunState
from core.engine.runs import create_run
from core.prompting import one_text
from tests.support.apptest import texts
from tests.support.paths import ROOT


def make_tiny_lm(folder: Path) -> Path:
    """A tiny causal LM folder (safetensors + tokenizer), as `load_causal_lm` reads any local model."""
    texts = cafe_feedback()["message"].tolist() + ["Review: a text\nSentiment: praise", "N/A"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    bpe.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<bos>", eos_token="<eos>",
                                        pad_token="<pad>", model_max_length=256)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def finished_classifier_run(workspace, dataset_name: str, labels: list[str]):
    """A text-classification run folder holding a (tiny, untrained) classifier, as a finished run leaves it."""
    run = create_run(workspace, default_config("text-classification", dataset_name))
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(_tiny_lm_for_tokenizer(workspace)))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(run.model_dir)
    tokenizer.save_pretrained(run.model_dir)
    update_status(run.folder, state=RunState.COMPLETED, message="Finished.")
    return run


def _tiny_lm_for_tokenizer(workspace) -> Path:
    folder = workspace.root / "tiny-lm"
    return folder if (folder / "config.json").is_file() else make_tiny_lm(folder)


def lab(folder: Path) -> AppTest:
    """The Prompt lab with the tiny model loaded, as a person does it: "Another model", type the folder, Load."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/prompt_lab.py")
    at.run()
    assert "Load a model to start" in texts(at.info)
    at.selectbox(key="prompt_model_choice").set_value("other").run()
    at.text_input(key="prompt_model_other").set_value(str(folder)).run()
    at.button(key="prompt_load").click().run()
    assert not at.exception, at.exception
    return at


def table_with(at: AppTest, column: str):
    """The first table on the page that has this column (AppTest does not expose a dataframe's key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


@pytest.fixture
def tiny_lm(workspace) -> Path:
    return _tiny_lm_for_tokenizer(workspace)


def test_without_a_dataset_the_lab_points_to_the_data_page_and_can_still_write(workspace, tiny_lm):
    at = lab(tiny_lm)
    assert "Save a dataset of texts with labels on the Data page" in texts(at.info)
    at.button(key="prompt_gen_go").click().run()
    assert not at.exception, at.exception
    assert at.session_state["prompt_gen_output"]  # the streamed text was written and kept


WRITE_TAB = ":material/edit_note: Write freely"


def test_generating_keeps_the_write_tab_open_and_the_text_as_written(workspace, tiny_lm, monkeypatch):
    from core.lm.writing import TextGenerator

    written = "First line\n\n1887. *not italic*\n  - not a list"
    monkeypatch.setattr(TextGenerator, "stream", lambda self, prompt, settings: iter([written[:14], written[14:]]))
    at = lab(tiny_lm)
    assert at.get_by_key("prompt_lab_tab").proto.tab_container.default_tab_index == 0
    at.session_state["prompt_lab_tab"] = WRITE_TAB  # what clicking the tab sends
    at.run()
    # The first Generate after loading: the Load button is gone from above the tabs, which used to reopen "Classify".
    at.button(key="prompt_gen_go").click().run()
    assert not at.exception, at.exception
    assert at.session_state["prompt_lab_tab"] == WRITE_TAB
    assert at.get_by_key("prompt_lab_tab").proto.tab_container.default_tab_index == 2
    shown = at.get_by_key("prompt_gen_written").code
    assert [block.value for block in shown] == [written]  # line breaks, "1887." and "*" kept, not Markdown
    assert not any("not italic" in block.value for block in at.markdown)
    at.number_input(key="prompt_gen_seed").set_value(3).run()  # any later rerun keeps the tab and the text
    assert at.get_by_key("prompt_lab_tab").proto.tab_container.default_tab_index == 2
    assert [block.value for block in at.get_by_key("prompt_gen_written").code] == [written]


def test_a_prompt_longer_than_the_model_reads_is_flagged_before_generating(workspace, tiny_lm):
    from transformers import AutoTokenizer

    at = lab(tiny_lm)
    assert "tokens; the model reads 256 at a time" in texts(at.caption)
    assert "left out" not in texts(at.warning)
    long_prompt = " ".join(cafe_feedback()["message"].tolist())
    at.text_area(key="prompt_gen_prompt").set_value(long_prompt).run()
    tokens = len(AutoTokenizer.from_pretrained(str(tiny_lm))(long_prompt)["input_ids"])
    assert tokens > 256
    assert f"The prompt is {tokens:,} tokens; the model reads 256 at a time." in texts(at.caption)
    # 200 new tokens do not fit beside it: the model reads <bos> and the newest 127 tokens, half a context at a time.
    left_out = tokens - 128
    assert f"its first {left_out:,} tokens will be left out" in texts(at.warning)
    assert any(long_prompt.startswith(block.value[:40]) for block in at.code)  # what is cut, shown as written
    assert "prompt_gen_output" not in at.session_state  # all this before anything was generated


def test_classify_evaluate_compare_and_keep_a_recipe(workspace, sample_dataset, tiny_lm, monkeypatch):
    run = finished_classifier_run(workspace, "cafe", sample_dataset.info.labels)
    at = lab(tiny_lm)
    assert at.selectbox(key="prompt_dataset").value == "cafe"
    # The café's classes (praise, complaint, question) are its answer words from the start.
    assert {label: at.text_input(key=f"prompt_word_cafe_{label}").value for label in sample_dataset.info.labels} == {
        "praise": "praise", "complaint": "complaint", "question": "question"}

    # The recipe: label words per class, two worked examples; the exact prompt and its length are shown.
    for label, word in {"praise": "good", "complaint": "bad", "question": "ask"}.items():
        at.text_input(key=f"prompt_word_cafe_{label}").set_value(word).run()
    at.number_input(key="prompt_k").set_value(2).run()
    at.text_input(key="prompt_instructions_cafe").set_value("Is each review {labels}?").run()
    prompt = at.code[0].value
    assert prompt.startswith("Is each review bad, good or ask?\n\nReview:")  # the classes' order
    assert prompt.count("Review:") == 3 and prompt.endswith("\nSentiment:")
    assert sum(f"Sentiment: {word}" in prompt for word in ("good", "bad", "ask")) == 2
    assert any("tokens of the 256 it can read" in e.label for e in at.expander)
    # A new recipe adjusts for the model's lean; one text is adjusted with the training texts' average answer,
    # measured once for text after text.
    measured = []
    measure = one_text.training_text_bias
    monkeypatch.setattr(one_text, "training_text_bias", lambda *a, **k: measured.append(1) or measure(*a, **k))
    at.button(key="prompt_try_go").click().run()
    assert "adjusted for the model's lean measured on your training texts" in texts(at.markdown)
    at.text_area(key="prompt_try_cafe").set_value("Is the terrace open on Sundays?").run()
    at.button(key="prompt_try_go").click().run()
    assert "adjusted for the model's lean measured on your training texts" in texts(at.markdown)
    assert len(measured) == 3  # once for each of the 3 sets of worked examples, not again for the second text

    # Measure on the held-out part: metrics, confusion matrix, one row per example.
    at.number_input(key="prompt_eval_count").set_value(20).run()
    at.button(key="prompt_eval_go").click().run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric][:2] == ["Accuracy", "Macro-F1"]
    rows = table_with(at, "correct")
    assert len(rows) == 20 and set(rows.columns) == {"text", "right answer", "its answer", "sure", "correct"}

    # Prompt or fine-tune: both prompts, the finished run and the floor, on the same examples, which are named.
    at.number_input(key="prompt_compare_count").set_value(15).run()
    at.button(key="prompt_compare_go").click().run()
    assert not at.exception, at.exception
    table = table_with(at, "approach")
    most_common = Counter(row["label"] for row in sample_dataset.records("train")).most_common(1)[0][0]
    assert list(table["approach"]) == ["prompt without worked examples", "prompt with 2 worked examples",
                                       f"trained: {run.id}", "Guessing", f"Always “{most_common}”"]
    assert list(table["kind"]) == ["prompt", "prompt", "fine-tuned", "baseline", "baseline"]
    assert table["accuracy"].iloc[3] == pytest.approx(1 / 3)
    held_out = len(sample_dataset.records("validation"))
    assert f"the first 15 of the {held_out} held-out examples of “cafe” (rows 1 to 15)" in texts(at.caption)
    assert "Best on these 15 examples" in texts(at.success)
    assert "Where they disagree" in texts(at.markdown)

    # Save the recipe, change the settings, load it back.
    at.text_input(key="prompt_recipe_name").set_value("cafe two-shot").run()
    at.button(key="prompt_recipe_save").click().run()
    saved = json.loads((workspace.root / "recipes" / "cafe-two-shot.json").read_text())
    assert saved["recipe"]["few_shot_k"] == 2 and saved["recipe"]["label_words"]["complaint"] == "bad"
    at.number_input(key="prompt_k").set_value(0).run()
    at.text_input(key="prompt_instructions_cafe").set_value("").run()
    at.text_input(key="prompt_word_cafe_complaint").set_value("awful").run()
    at.button(key="prompt_recipe_load").click().run()
    assert at.number_input(key="prompt_k").value == 2
    assert at.text_input(key="prompt_word_cafe_complaint").value == "bad"
    assert at.text_input(key="prompt_instructions_cafe").value == "Is each review {labels}?"
    assert "Loaded “cafe two-shot”." in texts(at.success)


def test_a_broken_recipe_or_model_is_explained_not_a_traceback(workspace, sample_dataset, tiny_lm):
    at = lab(tiny_lm)
    at.text_area(key="prompt_template_cafe").set_value("no placeholder here").run()
    assert not at.exception
    assert "{text}" in texts(at.error)
    at.text_input(key="prompt_word_cafe_praise").set_value("same").run()
    at.text_input(key="prompt_word_cafe_complaint").set_value("same").run()
    assert "share the same label word" in texts(at.error)

    at.text_input(key="prompt_model_other").set_value(str(workspace.root / "no-such-model")).run()
    at.button(key="prompt_load").click().run()
    assert not at.exception
    assert "Could not load" in texts(at.error)


def test_the_bundled_model_is_converted_once_with_a_visible_message(workspace, tiny_lm, monkeypatch):
    import shutil

    from ui.prompt_lab import models as prompt_models

    conversions = []

    def fake_conversion(key, models_dir, progress=None):  # stands in for the minute-long GGUF conversion
        conversions.append(key)
        progress("De-quantising the weights…")
        shutil.copytree(tiny_lm, Path(models_dir) / key)
        return Path(models_dir) / key

    monkeypatch.setattr(prompt_models, "bundled_lm_folder", fake_conversion)
    prompt_models._cached.clear()
    for visit in range(2):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("pages/prompt_lab.py")
        at.run()
        assert at.selectbox(key="prompt_model_choice").value == "bundled:gemma-3-270m"
        at.button(key="prompt_load").click().run()
        assert not at.exception, at.exception
        statuses = [block for block in at.get("status") if "converted" in block.label]
        assert bool(statuses) == (visit == 0)  # the message shows on the first load only
        assert all(block.state == "complete" for block in statuses)
        assert at.button(key="prompt_gen_go")  # the model is ready to use
    assert conversions == ["gemma-3-270m"]
    prompt_models._cached.clear()


def test_a_fine_tuned_language_model_run_is_offered_and_writes(workspace, tiny_lm):
    import shutil

    run = create_run(workspace, default_config("text-generation", "poems"))
    shutil.copytree(tiny_lm, run.model_dir)
    update_status(run.folder, state=RunState.COMPLETED, message="Finished.")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/prompt_lab.py")
    at.run()
    choice = at.selectbox(key="prompt_model_choice")
    assert f"run:{run.id}" in choice.options or f"Fine-tuned run {run.id}" in choice.options
    choice.set_value(f"run:{run.id}").run()
    at.button(key="prompt_load").click().run()
    assert not at.exception, at.exception
    at.button(key="prompt_gen_go").click().run()
    assert not at.exception, at.exception
    assert "prompt_gen_output" in at.session_state


# ------------------------------------------------------------------------- a new dataset, the search, the memory

SST2 = Path("/work/shared/datasets/sst2")
NEWS = [("World", "The prime minister met foreign leaders at the summit in Geneva to discuss the ceasefire."),
        ("Sports", "The striker scored twice as the home team won the cup final on penalties."),
        ("Business", "Shares fell sharply after the bank reported lower quarterly profits than expected."),
        ("Sci/Tech", "Researchers released a new chip that runs neural networks on a phone battery.")]


def save_rows(workspace, name: str, rows: list[tuple[str, str]], validation_share: float = 0.25):
    """(label, text) rows checked and saved as a text-classification dataset, as the Data page saves them."""
    import pandas as pd

    from core.data.splits import split_train_validation
    from core.tasks.text_classification.data import check_classification, save_text_classification

    checked = check_classification(pd.DataFrame(rows, columns=["label", "text"]), "text", "label")
    train, validation = split_train_validation(checked.frame, validation_share)
    return save_text_classification(workspace, name, train, validation, "test", checked.checks)


def test_a_dataset_of_named_topics_opens_with_its_class_names_as_answers(workspace, tiny_lm):
    save_rows(workspace, "news", [(label, f"{text} ({number})") for number in range(12) for label, text in NEWS])
    at = lab(tiny_lm)
    assert at.selectbox(key="prompt_dataset").value == "news"
    words = {label: at.text_input(key=f"prompt_word_news_{label}").value for label, _ in NEWS}
    assert words == {"World": "world", "Sports": "sports", "Business": "business", "Sci/Tech": "sci/tech"}
    assert at.text_area(key="prompt_template_news").value == "Text: {text}\nTopic:"  # not a review's sentiment
    assert at.code[0].value.endswith("\nTopic:") and "Review:" not in at.code[0].value
    assert not at.exception and not at.error


def test_find_the_best_prompt_on_real_reviews_saves_a_recipe_and_puts_it_to_use(workspace, tiny_lm):
    import pandas as pd

    reviews = pd.read_csv(SST2 / "train_3k.tsv", sep="\t").head(80)
    names = {0: "negative", 1: "positive"}  # as a person names SST-2's classes 0 and 1 on the Data page
    save_rows(workspace, "reviews", [(names[label], text) for text, label in zip(reviews["sentence"],
                                                                                 reviews["label"])])
    at = lab(tiny_lm)
    assert at.text_area(key="prompt_template_reviews").value == "Review: {text}\nSentiment:"
    assert "Up to 10 prompts, each scored on 52 training texts, for at most 2 minutes" in texts(at.caption)
    at.button(key="prompt_search_go").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["prompt_search_job"]
    assert at.query_params["search"] == job_id  # a refresh finds the search again
    for _ in range(120):  # AppTest never fires the fragment's timer: rerun as the browser's polling would
        time.sleep(1)
        at.run()
        if any("is now in use below" in message.value for message in at.success):
            break
    assert not at.exception, at.exception
    # All 10 unless a busy machine ran out of the 2 minutes first: the table lists what was tried either way.
    finished = re.search(r"The best of (\d+) prompts is now in use below, and saved as the recipe “best prompt for "
                         r"reviews”", texts(at.success))
    saved = json.loads((workspace.root / "recipes" / "best-prompt-for-reviews.json").read_text())
    table = table_with(at, "what changed")
    assert finished and len(table) == int(finished.group(1)) and list(table["best"]).count("★") == 1
    assert list(table["what changed"])[:2] == ["other worked examples"] * 2
    winner = saved["recipe"]
    assert at.text_area(key="prompt_template_reviews").value == winner["template"]
    assert at.number_input(key="prompt_seed").value == winner["seed"]
    assert {label: at.text_input(key=f"prompt_word_reviews_{label}").value for label in names.values()} == \
        winner["label_words"]


def test_the_prompt_and_its_results_survive_a_page_change_and_a_refresh(workspace, sample_dataset, tiny_lm):
    at = lab(tiny_lm)
    at.text_input(key="prompt_word_cafe_praise").set_value("great").run()
    at.text_area(key="prompt_template_cafe").set_value("Message: {text}\nKind:").run()
    at.number_input(key="prompt_k").set_value(3).run()
    at.number_input(key="prompt_eval_count").set_value(12).run()
    at.button(key="prompt_eval_go").click().run()
    accuracy = at.metric[0].value

    at.switch_page("pages/data.py").run()
    at.switch_page("pages/prompt_lab.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key="prompt_word_cafe_praise").value == "great"
    assert at.text_area(key="prompt_template_cafe").value == "Message: {text}\nKind:"
    assert at.number_input(key="prompt_k").value == 3
    assert at.metric[0].value == accuracy and "earlier prompt" not in texts(at.caption)

    url = dict(at.query_params)
    assert url["examples"] == "3" and json.loads(url["words"])["praise"] == "great" and url["model"] == "other"
    refreshed = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)  # a new session: only the URL
    refreshed.run()
    refreshed.query_params.update(url)
    refreshed.switch_page("pages/prompt_lab.py").run()
    assert not refreshed.exception, refreshed.exception
    assert refreshed.text_input(key="prompt_word_cafe_praise").value == "great"  # the model is loaded again
    assert refreshed.text_area(key="prompt_template_cafe").value == "Message: {text}\nKind:"
    assert refreshed.number_input(key="prompt_k").value == 3
    assert refreshed.metric[0].value == accuracy and "earlier prompt" not in texts(refreshed.caption)


def test_prompt_or_fine_tune_scores_a_trained_run_as_the_runs_page_does(workspace, sample_dataset, tiny_lm):
    # A real run that fine-tuned a (tiny) pretrained model on texts cut at 8 tokens, as the default MiniLM run cuts
    # them at 64: read whole (up to 512 tokens), its longer texts got other answers, and the lab said 70.8 % where
    # the Runs page said 71.7 % on what it called the same rows.
    from dataclasses import replace

    from tests.core.engine.test_worker import run_worker

    base = workspace.root / "tiny-bert"
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tiny_lm))
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=64,
                                             max_position_embeddings=256)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    config = default_config("text-classification", "cafe", source="pretrained", preset="quick")
    config = replace(config, model=replace(config.model, name=str(base)), max_length=8, epochs=8.0,
                     learning_rate=2e-3)
    run = create_run(workspace, config)
    assert run_worker(run.folder).returncode == 0
    on_runs_page = json.loads((run.folder / "eval.json").read_text())["accuracy"]
    at = lab(tiny_lm)
    at.session_state["prompt_lab_tab"] = ":material/balance: Prompt or fine-tune?"
    at.run()
    held_out = len(sample_dataset.records("validation"))
    assert at.number_input(key="prompt_compare_count").value == held_out  # every row, as the Runs page
    assert f"These are the rows the Runs page scored run {run.id} on" in texts(at.caption)
    at.button(key="prompt_compare_go").click().run()
    assert not at.exception, at.exception
    table = table_with(at, "approach").set_index("approach")
    assert table.loc[f"trained: {run.id}", "accuracy"] == pytest.approx(on_runs_page, abs=1e-9)
