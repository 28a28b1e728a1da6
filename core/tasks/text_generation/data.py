"""Text for a language model to learn to write: instruction pairs or one long document, checked and saved.

Two shapes of data, recorded as `details["format"]` of the saved dataset:

- "instruction": prompt → response pairs, from Alpaca-style JSON/JSONL (`instruction`, `input`, `output`) or a
  CSV with a prompt column and a response column (detected, changeable). Saved as `prompt`/`response` rows; an
  Alpaca `input` is appended below its instruction. The model later sees each pair through `PROMPT_TEMPLATE` and
  learns only the response.
- "text": one plain-text document (TXT) the model learns to continue. It is split into training and validation by
  its last share (a contiguous tail, cut at a line end), never by shuffled lines: neighbouring lines are nearly
  copies of each other, and shuffling would leak them into validation. Each part is saved as consecutive `text`
  pieces that join back (`join_document`) into exactly the original characters.

The boundary: this module turns bytes into checked rows and a saved dataset; it knows nothing about models or
tokens. Problems come back as `Check`s or a `DataError` whose message says how to fix the file. Reading and
decoding reuse `core.data.uploads`.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from core.data.dataset_store import PreparedDataset, save_dataset
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
PIECE_CHARACTERS = 4_000  # a saved text piece; small enough to preview, large enough to keep the row count low


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


def document_rows(text: str, piece_characters: int = PIECE_CHARACTERS) -> pd.DataFrame:
    """One document as consecutive `text` pieces (cut after a line end where there is one) that join back into
    exactly the same characters."""
    pieces, start = [], 0
    while start < len(text):
        end = min(start + piece_characters, len(text))
        if end < len(text):
            line_end = text.rfind("\n", start, end)
            end = line_end + 1 if line_end > start else end
        pieces.append(text[start:end])
        start = end
    return pd.DataFrame({"text": pieces})


def join_document(rows: pd.DataFrame) -> str:
    return "".join(rows["text"].astype(str))


# ---------------------------------------------------------------------------------------------------- charts


def pair_lengths(rows: pd.DataFrame) -> list[int]:
    """Words per example, prompt and response together: what the context length must hold."""
    return (rows["prompt"].str.split().str.len() + rows["response"].str.split().str.len()).tolist()


def line_lengths(text: str) -> list[int]:
    return [len(line) for line in text.split("\n") if line.strip()]


# ---------------------------------------------------------------------------------------------------- saving


def save_pairs(workspace: Workspace, name: str, train: pd.DataFrame, validation: pd.DataFrame, source: str,
               checks: list[Check], columns: PairColumns) -> PreparedDataset:
    details = {"format": FORMAT_INSTRUCTION, "file_format": source, "prompt_template": PROMPT_TEMPLATE,
               "columns": asdict(columns)}
    return save_dataset(workspace, name, TASK, train[["prompt", "response"]].astype(str),
                        validation[["prompt", "response"]].astype(str), source=source,
                        checks=[asdict(c) for c in checks], details=details)


def save_document(workspace: Workspace, name: str, train_text: str, validation_text: str, source: str,
                  checks: list[Check]) -> PreparedDataset:
    details = {"format": FORMAT_TEXT, "file_format": source, "train_characters": len(train_text),
               "validation_characters": len(validation_text)}
    return save_dataset(workspace, name, TASK, document_rows(train_text), document_rows(validation_text),
                        source=source, checks=[asdict(c) for c in checks], details=details)


def dataset_format(dataset: PreparedDataset) -> str:
    """The saved format; a dataset without one is read by its columns."""
    saved = dataset.info.details.get("format")
    if saved in (FORMAT_INSTRUCTION, FORMAT_TEXT):
        return saved
    columns = set(pd.read_parquet(dataset.validation_path).columns)
    return FORMAT_INSTRUCTION if {"prompt", "response"} <= columns else FORMAT_TEXT


# ---------------------------------------------------------------------------------------------------- samples
# Written for this project (no download, the same on every machine), so a person with no file can try each step.

SAMPLE_LOG_NAME = "lighthouse-log-sample"
SAMPLE_PAIRS_NAME = "small-instructions-sample"

_MONTHS = [("January", 31), ("February", 28), ("March", 31), ("April", 30), ("May", 31), ("June", 30),
           ("July", 31), ("August", 31), ("September", 30), ("October", 31), ("November", 30), ("December", 31)]
_WINDS = ["north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"]
_STRENGTHS = ["light", "moderate", "fresh", "strong", "a gale"]
_SEAS = {"light": "calm", "moderate": "slight", "fresh": "moderate", "strong": "rough", "a gale": "very rough"}
_SKIES = ["Clear sky all day.", "Low cloud in the morning, clearing by noon.", "Rain showers on and off.",
          "Fog until mid-morning.", "Overcast and grey.", "Steady rain from dawn.", "Bright with high cloud.",
          "Sleet in the afternoon."]
_EVENTS = ["Two fishing boats came in before dark.", "A steamer passed to the south, heading for port.",
           "Painted the gallery rail.", "Cleaned the lens and trimmed the wick.", "The supply boat brought oil "
           "and letters.", "Seals on the rocks below the tower.", "Mended the rain barrel.", "Gulls nesting on the "
           "north ledge.", "Saw no ships all day.", "Helped a rowing boat around the point.", "Wrote to my "
           "sister.", "Checked the foghorn; it sounds well."]


def lighthouse_log(year: int = 1887, seed: int = 0) -> str:
    """A year of a lighthouse keeper's daily log: regular enough to learn in minutes, varied enough to read."""
    rng = random.Random(seed)
    entries, wind = [], rng.randrange(len(_WINDS))
    for month_index, (month, days) in enumerate(_MONTHS):
        # Lit at dusk: about 16:00 in midwinter, 21:00 in midsummer.
        hour = 16 + int(5.5 - abs(5.5 - month_index))
        for day in range(1, days + 1):
            wind = (wind + rng.choice([-1, 0, 0, 1])) % len(_WINDS)  # the wind veers slowly, as it does
            strength = rng.choice(_STRENGTHS)
            minute = rng.randrange(0, 60, 5)
            events = " ".join(rng.sample(_EVENTS, rng.choice([1, 1, 2])))
            entries.append(f"{day} {month} {year}. Wind {_WINDS[wind]}, {strength}. Sea {_SEAS[strength]}. "
                           f"{rng.choice(_SKIES)} {events} Lamp lit at {hour}:{minute:02d}. All well.\n")
    return "".join(entries)


