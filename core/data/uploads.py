"""Reading a person's uploaded file (CSV, TSV, JSON, JSON lines, Parquet, plain text) into a table.

Bytes in, a pandas table out, through Hugging Face `datasets` where it has a loader (Parquet through pyarrow, batch by
batch, so a small file that unpacks to gigabytes is refused at the size limit). Every problem is reported as a
`Check` (or a `DataError` when nothing can be read) whose message says what is wrong and how to fix it, never as a
traceback. What the table is then used for (text classification, generation, tables) is checked elsewhere.
"""

from __future__ import annotations

import codecs
import io
import itertools
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from core.data.delimited import NO_ROWS, read_delimited
from core.data.loaded import Check, DataError, LoadedTable, first_line, load_with_datasets, stage_file
from core.data.sniffing import FASTTEXT_PREFIX, guess_format, looks_binary, looks_parquet
from core.data.upload_limits import too_big_when_unpacked, too_many_columns
from core.messages import agree, counted
from core.workspace import Workspace

# Check, DataError and LoadedTable live in core.data.loaded; the other packages import them from here.
__all__ = ["Check", "DataError", "LoadedTable", "decode_text", "read_upload"]

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
BINARY_FILE = ("This looks like a binary file (for example a spreadsheet or an image), not text. "
               "Save it as CSV or JSON first: in Excel, use File → Save As → CSV UTF-8.")
PARQUET_BATCH_ROWS = 65_536
FORMAT_NAMES = {".csv": "a table with a separator (CSV)", ".tsv": "a table with tabs between its columns (TSV)",
                ".json": "JSON", ".jsonl": "JSON Lines", ".txt": "plain text, one example per line"}


def decode_text(raw: bytes) -> tuple[str, list[Check]]:
    """UTF-8 when it is; UTF-16 when it starts with its byte-order mark; otherwise Windows-1252 (a superset of
    Latin-1 that spreadsheets on Windows write). NUL characters are looked for in the whole text."""
    if not raw.strip():
        raise DataError("The file is empty. Choose a file that has a header row and at least a few rows of data.")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode Text" and Notepad's "Unicode"
        try:
            return _without_nul(raw.decode("utf-16"), [])
        except UnicodeDecodeError:
            raise DataError("The file says it is UTF-16 but parts of it are not. Save it again as CSV UTF-8 "
                            "(in Excel: File → Save As → CSV UTF-8) and upload that.") from None
    if b"\x00" in raw[:8192]:
        raise DataError(BINARY_FILE)
    try:
        return _without_nul(raw.decode("utf-8-sig"), [])
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    note = Check("warning", "The file is not UTF-8, so it was read as Western European (Windows-1252 or "
                            "Latin-1). If accented letters look wrong in the preview, save the file as UTF-8 and "
                            "upload it again.")
    return _without_nul(text, [note])


def _without_nul(text: str, checks: list[Check]) -> tuple[str, list[Check]]:
    """Text with its NUL characters taken out and a warning that says so; a file made of more than 1 % of them is
    binary. They come from a damaged export or a binary file glued on after the first few kilobytes."""
    count = text.count("\x00")
    if not count:
        return text, checks
    if count > len(text) / 100:
        raise DataError(BINARY_FILE)
    return text.replace("\x00", ""), [*checks, Check(
        "warning", f"The file holds {counted(count, 'NUL character')} (an invisible zero byte, left by a damaged "
                   f"export); {agree(count, 'it was', 'they were')} taken out. Check that the rows below look "
                   "right, or export the file again.")]


