"""Reading uploads and checking them for text classification: good files of every format, and the bad ones a
person really uploads, each with a message that says how to fix it."""

from __future__ import annotations

import codecs
import io
import json

import pandas as pd
import pytest

from core.data.dataset_store import list_datasets, load_dataset_info
from core.data.splits import split_train_validation
from core.data.uploads import DataError, read_upload
from core.tasks.text_classification.data import (
    align_validation,
    check_classification,
    guess_columns,
    save_text_classification,
)
from tests.conftest import shared_dataset

ROWS = [("a lovely film", "pos"), ("dull and far too long", "neg"), ("I laughed all the way", "pos"),
        ("a waste of an evening", "neg"), ("wonderful acting", "pos"), ("the plot made no sense", "neg")]


def as_csv(rows=ROWS, delimiter=",", header=("review", "sentiment")) -> bytes:
    frame = pd.DataFrame(rows, columns=list(header))
    return frame.to_csv(index=False, sep=delimiter).encode()


def parquet_bytes(rows=ROWS) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(rows, columns=["text", "label"]).to_parquet(buffer)
    return buffer.getvalue()


GOOD_FILES = {
    "reviews.csv": as_csv(),
    "reviews.tsv": as_csv(delimiter="\t"),
    "semicolons.csv": as_csv(delimiter=";"),  # European spreadsheets: sniffed, not assumed
    "reviews.json": json.dumps([{"text": t, "label": label} for t, label in ROWS]).encode(),
    "wrapped.json": json.dumps({"data": [{"text": t, "label": label} for t, label in ROWS]}).encode(),
    "reviews.jsonl": "\n".join(json.dumps({"text": t, "label": label}) for t, label in ROWS).encode(),
    "reviews.parquet": parquet_bytes(),
    "fasttext.txt": "\n".join(f"__label__{label} {t}" for t, label in ROWS).encode(),
}


@pytest.mark.parametrize("filename", GOOD_FILES)
def test_every_supported_format_reads_into_text_and_labels(filename, workspace):
    table = read_upload(filename, GOOD_FILES[filename], workspace)
    assert len(table.frame) == len(ROWS)
    text_column, label_column = guess_columns(table.frame)
    checked = check_classification(table.frame, text_column, label_column)
    assert checked.ok, checked.checks
    assert sorted(checked.frame["text"]) == sorted(t for t, _ in ROWS)
    assert checked.labels == ["neg", "pos"]


def test_columns_are_guessed_by_content_not_position(workspace):
    frame = pd.DataFrame({"id": range(6), "verdict": [label for _, label in ROWS],
                          "comment": [t for t, _ in ROWS]})
    assert guess_columns(frame) == ("comment", "verdict")


def test_numeric_labels_stay_class_names(workspace):
    table = read_upload("scores.csv", as_csv([(t, 1 if label == "pos" else 0) for t, label in ROWS]), workspace)
    checked = check_classification(table.frame, "review", "sentiment")
    assert checked.labels == ["0", "1"]


@pytest.mark.parametrize("filename, content, message", [
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"   \n\n", "empty"),
    ("header_only.csv", b"text,label\n", "no rows"),
    ("sheet.csv", b"PK\x03\x04\x00\x00binary\x00stuff", "binary"),
    ("broken.json", b'[{"text": "a", "label": "b"},, ]', "syntax error at line 1"),
    ("scalars.json", b'["just", "strings"]', "object with named fields"),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("notes.docx", b"PK\x03\x04\x14\x00\x06\x00word/document.xml", "binary"),  # a Word file is a zip
    ("letter.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "binary"),
])
def test_unreadable_files_say_how_to_fix_them(filename, content, message, workspace):
    with pytest.raises(DataError, match=message):
        read_upload(filename, content, workspace)


def test_latin1_file_is_read_with_a_warning(workspace):
    content = "text,label\ncafé crème très bon,pos\nmauvais café,neg\n".encode("latin-1")
    table = read_upload("french.csv", content, workspace)
    assert "café crème très bon" in table.frame["text"].tolist()
    assert any("not UTF-8" in check.message for check in table.checks)


def test_excel_unicode_text_utf16_with_a_byte_order_mark_is_read(workspace):
    # Excel's "Save As → Unicode Text" writes tab-separated UTF-16 that starts with a byte-order mark.
    content = "text\tlabel\ncafé crème très bon\tpos\nmauvais café\tneg\n".encode("utf-16")
    table = read_upload("export.txt", content, workspace)
    assert table.frame["text"].tolist() == ["café crème très bon", "mauvais café"]
    with pytest.raises(DataError, match="UTF-16"):
        read_upload("broken.csv", codecs.BOM_UTF16_LE + "text,label\n".encode("utf-16-le") + b"\x00\xd8", workspace)


