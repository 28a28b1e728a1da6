"""Uploads that are small on the wire but costly to read: refused before the server spends memory, disk or minutes
on them (core.data.upload_limits, core.data.uploads)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd
import pytest

from core.data.uploads import DataError, read_upload
from tests.support.paths import MALFORMED, ROOT

CORPUS = MALFORMED


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_a_parquet_file_that_unpacks_to_gigabytes_is_refused_without_unpacking_it(workspace):
    bomb = (CORPUS / "parquet_bomb.parquet").read_bytes()  # 23 kB, 5 M rows, 470 MB unpacked
    started = time.perf_counter()
    with pytest.raises(DataError, match="unpacks to more than 200 MB"):
        read_upload("orders.parquet", bomb, workspace)
    assert time.perf_counter() - started < 10
    assert folder_size(workspace.root) < 1_000_000  # read whole, it left 488 MB of cache behind


def test_an_ordinary_parquet_file_still_reads_with_its_types(workspace):
    frame = pd.DataFrame({"text": [f"review {i}" for i in range(1_000)], "stars": range(1_000)})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    table = read_upload("reviews.parquet", buffer.getvalue(), workspace)
    assert table.frame.shape == (1_000, 2) and table.frame["stars"].dtype.kind == "i"


def wide_csv(columns: int, rows: int = 2) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return "\n".join([header] + [",".join(str(i % 10) for i in range(columns))] * rows).encode()


def test_a_csv_with_a_hundred_thousand_columns_is_refused_from_its_header_at_once(workspace):
    wide = wide_csv(100_000)  # 1.1 MB; read as a table it took 23 s, and the Data page minutes more
    started = time.perf_counter()
    with pytest.raises(DataError, match="100,000 columns; the most a table here can have is 2,000"):
        read_upload("wide.csv", wide, workspace)
    assert time.perf_counter() - started < 2


def test_two_thousand_columns_are_still_a_table(workspace):
    assert read_upload("wide.csv", wide_csv(2_000), workspace).frame.shape == (2, 2_000)


def test_a_parquet_file_with_too_many_columns_is_refused_from_its_footer(workspace):
    buffer = io.BytesIO()
    pd.DataFrame({f"c{i}": [i] for i in range(2_001)}).to_parquet(buffer)
    with pytest.raises(DataError, match="2,001 columns"):
        read_upload("wide.parquet", buffer.getvalue(), workspace)


def test_a_preview_cuts_every_long_cell_and_says_how_much_is_left_out():
    from core.data.upload_limits import preview

    frame = pd.DataFrame({"text": ["word " * 200_000, "short", None], "stars": [1, 2, 3]})
    shown = preview(frame, characters=300)
    assert shown["text"][0] == "word " * 60 + "… (999,700 more characters)"
    assert shown["text"][1] == "short" and shown["stars"].tolist() == [1, 2, 3]
    assert len(frame["text"][0]) == 1_000_000  # the table itself is untouched


def test_the_data_page_never_sends_a_whole_one_line_file_to_the_browser(workspace):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    at.segmented_control(key="data_kind").set_value("Texts with labels").run()
    one_line = ("the soup was great " * 200_000).encode()  # 3.8 MB on one line (30 MB crashed the browser tab)
    at.file_uploader(key="data_text_file").set_value(("book.txt", one_line, "text/plain")).run()
    assert not at.exception
    cells = at.dataframe[0].value["text"].tolist()
    assert cells and max(len(cell) for cell in cells) < 400 and "more characters)" in cells[0]
