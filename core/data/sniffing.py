"""Telling what an uploaded file holds from its content, not its name: its format, its separator, and whether its
first row names the columns or is already data.

People upload files as they have them: the UCI SMS spam corpus is a tab-separated file called `SMSSpamCollection`,
with no extension and no header row, and AG News' CSV starts straight with data. So the format is read from the
content when the name does not say it, and the first row is looked at column by column before it is taken as
column names. Every guess comes with the reason a person reads, so the Data page can say what was assumed and let
them change it.

The boundary: pure functions over a file's first bytes or its decoded text; no pandas, no files. Reading the table
is `core.data.uploads`.
"""

from __future__ import annotations

import csv
import io
import itertools
import shlex
from collections import Counter
from dataclasses import dataclass

DELIMITERS = "\t,;|"
# Not a character but "runs of spaces or tabs": columns of numbers lined up, as UCI's .data files have them
# (auto-mpg.data, housing.data), read with pandas' `sep=r"\s+"`.
SPACES = " "
SPACES_PATTERN = r"\s+"
DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "vertical bars",
                   SPACES: "spaces (columns lined up)"}
LINED_UP_MIN_FIELDS = 3
LINED_UP_NUMBER_SHARE = 0.6  # of the cells: a text of words is not a table because its lines have as many words
SAMPLE_LINES = 50
FASTTEXT_PREFIX = "__label__"
# Magic numbers of files that are not text: zip (also .xlsx and .docx), PDF, PNG, JPEG, GIF, Windows programs, gzip.
BINARY_SIGNATURES = (b"PK\x03\x04", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"MZ", b"\x1f\x8b")
PARQUET_MAGIC = b"PAR1"
# A column name is short: a first-row cell longer than this, or of more words, reads as a text, not a name.
NAME_CHARACTERS = 40
NAME_WORDS = 6
USUAL_NAMES = {"text", "texts", "sentence", "review", "content", "message", "comment", "body", "document", "tweet",
               "title", "description", "question", "answer", "prompt", "response", "label", "labels", "class",
               "category", "target", "sentiment", "intent", "topic", "id", "name", "value", "score", "date", "type"}
STRONG, WEAK = 2, 1  # how much one column's evidence counts towards "header" (+) or "data" (−)


@dataclass(frozen=True)
class FormatGuess:
    """Which reader a file goes to (named by the extension it would have had) and why, in words."""

    extension: str  # ".csv", ".tsv", ".json", ".jsonl" or ".txt"
    reason: str


@dataclass(frozen=True)
class HeaderGuess:
    """Whether the first row names the columns; `reason` says why, `detected` whether it was guessed (True) or
    chosen by the person (False)."""

    has_header: bool
    reason: str
    detected: bool = True


# ---------------------------------------------------------------------------------------------------- format


def looks_binary(raw: bytes) -> bool:
    """A file that starts like a zip, a PDF, an image or a program: no separator or encoding makes it a table."""
    return raw.startswith(BINARY_SIGNATURES)


def looks_parquet(raw: bytes) -> bool:
    return raw[:4] == PARQUET_MAGIC


def sample_lines(text: str, count: int = SAMPLE_LINES) -> list[str]:
    """The first `count` non-blank lines, without splitting the whole text (it may be 200 MB)."""
    lines = (line.rstrip("\r\n") for line in io.StringIO(text))
    return list(itertools.islice((line for line in lines if line.strip()), count))


def guess_format(text: str) -> FormatGuess:
    """What a file whose name does not say it holds: JSON, JSON Lines, a table with a separator, or lines."""
    stripped = text.lstrip()
    lines = sample_lines(text)
    if stripped.startswith("["):
        return FormatGuess(".json", "it starts with “[”, like a JSON list")
    if stripped.startswith("{"):
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines):
            return FormatGuess(".jsonl", "every line is a JSON object (JSON Lines)")
        return FormatGuess(".json", "it starts with “{”, like a JSON object")
    if lines and all(line.startswith(FASTTEXT_PREFIX) for line in lines):
        return FormatGuess(".txt", f"every line starts with a label written “{FASTTEXT_PREFIX}name”")
    delimiter, fields = consistent_delimiter(lines)
    if delimiter:
        return FormatGuess(".tsv" if delimiter == "\t" else ".csv",
                           f"its lines have {fields} fields separated by {DELIMITER_NAMES[delimiter]}")
    return FormatGuess(".txt", "no separator splits its lines into the same number of fields, so each line is "
                               "one example")


def consistent_delimiter(lines: list[str], share: float = 0.9) -> tuple[str | None, int]:
    """(the separator that splits at least `share` of the lines into the same number (≥ 2) of fields, that
    number), or (None, 0). The separator that splits the most lines alike wins, tabs first among equals (a
    tab-separated text often holds commas too), semicolons before commas. Columns of numbers lined up
    with spaces win over a separator that splits the lines into fewer fields (auto-mpg.data has one tab, before
    the car's name)."""
    if len(lines) < 2:
        return None, 0
    lined_up = lined_up_fields(lines, share)
    candidates = []
    for rank, delimiter in enumerate(DELIMITERS):
        widths = Counter(field_count(line, delimiter) for line in lines)
        fields, lines_of_that_width = widths.most_common(1)[0]
        if fields >= 2 and lines_of_that_width >= share * len(lines):
            # The most lines split alike wins (a header of names holds no decimal commas); then semicolons over
            # commas, since a file split by semicolons on every line uses its commas inside numbers ("7,4").
            candidates.append((-lines_of_that_width, delimiter != ";", rank, delimiter, fields))
    if candidates:
        *_, delimiter, fields = min(candidates)
        return (SPACES, lined_up) if lined_up > fields else (delimiter, fields)
    return (SPACES, lined_up) if lined_up else (None, 0)


