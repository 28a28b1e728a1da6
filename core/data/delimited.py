"""Reading a file with a separator (CSV, TSV, a tab-separated TXT, or such a file with no extension) into a table,
accounting for every line.

Two things used to make rows vanish without a word: a first row of data silently taken as column names, and a
double quote that opens a cell no quote closes (common in chat messages: `ham<TAB>"Ok lar...`), which CSV quoting
reads as one cell that swallows the lines after it. So the first row is looked at before it is taken as names
(`core.data.sniffing.guess_header`, or the person's own choice), and the rows read are counted against the file's
lines: quotes that only make sense as text are kept as text, and rows that really span several lines are said.

The boundary: text in (already decoded), a `LoadedTable` out, or a `DataError` that says how to fix the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter

import pandas as pd
from datasets.exceptions import DatasetGenerationError

from core.data.loaded import Check, DataError, LoadedTable, first_line, load_with_datasets, stage_file
from core.data.sniffing import (
    DELIMITER_NAMES,
    DELIMITERS,
    SPACES,
    SPACES_PATTERN,
    HeaderGuess,
    column_names,
    consistent_delimiter,
    first_records,
    guess_header,
    sample_lines,
)
from core.data.upload_limits import header_width, too_many_columns
from core.messages import agree, counted
from core.workspace import Workspace

NO_ROWS = "The file has a header but no rows of data. Add examples below the header."
FORMATS = {"\t": "TSV", SPACES: "columns lined up with spaces"}


# "7,4" in a file separated by semicolons: a decimal comma, as European spreadsheets write numbers.
DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
DECIMAL_POINT = re.compile(r"-?\d*\.\d+")


def decimal_comma(records: list[list[str]], delimiter: str) -> bool:
    """Whether the numbers in these rows are written with a decimal comma ("7,4"), and none with a point."""
    if delimiter == ",":
        return False
    cells = [cell.strip() for row in records for cell in row]
    return any(DECIMAL_COMMA.fullmatch(cell) for cell in cells) and not any(DECIMAL_POINT.fullmatch(cell)
                                                                             for cell in cells)


def sniff_delimiter(text: str, extension: str) -> str:
    """The separator that splits the first lines into the same number of fields; else the csv module's guess; else
    the one the extension names."""
    lines = sample_lines(text)
    delimiter, _ = consistent_delimiter(lines)
    if delimiter:
        return delimiter
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return "\t" if extension == ".tsv" else ","


def read_delimited(text: str, filename: str, extension: str, workspace: Workspace,
                   header: bool | None = None) -> LoadedTable:
    """The table in `text`; `header` says whether its first row names the columns (None: guess from the rows)."""
    if too_many_columns(header_width(text)):
        raise DataError(too_many_columns(header_width(text)))
    delimiter = sniff_delimiter(text, extension)
    records = first_records(text, delimiter)
    guess = guess_header(records) if header is None else HeaderGuess(header, "you chose so", detected=False)
    lines = sum(1 for line in io.StringIO(text) if line.strip())
    if guess.has_header and lines < 2:
        raise DataError(NO_ROWS)
    width = Counter(map(len, records)).most_common(1)[0][0]
    options = {"sep": SPACES_PATTERN if delimiter == SPACES else delimiter, "keep_default_na": False,
               "na_values": [""]}
    comma = decimal_comma(records, delimiter)
    if comma:
        options["decimal"] = ","
    if not guess.has_header:
        options.update(header=None, column_names=column_names(width))
    path = stage_file(workspace, filename, text.encode("utf-8"))
    frame, checks = _every_line_a_row(path, workspace, options, lines - guess.has_header, text, width)
    if frame.shape[1] == 1:
        checks.append(_one_column(text, delimiter))
    if comma:
        checks.append(Check("info", "The numbers are written with a decimal comma (like “7,4”), so they were read "
                                    "as 7.4 and so on."))
    return LoadedTable(frame, FORMATS.get(delimiter, "CSV"), checks, header=guess)


def _every_line_a_row(path, workspace: Workspace, options: dict, expected: int, text: str, width: int
                      ) -> tuple[pd.DataFrame, list[Check]]:
    """The table read with CSV quoting, unless that loses rows that reading the quotes as text keeps; a difference
    that remains (cells that hold line breaks) is said."""
    try:
        frame = load_with_datasets("csv", path, workspace, **options)
    except (DatasetGenerationError, ValueError) as error:  # pandas' message names the row, which helps the person
        if not _plain_split_fits(text, options["sep"], width):
            raise DataError(f"The file could not be read as a table ({first_line(error)}). Check that every row "
                            "has the same number of columns and that text containing the separator is wrapped in "
                            "double quotes.") from error
        return _quotes_as_text(path, workspace, options), [_quotes_kept(text, expected, None)]
    if len(frame) >= expected:
        return frame, []
    if _plain_split_fits(text, options["sep"], width):
        return _quotes_as_text(path, workspace, options), [_quotes_kept(text, expected, expected - len(frame))]
    return frame, [_rows_span_lines(text, expected, len(frame))]


def _quotes_as_text(path, workspace: Workspace, options: dict) -> pd.DataFrame:
    return load_with_datasets("csv", path, workspace, quoting=csv.QUOTE_NONE, **options)


def _plain_split_fits(text: str, delimiter: str, width: int) -> bool:
    """Whether every non-blank line holds exactly `width` fields when quotes are taken as plain text."""
    if delimiter == SPACES:
        return all(len(line.split()) == width for line in io.StringIO(text) if line.strip())
    return all(line.count(delimiter) + 1 == width for line in io.StringIO(text) if line.strip())


def _odd_quote_lines(text: str) -> list[int]:
    """The numbers of the lines with an odd number of double quotes: a quote there is not closed on its line."""
    return [number for number, line in enumerate(io.StringIO(text), start=1) if line.count('"') % 2]


def _quotes_kept(text: str, expected: int, lost: int | None) -> Check:
    odd = _odd_quote_lines(text)
    effect = (f"such a quote joins the lines after it into one cell, and {counted(lost, 'row')} would have "
              "vanished" if lost else "the file could not be read")
    return Check("warning", f"{counted(len(odd), 'line')} {agree(len(odd), 'has', 'have')} a double quote (\") "
                            f"that no quote closes on the same line (the first is line {odd[0] if odd else '?'}). "
                            f"Read as CSV quoting, {effect}; the quotes were kept as part of the text "
                            f"instead, so each line is one row ({expected:,} rows).")


def _rows_span_lines(text: str, expected: int, rows: int) -> Check:
    odd = _odd_quote_lines(text)
    where = f" The first such cell starts on line {odd[0]}." if odd else ""
    return Check("info", f"The file has {counted(expected, 'line')} of data but {counted(rows, 'row')}: some cells "
                         "in double quotes hold line breaks, so their rows span several lines." + where +
                         " If that is not meant, look for a double quote that is not closed there.")


def _one_column(text: str, delimiter: str) -> Check:
    header = text.split("\n", 1)[0]
    other = [d for d in DELIMITERS if d != delimiter and d in header]
    hint = f" The first line contains {DELIMITER_NAMES[other[0]]}: is that the separator?" if other else ""
    return Check("warning", "Only one column was found, so there is text but no label." + hint +
                            " Use one column for the text and one for the label, separated by commas.")


def header_note(table: LoadedTable) -> str | None:
    """What was assumed about the first row, in words, or None for a file without a header question (JSON…)."""
    guess = table.header
    if guess is None:
        return None
    names = [str(c) for c in table.frame.columns]
    called = f"The columns are called {', '.join(names[:-1])} and {names[-1]}." if len(names) > 1 else \
        f"The column is called {names[0]}."
    if not guess.detected:
        return ("As you chose, the first row holds the column names." if guess.has_header else
                f"As you chose, the first row is data like the others. {called}")
    if guess.has_header:
        return f"The first row was read as the column names: {guess.reason}."
    return f"The first row was read as data, not as column names: {guess.reason}. {called}"
