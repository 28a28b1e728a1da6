"""The Prompt lab's data: which dataset, its training and held-out rows as worked-example dicts, and the index
"most similar" worked examples search. `PromptSetup` is what every classifying panel receives.

Rows are read once per saved version of a dataset (`st.cache_data`), the similarity index once per dataset and set
of classes (`st.cache_resource`): a person tries text after text, and each try reruns the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from core.data.dataset_store import PreparedDataset, list_datasets
from core.messages import markdown_literal
from core.prompting.examples import SimilarityIndex
from core.prompting.recipe import PromptRecipe
from core.workspace import Workspace
from ui.common.widgets import KEEP
from ui.prompt_lab.memory import DATASET


@dataclass(frozen=True)
class PromptSetup:
    """What the evaluation and comparison views need: the data, the recipe, and the similarity index on demand."""
    dataset: PreparedDataset
    recipe: PromptRecipe
    train: list[dict[str, str]]
    validation: list[dict[str, str]]
    similarity_index: Callable[[], SimilarityIndex | None]


def pick_dataset(workspace: Workspace, brought: dict[str, str]) -> PreparedDataset | None:
    saved = list_datasets(workspace, task="text-classification")
    if not saved:
        st.info("Save a dataset of texts with labels on the Data page first (there is a built-in sample): its "
                "classes become the answers and its examples the worked examples.", icon=":material/dataset:")
        st.page_link("pages/data.py", label="Go to the Data page →", icon=":material/dataset:")
        return None
    by_name = {d.name: d for d in saved}
    if brought.get("dataset") in by_name:
        st.session_state[DATASET] = brought["dataset"]
    if st.session_state.get(DATASET) not in by_name:
        st.session_state[DATASET] = next(iter(by_name))
    name = st.selectbox("Dataset (texts with labels)", list(by_name), key=DATASET, persist_state=KEEP,
                        help="Worked examples come from its training part; the held-out part measures how well the "
                             "prompt does.")
    dataset = by_name[name]
    st.caption(f"{dataset.info.train_rows:,} training examples · {dataset.info.validation_rows:,} held-out · "
               f"classes: {markdown_literal(', '.join(dataset.info.labels))}")
    return dataset


def stamp(dataset: PreparedDataset) -> float:
    return (dataset.folder / "dataset.json").stat().st_mtime


def examples_of(dataset: PreparedDataset) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    return _examples(str(dataset.folder), stamp(dataset), dataset)


@st.cache_data(max_entries=4, show_spinner=False)
def _examples(folder: str, saved_at: float, _dataset: PreparedDataset) -> tuple[list[dict[str, str]],
                                                                                 list[dict[str, str]]]:
    """Training and held-out rows as {"text", "label"}, read once per saved version of the dataset."""
    return _rows(_dataset.records("train")), _rows(_dataset.records("validation"))


def _rows(records: list[dict]) -> list[dict[str, str]]:
    return [{"text": str(row["text"]), "label": str(row["label"])} for row in records]


@st.cache_resource(max_entries=1, show_spinner="Loading MiniLM to compare texts…")
def _embedder():
    from core.prompting.examples import SentenceEmbedder

    return SentenceEmbedder()


@st.cache_resource(max_entries=4, show_spinner="Reading the training texts once to find similar examples…")
def _index(folder: str, saved_at: float, labels: tuple[str, ...], _train: list[dict[str, str]]) -> SimilarityIndex:
    # The same examples, in the same order, as core.prompting.examples.usable_examples picks for these label words.
    pool = [row for row in _train if row["label"] in labels and row["text"].strip()]
    return SimilarityIndex.from_examples(pool, _embedder())


def similarity_index_for(dataset: PreparedDataset, recipe: PromptRecipe,
                         train: list[dict[str, str]]) -> SimilarityIndex | None:
    if recipe.selection != "similar" or recipe.few_shot_k == 0:
        return None
    return _index(str(dataset.folder), stamp(dataset), tuple(recipe.labels), train)
