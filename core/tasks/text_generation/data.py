"""Text for a language model to learn to write: instruction pairs or one long document, read and checked.

Two shapes of data, recorded as `details["format"]` of the saved dataset:

- "instruction": prompt → response pairs, from Alpaca-style JSON/JSONL (`instruction`, `input`, `output`) or a
  CSV with a prompt column and a response column (detected, changeable). Saved as `prompt`/`response` rows; an
  Alpaca `input` is appended below its instruction. The model later sees each pair through `PROMPT_TEMPLATE` and
  learns only the response.
- "text": one plain-text document (TXT) the model learns to continue. It is split into training and validation by
  its last share (a contiguous tail, cut at a line end), never by shuffled lines: neighbouring lines are nearly
  copies of each other, and shuffling would leak them into validation.

The boundary: this module turns bytes into checked, split rows; `core.tasks.text_generation.saving` stores them,
`core.tasks.text_generation.samples` makes sample data. It knows nothing about models or tokens. Problems come back
as `Check`s or a `DataError` whose message says how to fix the file. Reading and decoding reuse
`core.data.uploads`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.data.uploads import MAX_UPLOAD_BYTES, Check, DataError, decode_text, read_upload
from core.messages import agree, counted
from core.tasks.text_classification.data import CheckedData
from core.workspace import Workspace

TASK = "text-generation"
FORMAT_INSTRUCTION = "instruction"
FORMAT_TEXT = "text"
TEXT_EXTENSIONS = (".txt", ".md")
TABLE_EXTENSIONS = (".json", ".jsonl", ".csv", ".tsv")
UPLOAD_EXTENSIONS = TEXT_EXTENSIONS + TABLE_EXTENSIONS

# How a prompt/response pair is shown to the model while training, and how the Playground wraps a prompt for a
# model trained on pairs. The Alpaca layout: plain words a base model already half understands.
PROMPT_TEMPLATE = "### Instruction:\n{prompt}\n\n### Response:\n"

PROMPT_NAME_HINTS = ("instruction", "prompt", "question", "query", "input", "source", "request")
RESPONSE_NAME_HINTS = ("output", "response", "answer", "completion", "target", "reply", "chosen")
CONTEXT_NAME_HINTS = ("input", "context")

MIN_PAIRS = 10
FEW_PAIRS = 100
MIN_DOCUMENT_CHARACTERS = 1_000
SMALL_DOCUMENT_CHARACTERS = 20_000
MANY_DISTINCT_CHARACTERS = 300


@dataclass
class GenerationUpload:
    """What was read from a file: a table of candidate pairs, or one document."""

    format: str  # FORMAT_INSTRUCTION or FORMAT_TEXT
    file_format: str  # what the person uploaded, in words: "JSON", "CSV", "TXT"…
    frame: pd.DataFrame | None = None  # instruction: the table as read
    text: str | None = None  # text: the whole document, line ends normalised to \n
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class PairColumns:
    """Which columns hold the prompt, the response, and (optionally) extra input shown below the prompt."""

    prompt: str | None
    response: str | None
    context: str | None = None


# ---------------------------------------------------------------------------------------------------- reading


def read_generation_upload(filename: str, raw: bytes, workspace: Workspace) -> GenerationUpload:
    """A file → pairs (JSON, JSONL, CSV, TSV) or one document (TXT, MD), or a `DataError` saying how to fix it."""
    extension = Path(filename).suffix.lower()
    if extension not in UPLOAD_EXTENSIONS:
        raise DataError(f"'{extension or filename}' files are not supported here. Use a .txt file for one long "
                        "text, or JSON / JSON Lines / CSV with a prompt and a response per example.")
    if extension in TEXT_EXTENSIONS:
        if len(raw) > MAX_UPLOAD_BYTES:
            raise DataError(f"The file is {len(raw) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} "
                            "MB. Upload a part of the text.")
        text, checks = decode_text(raw)
        return GenerationUpload(FORMAT_TEXT, extension.lstrip(".").upper(), text=normalise_text(text),
                                checks=checks)
    table = read_upload(filename, raw, workspace)
    return GenerationUpload(FORMAT_INSTRUCTION, table.file_format, frame=table.frame,
                            checks=[_reworded_for_pairs(c) for c in table.checks])


def _reworded_for_pairs(check: Check) -> Check:
    # The shared reader speaks of texts and labels; here a table holds prompts and responses.
    if check.message.startswith("Only one column was found"):
        return Check(check.level, "Only one column was found: pairs need a prompt column and a response column. "
                                  "Check the separator, or upload one long text to imitate as a .txt file.")
    return check


def normalise_text(text: str) -> str:
    # Windows and old Mac line ends become \n, so the model never has to learn three ways to end a line.
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------------- pairs


def guess_pair_columns(frame: pd.DataFrame) -> PairColumns:
    """Alpaca's instruction/input/output, or the likeliest prompt and response columns by name, else the first
    two columns of text."""
    by_name = {str(c).lower(): str(c) for c in frame.columns}
    if "instruction" in by_name and ("output" in by_name or "response" in by_name):
        context = next((by_name[h] for h in CONTEXT_NAME_HINTS if h in by_name), None)
        return PairColumns(by_name["instruction"], by_name.get("output") or by_name["response"], context)
    response = next((by_name[h] for h in RESPONSE_NAME_HINTS if h in by_name), None)
    prompt = next((by_name[h] for h in PROMPT_NAME_HINTS if h in by_name and by_name[h] != response), None)
    text_columns = [str(c) for c in frame.columns if _holds_text(frame[c])]
    rest = [c for c in text_columns if c not in (prompt, response)]
    prompt = prompt or (rest.pop(0) if rest else None)
    response = response or (rest.pop(0) if rest else None)
    return PairColumns(prompt, response)


def _holds_text(column: pd.Series) -> bool:
    # pandas 3 reads text as its own "str" dtype; older versions and mixed columns give "object".
    return column.dtype == object or pd.api.types.is_string_dtype(column)


def check_pairs(frame: pd.DataFrame, columns: PairColumns) -> CheckedData:
    """Clean `prompt`/`response` rows, and in plain words what was left out and why."""
    empty = pd.DataFrame(columns=["prompt", "response"])
    if not columns.prompt or columns.prompt not in frame.columns:
        return CheckedData(empty, [Check("error", "Choose which column holds the prompt (the instruction or "
                                                  "question the model is given).")])
    if not columns.response or columns.response not in frame.columns:
        return CheckedData(empty, [Check("error", "Choose which column holds the response (what the model should "
                                                  "write back). For one long text to imitate, upload a .txt file "
                                                  "instead.")])
    if columns.prompt == columns.response:
        return CheckedData(empty, [Check("error", "The prompt and the response must be two different columns.")])
    prompts = frame[columns.prompt].map(_clean_cell)
    if columns.context and columns.context in frame.columns and columns.context not in (columns.prompt,
                                                                                          columns.response):
        extra = frame[columns.context].map(_clean_cell)
        prompts = [p + ("\n\n" + e if e else "") if p else "" for p, e in zip(prompts, extra)]
    rows = pd.DataFrame({"prompt": list(prompts), "response": frame[columns.response].map(_clean_cell).tolist()})
    checks: list[Check] = []
    missing = (rows["prompt"] == "") | (rows["response"] == "")
    if missing.any():
        left_out = int(missing.sum())
        checks.append(Check("warning", f"{counted(left_out, 'example')} with an empty prompt or response "
                                       f"{agree(left_out, 'was', 'were')} left out."))
        rows = rows[~missing]
    duplicated = rows.duplicated()
    if duplicated.any():
        left_out = int(duplicated.sum())
        checks.append(Check("warning", f"{counted(left_out, 'exact duplicate example')} "
                                       f"{agree(left_out, 'was', 'were')} left out, so none counts twice or leaks from "
                                       "training into validation."))
        rows = rows[~duplicated]
    if len(rows) < MIN_PAIRS:
        checks.append(Check("error", f"Only {counted(len(rows), 'usable example')}; at least {MIN_PAIRS} are needed "
                                     "to train and check a model. Add more prompt/response pairs."))
    else:
        if len(rows) < FEW_PAIRS:
            checks.append(Check("warning", f"{len(rows)} examples is few: the model may only copy their style. "
                                           "A few hundred or more work better."))
        checks.append(Check("info", f"{len(rows):,} prompt/response pairs are ready."))
    return CheckedData(rows.reset_index(drop=True), checks)


def _clean_cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return normalise_text(str(value)).strip()


def split_pairs(rows: pd.DataFrame, validation_share: float, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random split: pairs are independent examples, unlike the lines of one text."""
    _check_share(validation_share)
    size = max(1, int(round(len(rows) * validation_share)))
    if len(rows) - size < 1:
        raise DataError(f"{len(rows)} examples are too few to split. Add more examples.")
    shuffled = rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return shuffled.iloc[size:].reset_index(drop=True), shuffled.iloc[:size].reset_index(drop=True)


