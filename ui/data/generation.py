"""Data page, text for a language model: upload (or a sample) → preview → checks → validation split → save.

Two shapes: prompt/response pairs (Alpaca JSON, JSON Lines, CSV) the model learns to answer, or one plain text
it learns to continue. Everything that decides lives in `core.tasks.text_generation.data`; this module only draws.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.upload_limits import preview, shorten
from core.data.uploads import Check, DataError
from core.engine import charts
from core.messages import PlainError, markdown_literal
from core.tasks.text_generation.data import (
    FORMAT_TEXT,
    PROMPT_TEMPLATE,
    UPLOAD_EXTENSIONS,
    GenerationUpload,
    PairColumns,
    check_document,
    check_pairs,
    guess_pair_columns,
    line_lengths,
    pair_lengths,
    read_generation_upload,
    split_document,
    split_pairs,
)
from core.tasks.text_generation.samples import SAMPLE_LOG_NAME, SAMPLE_PAIRS_NAME, lighthouse_log, small_instructions
from core.tasks.text_generation.saving import save_document, save_pairs
from core.workspace import Workspace
from ui.common.widgets import read_upload_once, show_checks
from ui.data.saving import save_button

SOURCE_UPLOAD = "Upload a file"
SOURCE_LOG = "Sample: a lighthouse keeper's log (plain text)"
SOURCE_PAIRS = "Sample: short instructions and answers"
NO_COLUMN = "(none)"
PREVIEW_CHARACTERS = 2_000


def read_uploaded(uploaded, workspace: Workspace) -> GenerationUpload | None:
    """The uploaded file read once per distinct file; a plain message instead of a traceback."""
    return read_upload_once(uploaded, lambda name, raw: read_generation_upload(name, raw, workspace), "data_gen")


def choose_source(workspace: Workspace) -> tuple[GenerationUpload, str] | None:
    source = st.radio("Where is your text?", [SOURCE_UPLOAD, SOURCE_LOG, SOURCE_PAIRS], horizontal=True,
                      key="data_gen_source")
    if source == SOURCE_LOG:
        return GenerationUpload(FORMAT_TEXT, "built-in sample", text=lighthouse_log()), SAMPLE_LOG_NAME
    if source == SOURCE_PAIRS:
        return GenerationUpload("instruction", "built-in sample", frame=small_instructions()), SAMPLE_PAIRS_NAME
    uploaded = st.file_uploader(
        "A .txt file to imitate, or examples of prompts and answers (JSON, JSON Lines, CSV)",
        type=[extension.lstrip(".") for extension in UPLOAD_EXTENSIONS], key="data_gen_file",
        help="Plain text: the model learns to continue it (a book, a log, lyrics). Pairs: Alpaca-style JSON "
             "records with instruction / input / output, or a CSV with a prompt column and a response column.")
    if uploaded is None:
        return None
    upload = read_uploaded(uploaded, workspace)
    return (upload, Path(uploaded.name).stem) if upload is not None else None


def share_slider(help_text: str) -> float:
    return st.slider("Share kept for validation", 0.05, 0.5, 0.1, 0.05, key="data_gen_share", help=help_text)


# ---------------------------------------------------------------------------------------------------- plain text


def document_flow(workspace: Workspace, upload: GenerationUpload, name: str) -> None:
    text = upload.text or ""
    st.caption(f"{len(text):,} characters · read as {upload.file_format}")
    show_checks(upload.checks)
    st.markdown("**The start of your text**")
    st.code(text[:PREVIEW_CHARACTERS], language=None, height=200, wrap_lines=True)
    checks = check_document(text)
    show_checks(checks)
    if any(c.level == "error" for c in checks):
        return

    st.subheader("2 · Training and validation")
    share = share_slider("The last part of the text is kept aside, in one piece: neighbouring lines are too alike "
                         "to be shuffled between training and validation.")
    try:
        train, validation = split_document(text, share)
    except DataError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return
    st.caption(f"{len(train):,} characters to train on, {len(validation):,} to validate on.")
    st.plotly_chart(charts.length_histogram(line_lengths(text)[:50_000], unit="characters per line"),
                    key="data_gen_lines")

    st.subheader("3 · Save")
    save_form(name, lambda chosen: save_document(workspace, chosen, train, validation, upload.file_format,
                                                 upload.checks + checks))


# ---------------------------------------------------------------------------------------------------- pairs


def choose_pair_columns(frame: pd.DataFrame) -> PairColumns:
    guessed = guess_pair_columns(frame)
    columns = list(frame.columns)
    # Keys carry the table's identity so a new file starts from fresh guesses rather than stale choices.
    table_id = hashlib.sha256(",".join(columns).encode() + str(len(frame)).encode()).hexdigest()[:10]
    left, middle, right = st.columns(3)
    prompt = left.selectbox("Prompt (the instruction or question)", columns, key=f"data_gen_prompt_{table_id}",
                            index=columns.index(guessed.prompt) if guessed.prompt in columns else None)
    response = middle.selectbox("Response (what the model should write)", columns,
                                key=f"data_gen_response_{table_id}",
                                index=columns.index(guessed.response) if guessed.response in columns else None)
    extra = [NO_COLUMN, *columns]
    context = right.selectbox("Extra input shown below the prompt (optional)", extra,
                              key=f"data_gen_context_{table_id}",
                              index=extra.index(guessed.context) if guessed.context in extra else 0,
                              help="Alpaca's `input`: text the instruction is about, appended below it.")
    return PairColumns(prompt, response, None if context == NO_COLUMN else context)


def pairs_flow(workspace: Workspace, upload: GenerationUpload, name: str) -> None:
    frame = upload.frame if upload.frame is not None else pd.DataFrame()
    st.caption(f"{len(frame):,} records · {frame.shape[1]} columns · read as {upload.file_format}")
    show_checks(upload.checks)
    st.dataframe(preview(frame), hide_index=True, height=230)
    columns = choose_pair_columns(frame)
    checked = check_pairs(frame, columns)
    show_checks(checked.checks)
    if not checked.ok:
        return
    example = checked.frame.iloc[0]
    st.markdown("**How the model will see one example** (it learns to write the part after “Response”):")
    st.code(shorten(PROMPT_TEMPLATE.format(prompt=example["prompt"]) + example["response"], PREVIEW_CHARACTERS),
            language=None, wrap_lines=True)

    st.subheader("2 · Training and validation")
    share = share_slider("A random share of the examples is kept aside to measure the model honestly.")
    try:
        train, validation = split_pairs(checked.frame, share)
    except DataError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return
    st.caption(f"{len(train):,} examples to train on, {len(validation):,} to validate on.")
    st.plotly_chart(charts.length_histogram(pair_lengths(checked.frame), unit="words per example"),
                    key="data_gen_pair_lengths")

    st.subheader("3 · Save")
    save_form(name, lambda chosen: save_pairs(workspace, chosen, train, validation, upload.file_format,
                                              upload.checks + checked.checks, columns))


# ---------------------------------------------------------------------------------------------------- saving


def save_form(suggested_name: str, save) -> None:
    try:
        prepared = save_button(suggested_name, "data_gen", save)
    except (PlainError, OSError) as error:
        show_checks([Check("error", f"The dataset could not be saved: {error}")])
        return
    if prepared:
        details = prepared.info.details
        if "train_characters" in details:
            sizes = f"{details['train_characters']:,} characters to train on and " \
                    f"{details['validation_characters']:,} to validate on"
        else:
            sizes = f"{prepared.info.train_rows:,} training and {prepared.info.validation_rows:,} validation examples"
        st.success(f"Saved “{markdown_literal(prepared.name)}”: {sizes}.", icon=":material/save:")
        st.page_link("pages/train.py", label="Train a model on it →", icon=":material/model_training:",
                     query_params={"dataset": prepared.name})  # this dataset, not the first one


def render(workspace: Workspace) -> None:
    st.subheader("1 · Your text")
    chosen = choose_source(workspace)
    if chosen is None:
        return
    upload, name = chosen
    if upload.format == FORMAT_TEXT:
        document_flow(workspace, upload, name)
    else:
        pairs_flow(workspace, upload, name)
