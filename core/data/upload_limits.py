"""How much of an uploaded file the server agrees to unpack, and how much of it a page may show.

The boundary: plain checks on sizes and shapes, each returning the message a person reads (or None), so
`core.data.uploads` can refuse a file *before* the expensive step (decoding a compressed Parquet file, parsing a
very wide CSV) rather than after the server has spent minutes or gigabytes on it. Nothing here reads a file itself.
"""

from __future__ import annotations


def too_big_when_unpacked(rows: int, columns: int, decoded_bytes: int, max_bytes: int) -> str | None:
    """Why a compressed table is refused: it would unpack past the size limit a CSV of it would have to meet.

    Every cell of a CSV takes at least one byte (its separator), so rows × columns is a lower bound known from
    the Parquet footer alone; `decoded_bytes` is what has been unpacked so far.
    """
    if rows * columns <= max_bytes and decoded_bytes <= max_bytes:
        return None
    return (f"The file is small but unpacks to more than {max_bytes / 2**20:.0f} MB ({rows:,} rows), the limit "
            "for an upload. Upload a sample of the rows instead.")