def _read_json(text: str, filename: str, extension: str, workspace: Workspace) -> LoadedTable:
    records = _parse_json_records(text, extension)
    if not records:
        raise DataError("The JSON file holds no records. It should be a list of objects such as "
                        '[{"text": "great film", "label": "positive"}, …], or one such object per line.')
    keys = set().union(*records)
    if too_many_columns(len(keys)):
        raise DataError(too_many_columns(len(keys)))
    nested = _nested_fields(records)
    records = [{key: value for key, value in record.items() if key not in nested} for record in records]
    if not any(records):
        raise DataError("Every field of these records holds nested values (lists or objects). Use flat records "
                        'with plain text or number values, such as {"text": "great film", "label": "positive"}.')
    # Re-written as JSON Lines so `datasets` gets one uniform shape whatever layout the person uploaded.
    lines = "\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    path = stage_file(workspace, Path(filename).stem + ".jsonl", lines.encode("utf-8"))
    try:
        frame = load_with_datasets("json", path, workspace)
    except Exception as error:
        raise DataError(f"The JSON records could not be turned into a table ({first_line(error)}). "
                        "Give every record the same keys with plain text or number values.") from error
    checks = [Check("warning", f"{agree(len(nested), 'Field', 'Fields')} {', '.join(nested)} "
                               f"{agree(len(nested), 'holds', 'hold')} nested values (lists or objects), which "
                               f"cannot be the text, the label or a column of a table, so "
                               f"{agree(len(nested), 'it was', 'they were')} left out. To use "
                               f"{agree(len(nested), 'it', 'them')}, give every record a plain text or number "
                               "there.")] if nested else []
    return LoadedTable(frame, "JSON Lines" if extension == ".jsonl" else "JSON", checks)


def _nested_fields(records: list[dict]) -> list[str]:
    """The fields that hold a list or an object in any record, in the order they first appear."""
    return list(dict.fromkeys(key for record in records for key, value in record.items()
                              if isinstance(value, (dict, list))))


def _parse_json_records(text: str, extension: str) -> list[dict]:
    stripped = text.strip()
    if extension == ".jsonl" or (not stripped.startswith("[") and "\n{" in stripped):
        records = []
        for number, line in enumerate(stripped.splitlines(), start=1):
            if line.strip():
                records.append(_loads(line, f"line {number}"))
        return [_as_record(r) for r in records]
    data = _loads(stripped, "the file")
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError("The JSON file is one object, not a list of records. Put the records in a list: "
                            '[{"text": …, "label": …}, …].')
        data = lists[0]
    if not isinstance(data, list):
        raise DataError("The JSON file should be a list of records such as "
                        '[{"text": "great film", "label": "positive"}].')
    return [_as_record(r) for r in data]


def _loads(text: str, where: str):
    try:
        return json.loads(text)
    except RecursionError as error:
        raise DataError(f"The JSON in {where} is nested too deeply to read. Use flat records.") from error
    except json.JSONDecodeError as error:
        raise DataError(f"The JSON in {where} has a syntax error at line {error.lineno}, column {error.colno}: "
                        f"{error.msg}. Check for a missing comma, quote or bracket there.") from error


def _as_record(item) -> dict:
    if not isinstance(item, dict):
        raise DataError("Every JSON record must be an object with named fields, e.g. "
                        '{"text": "great film", "label": "positive"}.')
    return item


