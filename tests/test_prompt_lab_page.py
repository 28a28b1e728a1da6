"""The Prompt lab through Streamlit's AppTest, with a tiny language model folder instead of the bundled Gemma.

The model source is what a person would type under "Another model": a local folder. The folder holds a 2-layer
Llama with a byte-level tokenizer trained on the café sample, so every action runs in seconds.
"""

from __future__ import annotations

import json
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
from ui.prompt_lab import classify as prompt_classify

ROOT = Path(__file__).resolve().parents[1]


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


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


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

    # The recipe: label words per class, two worked examples; the exact prompt and its length are shown.
    for label, word in {"praise": "good", "complaint": "bad", "question": "ask"}.items():
        at.text_input(key=f"prompt_word_cafe_{label}").set_value(word).run()
    at.number_input(key="prompt_k").set_value(2).run()
    at.text_input(key="prompt_instructions").set_value("Is each review {labels}?").run()
    prompt = at.code[0].value
    assert prompt.startswith("Is each review bad, good or ask?\n\nReview:")  # the classes' order
    assert prompt.count("Review:") == 3 and prompt.endswith("\nSentiment:")
    assert sum(f"Sentiment: {word}" in prompt for word in ("good", "bad", "ask")) == 2
    assert any("tokens of the 256 the model reads" in e.label for e in at.expander)
    # A new recipe is calibrated; one text is calibrated on the training texts, scored once for text after text.
    measured = []
    measure = prompt_classify.training_text_bias
    monkeypatch.setattr(prompt_classify, "training_text_bias", lambda *a, **k: measured.append(1) or measure(*a, **k))
    at.button(key="prompt_try_go").click().run()
    assert "%) — calibrated on your training texts" in texts(at.markdown)
    at.text_area(key="prompt_try_cafe").set_value("Is the terrace open on Sundays?").run()
    at.button(key="prompt_try_go").click().run()
    assert "%) — calibrated on your training texts" in texts(at.markdown) and len(measured) == 1

    # Evaluate on the held-out part: metrics, confusion matrix, one row per example.
    at.number_input(key="prompt_eval_count").set_value(20).run()
    at.button(key="prompt_eval_go").click().run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric][:2] == ["Accuracy", "Macro-F1"]
    rows = table_with(at, "correct")
    assert len(rows) == 20 and set(rows.columns) == {"text", "gold", "predicted", "probability", "correct"}

    # Prompt or fine-tune: both prompts and the finished run on the same examples.
    at.number_input(key="prompt_compare_count").set_value(15).run()
    at.button(key="prompt_compare_go").click().run()
    assert not at.exception, at.exception
    table = table_with(at, "approach")
    assert list(table["approach"]) == ["zero-shot prompt", "2-shot prompt", f"fine-tuned: {run.id}"]
    assert "Best on these 15 examples" in texts(at.success)
    assert "Where they disagree" in texts(at.markdown)

    # Save the recipe, change the settings, load it back.
    at.text_input(key="prompt_recipe_name").set_value("cafe two-shot").run()
    at.button(key="prompt_recipe_save").click().run()
    saved = json.loads((workspace.root / "recipes" / "cafe-two-shot.json").read_text())
    assert saved["recipe"]["few_shot_k"] == 2 and saved["recipe"]["label_words"]["complaint"] == "bad"
    at.number_input(key="prompt_k").set_value(0).run()
    at.text_input(key="prompt_instructions").set_value("").run()
    at.text_input(key="prompt_word_cafe_complaint").set_value("awful").run()
    at.button(key="prompt_recipe_load").click().run()
    assert at.number_input(key="prompt_k").value == 2
    assert at.text_input(key="prompt_word_cafe_complaint").value == "bad"
    assert at.text_input(key="prompt_instructions").value == "Is each review {labels}?"
    assert "Loaded “cafe two-shot”." in texts(at.success)


def test_a_broken_recipe_or_model_is_explained_not_a_traceback(workspace, sample_dataset, tiny_lm):
    at = lab(tiny_lm)
    at.text_area(key="prompt_template").set_value("no placeholder here").run()
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


def test_draws_of_worked_examples_are_compared_on_training_texts_and_the_best_seed_kept(workspace, sample_dataset,
                                                                                        tiny_lm):
    at = lab(tiny_lm)
    for label, word in {"praise": "good", "complaint": "bad", "question": "ask"}.items():
        at.text_input(key=f"prompt_word_cafe_{label}").set_value(word).run()
    at.number_input(key="prompt_k").set_value(0).run()
    assert not any("Compare several draws" in toggle.label for toggle in at.toggle)  # zero-shot: nothing drawn

    at.number_input(key="prompt_k").set_value(2).run()
    at.toggle(key="prompt_draws_open").set_value(True).run()
    at.number_input(key="prompt_draws_count").set_value(3).run()
    at.button(key="prompt_draws_go").click().run()
    assert not at.exception, at.exception
    table = table_with(at, "worked examples")
    assert sorted(table["seed"]) == [0, 1, 2] and table["worked examples"].str.count(" · ").eq(1).all()
    best = int(table["seed"].iloc[0])
    assert table["accuracy"].iloc[0] == table["accuracy"].max()

    at.button(key="prompt_draws_use").click().run()
    assert at.number_input(key="prompt_seed").value == best
    assert "earlier recipe" not in texts(at.caption)  # only the seed changed: the draws still apply