def test_a_single_column_file_points_at_the_wrong_delimiter(workspace):
    table = read_upload("oops.csv", b"text|label\n" + b"\n".join(f"{t}|{label}".encode() for t, label in ROWS)
                        + b"\n", workspace)
    # The sniffer finds the bar; a file with an unusual separator still reads into two columns.
    assert list(table.frame.columns) == ["text", "label"]
    single = read_upload("one.csv", b"text\nhello there\ngood bye\n", workspace)
    assert any("Only one column" in check.message for check in single.checks)


def messages(checked) -> str:
    return " ".join(check.message for check in checked.checks)


def test_missing_text_and_labels_are_dropped_and_counted():
    frame = pd.DataFrame({"text": ["good", "", None, "bad", "fine", "awful", "ok", "poor"],
                          "label": ["pos", "pos", "neg", None, "pos", "neg", "nan", "neg"]})
    checked = check_classification(frame, "text", "label")
    assert checked.ok
    assert sorted(checked.frame["text"]) == ["awful", "fine", "good", "poor"]
    assert "2 rows with missing or empty text were left out" in messages(checked)
    assert "2 rows with no label were left out" in messages(checked)


def test_duplicates_are_dropped_and_conflicts_flagged():
    frame = pd.DataFrame({"text": ["great", "great", "great", "bad", "bad", "meh", "meh"],
                          "label": ["pos", "pos", "neg", "neg", "neg", "neg", "pos"]})
    checked = check_classification(frame, "text", "label")
    assert "2 exact duplicate rows were left out" in messages(checked)
    assert "appear with different labels" in messages(checked)


def test_one_class_is_an_error_that_blocks_saving():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "x", "x"]})
    checked = check_classification(frame, "text", "label")
    assert not checked.ok
    assert "At least 2 classes are needed" in messages(checked)


def test_classes_with_a_single_example_are_left_out_with_their_names():
    frame = pd.DataFrame({"text": ["a", "b", "c", "d", "e"], "label": ["x", "x", "y", "y", "lonely"]})
    checked = check_classification(frame, "text", "label")
    assert checked.ok
    assert "“lonely”" in messages(checked)
    assert checked.labels == ["x", "y"]


def test_choosing_the_same_column_twice_is_refused():
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})
    assert "two different columns" in messages(check_classification(frame, "text", "text"))


def test_stratified_split_keeps_class_shares():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": ["a"] * 80 + ["b"] * 20})
    train, validation = split_train_validation(frame, 0.25)
    assert len(validation) == 25
    assert (validation["label"] == "b").sum() == 5
    assert set(train["text"]).isdisjoint(validation["text"])


def test_too_few_rows_to_split_is_explained():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "z"]})
    with pytest.raises(DataError, match="too few to split"):
        split_train_validation(frame, 0.2)


def test_separate_validation_drops_unknown_classes():
    validation = check_classification(pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "y", "q", "q"]}),
                                      "text", "label", validation=True)
    rows, checks = align_validation(validation, ["x", "y"])
    assert rows["label"].tolist() == ["x", "y"]
    assert "labels the training data lacks (q)" in checks[0].message


def test_saved_dataset_round_trips_and_is_listed(workspace):
    frame = pd.DataFrame(ROWS * 3, columns=["text", "label"]).drop_duplicates()
    checked = check_classification(frame, "text", "label")
    train, validation = split_train_validation(checked.frame, 0.34)
    save_text_classification(workspace, "my reviews!", train, validation, "CSV", checked.checks)
    prepared = load_dataset_info(workspace, "my-reviews")
    assert prepared.info.task == "text-classification"
    assert prepared.info.labels == ["neg", "pos"]
    loaded_train, loaded_validation = prepared.frames()
    assert len(loaded_train) + len(loaded_validation) == len(checked.frame)
    assert [d.name for d in list_datasets(workspace)] == ["my-reviews"]


def test_real_sst2_file_reads_with_the_right_columns(workspace):
    path = shared_dataset("sst2/dev.tsv")
    table = read_upload(path.name, path.read_bytes(), workspace)
    assert len(table.frame) == 872
    assert guess_columns(table.frame) == ("sentence", "label")
    checked = check_classification(table.frame, "sentence", "label")
    assert checked.ok and checked.labels == ["0", "1"]


def test_counts_in_messages_read_as_plain_words():
    from core.messages import agree, counted

    assert counted(1, "row") == "1 row" and counted(1204, "file") == "1,204 files"
    assert counted(3, "example of the class", "examples of the class") == "3 examples of the class"
    assert [agree(n, "was", "were") for n in (0, 1, 2)] == ["were", "was", "were"]