def _read_text_lines(text: str) -> LoadedTable:
    """One example per line; fastText-style `__label__name text` lines carry their label."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if all(line.startswith(FASTTEXT_PREFIX) for line in lines):
        labels, texts = zip(*(line[len(FASTTEXT_PREFIX):].split(" ", 1) if " " in line else (line, "")
                              for line in lines))
        frame = pd.DataFrame({"text": list(texts), "label": list(labels)})
        return LoadedTable(frame, "TXT (fastText labels)")
    frame = pd.DataFrame({"text": lines})
    note = Check("info", "A plain text file gives one example per line and no labels. To train a classifier, "
                         "start each line with its label, like “__label__positive great film”, or use a CSV.")
    return LoadedTable(frame, "TXT", [note])


def _looks_tab_separated(text: str) -> bool:
    """Whether a .txt file is really a table: its first lines all have the same number (≥ 1) of tabs."""
    lines = [line for line in itertools.islice(io.StringIO(text), 20) if line.strip()]  # no split of the whole file
    tabs = {line.count("\t") for line in lines}
    return len(lines) >= 2 and len(tabs) == 1 and tabs != {0}


def _read_parquet(raw: bytes, filename: str, workspace: Workspace) -> LoadedTable:
    path = stage_file(workspace, filename, raw)
    try:
        parquet = pq.ParquetFile(path)
        problem = too_many_columns(parquet.metadata.num_columns) or _unpacks_too_big(parquet)
        frame = None if problem else parquet.read().to_pandas()
    except Exception as error:  # pyarrow's errors name the damaged part, which helps whoever exported the file
        raise DataError(f"The Parquet file could not be read ({first_line(error)}). "
                        "Export it again, or save the table as CSV.") from error
    if problem:
        raise DataError(problem)
    return LoadedTable(frame, "Parquet")


def _unpacks_too_big(parquet: pq.ParquetFile) -> str | None:
    """A few kilobytes of Parquet can hold gigabytes of repeated values (5 M identical rows took 2.3 GB of memory
    when read whole), so the file is unpacked once batch by batch, counted and thrown away, before it is kept."""
    rows, columns = parquet.metadata.num_rows, parquet.metadata.num_columns
    decoded = 0
    if not too_big_when_unpacked(rows, columns, decoded, MAX_UPLOAD_BYTES):  # else refused from the footer alone
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            decoded += batch.nbytes
            if decoded > MAX_UPLOAD_BYTES:
                break
    return too_big_when_unpacked(rows, columns, decoded, MAX_UPLOAD_BYTES)


def read_upload(filename: str, raw: bytes, workspace: Workspace, header: bool | None = None) -> LoadedTable:
    """Any upload → a table, or a `DataError` whose message says how to fix the file.

    A known extension says the format; any other name (`SMSSpamCollection` has none) is read by its content, with a
    note that says what it was taken for. `header` says whether the first row of a table with a separator names
    the columns; None guesses it from the rows (`LoadedTable.header` says what was assumed, and why).
    """
    if len(raw) > MAX_UPLOAD_BYTES:
        raise DataError(f"The file is {len(raw) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MB. "
                        "Upload a sample of the rows.")
    extension = Path(filename).suffix.lower()
    known = extension in SUPPORTED_EXTENSIONS
    if extension == ".parquet" or (not known and looks_parquet(raw)):
        if not raw:
            raise DataError("The file is empty.")
        table = _read_parquet(raw, filename, workspace)
    else:
        if looks_binary(raw):
            raise DataError(BINARY_FILE)
        text, checks = decode_text(raw)
        if not known:
            extension, note = _read_by_content(text, extension)
            checks.append(note)
        table = _read_text(text, filename, extension, workspace, header)
        table.checks[:0] = checks
    if table.frame.empty:
        raise DataError(NO_ROWS)
    table.frame.columns = [str(c) for c in table.frame.columns]
    return table


def _read_by_content(text: str, extension: str) -> tuple[str, Check]:
    """(the extension the file is read as, the note that says so and why)."""
    guess = guess_format(text)
    unnamed = f"“{extension}” is not a file type it knows" if extension else "it has no extension"
    return guess.extension, Check("info", f"The file's name does not say what it holds ({unnamed}), so it was read "
                                          f"by its content, as {FORMAT_NAMES[guess.extension]}: {guess.reason}.")


def _read_text(text: str, filename: str, extension: str, workspace: Workspace, header: bool | None) -> LoadedTable:
    if extension in (".csv", ".tsv"):
        return read_delimited(text, filename, extension, workspace, header)
    if extension in (".json", ".jsonl"):
        return _read_json(text, filename, extension, workspace)
    if _looks_tab_separated(text):  # Excel's "Unicode Text" export is a .txt table with tabs
        return read_delimited(text, filename, ".tsv", workspace, header)
    return _read_text_lines(text)
