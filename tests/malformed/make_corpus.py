"""Writes the malformed-upload corpus beside this script: `python tests/malformed/make_corpus.py`.

Every file is small and something a person could really upload by mistake (or a hostile one could craft).
`manifest.json` says which loader each file goes through (`text`, `table`, `generation`, `images`) and a few
words the plain message must contain, so `tests/core/data/test_malformed_uploads.py` checks every case the same way.
The files are committed; this script is kept so the binary ones can be read and regenerated.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def png(width: int = 8, height: int = 8, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid RGB PNG written by hand (no Pillow needed to regenerate the corpus)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" + bytes(colour) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def zip_bytes(members: list[tuple[str, bytes]], links: dict[str, str] | None = None, encrypted: bool = False
              ) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return mark_encrypted(buffer.getvalue()) if encrypted else buffer.getvalue()


def mark_encrypted(data: bytes) -> bytes:
    """Set the 'encrypted' flag in every local and central header: zipfile cannot write encrypted zips itself."""
    data = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start != -1:
            data[start + flag_offset] |= 0x1
            start = data.find(signature, start + 4)
    return bytes(data)


def class_folders(per_class: int = 3, classes: tuple[str, ...] = ("cats", "dogs")) -> list[tuple[str, bytes]]:
    colours = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]
    return [(f"{name}/{i}.png", png(colour=colours[c % 3])) for c, name in enumerate(classes) for i in range(per_class)]


def reviews(rows: int = 12) -> list[tuple[str, str]]:
    words = ["great", "awful", "fine", "slow", "tasty", "cold", "friendly", "rude", "clean", "noisy", "cheap", "dear"]
    return [(f"the {words[i % len(words)]} soup number {i}", "good" if i % 2 else "bad") for i in range(rows)]


def csv_text(rows: list[tuple[str, str]], header: str = "text,label", delimiter: str = ",") -> str:
    return "\n".join([header.replace(",", delimiter)] + [f"{t}{delimiter}{label}" for t, label in rows]) + "\n"


def deep_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def zip_bomb() -> bytes:
    # 20 MB of zeros deflates to ~20 kB: far past the 100× ratio the image loader accepts.
    return zip_bytes([("cats/zeros.png", b"\x00" * 20_000_000), ("dogs/1.png", png())])


def wide_csv(columns: int, rows: int = 3) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return "\n".join([header] + [",".join(str((i + r) % 10) for i in range(columns)) for r in range(rows)]).encode()


def parquet_bomb(rows: int = 5_000_000) -> bytes:
    """23 kB of Parquet that unpacks to 470 MB: one 90-character value repeated, dictionary-encoded and compressed
    (the same file at 107 kB took 2.3 GB of server memory). Statistics are left out to keep it small."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    same = pa.array([0] * rows, pa.int32())
    table = pa.table({"text": pa.array(["the soup was great and the service friendly; " * 2]).take(same),
                      "label": pa.array(["good"]).take(same)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", use_dictionary=True, write_statistics=False)
    return buffer.getvalue()


def cases() -> dict[str, tuple[str, bytes, str]]:
    """name → (loader, content, words the message must contain, lower case)."""
    good_rows = reviews()
    latin1 = csv_text([(f"café crème brûlée {i}", "bon" if i % 2 else "mauvais") for i in range(12)])
    ragged = "text,label\nnice soup,good\nbad soup,bad,extra,columns,here\n" + csv_text(good_rows).split("\n", 1)[1]
    truncated_png = png(32, 32)[:60]
    return {
        # ---- texts with labels (core.data.uploads, core.tasks.text_classification.data)
        "empty.csv": ("text", b"", "empty"),
        "whitespace_only.csv": ("text", b"   \n\n\t \n", "empty"),
        "png_disguised_as.csv": ("text", png(), "binary"),
        "xlsx_renamed.csv": ("text", zip_bytes([("xl/workbook.xml", b"<workbook/>\x00")]), "binary"),
        # UTF-16 with its byte-order mark is read; without one it cannot be told from a binary file.
        "utf16_no_bom.csv": ("text", csv_text(good_rows).encode("utf-16-le"), "utf"),
        "colon_delimited.csv": ("text", csv_text(good_rows, delimiter=":").encode(), "one column"),
        "latin1.csv": ("text", latin1.encode("latin-1"), "not utf-8"),
        "missing_label_column.csv": ("text", ("review\n" + "\n".join(t for t, _ in good_rows)).encode(), "label"),
        "one_class.csv": ("text", csv_text([(t, "good") for t, _ in good_rows]).encode(), "2 classes"),
        "nan_labels.csv": ("text", csv_text([(t, "NaN") for t, _ in good_rows]).encode(), "label"),
        "one_row.csv": ("text", b"text,label\nthe soup was great,good\n", "examples"),
        "header_only.csv": ("text", b"text,label\n", "no rows"),
        "ragged_rows.csv": ("text", ragged.encode(), "same number of columns"),
        "unclosed_quote.csv": ("text", b'text,label\n"the soup was great,good\nfine soup,bad\n' * 3, "quote"),
        "empty_texts.csv": ("text", csv_text([("", label) for _, label in good_rows]).encode(), "label"),
        "jsonl_not_objects.jsonl": ("text", b'["great", "good"]\n["awful", "bad"]\n', "object"),
        "numbers_only.csv": ("text", b"a,b\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(20)), "text"),
        "too_many_classes.csv": ("text", csv_text([(f"row {i} text", f"class{i}") for i in range(150)]).encode(),
                                 "class"),
        "over_size_limit.csv": ("text", csv_text(reviews(200)).encode(), "limit"),
        "json_syntax_error.json": ("text", b'[{"text": "great", "label": "good"}, {"text": "bad" "label": "bad"}]',
                                   "syntax error"),
        "deeply_nested.json": ("text", deep_json(5_000), "nested too deeply"),
        "json_scalar.json": ("text", b'"just a string"', "list of records"),
        "json_list_of_numbers.json": ("text", b"[1, 2, 3, 4]", "object"),
        "json_empty_list.json": ("text", b"[]", "no records"),
        "json_object_two_lists.json": ("text", b'{"a": [1], "b": [2]}', "list"),
        "jsonl_bad_line.jsonl": ("text", b'{"text": "great", "label": "good"}\n{"text": oops}\n', "line 2"),
        # A NUL past the first 8 kB (where binary files are recognised) was kept without a word.
        "nul_after_8k.csv": ("text", csv_text(reviews(400)).encode() + b"the soup\x00 was cold,bad\n", "nul character"),
        "json_nested_text.json": ("text", json.dumps([{"text": {"en": t}, "review": t, "label": label}
                                                      for t, label in reviews()]).encode(), "left out"),
        "jsonl_mixed_types.jsonl": ("text", b'{"text": "a", "label": 1}\n{"text": "b", "label": [1, 2]}\n'
                                            b'{"text": {"x": 1}, "label": "c"}\n', "label"),
        "truncated.parquet": ("text", b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00", "parquet"),
        "text_in.parquet": ("text", b"text,label\nhello,good\n", "parquet"),
        "parquet_bomb.parquet": ("text", parquet_bomb(), "unpacks to more than"),
        # Any file name is read by its content (a good CSV without an extension is read:
        # tests/core/data/test_real_files.py);
        # a program, or a spreadsheet saved without its extension, is still no table.
        "program.exe": ("text", b"MZ\x90\x00\x03\x00\x00\x00", "binary"),
        "sheet_without_extension": ("text", zip_bytes([("xl/workbook.xml", b"<workbook/>")]), "binary"),
        # ---- tables (core.data.uploads + core.tasks.tabular.columns)
        "table_one_column.csv": ("table", b"age\n" + b"".join(b"%d\n" % i for i in range(30)), "two columns"),
        "table_target_all_empty.csv": ("table", b"age,answer\n" + b"".join(b"%d,\n" % i for i in range(30)),
                                       "empty"),
        "table_constant_target.csv": ("table", b"age,answer\n" + b"".join(
            b"%d,yes\n" % (20 + i % 7) for i in range(30)), "only one class"),
        "table_only_ids.csv": ("table", b"id,answer\n" + b"".join(
            b"%d,%s\n" % (i, b"yes" if i % 2 else b"no") for i in range(30)), "nothing is left to learn"),
        "table_infinite_values.csv": ("table", ("x,y\n" + "\n".join(
            f"{'inf' if i % 5 == 0 else i},{i * 2.5}" for i in range(30))).encode(), "missing values filled"),
        "table_two_rows.csv": ("table", b"age,smoker,answer\n30,yes,no\n40,no,yes\n", "few"),
        "table_header_only.csv": ("table", b"id,age,answer\n", "no rows"),
        # 10⁵ columns (1.1 MB) tied the server up for minutes; 2,500 say the same here in 22 kB.
        "table_too_many_columns.csv": ("table", wide_csv(2_500), "2,500 columns"),
        "jsonl_too_many_keys.jsonl": ("text", json.dumps({f"k{i}": i for i in range(2_500)}).encode() + b"\n",
                                      "2,500 columns"),
        # ---- text generation (core.tasks.text_generation.data)
        "generation_empty.txt": ("generation", b"", "empty"),
        "generation_too_short.txt": ("generation", b"Once upon a time.\n", "longer text"),
        "generation_binary.txt": ("generation", b"\x00\x01\x02binary", "binary"),
        "generation_pairs_no_response.jsonl": ("generation", b"".join(
            json.dumps({"prompt": f"question {i}?"}).encode() + b"\n" for i in range(20)), "response"),
        "generation_pairs_too_few.json": ("generation", json.dumps(
            [{"prompt": "hi", "response": "hello"}, {"prompt": "bye", "response": "goodbye"}]).encode(), "pairs"),
        # ---- zips of images (core.tasks.image_classification.safe_zip + core.tasks.image_classification.data)
        "images_not_a_zip.zip": ("images", b"this is plain text, not a zip archive\n", "not a readable zip"),
        "images_empty.zip": ("images", zip_bytes([]), "no images"),
        "images_traversal.zip": ("images", zip_bytes([("../../escaped.png", png()), ("/etc/cron.png", png()),
                                                     ("C:/windows.png", png())]), "no images"),
        "images_bomb.zip": ("images", zip_bomb(), "zip bomb"),
        "images_non_image.zip": ("images", zip_bytes([("cats/notes.png", b"not really a png"),
                                                     ("dogs/run.exe", b"MZ\x90\x00"),
                                                     ("dogs/readme.txt", b"hello")]), "no images"),
        "images_truncated_png.zip": ("images", zip_bytes([(f"cats/{i}.png", truncated_png) for i in range(3)]
                                                         + [(f"dogs/{i}.png", truncated_png) for i in range(3)]),
                                     "no images"),
        "images_one_class.zip": ("images", zip_bytes(class_folders(classes=("cats",))), "one class"),
        "images_symlinks.zip": ("images", zip_bytes([], links={"cats/passwd.png": "/etc/passwd",
                                                             "dogs/key.png": "../../.ssh/id_rsa"}), "no images"),
        "images_encrypted.zip": ("images", zip_bytes(class_folders(), encrypted=True), "no images"),
        "images_labels_csv_mismatch.zip": ("images", zip_bytes(
            [(f"{i}.png", png()) for i in range(4)] + [("labels.csv", b"filename,label\nx.png,cat\ny.png,dog\n")]),
            "match"),
        "images_bad_labels_csv.zip": ("images", zip_bytes(
            [(f"{i}.png", png()) for i in range(4)] + [("labels.csv", b"name;kind\n0.png;cat\n")]), "filename"),
    }


def main() -> None:
    manifest = {}
    for name, (loader, content, expect) in cases().items():
        (HERE / name).write_bytes(content)
        manifest[name] = {"loader": loader, "expect": expect}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(manifest)} files to {HERE}")


if __name__ == "__main__":
    main()
