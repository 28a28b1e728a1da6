"""Data page, images in class folders: upload a zip (or the sample) → what was skipped → preview → image settings
→ validation share → save."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.engine import charts
from core.messages import PlainError, agree, counted, markdown_literal
from core.tasks.image_classification.data import (
    SAMPLE_NAME,
    extract_uploaded_zip,
    save_image_classification,
    save_uploaded_labels,
    split_images,
    write_digits_sample,
)
from core.tasks.image_classification.files import ImageDataError
from core.tasks.image_classification.labelled import LabelledImages, load_labelled_images
from core.tasks.image_classification.preview import ImageSummary, suggest_preprocess, summarize_images
from core.tasks.image_classification.safe_zip import ExtractReport
from core.tasks.image_classification.transforms import ImagePreprocessConfig, preview_resized
from core.workspace import Workspace
from ui.common import state
from ui.common.widgets import knob_input, show_checks
from ui.data.classes import show_balance
from ui.data.saving import save_button

SOURCE_UPLOAD = "Upload a zip of images"
SOURCE_SAMPLE = "Use the built-in sample (handwritten digits)"
SETTINGS = ("image_size", "grayscale", "normalize_mean", "normalize_std")
SETTING_PREFIX = "data_images_setting_"
THUMBNAILS_PER_CLASS = 8


# ---------------------------------------------------------------------------------------------------- source


def _remember(key: str, compute) -> object:
    """Run `compute` once per key in this session; a plain message is kept instead of an exception."""
    if key not in st.session_state:
        try:
            st.session_state[key] = compute()
        except ImageDataError as error:
            st.session_state[key] = str(error)
    return st.session_state[key]


def uploaded_images(workspace: Workspace) -> tuple[LabelledImages, str, str] | None:
    """(the labelled images, a dataset name to suggest, an id of this upload) once a usable zip is in."""
    archive = st.file_uploader(
        "A zip with one folder per class (cats/…, dogs/…), or images plus a CSV with the columns filename,label",
        type=["zip"], key="data_images_zip",
        help="PNG, JPEG, GIF, BMP, WebP or TIFF. Links, files outside the folder, and damaged or non-image files "
             "are skipped and listed.")
    labels = st.file_uploader("Labels CSV (optional: only when the images are not in class folders)", type=["csv"],
                              key="data_images_labels")
    if archive is None:
        return None
    refused = state.upload_problem(archive)
    if refused:  # this person's upload limit, set by an admin (hosted apps)
        st.error(markdown_literal(refused), icon=":material/error:")
        return None
    data = archive.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    report = _remember(f"data_images_extract_{digest}", lambda: extract_uploaded_zip(data, workspace.uploads))
    if isinstance(report, str):
        st.error(markdown_literal(report), icon=":material/error:")  # it may name a file in the zip
        return None
    labels_path = None
    if labels is not None:
        labels_path = _remember("data_images_labels_" + hashlib.sha256(labels.getvalue()).hexdigest()[:16],
                                lambda: save_uploaded_labels(labels.getvalue(), workspace.uploads))
        if isinstance(labels_path, str):
            st.error(markdown_literal(labels_path), icon=":material/error:")
            return None
    show_skipped(report)
    data_id = f"{digest}-{labels_path.stem if labels_path else 'folders'}"
    labelled = _remember(f"data_images_labelled_{data_id}", lambda: load_labelled_images(report.root, labels_path))
    if isinstance(labelled, str):
        st.error(markdown_literal(labelled), icon=":material/error:")
        return None
    return labelled, Path(archive.name).stem, data_id


def sample_images(workspace: Workspace) -> LabelledImages:
    folder = workspace.uploads / SAMPLE_NAME
    if not folder.is_dir():
        # Written aside and renamed into place: whole or not at all, even when two sessions start it together.
        staging = Path(tempfile.mkdtemp(prefix=".digits-", dir=workspace.uploads))
        write_digits_sample(staging)
        try:
            staging.rename(folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return load_labelled_images(folder)


def show_skipped(report: ExtractReport) -> None:
    if not report.skipped:
        st.caption(f"{len(report.kept):,} images unpacked; nothing was skipped.")
        return
    reasons = ", ".join(f"{count} {reason}" for reason, count in report.skipped_reasons().items())
    skipped = counted(len(report.skipped), "file")
    st.warning(f"{skipped} {agree(len(report.skipped), 'was', 'were')} skipped ({reasons}); "
               f"{counted(len(report.kept), 'image')} {agree(len(report.kept), 'was', 'were')} kept.",
               icon=":material/warning:")
    with st.expander("Which files were skipped, and why"):
        st.dataframe(pd.DataFrame([{"file": s.name, "reason": s.reason} for s in report.skipped]),
                     hide_index=True, key="data_images_skipped")


# ---------------------------------------------------------------------------------------------------- preview


def show_preview(labelled: LabelledImages, summary: ImageSummary) -> None:
    show_checks(labelled.checks)
    st.markdown("  \n".join(summary.describe()))
    show_balance(summary.class_counts, "image")
    st.plotly_chart(charts.class_balance_figure(summary.class_counts, "Images per class"),
                    key="data_images_balance")
    with st.expander("Examples from every class", expanded=True):
        for name, paths in summary.samples.items():
            st.markdown(f"**{markdown_literal(name)}** · {summary.class_counts[name]:,} images")  # a folder's name
            st.image([str(p) for p in paths[:THUMBNAILS_PER_CLASS]], width=72)


def image_settings(summary: ImageSummary, data_id: str) -> ImagePreprocessConfig | None:
    """Resize and normalisation knobs, starting from a suggestion that fits the images."""
    if st.session_state.get(SETTING_PREFIX + "for") != data_id:
        suggested = suggest_preprocess(summary)
        for name in SETTINGS:
            st.session_state[SETTING_PREFIX + name] = getattr(suggested, name)
            st.session_state.pop(f"{SETTING_PREFIX}{name}__text", None)
        st.session_state[SETTING_PREFIX + "for"] = data_id
    st.caption("Suggested from your images; the Train page starts from these and adds augmentation.")
    columns = st.columns(2)
    values = {}
    for i, name in enumerate(SETTINGS):
        with columns[i % 2]:
            values[name] = knob_input(ImagePreprocessConfig, name, SETTING_PREFIX + name)
    try:
        return ImagePreprocessConfig(**values)
    except PlainError as error:  # a KnobError or an ImageDataError, saying which setting to change
        st.error(markdown_literal(error), icon=":material/error:")
        return None


def show_resized(summary: ImageSummary, preprocess: ImagePreprocessConfig) -> None:
    firsts = [paths[0] for paths in summary.samples.values() if paths][:THUMBNAILS_PER_CLASS]
    st.caption(f"How the model sees them ({preprocess.image_size}×{preprocess.image_size}, "
               f"{'grey' if preprocess.grayscale else 'colour'}), shown enlarged:")
    st.image([preview_resized(p, preprocess) for p in firsts], width=72)


# ---------------------------------------------------------------------------------------------------- page


def render(workspace: Workspace) -> None:
    st.subheader("1 · Your images")
    source = st.radio("Where are your images?", [SOURCE_UPLOAD, SOURCE_SAMPLE], horizontal=True,
                      key="data_images_source")
    if source == SOURCE_SAMPLE:
        labelled, suggested_name, data_id = sample_images(workspace), SAMPLE_NAME, SAMPLE_NAME
        source_text = "built-in sample (scikit-learn digits)"
    else:
        chosen = uploaded_images(workspace)
        if chosen is None:
            return
        labelled, suggested_name, data_id = chosen
        source_text = f"{suggested_name}.zip"

    st.subheader("2 · Preview")
    summary = _remember(f"data_images_summary_{data_id}", lambda: summarize_images(labelled))
    show_preview(labelled, summary)

    st.subheader("3 · Image size and colour")
    preprocess = image_settings(summary, data_id)
    if preprocess is None:
        return
    show_resized(summary, preprocess)

    st.subheader("4 · Training and validation")
    share = st.slider("Share kept for validation", 0.05, 0.5, 0.2, 0.05, key="data_images_share",
                      help="Each class keeps the same share in both parts (a stratified split).")
    try:
        train, validation = split_images(labelled, share)
    except ImageDataError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return
    st.caption(f"{len(train):,} images to train on, {len(validation):,} to validate on, "
               f"{len(labelled.class_names)} classes.")

    st.subheader("5 · Save")
    if prepared := save_button(suggested_name, "data_images", lambda name: save_image_classification(
            workspace, name, labelled, train, validation, preprocess, source_text)):
        st.success(f"Saved “{markdown_literal(prepared.name)}”: {prepared.info.train_rows:,} training and "
                   f"{prepared.info.validation_rows:,} validation images.", icon=":material/save:")
        st.page_link("pages/train.py", label="Train a model on it →", icon=":material/model_training:",
                     query_params={"dataset": prepared.name})  # this dataset, not the first one
