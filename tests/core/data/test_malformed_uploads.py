"""Every file of the malformed-upload corpus (tests/malformed/) through the app's real loaders, as the Data page
would run them: each must end in a plain message that says what is wrong, never in a traceback.

A few of them are then uploaded through the Data page itself (AppTest) to see the page stay usable.
"""

from __future__ import annotations

import json

import pytest

from core.messages import PlainError
from tests.support.paths import MALFORMED, ROOT

CORPUS = MALFORMED
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
# Read without complaint, but what was done to the odd values is said in the summary shown before saving.
ACCEPTED_WITH_A_NOTE = {"table_infinite_values.csv"}
SMALL_LIMIT = 4096  # bytes: "over_size_limit.csv" is bigger, every other text file smaller


def text_messages(name: str, raw: bytes, workspace) -> list[tuple[str, str]]:
    """Texts with labels: read → guess columns → check → split, as `ui.data.text` does."""
    from core.data.splits import split_train_validation
    from core.data.uploads import read_upload
    from core.tasks.text_classification.data import check_classification, guess_columns

    table = read_upload(name, raw, workspace)
    messages = [(c.level, c.message) for c in table.checks]
    text_column, label_column = guess_columns(table.frame)
    checked = check_classification(table.frame, text_column, label_column)
    messages += [(c.level, c.message) for c in checked.checks]
    if checked.ok:
        split_train_validation(checked.frame, 0.2)
    return messages


def table_messages(name: str, raw: bytes, workspace) -> list[tuple[str, str]]:
    """A table: read → column roles → target → task → split → fitted preprocessing, as `ui.data.table` does."""
    from dataclasses import replace

    from core.data.uploads import read_upload
    from core.tasks.tabular.columns import suggest_preprocess_config
    from core.tasks.tabular.dataset import guess_target, split_table
    from core.tasks.tabular.fitting import fit_preprocessor
    from core.tasks.tabular.roles import detect_column_roles, infer_task

    table = read_upload(name, raw, workspace)
    messages = [(c.level, c.message) for c in table.checks]
    detect_column_roles(table.frame)
    if table.frame.shape[1] < 2:  # the page says this itself before going on
        return [*messages, ("error", "The table needs at least two columns: one to predict and one to learn from.")]
    target = guess_target(table.frame)
    task = infer_task(table.frame[target]).task
    settings = replace(suggest_preprocess_config(table.frame, target), task=task)
    split = split_table(table.frame, target, task, 0.2)
    messages += [(c.level, c.message) for c in split.checks]
    preprocessor = fit_preprocessor(split.train, settings)
    return messages + [("info", " ".join(str(row) for row in preprocessor.summary_table()))]


def generation_messages(name: str, raw: bytes, workspace) -> list[tuple[str, str]]:
    """Text generation: pairs are checked as pairs, one document by its length."""
    from core.tasks.text_generation.data import (
        FORMAT_TEXT,
        check_document,
        check_pairs,
        guess_pair_columns,
        read_generation_upload,
    )

    upload = read_generation_upload(name, raw, workspace)
    messages = [(c.level, c.message) for c in upload.checks]
    if upload.format == FORMAT_TEXT:
        checks = check_document(upload.text)
    else:
        checks = check_pairs(upload.frame, guess_pair_columns(upload.frame)).checks
    return messages + [(c.level, c.message) for c in checks]


def image_messages(name: str, raw: bytes, workspace) -> list[tuple[str, str]]:
    """A zip of images: safe unpacking, then class folders or a labels CSV, then the summary."""
    from core.tasks.image_classification.labelled import load_labelled_images
    from core.tasks.image_classification.preview import summarize_images
    from core.tasks.image_classification.safe_zip import safe_extract_zip

    zip_path = workspace.uploads / name
    zip_path.write_bytes(raw)
    report = safe_extract_zip(zip_path, workspace.uploads / (name + ".unpacked"))
    messages = [("warning", f"{s.name}: {s.reason}") for s in report.skipped]
    labelled = load_labelled_images(report.root)
    summarize_images(labelled)
    return messages + [(c.level, c.message) for c in labelled.checks]


LOADERS = {"text": text_messages, "table": table_messages, "generation": generation_messages,
           "images": image_messages}


def test_the_corpus_is_large_and_varied():
    assert len(MANIFEST) >= 30
    assert set(entry["loader"] for entry in MANIFEST.values()) == set(LOADERS)
    assert all((CORPUS / name).is_file() and (CORPUS / name).stat().st_size < 64_000 for name in MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_malformed_upload_gets_a_plain_message(name, workspace, monkeypatch):
    import core.data.uploads

    monkeypatch.setattr(core.data.uploads, "MAX_UPLOAD_BYTES", SMALL_LIMIT if name == "over_size_limit.csv" else 2**28)
    entry = MANIFEST[name]
    raw = (CORPUS / name).read_bytes()
    try:
        messages = LOADERS[entry["loader"]](name, raw, workspace)
    except PlainError as error:
        messages = [("error", str(error))]
    problems = [message for level, message in messages
                if level in ("error", "warning") or name in ACCEPTED_WITH_A_NOTE]
    assert problems, f"{name} was accepted without a word: {messages}"
    said = " ".join(problems)
    assert entry["expect"] in said.lower(), said
    assert "Traceback" not in said and 'File "' not in said
    assert all(len(message) < 600 for message in problems), said


# ---------------------------------------------------------------------------------------------------- the Data page

PAGE_UPLOADS = {  # uploader key → corpus files sent through it, one after the other
    "data_text_file": ["png_disguised_as.csv", "deeply_nested.json", "json_syntax_error.json", "one_class.csv",
                       "truncated.parquet", "latin1.csv"],
    "data_table_file": ["table_header_only.csv", "table_constant_target.csv", "table_one_column.csv"],
}


def test_the_data_page_explains_each_bad_upload_and_stays_usable(workspace):
    from streamlit.testing.v1 import AppTest

    root = ROOT
    at = AppTest.from_file(str(root / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    for kind, key in (("Texts with labels", "data_text_file"), ("A table (predict a column)", "data_table_file")):
        at.segmented_control(key="data_kind").set_value(kind).run()
        for name in PAGE_UPLOADS[key]:
            at.file_uploader(key=key).set_value((name, (CORPUS / name).read_bytes(), "text/csv")).run()
            assert not at.exception, (name, at.exception)
            shown = " ".join(str(e.value) for e in [*at.error, *at.warning])
            assert MANIFEST[name]["expect"] in shown.lower(), (name, shown)
    # After all that, a good file still goes through to the save button.
    at.segmented_control(key="data_kind").set_value("Texts with labels").run()
    good = "text,label\n" + "\n".join(f"review number {i} was {'fine' if i % 2 else 'poor'},{i % 2}" for i in range(40))
    at.file_uploader(key="data_text_file").set_value(("good.csv", good.encode(), "text/csv")).run()
    assert not at.exception
    assert "examples in 2 classes are ready" in " ".join(str(e.value) for e in at.info)
    assert at.button(key="data_text_save")
