"""Playground for image classifiers: upload images (or pick a validation image), see the top classes."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from PIL import Image

from core.data.dataset_store import load_dataset_info
from core.engine import charts
from core.engine.runs import Run
from core.messages import PlainError, markdown_literal
from core.tasks.image_classification.files import ALLOWED_FORMATS, ImageDataError, read_uploaded_image
from ui.common import state
from ui.playground.predictors import predictor_for

UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]
TOP_CLASSES = 5
MAX_IMAGES = 50
SOURCE_UPLOAD = "Upload images"
SOURCE_VALIDATION = "Pick one of the validation images"


def uploaded(run: Run) -> list[tuple[str, Image.Image]]:
    files = st.file_uploader(f"Images to classify ({', '.join(f.lower() for f in ALLOWED_FORMATS)})",
                             type=UPLOAD_TYPES, accept_multiple_files=True, key=f"play_images_{run.id}")
    images = []
    for file in (files or [])[:MAX_IMAGES]:
        refused = state.upload_problem(file)  # the same per-person size limit as the Data page's uploads
        if refused:
            st.error(markdown_literal(f"{file.name}: {refused}"), icon=":material/error:")
            continue
        try:
            images.append((file.name, read_uploaded_image(file.getvalue())))
        except ImageDataError as error:
            st.error(markdown_literal(f"{file.name}: {error}"), icon=":material/error:")
    if files and len(files) > MAX_IMAGES:
        st.warning(f"Only the first {MAX_IMAGES} images are classified.", icon=":material/warning:")
    return images


def validation_image(run: Run) -> list[tuple[str, Image.Image]]:
    """An image the model was checked on, for people who have none at hand."""
    try:
        dataset = load_dataset_info(state.workspace(), run.config.dataset)
        rows = dataset.records("validation")
    except (PlainError, OSError):  # deleted, or its dataset.json damaged
        st.info("The dataset this model was trained on is gone; upload an image instead.")
        return []
    options = {f"{row['image'].split('/')[-1]} (a {row['label']})": row["image"] for row in rows[:200]}
    choice = st.selectbox("Validation image", list(options), key=f"play_images_pick_{run.id}")
    path = dataset.file(options[choice])
    with Image.open(path) as image:
        image.load()
        return [(path.name, image.copy())]


def show_prediction(name: str, image: Image.Image, probabilities: dict[str, float], key: str) -> None:
    label, probability = next(iter(probabilities.items()))
    left, right = st.columns([1, 3])
    left.image(image, caption=markdown_literal(name), width=160)  # a caption is Markdown; the file's name is not
    right.markdown(f"**{markdown_literal(label)}** ({probability:.0%} sure)")
    top = dict(list(probabilities.items())[:TOP_CLASSES])
    right.plotly_chart(charts.probability_bars(top, f"Top {len(top)} classes"), key=key)


def render(run: Run) -> None:
    source = st.radio("Image", [SOURCE_UPLOAD, SOURCE_VALIDATION], horizontal=True, key=f"play_images_src_{run.id}",
                      label_visibility="collapsed")
    images = uploaded(run) if source == SOURCE_UPLOAD else validation_image(run)
    if not images:
        st.caption("Upload a photo or drop one onto the box above.")
        return
    results = predictor_for(run).predict([image for _, image in images])
    show_prediction(images[0][0], images[0][1], results[0], key=f"play_image_bars_{run.id}")
    if len(images) > 1:
        frame = pd.DataFrame([{"image": name, "prediction": next(iter(r)), "probability": next(iter(r.values()))}
                              for (name, _), r in zip(images, results)])
        st.dataframe(frame, hide_index=True, key=f"play_images_table_{run.id}", column_config={
            "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0,
                                                           format="percent")})
