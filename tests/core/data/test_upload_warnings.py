"""What an upload's warnings say is what was done to it (core.data.uploads): NUL characters anywhere in a text
file are found and taken out, and a nested JSON field said to be unusable is not then used as the text."""

from __future__ import annotations

import codecs
import json

import pytest

from core.data.uploads import DataError, read_upload
from core.tasks.text_classification.data import guess_columns


def reviews_csv(rows: int) -> bytes:
    return ("text,label\n" + "".join(f"the soup number {i} was {'fine' if i % 2 else 'cold'},{i % 2}\n"
                                     for i in range(rows))).encode()


def test_a_nul_character_past_the_first_8_kb_is_taken_out_and_said(workspace):
    raw = reviews_csv(400) + b"the soup\x00 was odd,1\n"
    assert len(raw) > 8192 and raw.index(b"\x00") > 8192
    table = read_upload("reviews.csv", raw, workspace)
    warnings = [c.message for c in table.checks if c.level == "warning"]
    assert any("1 NUL character" in message and "taken out" in message for message in warnings), warnings
    assert not table.frame["text"].str.contains("\x00").any()
    assert "the soup was odd" in table.frame["text"].tolist()


def test_a_text_file_padded_with_zero_bytes_past_8_kb_is_called_binary(workspace):
    with pytest.raises(DataError, match="binary file"):
        read_upload("reviews.csv", reviews_csv(400) + b"\x00" * 4096, workspace)


def test_utf16_with_its_byte_order_mark_is_not_mistaken_for_nul_characters(workspace):
    raw = codecs.BOM_UTF16_LE + reviews_csv(400).decode().encode("utf-16-le")  # every other byte is zero
    table = read_upload("excel.csv", raw, workspace)
    assert len(table.frame) == 400 and not table.checks


def test_a_nested_json_field_is_left_out_as_the_warning_says(workspace):
    records = [{"text": {"en": f"the soup number {i} was fine"}, "review": f"review number {i} was fine",
                "label": "good" if i % 2 else "bad"} for i in range(30)]
    table = read_upload("nested.json", json.dumps(records).encode(), workspace)
    assert [c.message for c in table.checks if "nested" in c.message] == [
        "Field text holds nested values (lists or objects), which cannot be the text, the label or a column of a "
        "table, so it was left out. To use it, give every record a plain text or number there."]
    assert list(table.frame.columns) == ["review", "label"]
    assert guess_columns(table.frame) == ("review", "label")


def test_records_made_only_of_nested_fields_are_refused(workspace):
    with pytest.raises(DataError, match="Every field of these records holds nested values"):
        read_upload("nested.jsonl", b'{"text": ["a"], "label": {"x": 1}}\n{"text": ["b"], "label": {"x": 2}}\n',
                    workspace)