_OPPOSITES = {"hot": "cold", "tall": "short", "early": "late", "happy": "sad", "open": "closed", "light": "dark",
              "fast": "slow", "full": "empty", "loud": "quiet", "up": "down", "wet": "dry", "old": "young",
              "strong": "weak", "rich": "poor", "hard": "soft", "first": "last", "near": "far", "clean": "dirty"}
_PLURALS = {"mouse": "mice", "child": "children", "box": "boxes", "city": "cities", "leaf": "leaves",
            "tooth": "teeth", "bus": "buses", "knife": "knives", "person": "people", "fish": "fish",
            "baby": "babies", "foot": "feet", "woman": "women", "potato": "potatoes", "sheep": "sheep"}
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number_words(number: int) -> str:
    if number < 20:
        return _UNITS[number]
    tens, units = divmod(number, 10)
    return _TENS[tens] + ("-" + _UNITS[units] if units else "")


def small_instructions(seed: int = 0) -> pd.DataFrame:
    """About 300 short instruction/input/output records (opposites, plurals, numbers, comparisons), with an
    exact answer each, so you can see a fine-tuned model get them right."""
    rng = random.Random(seed)
    records = [("Give the opposite of the word.", word, opposite) for word, opposite in _OPPOSITES.items()]
    records += [("Give the opposite of the word.", opposite, word) for word, opposite in _OPPOSITES.items()]
    records += [("Write the plural of the word.", word, plural) for word, plural in _PLURALS.items()]
    records += [("Write the number in words.", str(n), _number_words(n)) for n in range(100)]
    pairs = set()
    while len(pairs) < 120:
        pairs.add(tuple(rng.sample(range(1, 100), 2)))
    records += [("Which number is larger?", f"{a} or {b}", str(max(a, b))) for a, b in sorted(pairs)]
    rng.shuffle(records)
    return pd.DataFrame(records, columns=["instruction", "input", "output"])
