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
