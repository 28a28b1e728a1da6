"""An uploaded table on the Data page (texts with labels, or a table): read whatever its name, then shown with what
was assumed about it and a one-click way to change that.

Any file name is accepted (the uploader's list of types is only the browser's; `core.data.uploads` reads the format
from the content), so the UCI `SMSSpamCollection` file, which has no extension, goes in as it is. Whether the first
row names the columns is guessed and said, with a switch that reads the file again the other way. Anything taken
from the file reaches the page as text, never as Markdown.
"""

from __future__ import annotations

import hashlib
import re

import streamlit as st

from core.data.delimited import header_note
from core.data.loaded import Check, LoadedTable
from core.data.upload_limits import preview
from core.data.uploads import read_upload
from core.workspace import Workspace
from ui.common.widgets import read_upload_once, show_checks

ANY_NAME = ("Any file name works, with or without an extension: the format is read from the content (CSV or TSV "
            "with any separator, JSON, JSON Lines, Parquet, or text with one example per line).")
# What Markdown acts on: code, emphasis, links and images ([…](…)), HTML, maths, tables; and a dot or colon right before
# a letter, which is how an autolink (www.example.com, https://…) starts. Nothing else is escaped, so a message
# reads the same in the page's source as on screen ("not UTF-8", "(e.g. …)").
MARKDOWN_SIGNS = re.compile(r"[\\`*_\[\]<>$~|]|[.:](?=\S)")
FIRST_ROW = "The first row holds the column names"
FIRST_ROW_HELP = ("On: the first row names the columns and is not an example. Off: it is an example like the others, "
                  "and the columns are called column 1, column 2…")


def first_row_key(uploaded, key: str) -> str:
    """The switch's key: one per uploaded file, so a new file starts again from its own guess."""
    return f"{key}_first_row_names_{hashlib.sha256(uploaded.getvalue()).hexdigest()[:12]}"


def read_uploaded_table(uploaded, workspace: Workspace, key: str, header: bool | None = None) -> LoadedTable | None:
    """The upload as a table, read once per file and choice of first row; a plain message instead of a traceback.

    The first row is read as the person last set the switch (`show_table` draws it), else as `header` says, else as
    guessed from the rows."""
    chosen = st.session_state.get(first_row_key(uploaded, key), header)
    return read_upload_once(uploaded, lambda name, raw: read_upload(name, raw, workspace, header=chosen),
                            f"{key}_{chosen}")


def show_table(table: LoadedTable, switch_key: str | None = None, preview_key: str | None = None) -> None:
    """Its size and format, what was assumed about its first row (with the switch, when `switch_key` is given), its
    checks, and its first rows."""
    frame = table.frame
    st.caption(f"{len(frame):,} rows · {frame.shape[1]} columns · read as {table.file_format}")
    note = header_note(table)
    if note:
        st.info(as_text(note), icon=":material/table_rows:")
        if switch_key:
            st.toggle(FIRST_ROW, value=table.header.has_header, key=switch_key, help=FIRST_ROW_HELP)
    show_plain_checks(table.checks)
    st.dataframe(preview(frame), hide_index=True, height=230, key=preview_key)


def show_plain_checks(checks: list[Check]) -> None:
    """Checks whose messages quote the file (a cell, a class name) shown as they are written, never as Markdown."""
    show_checks([Check(check.level, as_text(check.message)) for check in checks])


def as_text(text: str) -> str:
    """Text from a person's file shown through Markdown exactly as written: never a link, an image or formatting."""
    return MARKDOWN_SIGNS.sub(lambda sign: "\\" + sign.group(0), text)
