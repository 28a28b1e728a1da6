"""An uploaded table on the Data page (texts with labels, or a table): read whatever its name, then shown with what
was assumed about it and a one-click way to change that.

Any file name is accepted (the uploader's list of types is only the browser's; `core.data.uploads` reads the format
from the content), so the UCI `SMSSpamCollection` file, which has no extension, goes in as it is. Whether the first
row names the columns is guessed and said, with a switch that reads the file again the other way. Anything taken
from the file reaches the page as text (`core.messages.markdown_literal`), never as Markdown.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from core.data.delimited import header_note
from core.data.loaded import LoadedTable
from core.data.upload_limits import preview
from core.data.uploads import read_upload
from core.messages import markdown_literal
from core.workspace import Workspace
from ui.common.widgets import read_upload_once, show_checks

ANY_NAME = ("Any file name works, with or without an extension: the format is read from the content (CSV or TSV "
            "with any separator, JSON, JSON Lines, Parquet, or text with one example per line).")
CHOSEN = "_chosen"  # beside the switch's key: what the person set it to (absent while they have not touched it)
FIRST_ROW = "The first row holds the column names"
FIRST_ROW_HELP = ("On: the first row names the columns and is not an example. Off: it is an example like the others, "
                  "and the columns are called column 1, column 2…")


def first_row_key(uploaded, key: str) -> str:
    """The switch's key: one per uploaded file, so a new file starts again from its own guess."""
    return f"{key}_first_row_names_{hashlib.sha256(uploaded.getvalue()).hexdigest()[:12]}"


def read_uploaded_table(uploaded, workspace: Workspace, key: str, header: bool | None = None) -> LoadedTable | None:
    """The upload as a table, read once per file and choice of first row; a plain message instead of a traceback.

    The first row is read as the person set the switch (`show_table` draws it), else as `header` says, else as
    guessed from the rows."""
    chosen = st.session_state.get(first_row_key(uploaded, key) + CHOSEN, header)
    return read_upload_once(uploaded, lambda name, raw: read_upload(name, raw, workspace, header=chosen),
                            f"{key}_{chosen}")


def show_table(table: LoadedTable, switch_key: str | None = None, preview_key: str | None = None) -> None:
    """Its size and format, its checks, what was assumed about its first row (with the switch, when `switch_key` is
    given), and its first rows."""
    frame = table.frame
    st.caption(f"{len(frame):,} rows · {frame.shape[1]} columns · read as {table.file_format}")
    show_checks(table.checks)
    note = header_note(table)
    if note:
        st.info(markdown_literal(note), icon=":material/table_rows:")
        if switch_key:  # the person's own choice is kept apart, so the note can tell it from the guess
            st.toggle(FIRST_ROW, value=table.header.has_header, key=switch_key, help=FIRST_ROW_HELP,
                      on_change=lambda: st.session_state.update({switch_key + CHOSEN: st.session_state[switch_key]}))
    st.dataframe(preview(frame), hide_index=True, height=230, key=preview_key)
