"""Getting a table into the workspace as a dataset: built-in sample tables, the target guess, the split, the save.

Separate from the preprocessing because it is about rows, not columns: which rows are left out (no target, a class
with one row), how they are split into training and validation (by `core.data.splits`), and how the split is saved
with its settings through `core.data.dataset_store`. The Data page uses it; the training pipeline only reads what it
saved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from core.data.splits import split_train_validation
from core.data.uploads import Check, DataError
from core.messages import agree, counted
from core.tasks.tabular.cells import TabularError, category_text, is_blank
from core.tasks.tabular.columns import TabularPreprocessConfig
from core.tasks.tabular.fitting import fit_preprocessor
from core.tasks.tabular.roles import ROLE_CATEGORICAL, ROLE_NUMERIC, column_role, name_tokens

# ---------------------------------------------------------------------------------------------------- samples

TASK_KEYS = {"classification": "tabular-classification", "regression": "tabular-regression"}


@dataclass(frozen=True)
class SampleTable:
    key: str
    title: str
    target: str
    description: str


SAMPLE_TABLES = {sample.key: sample for sample in (
    SampleTable("diabetes", "Diabetes progression (predict a number)", "progression",
                "442 patients: age, sex, body-mass index, blood pressure and six blood measurements; the target is "
                "how far the disease progressed one year later (scikit-learn's diabetes set)."),
    SampleTable("wine", "Wine cultivars (predict one of 3 classes)", "cultivar",
                "178 Italian wines: 13 chemical measurements; the target is which of three cultivars the grapes "
                "came from (scikit-learn's wine set)."),
    SampleTable("breast-cancer", "Breast tumours (predict one of 2 classes)", "diagnosis",
                "569 tumour scans: 30 measurements of the cell nuclei; the target is malignant or benign "
                "(scikit-learn's breast cancer set)."),
)}

# Scikit-learn names the diabetes blood measurements s1…s6; these are what they measure (its documentation).
_DIABETES_NAMES = {"bp": "blood_pressure", "s1": "total_cholesterol", "s2": "ldl", "s3": "hdl",
                   "s4": "cholesterol_hdl_ratio", "s5": "triglycerides_log", "s6": "blood_sugar",
                   "target": "progression"}


def sample_table(key: str) -> pd.DataFrame:
    """A built-in table from the sets scikit-learn ships with (no download), in real units and readable names."""
    from sklearn import datasets as sklearn_datasets

    if key == "diabetes":
        frame = sklearn_datasets.load_diabetes(as_frame=True, scaled=False).frame.rename(columns=_DIABETES_NAMES)
        return frame.astype({"age": int, "sex": int})
    loader = {"wine": sklearn_datasets.load_wine, "breast-cancer": sklearn_datasets.load_breast_cancer}.get(key)
    if loader is None:
        raise TabularError(f"There is no built-in table called '{key}'; choose one of {', '.join(SAMPLE_TABLES)}.")
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns={"target": SAMPLE_TABLES[key].target})
    names = [f"cultivar {i + 1}" for i in range(3)] if key == "wine" else list(bunch.target_names)
    frame[SAMPLE_TABLES[key].target] = [names[i] for i in bunch.target]
    return frame


# ---------------------------------------------------------------------------------------------------- datasets

MIN_TABLE_ROWS = 10  # fewer usable rows cannot be split into something to learn from and something to check on
TARGET_NAME_HINTS = {"target", "label", "class", "outcome", "survived", "price", "y", "churn", "result", "score",
                     "diagnosis", "progression", "species", "quality", "default"}


def guess_target(frame: pd.DataFrame) -> str:
    """The column to predict, as a person would pick it: one whose name says so (target, label, price…), else the
    last column (where tables usually keep it), else the first (where some keep it, like UCI's Auto MPG with its
    `mpg`), else the last column of numbers. Never an ID, a constant or near-unique text: a car's or a person's
    name, different on almost every row, is no class to predict (on Auto MPG it made a 245-class "car name
    guesser" with one row a class)."""
    columns = [str(name) for name in frame.columns]
    roles = {name: column_role(name, frame[name]).role for name in columns}
    usable = [name for name in columns if roles[name] in (ROLE_NUMERIC, ROLE_CATEGORICAL)]
    if len(usable) < 2:  # nothing left to learn from whichever is picked: the last column's problem says the most
        return columns[-1]
    for name in usable:
        if name_tokens(name) & TARGET_NAME_HINTS or name.lower() in TARGET_NAME_HINTS:
            return name
    for name in (columns[-1], columns[0]):
        if name in usable:
            return name
    numbers = [name for name in usable if roles[name] == ROLE_NUMERIC]
    return (numbers or usable)[-1]


@dataclass
class TableSplit:
    train: pd.DataFrame
    validation: pd.DataFrame
    checks: list[Check]  # what was left out before splitting
    stratified: bool


def split_table(frame: pd.DataFrame, target: str, task: str, validation_share: float, seed: int = 42) -> TableSplit:
    """Rows without a target are left out; classification keeps each class's share in both parts (stratified),
    regression splits at random. Classes with a single row are left out: they cannot be both learned and checked."""
    checks: list[Check] = []
    rows = frame[frame[target].map(lambda v: not is_blank(v))]
    if len(rows) < len(frame):
        left_out = len(frame) - len(rows)
        checks.append(Check("warning", f"{counted(left_out, 'row')} {agree(left_out, 'has', 'have')} no '{target}' "
                                       f"value and {agree(left_out, 'was', 'were')} left out."))
    classes = None
    if task == "classification":
        rows, classes, lonely = _without_lonely_classes(rows, target)
        checks += lonely
    if len(rows) < MIN_TABLE_ROWS:
        raise TabularError(f"Only {counted(len(rows), 'usable row')}: add more rows (a few dozen at the very least).")
    if classes is not None and classes.nunique() < 2:
        raise TabularError(f"'{target}' has only one class left, so there is nothing to choose between.")
    try:
        train, validation = split_train_validation(rows, validation_share, seed, classes=classes)
    except DataError as error:
        raise TabularError(str(error)) from error
    return TableSplit(train, validation, checks, classes is not None)


def _without_lonely_classes(rows: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series, list[Check]]:
    """(rows, each row's class, a warning) once classes with a single row are left out."""
    labels = rows[target].map(category_text)
    counts = labels.value_counts()
    single = counts[counts < 2].index.tolist()
    if not single:
        return rows, labels, []
    if len(single) > len(counts) / 2 and len(rows) >= MIN_TABLE_ROWS:  # a tiny table: its size is the problem
        raise TabularError(
            f"Most values of '{target}' appear in a single row ({len(single):,} of its {len(counts):,} different "
            "values), and a model cannot learn a class from one example. Pick another column to predict; if this "
            "one holds amounts, choose Regression instead.")
    keep = ~labels.isin(single)
    warning = Check("warning", f"{len(single)} class(es) have a single row ({', '.join(map(str, single[:5]))}) and "
                               "were left out: the model cannot both learn them and be checked on them.")
    return rows[keep], labels[keep], [warning]


def parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns Parquet can store: a text column with some numbers in it (mixed types) becomes all text."""
    result = frame.copy()
    for name in result.columns:
        column = result[name]
        if column.dtype == object:
            kinds = {type(v) for v in column.dropna()}
            if len(kinds) > 1:
                result[name] = column.map(lambda v: v if is_blank(v) else str(v))
    return result


def save_table_dataset(workspace, name: str, split: TableSplit, config: TabularPreprocessConfig, *, source: str,
                       checks: list[Check] | None = None):
    """The person's own columns as train/validation Parquet, the preprocessing settings in `details`."""
    from core.data.dataset_store import save_dataset

    preprocessor = fit_preprocessor(split.train, config)  # fails here, with a plain message, rather than in a run
    return save_dataset(workspace, name, TASK_KEYS[config.task], parquet_ready(split.train),
                        parquet_ready(split.validation), source=source, labels=preprocessor.class_names,
                        checks=[asdict(c) for c in checks or []],
                        details={"preprocess": config.to_dict(), "summary": preprocessor.summary()})