def spaced_fields(line: str) -> list[str]:
    """A line's fields when runs of spaces separate them; a double-quoted text ("ford pinto") is one field."""
    try:
        return shlex.split(line)
    except ValueError:  # a quote that does not close
        return line.split()


def lined_up_fields(lines: list[str], share: float = 0.9) -> int:
    """How many fields each line has when the lines are columns of numbers lined up with spaces; 0 when they are
    not (fewer than 3 fields, lines of different lengths, or cells that are mostly words)."""
    rows = [spaced_fields(line) for line in lines]
    fields, count = Counter(map(len, rows)).most_common(1)[0]
    if fields < LINED_UP_MIN_FIELDS or count < share * len(rows):
        return 0
    cells = [cell for row in rows if len(row) == fields for cell in row]
    numbers = sum(is_number(cell) or cell == "?" for cell in cells)
    return fields if numbers >= LINED_UP_NUMBER_SHARE * len(cells) else 0


def field_count(line: str, delimiter: str) -> int:
    """Fields in one line, a quoted separator not counting; a quote that does not close counts it plainly."""
    try:
        return len(next(csv.reader([line], delimiter=delimiter, strict=True), []))
    except csv.Error:
        return line.count(delimiter) + 1


# ---------------------------------------------------------------------------------------------------- header


# What a column's first cell says, in words, for one cell and for several: {cells} is the quoted cell(s).
EVIDENCE = {
    "number over numbers": ("{cells} is a number, like the values below it",
                            "{cells} are numbers, like the values below them"),
    "word over numbers": ("{cells} is a word above a column of numbers", "{cells} are words above columns of numbers"),
    "long": ("{cells} is as long as a text, not a column name", "{cells} are as long as texts, not column names"),
    "recurs": ("{cells} appears again below it, as a value of its column",
               "{cells} appear again below them, as values of their columns"),
    "usual name": ("{cells} is a usual column name", "{cells} are usual column names"),
    "number": ("{cells} is a number, and column names are words", "{cells} are numbers, and column names are words"),
    "not a value": ("{cells} is not one of the values below it", "{cells} are not among the values below them"),
}


def guess_header(records: list[list[str]]) -> HeaderGuess:
    """Whether the first of `records` (the file's first rows, split into cells) names the columns.

    Each column gives its evidence: a word above numbers, or a usual column name, says "names"; a number above
    numbers, a value that recurs below it, or a cell as long as a text says "data". A tie keeps the header, which
    most files have.
    """
    if len(records) < 2:
        return HeaderGuess(True, "the file has a single row")
    first, below = records[0], records[1:]
    votes = []  # (weight, kind of evidence, the cell)
    for index, cell in enumerate(first):
        vote = column_vote(cell.strip(), [row[index].strip() for row in below if index < len(row)])
        if vote:
            votes.append((*vote, cell.strip()))
    has_header = sum(weight for weight, _, _ in votes) >= 0
    cells_by_kind: dict[str, list[str]] = {}  # the evidence on the winning side, kind by kind
    for weight, kind, cell in votes:
        if (weight > 0) == has_header:
            cells_by_kind.setdefault(kind, []).append(cell)
    if not cells_by_kind:
        return HeaderGuess(True, "nothing in it looks like data rather than names")
    return HeaderGuess(has_header, "; ".join(evidence(kind, cells) for kind, cells in cells_by_kind.items()))


def evidence(kind: str, cells: list[str]) -> str:
    """One kind of evidence in words: "“text” and “label” are usual column names"."""
    quoted = [quote(cell) for cell in cells[:3]] + ([f"{len(cells) - 3} more"] if len(cells) > 3 else [])
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    singular, plural = EVIDENCE[kind]
    return (singular if len(cells) == 1 else plural).format(cells=listed)


def quote(cell: str) -> str:
    return f"“{cell[:NAME_CHARACTERS].rstrip()}…”" if len(cell) > NAME_CHARACTERS else f"“{cell}”"


def column_vote(cell: str, below: list[str]) -> tuple[int, str] | None:
    """(+ for a header, − for data; the kind of evidence, a key of `EVIDENCE`) from one column, or None when it
    says nothing."""
    values = [value for value in below if value]
    if not values:
        return None
    if sum(map(is_number, values)) >= 0.9 * len(values) and cell:
        return (-STRONG, "number over numbers") if is_number(cell) else (STRONG, "word over numbers")
    if len(cell) > NAME_CHARACTERS or len(cell.split()) > NAME_WORDS:
        return -STRONG, "long"
    distinct = set(values)
    categories = len(distinct) <= len(values) / 2
    if cell in distinct and categories:
        return -STRONG, "recurs"
    if cell.lower() in USUAL_NAMES:
        return STRONG, "usual name"
    if is_number(cell):
        return -WEAK, "number"
    if categories and cell:
        return WEAK, "not a value"
    return None


def is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return bool(text)


def first_records(text: str, delimiter: str, count: int = SAMPLE_LINES) -> list[list[str]]:
    """The first `count` rows of a delimited text, split into cells as a CSV reader splits them."""
    if delimiter == SPACES:
        return [spaced_fields(line) for line in sample_lines(text, count)]
    try:
        return list(itertools.islice((row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row),
                                     count))
    except csv.Error:  # a cell beyond the csv module's size limit: split plainly, which is enough to guess
        return [line.split(delimiter) for line in sample_lines(text, count)]


def column_names(count: int) -> list[str]:
    """Names for the columns of a file without a header row: "column 1", "column 2"…"""
    return [f"column {number}" for number in range(1, count + 1)]