def _check_share(validation_share: float) -> None:
    if not 0.05 <= validation_share <= 0.5:
        raise DataError("The validation share must be between 5% and 50%.")


# ---------------------------------------------------------------------------------------------------- documents


def check_document(text: str) -> list[Check]:
    stripped = text.strip()
    if len(stripped) < MIN_DOCUMENT_CHARACTERS:
        return [Check("error", f"The text has {len(stripped):,} characters; at least {MIN_DOCUMENT_CHARACTERS:,} "
                               "(a few paragraphs) are needed to learn anything, and 100,000 or more work best. "
                               "Upload a longer text.")]
    checks = []
    if len(stripped) < SMALL_DOCUMENT_CHARACTERS:
        checks.append(Check("warning", f"{len(stripped):,} characters is a small text: a model soon learns it by "
                                       "heart. Watch the validation loss; when it starts rising, it is memorising."))
    distinct = len(set(text))
    if distinct > MANY_DISTINCT_CHARACTERS:
        checks.append(Check("info", f"The text uses {distinct:,} different characters. For a model built from "
                                    "scratch, the 'learned from your text' tokenizer handles that better than "
                                    "single characters."))
    lines = text.count("\n") + 1
    checks.append(Check("info", f"{len(text):,} characters on {lines:,} lines ({distinct} different characters) "
                                "are ready."))
    return checks


def split_document(text: str, validation_share: float) -> tuple[str, str]:
    """The first part to train on and the last `validation_share` to validate on, cut at a line end so no line is
    broken in two."""
    _check_share(validation_share)
    cut = int(len(text) * (1 - validation_share))
    line_end = text.find("\n", cut)
    # Very long lines (a text with no line breaks) are cut mid-line rather than moving the split far away.
    if line_end != -1 and line_end - cut < max(200, len(text) // 100):
        cut = line_end + 1
    train, validation = text[:cut], text[cut:]
    if not train.strip() or not validation.strip():
        raise DataError("The text is too short to keep a part for validation. Upload a longer text.")
    return train, validation


# ---------------------------------------------------------------------------------------------------- charts


def pair_lengths(rows: pd.DataFrame) -> list[int]:
    """Words per example, prompt and response together: what the context length must hold."""
    return (rows["prompt"].str.split().str.len() + rows["response"].str.split().str.len()).tolist()


def line_lengths(text: str) -> list[int]:
    return [len(line) for line in text.split("\n") if line.strip()]
