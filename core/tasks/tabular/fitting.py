"""Fitting a table's preprocessing to its training rows: fill values, scales, kept categories and the target.

Scikit-learn does the learning (imputers, scaler, one-hot encoder) so the numbers are the familiar ones; what it
learned is then copied out as plain numbers into a `core.tasks.tabular.preprocessor.TabularPreprocessor`, which is
all that is saved and used afterwards. The boundary: rows in, a fitted preprocessor out; this module never
transforms a table and never touches a file. Only training rows come here, so nothing about the validation rows leaks
into a fill value or a scale.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from core.tasks.tabular.cells import TabularError, as_numbers, category_text, is_whole, require_columns
from core.tasks.tabular.columns import MISSING_CATEGORY, TabularPreprocessConfig, prepare_frame
from core.tasks.tabular.preprocessor import CategoricalColumn, NumericColumn, TabularPreprocessor, TargetInfo
from core.tasks.tabular.roles import ROLE_NOUNS, detect_column_roles

MAX_CLASSES = 100


def build_sklearn_transformer(config: TabularPreprocessConfig, categories: dict[str, list[str]]):
    """The ColumnTransformer that learns fill values and scales; categories are chosen beforehand (most common)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_imputer = (SimpleImputer(strategy="constant", fill_value=0.0) if config.numeric_missing == "zero"
                       else SimpleImputer(strategy=config.numeric_missing))
    numeric_steps = [("impute", numeric_imputer)] + ([("scale", StandardScaler())] if config.scale_numeric else [])
    categorical_imputer = (SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)
                           if config.categorical_missing == "own_category"
                           else SimpleImputer(strategy="most_frequent"))
    parts = []
    if config.numeric_columns:
        parts.append(("numeric", Pipeline(numeric_steps), list(config.numeric_columns)))
    for name in config.encoded_categorical_columns:
        encoder = OneHotEncoder(categories=[categories[name]], handle_unknown="ignore", sparse_output=False)
        parts.append((f"category:{name}", Pipeline([("impute", categorical_imputer), ("one_hot", encoder)]), [name]))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def _kept_categories(column: pd.Series, config: TabularPreprocessConfig) -> list[str]:
    """The most common values (ties alphabetical), then sorted, so the one-hot columns read in a stable order."""
    counts = column.value_counts(dropna=True)
    missing = int(column.isna().sum())
    if missing and config.categorical_missing == "own_category":
        counts[MISSING_CATEGORY] = counts.get(MISSING_CATEGORY, 0) + missing
    if missing and config.categorical_missing == "most_frequent" and counts.empty:
        raise TabularError(f"The column '{column.name}' is empty; untick it.")
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], str(pair[0])))
    return sorted(str(value) for value, _ in ranked[: config.one_hot_max_categories])


def _target_info(frame: pd.DataFrame, config: TabularPreprocessConfig) -> TargetInfo:
    values = frame[config.target]
    present = values.dropna()
    dropped = len(values) - len(present)
    if config.task == "classification":
        classes = sorted({category_text(v) for v in present}, key=_sort_key_text)
        if isinstance(values.dtype, pd.CategoricalDtype):  # named classes keep their values' order (poor < good)
            seen = set(classes)
            classes = [name for name in map(category_text, values.cat.categories) if name in seen]
        if len(classes) < 2:
            raise TabularError(f"'{config.target}' has only one value, so there is nothing to choose between. "
                               "Pick another target.")
        if len(classes) > MAX_CLASSES:
            raise TabularError(f"'{config.target}' has {len(classes):,} different values: too many classes. If it "
                               "is an amount, choose regression instead.")
        return TargetInfo(config.target, config.task, classes=classes, dropped_rows=dropped)
    numbers = as_numbers(present)
    if numbers.isna().any():
        raise TabularError(f"'{config.target}' holds text such as '{present[numbers.isna()].iloc[0]}', so it cannot "
                           "be predicted as an amount. Choose classification instead.")
    std = float(numbers.std(ddof=0))
    if not std > 0:
        raise TabularError(f"'{config.target}' has the same value in every row; pick another target.")
    return TargetInfo(config.target, config.task, mean=float(numbers.mean()), std=std, dropped_rows=dropped)


def _sort_key_text(text: str) -> tuple[int, Any]:
    """'2' before '10' when every class is a number; alphabetical otherwise."""
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def fit_preprocessor(frame: pd.DataFrame, config: TabularPreprocessConfig) -> TabularPreprocessor:
    """Learn fill values, scales and categories from the training rows (scikit-learn), kept as plain numbers."""
    require_columns(frame, [config.target])
    target = _target_info(frame, config)
    training = frame[frame[config.target].notna()]
    if training.empty:
        raise TabularError("No rows are left to learn from.")
    prepared = prepare_frame(training, config)
    for name in config.numeric_columns:
        if prepared[name].isna().all():
            raise TabularError(f"The column '{name}' has no numbers in it. Mark it as a category or untick it.")
    categories = {name: _kept_categories(prepared[name], config) for name in config.encoded_categorical_columns}
    transformer = build_sklearn_transformer(config, categories)
    transformer.fit(prepared)
    numeric = _fitted_numeric(transformer, prepared, config)
    categorical = _fitted_categorical(transformer, prepared, config, categories)
    roles = detect_column_roles(frame)
    used = set(config.input_columns) - ({config.title_from} if config.title_from else set())
    excluded = {name: f"{ROLE_NOUNS.get(role.role, 'not ticked')}: {role.reason}"
                for name, role in roles.items() if name not in used and name != config.target
                and name != config.title_from}
    return TabularPreprocessor(config, numeric, categorical, target, excluded, len(training), transformer)


def _fitted_numeric(transformer, prepared: pd.DataFrame, config: TabularPreprocessConfig) -> list[NumericColumn]:
    if not config.numeric_columns:
        return []
    pipeline = transformer.named_transformers_["numeric"]
    fills = pipeline.named_steps["impute"].statistics_
    scaler = pipeline.named_steps.get("scale")
    columns = []
    for i, name in enumerate(config.numeric_columns):
        values = prepared[name]
        columns.append(NumericColumn(
            column=name, fill_value=float(fills[i]), missing=int(values.isna().sum()),
            mean=float(scaler.mean_[i]) if scaler else 0.0, scale=float(scaler.scale_[i]) if scaler else 1.0,
            minimum=float(values.min()), maximum=float(values.max()), whole=is_whole(values.dropna())))
    return columns


def _fitted_categorical(transformer, prepared: pd.DataFrame, config: TabularPreprocessConfig,
                        categories: dict[str, list[str]]) -> list[CategoricalColumn]:
    columns = []
    for name in config.encoded_categorical_columns:
        pipeline = transformer.named_transformers_[f"category:{name}"]
        fill = str(pipeline.named_steps["impute"].statistics_[0])
        distinct = set(prepared[name].dropna()) | ({fill} if prepared[name].isna().any() else set())
        columns.append(CategoricalColumn(column=name, fill_value=fill, missing=int(prepared[name].isna().sum()),
                                         categories=categories[name],
                                         dropped=len(distinct - set(categories[name]))))
    return columns
