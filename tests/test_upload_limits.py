"""Uploads that are small on the wire but costly to read: refused before the server spends memory, disk or minutes
on them (core.data.upload_limits, core.data.uploads)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd
import pytest

from core.data.uploads import DataError, read_upload

CORPUS = Path(__file__).resolve().parent / "malformed"


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
