"""The GPU check's data, generated on the machine that runs it (nothing travels but code): labelled texts whose
labels follow a rule any model picks up in a few dozen steps, a long log written by a small grammar for the
language models, the digits sample and scikit-learn's wine table; each saved through its task's own code as a
prepared dataset, as the Data page saves a person's upload.
"""

from __future__ import annotations

import random

from bench.gpu_recipes import Sizes

# ---------------------------------------------------------------------------------------------------- text


def pseudo_words(rng: random.Random, count: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "du", "ga", "fi", "ro", "be", "zu", "ha"]
    words: dict[str, None] = {}
    while len(words) < count:
        words["".join(rng.choice(syllables) for _ in range(rng.randint(2, 3)))] = None
    return list(words)


def labelled_texts(rows: int, words_per_text: int, seed: int = 0) -> list[tuple[str, str]]:
    """(text, label) pairs: half the words of a text are one of its label's four own words, the rest are drawn
    from words both labels share, so even a random-weight model picks the rule up within a few dozen steps."""
    rng = random.Random(seed)
    vocabulary = pseudo_words(rng, 308)
    shared, own = vocabulary[:300], {"alpha": vocabulary[300:304], "beta": vocabulary[304:]}
    pairs = []
    for index in range(rows):
        label = ("alpha", "beta")[index % 2]
        words = [rng.choice(own[label]) if rng.random() < 0.5 else rng.choice(shared) for _ in range(words_per_text)]
        pairs.append((" ".join(words), label))
    return pairs


def document(lines: int, seed: int = 0) -> str:
    """A log written by a small grammar: who did what, how many, and when; learnable, never quite repeating."""
    rng = random.Random(seed)
    names, things, verbs = pseudo_words(rng, 30), pseudo_words(rng, 40), ["carried", "counted", "mended", "sold"]
    return "".join(f"On day {day} {rng.choice(names).title()} {rng.choice(verbs)} {rng.randint(2, 40)} "
                   f"{rng.choice(things)}s and {rng.choice(verbs)} the {rng.choice(things)}.\n"
                   for day in range(1, lines + 1))


# ---------------------------------------------------------------------------------------------------- datasets


def save_words(workspace, sizes: Sizes) -> tuple[list[str], list[str]]:
    """The labelled texts as the prepared dataset "words"; returns the training texts and their labels."""
    import pandas as pd

    from core.tasks.text_classification.data import save_text_classification

    pairs = labelled_texts(sizes.text_rows + sizes.text_rows // 8, sizes.words_per_text)
    frame = pd.DataFrame(pairs, columns=["text", "label"])
    train, validation = frame.iloc[:sizes.text_rows], frame.iloc[sizes.text_rows:]
    save_text_classification(workspace, "words", train, validation, "gpu check", [])
    return train["text"].tolist(), train["label"].tolist()


def save_text(workspace, name: str, text: str) -> str:
    """A document as a prepared text-generation dataset, its last tenth kept for validation; returns the text."""
    from core.tasks.text_generation.data import split_document
    from core.tasks.text_generation.saving import save_document

    train, validation = split_document(text, 0.1)
    save_document(workspace, name, train, validation, "TXT", [])
    return train


def save_pairs(workspace) -> None:
    """The app's own sample of instructions and answers, as a prepared text-generation dataset ("pairs")."""
    from core.tasks.text_generation.data import check_pairs, guess_pair_columns, split_pairs
    from core.tasks.text_generation.samples import small_instructions
    from core.tasks.text_generation.saving import save_pairs as save_prepared_pairs

    frame = small_instructions()
    columns = guess_pair_columns(frame)
    checked = check_pairs(frame, columns)
    train, validation = split_pairs(checked.frame, 0.1)
    save_prepared_pairs(workspace, "pairs", train, validation, "JSON", checked.checks, columns)


def save_digits(workspace, sizes: Sizes) -> None:
    from core.tasks.image_classification.data import save_image_classification, split_images, write_digits_sample
    from core.tasks.image_classification.labelled import load_labelled_images
    from core.tasks.image_classification.preview import suggest_preprocess, summarize_images

    folder = write_digits_sample(workspace.uploads / "digits", per_class=sizes.digits_per_class)
    labelled = load_labelled_images(folder)
    train, validation = split_images(labelled, 0.25)
    preprocess = suggest_preprocess(summarize_images(labelled))
    save_image_classification(workspace, "digits", labelled, train, validation, preprocess, source="gpu check")


def save_wine(workspace) -> None:
    from core.tasks.tabular.columns import suggest_preprocess_config
    from core.tasks.tabular.dataset import sample_table, save_table_dataset, split_table

    frame = sample_table("wine")
    settings = suggest_preprocess_config(frame, "cultivar")
    save_table_dataset(workspace, "wine", split_table(frame, "cultivar", settings.task, 0.2), settings,
                       source="gpu check")
