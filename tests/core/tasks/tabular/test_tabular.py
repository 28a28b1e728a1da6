"""Tables: column roles, JSON-only preprocessing, the small network, and predictions a person can read."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

from core.tasks.tabular.cells import TabularError, as_numbers
from core.tasks.tabular.columns import TabularPreprocessConfig, prepare_frame, suggest_preprocess_config
from core.tasks.tabular.fitting import fit_preprocessor
from core.tasks.tabular.model import TabularMLP, build_tabular_model, predict_frame, predict_one
from core.tasks.tabular.pipeline import arrays_to_hf_dataset
from core.tasks.tabular.preprocessor import PREPROCESSOR_FILE, TabularPreprocessor
from core.tasks.tabular.roles import (
    ROLE_CATEGORICAL,
    ROLE_CONSTANT,
    ROLE_ID,
    ROLE_NUMERIC,
    ROLE_TEXT,
    detect_column_roles,
    infer_task,
)
from tests.support.paths import SHARED_DATASETS

TITANIC = SHARED_DATASETS / "titanic.csv"
needs_titanic = pytest.mark.skipif(not TITANIC.is_file(), reason="shared datasets not present")


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    if not TITANIC.is_file():
        pytest.skip("shared datasets not present")
    return pd.read_csv(TITANIC)


def mixed_frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "row_id": np.arange(100, 100 + rows),
        "height": rng.normal(170, 10, rows).round(1),
        "colour": rng.choice(["red", "green", "blue"], rows),
        "comment": [f"free text number {i} about things" for i in range(rows)],
        "country": ["NL"] * rows,
        "member": rng.choice([True, False], rows),
        "score": rng.integers(0, 100, rows),
        "outcome": rng.choice(["yes", "no"], rows),
    })
    frame.loc[[1, 5, 9], "height"] = np.nan
    frame.loc[[2, 3], "colour"] = np.nan
    return frame


def train_plain(model: TabularMLP, features: np.ndarray, targets: np.ndarray, steps: int, learning_rate: float):
    """Full-batch Adam with plain torch: the smallest loop that shows the network can learn."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    inputs, labels = torch.from_numpy(features), torch.from_numpy(targets)
    model.train()
    for _ in range(steps):
        loss = model(inputs, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


# ---------------------------------------------------------------------------------------------------- roles


def test_roles_of_mixed_columns_with_reasons():
    roles = detect_column_roles(mixed_frame())
    assert {name: role.role for name, role in roles.items()} == {
        "row_id": ROLE_ID, "height": ROLE_NUMERIC, "colour": ROLE_CATEGORICAL, "comment": ROLE_TEXT,
        "country": ROLE_CONSTANT, "member": ROLE_CATEGORICAL, "score": ROLE_NUMERIC, "outcome": ROLE_CATEGORICAL}
    assert roles["height"].missing == 3 and roles["colour"].missing == 2
    assert "NL" in roles["country"].reason
    assert all(role.reason for role in roles.values())


@pytest.mark.parametrize(("name", "values", "role"), [
    ("customer_id", [17, 3, 99, 42, 8, 61, 5, 23, 77, 12, 30], ROLE_ID),  # unique, and the name says ID
    ("Paid", [17, 3, 99, 42, 8, 61, 5, 23, 77, 12, 30], ROLE_NUMERIC),  # 'id' inside a word is not an ID
    ("order", list(range(1, 13)), ROLE_ID),  # a row counter
    ("code", [f"X{i:04d}" for i in range(12)], ROLE_ID),  # short unique codes
    ("stars", [1, 2, 3, 3, 2, 1, 1, 2, 3, 2, 1, 3], ROLE_CATEGORICAL),
])
def test_id_like_and_categorical_columns(name, values, role):
    assert detect_column_roles(pd.DataFrame({name: values}))[name].role == role


def test_numbers_with_a_mark_for_unknown_are_numbers_with_gaps_not_categories():
    # UCI's Auto MPG writes an unknown horsepower as "?": read as text, the column became 90 categories.
    rng = np.random.default_rng(0)
    horsepower = [str(v) for v in rng.integers(46, 231, 194)] + ["?"] * 6
    frame = pd.DataFrame({"horsepower": horsepower, "weight": rng.normal(3000, 500, 200),
                          "size": ["12 kg"] * 8 + [str(v) for v in range(192)], "mpg": rng.normal(23, 7, 200)})
    role = detect_column_roles(frame)["horsepower"]
    assert role.role == ROLE_NUMERIC and role.missing == 6
    assert role.reason.endswith("“?” read as empty (6 cells)"), role.reason
    assert detect_column_roles(frame)["size"].role != ROLE_NUMERIC  # "12 kg" is a unit, not a mark for a gap
    config = suggest_preprocess_config(frame, "mpg")
    assert "horsepower" in config.numeric_columns
    assert prepare_frame(frame, config)["horsepower"].isna().sum() == 6  # filled with the median when trained


def test_task_is_inferred_from_the_target():
    assert infer_task(pd.Series(["spam", "ham"], name="kind")).task == "classification"
    assert infer_task(pd.Series([0, 1, 1, 0], name="Survived")).task == "classification"
    assert infer_task(pd.Series(np.linspace(0, 100, 50), name="price")).task == "regression"
    with pytest.raises(TabularError, match="empty"):
        infer_task(pd.Series([np.nan, np.nan], name="nothing"))


@needs_titanic
def test_titanic_roles(titanic):
    roles = detect_column_roles(titanic)
    assert roles["PassengerId"].role == ROLE_ID
    assert roles["Name"].role == ROLE_TEXT and roles["Ticket"].role == ROLE_TEXT
    assert roles["Age"].role == ROLE_NUMERIC and roles["Age"].missing == 177
    assert roles["Sex"].role == ROLE_CATEGORICAL and roles["Pclass"].role == ROLE_CATEGORICAL
    config = suggest_preprocess_config(titanic, "Survived")
    assert config.task == "classification"
    assert "PassengerId" not in config.input_columns and "Ticket" not in config.input_columns
    assert config.title_from == "Name"  # 'Braund, Mr. Owen Harris' → the title 'Mr' becomes a category


# ---------------------------------------------------------------------------------------------------- preprocessing


def test_every_preprocessing_knob_has_help_text():
    assert all(f.metadata.get("help", "").endswith(".") for f in fields(TabularPreprocessConfig))


@pytest.mark.parametrize(("settings", "message"), [
    ({"target": ""}, "Choose the column to predict"),
    ({"task": "clustering"}, "classification or regression"),
    ({"numeric_columns": ("y",)}, "is the target"),
    ({"numeric_columns": ("a",), "categorical_columns": ("a",)}, "both as numbers and as categories"),
    ({"numeric_columns": ()}, "at least one input"),
    ({"numeric_missing": "guess"}, "Missing values can be filled"),
])
def test_config_mistakes_say_how_to_fix_them(settings, message):
    with pytest.raises(TabularError, match=message):
        TabularPreprocessConfig(**({"target": "y", "numeric_columns": ("a",)} | settings))


def test_mixed_columns_are_filled_scaled_and_encoded():
    frame = mixed_frame()
    config = suggest_preprocess_config(frame, "outcome")
    assert config.numeric_columns == ("height", "score") and config.categorical_columns == ("colour", "member")
    preprocessor = fit_preprocessor(frame, config)
    features = preprocessor.transform(frame)
    assert features.shape == (40, 2 + 3 + 2) and features.dtype == np.float32
    assert not np.isnan(features).any()
    assert np.allclose(features[:, :2].mean(0), 0, atol=1e-5)  # scaled to average 0
    assert preprocessor.feature_names[2:] == ["colour=blue", "colour=green", "colour=red", "member=False",
                                              "member=True"]
    assert set(preprocessor.excluded) == {"row_id", "comment", "country"}
    summary = "\n".join(preprocessor.summary())
    assert "height: 3 missing values filled with the median" in summary
    assert "colour: 2 missing values filled with the most common value" in summary
    assert "row_id: Left out (an ID" in summary


@needs_titanic
def test_titanic_summary_reads_like_a_person_wrote_it(titanic):
    preprocessor = fit_preprocessor(titanic, suggest_preprocess_config(titanic, "Survived"))
    sentences = preprocessor.summary()
    assert any(s.startswith("Age: 177 missing values filled with the median 28.0, then scaled") for s in sentences)
    assert any(s.startswith("Embarked: 2 missing values filled with the most common value 'S'") for s in sentences)
    assert any(s.startswith("PassengerId: Left out (an ID") for s in sentences)
    table = preprocessor.summary_table()
    assert {row["column"] for row in table} == set(titanic.columns)


@needs_titanic
def test_json_round_trip_gives_identical_transforms(titanic, tmp_path):
    train, test = titanic.iloc[:600], titanic.iloc[600:]
    preprocessor = fit_preprocessor(train, suggest_preprocess_config(train, "Survived"))
    path = preprocessor.save(tmp_path)
    assert path.name == PREPROCESSOR_FILE
    saved = json.loads(path.read_text())  # plain JSON: readable, no pickled objects
    assert saved["numeric"][0]["column"] == "Age"
    reloaded = TabularPreprocessor.load(tmp_path)
    assert np.array_equal(reloaded.transform(test), preprocessor.transform(test))
    assert reloaded.to_dict() == preprocessor.to_dict()
    # ...and the numbers are the ones scikit-learn itself computes.
    reference = preprocessor.sklearn_transformer.transform(prepare_frame(test, preprocessor.config))
    assert np.allclose(reloaded.transform(test), reference, atol=1e-6)


def test_unknown_categories_and_missing_columns():
    frame = mixed_frame()
    preprocessor = fit_preprocessor(frame, suggest_preprocess_config(frame, "outcome"))
    odd = frame.head(1).assign(colour="purple")
    assert preprocessor.transform(odd)[0, 2:5].tolist() == [0.0, 0.0, 0.0]  # an unseen colour is none of them
    with pytest.raises(TabularError, match="no column 'height'"):
        preprocessor.transform(frame.drop(columns="height"))


def test_own_category_for_missing_and_rare_values_capped():
    frame = pd.DataFrame({"city": ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d", None, None], "y": [0, 1] * 7 + [0]})
    config = TabularPreprocessConfig(target="y", categorical_columns=("city",), categorical_missing="own_category",
                                     one_hot_max_categories=3)
    preprocessor = fit_preprocessor(frame, config)
    assert preprocessor.categorical[0].categories == ["a", "b", "c"]
    assert preprocessor.categorical[0].dropped == 2  # 'd' and '(missing)' count as none of the columns
    assert "2 rarer values count as none" in "\n".join(preprocessor.summary())


def test_rows_without_a_target_are_left_out_and_said_so():
    frame = mixed_frame()
    frame.loc[[0, 1], "outcome"] = np.nan
    preprocessor = fit_preprocessor(frame, suggest_preprocess_config(frame, "outcome"))
    features, targets = preprocessor.training_arrays(frame)
    assert features.shape[0] == targets.shape[0] == 38 and preprocessor.rows == 38
    assert "2 rows without a value were left out" in preprocessor.summary()[0]


def test_a_text_target_cannot_be_regression():
    frame = mixed_frame()
    with pytest.raises(TabularError, match="Choose classification"):
        fit_preprocessor(frame, replace(suggest_preprocess_config(frame, "outcome"), task="regression"))


# ---------------------------------------------------------------------------------------------------- the model


@needs_titanic
def test_titanic_network_beats_the_baseline(titanic, one_thread):
    train, held_out = train_test_split(titanic, test_size=0.2, random_state=0, stratify=titanic["Survived"])
    preprocessor = fit_preprocessor(train, suggest_preprocess_config(train, "Survived"))
    torch.manual_seed(0)
    model = build_tabular_model(preprocessor, hidden_sizes=(32,), dropout=0.1)
    train_plain(model, *preprocessor.training_arrays(train), steps=300, learning_rate=0.01)
    predictions = predict_frame(model, preprocessor, held_out)
    assert list(predictions.columns) == ["prediction", "probability 0", "probability 1"]
    accuracy = (predictions["prediction"] == held_out["Survived"].astype(str)).mean()
    assert accuracy >= 0.78  # always guessing 'died' scores 0.62
    woman = predict_one(model, preprocessor, {"Pclass": 1, "Sex": "female", "Age": "30", "Name": "Doe, Mrs. Jane"})
    assert woman.prediction == "1" and woman.probabilities["1"] > 0.7


def test_diabetes_regression_explains_some_variance(one_thread):
    frame = load_diabetes(as_frame=True).frame
    train, held_out = train_test_split(frame, test_size=0.25, random_state=1)
    config = suggest_preprocess_config(train, "target")
    assert config.task == "regression" and len(config.numeric_columns) == 10
    preprocessor = fit_preprocessor(train, config)
    torch.manual_seed(0)
    model = build_tabular_model(preprocessor, hidden_sizes=(16,), dropout=0.1)
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    train_plain(model, *preprocessor.training_arrays(train), steps=300, learning_rate=1e-3)
    predicted = predict_frame(model, preprocessor, held_out)["prediction"].to_numpy()
    actual = held_out["target"].to_numpy()
    r_squared = 1 - ((predicted - actual) ** 2).sum() / ((actual - actual.mean()) ** 2).sum()
    assert r_squared > 0.3
    assert 25 < predict_one(model, preprocessor, held_out.iloc[0].to_dict()).prediction < 350  # real units


def test_amounts_written_as_a_spreadsheet_shows_them_are_learned_as_numbers(one_thread):
    # A house-price export: "$412,000" prices, "1,850" square feet, "12%" deposits. Read as text, the prices
    # were guessed as classes and the sizes left out as free text.
    frame = load_diabetes(as_frame=True).frame.head(300)
    houses = pd.DataFrame({"size": [f"{v * 1000 + 1500:,.0f}" for v in frame["bmi"]],
                           "deposit": [f"{abs(v) * 100:.0f}%" for v in frame["bp"]],
                           "price": [f"${v * 1000:,.0f}" for v in frame["target"]]})
    assert (as_numbers(houses["price"]) == frame["target"] * 1000).all()
    roles = detect_column_roles(houses)
    assert roles["size"].role == roles["deposit"].role == ROLE_NUMERIC
    assert "thousands commas, read as plain numbers" in roles["size"].reason
    config = suggest_preprocess_config(houses, "price")
    assert config.task == "regression" and set(config.numeric_columns) == {"size", "deposit"}
    preprocessor = fit_preprocessor(houses, config)
    assert preprocessor.target.mean == pytest.approx(frame["target"].mean() * 1000)
    model = build_tabular_model(preprocessor, hidden_sizes=(8,), dropout=0.0)
    train_plain(model, *preprocessor.training_arrays(houses), steps=200, learning_rate=1e-2)
    typed = predict_one(model, preprocessor, {"size": "1,520", "deposit": "5%"}).prediction
    assert typed == pytest.approx(predict_one(model, preprocessor, {"size": 1520, "deposit": 5}).prediction)
    assert 20_000 < typed < 400_000  # in dollars, as the prices were written


def test_forward_loss_and_shapes():
    frame = mixed_frame()
    preprocessor = fit_preprocessor(frame, suggest_preprocess_config(frame, "outcome"))
    model = build_tabular_model(preprocessor, hidden_sizes=(8, 4))
    features, targets = preprocessor.training_arrays(frame)
    output = model(torch.from_numpy(features), labels=torch.from_numpy(targets))
    assert output.logits.shape == (40, 2) and output.loss.dim() == 0
    assert model(torch.from_numpy(features)).loss is None
    with pytest.raises(TabularError, match="expects 7 numbers per row"):
        model(torch.zeros(2, 3))


def test_model_and_preprocessor_round_trip(tmp_path):
    frame = mixed_frame()
    preprocessor = fit_preprocessor(frame, suggest_preprocess_config(frame, "outcome"))
    model = build_tabular_model(preprocessor).eval()
    model.save_pretrained(tmp_path)
    preprocessor.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors", PREPROCESSOR_FILE]
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert isinstance(loaded, TabularMLP) and loaded.config.id2label == {0: "no", 1: "yes"}
    before = predict_frame(model, preprocessor, frame)
    after = predict_frame(loaded, TabularPreprocessor.load(tmp_path), frame)
    pd.testing.assert_frame_equal(before, after)


def test_form_predictions_check_their_inputs():
    frame = mixed_frame()
    preprocessor = fit_preprocessor(frame, suggest_preprocess_config(frame, "outcome"))
    model = build_tabular_model(preprocessor)
    fields_by_column = {item["column"]: item for item in preprocessor.form_fields()}
    assert fields_by_column["colour"]["options"] == ["blue", "green", "red"]
    assert fields_by_column["height"]["kind"] == "number"
    empty = predict_one(model, preprocessor, {})  # every field filled the way training filled gaps
    assert empty.prediction in ("no", "yes") and abs(sum(empty.probabilities.values()) - 1) < 1e-5
    with pytest.raises(TabularError, match="'height' must be a number"):
        predict_one(model, preprocessor, {"height": "tall"})


def test_trainer_runs_on_the_arrays(tmp_path, one_thread):
    frame = load_diabetes(as_frame=True).frame
    preprocessor = fit_preprocessor(frame, suggest_preprocess_config(frame, "target"))
    dataset = arrays_to_hf_dataset(*preprocessor.training_arrays(frame))
    assert dataset[0]["labels"].dtype == torch.float32 and dataset[0]["features"].shape == (10,)
    args = TrainingArguments(tmp_path / "run", max_steps=3, per_device_train_batch_size=16, report_to=[],
                             use_cpu=True, save_strategy="no", disable_tqdm=True)
    trainer = Trainer(model=build_tabular_model(preprocessor), args=args, train_dataset=dataset,
                      eval_dataset=dataset.select(range(32)))
    trainer.train()
    assert "eval_loss" in trainer.evaluate()


@pytest.mark.parametrize("content", ["not json", "[]", '{"format": "ai-playground-tabular-preprocessor"}',
                                     '{"format": "ai-playground-tabular-preprocessor", "version": 1, "config": '
                                     '{"target": "y", "numeric_columns": ["a"]}, "numeric": [{"evil": 1}], '
                                     '"categorical": [], "target": {}, "excluded": {}, "rows": 1}'])
def test_a_damaged_preprocessing_file_is_a_plain_message(tmp_path, content):
    (tmp_path / PREPROCESSOR_FILE).write_text(content)
    with pytest.raises(TabularError, match="Train the model again"):
        TabularPreprocessor.load(tmp_path)
