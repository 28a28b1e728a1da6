"""Text for a language model: Alpaca JSON, JSON Lines, prompt/response CSV and plain text read, checked, split
and saved, and bad files turned into plain messages."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.data.dataset_store import load_dataset_info
from core.data.uploads import DataError
from core.tasks.text_generation.data import (
    FORMAT_INSTRUCTION,
    FORMAT_TEXT,
    PairColumns,
    check_document,
    check_pairs,
    guess_pair_columns,
    read_generation_upload,
    split_document,
    split_pairs,
)
from core.tasks.text_generation.samples import lighthouse_log, small_instructions
from core.tasks.text_generation.saving import dataset_format, document_rows, join_document, save_document, save_pairs
from tests.conftest import shared_dataset
from tests.support.paths import ROOT


def levels(checks) -> list[str]:
    return [c.level for c in checks]


def messages(checks) -> str:
    return " ".join(c.message for c in checks)


def test_alpaca_json_becomes_pairs_with_the_input_below_the_instruction(workspace):
    path = shared_dataset("alpaca_1k.json")
    upload = read_generation_upload(path.name, path.read_bytes(), workspace)
    assert upload.format == FORMAT_INSTRUCTION and upload.file_format == "JSON"
    columns = guess_pair_columns(upload.frame)
    assert columns == PairColumns("instruction", "output", "input")
    checked = check_pairs(upload.frame, columns)
    assert checked.ok and 990 <= len(checked.frame) <= 1000
    assert list(checked.frame.columns) == ["prompt", "response"]
    records = json.loads(path.read_text())
    with_input = next(r for r in records if r["input"].strip())
    row = checked.frame[checked.frame["response"] == with_input["output"].strip()].iloc[0]
    assert row["prompt"] == with_input["instruction"].strip() + "\n\n" + with_input["input"].strip()

    train, validation = split_pairs(checked.frame, 0.1)
    assert len(validation) == round(len(checked.frame) * 0.1) and len(train) + len(validation) == len(checked.frame)
    assert not set(train["prompt"] + train["response"]) & set(validation["prompt"] + validation["response"])
    saved = save_pairs(workspace, "alpaca", train, validation, "JSON", checked.checks, columns)
    again = load_dataset_info(workspace, "alpaca")
    assert again.info.task == "text-generation" and dataset_format(saved) == FORMAT_INSTRUCTION
    assert again.info.train_rows == len(train)


def test_jsonl_and_prompt_response_csv_are_detected(workspace):
    rows = small_instructions().head(40)
    jsonl = "\n".join(json.dumps({"instruction": i, "output": o}) for i, o in zip(rows["input"], rows["output"]))
    upload = read_generation_upload("pairs.jsonl", jsonl.encode(), workspace)
    assert upload.file_format == "JSON Lines"
    assert guess_pair_columns(upload.frame) == PairColumns("instruction", "output", None)

    csv = pd.DataFrame({"id": range(40), "question": rows["input"], "answer": rows["output"]}).to_csv(index=False)
    upload = read_generation_upload("qa.csv", csv.encode(), workspace)
    columns = guess_pair_columns(upload.frame)
    assert (columns.prompt, columns.response) == ("question", "answer")
    checked = check_pairs(upload.frame, columns)
    assert checked.ok and len(checked.frame) == 40
    assert "few" in messages(checked.checks)  # under 100 pairs: warned, still allowed


def test_plain_text_splits_at_its_tail_and_joins_back_exactly(workspace):
    path = shared_dataset("tinyshakespeare.txt")
    upload = read_generation_upload(path.name, path.read_bytes(), workspace)
    assert upload.format == FORMAT_TEXT and upload.file_format == "TXT"
    checks = check_document(upload.text)
    assert levels(checks) == ["info"] and "1,115,394 characters" in messages(checks)
    train, validation = split_document(upload.text, 0.1)
    assert train + validation == upload.text
    assert train.endswith("\n") and abs(len(validation) - len(upload.text) * 0.1) < 200
    rows = document_rows(train)
    assert join_document(rows) == train and rows["text"].str.len().max() <= 4000
    saved = save_document(workspace, "shakespeare", train, validation, "TXT", checks)
    assert dataset_format(saved) == FORMAT_TEXT
    train_rows, validation_rows = saved.frames()
    assert join_document(train_rows) + join_document(validation_rows) == upload.text


def test_windows_line_ends_and_latin1_are_read(workspace):
    text = ("Caf\xe9 au lait, s'il vous pla\xeet.\r\n" * 60).encode("cp1252")
    upload = read_generation_upload("menu.txt", text, workspace)
    assert "\r" not in upload.text and upload.text.startswith("Café")
    assert "UTF-8" in messages(upload.checks)


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("notes.docx", b"PK\x03\x04", "not supported"),
    ("empty.txt", b"   \n", "empty"),
    ("binary.txt", b"\x00\x01\x02" * 100, "binary"),
    ("broken.json", b'[{"instruction": "a", "output": "b"', "syntax error"),
    ("list.json", b'["just", "strings"]', "object"),
    ("header.csv", b"prompt,response\n", "no rows"),
])
def test_bad_files_give_a_plain_message(workspace, name, raw, expected):
    with pytest.raises(DataError, match=expected):
        read_generation_upload(name, raw, workspace)


def test_missing_or_empty_columns_are_explained(workspace):
    frame = pd.DataFrame({"prompt": [f"q{i}" for i in range(12)], "response": [""] * 6 + ["a"] * 6})
    checked = check_pairs(frame, PairColumns("prompt", "response"))
    assert not checked.ok
    assert "6 examples with an empty prompt or response were left out" in messages(checked.checks)
    assert "at least 10" in messages(checked.checks)

    only_text = pd.DataFrame({"text": ["hello"] * 20})
    columns = guess_pair_columns(only_text)
    checked = check_pairs(only_text, columns)
    assert not checked.ok and "response" in messages(checked.checks) and ".txt" in messages(checked.checks)
    one_column = read_generation_upload("lines.csv", ("text\n" + "some words\n" * 20).encode(), workspace)
    assert "prompt column and a response column" in messages(one_column.checks)
    assert "label" not in messages(one_column.checks)
    same = check_pairs(frame, PairColumns("prompt", "prompt"))
    assert "two different columns" in messages(same.checks)


def test_duplicates_are_dropped_and_short_texts_refused():
    frame = pd.DataFrame({"prompt": ["p"] * 5 + [f"p{i}" for i in range(20)],
                          "response": ["r"] * 5 + [f"r{i}" for i in range(20)]})
    checked = check_pairs(frame, PairColumns("prompt", "response"))
    assert len(checked.frame) == 21 and "4 exact duplicate" in messages(checked.checks)

    assert levels(check_document("Too short.")) == ["error"]
    assert "small text" in messages(check_document("word " * 500))
    with pytest.raises(DataError, match="between 5% and 50%"):
        split_document("a\n" * 1000, 0.9)


def test_the_built_in_samples_pass_their_checks():
    log = lighthouse_log()
    assert log == lighthouse_log() and len(log) > 50_000
    assert not [c for c in check_document(log) if c.level == "error"]
    pairs = small_instructions()
    checked = check_pairs(pairs, guess_pair_columns(pairs))
    assert checked.ok and len(checked.frame) > 250


# ---------------------------------------------------------------------------------------------------- the Data page

SECTION = "Text for a language model"


def data_page():

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    at.segmented_control(key="data_kind").set_value(SECTION).run()
    assert not at.exception, at.exception
    return at


def shown(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_data_section_saves_an_alpaca_file_and_explains_a_bad_one(workspace):
    at = data_page()
    at.file_uploader(key="data_gen_file").set_value(("broken.json", b'[{"instruction": "a"', "application/json"))
    at.run()
    assert not at.exception and "syntax error" in shown(at.error)

    path = shared_dataset("alpaca_1k.json")
    at.file_uploader(key="data_gen_file").set_value((path.name, path.read_bytes(), "application/json")).run()
    assert not at.exception, at.exception
    assert [s.value for s in at.selectbox][:3] == ["instruction", "output", "input"]  # detected, changeable
    assert "prompt/response pairs are ready" in shown(at.info)
    assert "### Response:" in shown(at.code)  # one example as the model will see it
    at.slider(key="data_gen_share").set_value(0.2).run()
    at.button(key="data_gen_save").click().run()
    assert "Saved “alpaca_1k”" in shown(at.success)
    saved = load_dataset_info(workspace, "alpaca_1k")
    assert saved.info.task == "text-generation" and saved.info.validation_rows == round(saved.info.train_rows / 4)


def test_data_section_saves_the_plain_text_sample(workspace):
    at = data_page()
    at.radio(key="data_gen_source").set_value("Sample: a lighthouse keeper's log (plain text)").run()
    assert "characters on" in shown(at.info) and "1 January 1887" in shown(at.code)
    assert len(at.get("plotly_chart")) == 1  # characters per line
    at.button(key="data_gen_save").click().run()
    assert "characters to train on" in shown(at.success)
    assert dataset_format(load_dataset_info(workspace, "lighthouse-log-sample")) == FORMAT_TEXT
