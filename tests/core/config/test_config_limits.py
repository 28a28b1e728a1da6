"""Every setting's limits are enforced where a config is built: an impossible number is refused with a message
that names the setting and its allowed range, whether it was typed, read from an old config.json or a saved
recipe; and every preset builds a config inside those limits."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from core.config.catalog import pretrained_tasks, scratch_tasks
from core.config.knobs import KnobError, knob_limits
from core.config.presets import PRESET_NAMES, PRESETS, default_config
from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.engine import worker
from core.hosting.settings import Settings, SettingsError
from core.messages import PlainError
from core.prompting.recipe import PromptRecipe
from core.prompting.saved_recipes import RecipeError, load_recipe, recipe_path, save_recipe
from core.tasks.image_classification.transforms import ImagePreprocessConfig
from core.tasks.tabular.columns import TabularPreprocessConfig

WORDS = {"negative": "bad", "positive": "good"}


def test_a_batch_of_zero_is_refused_naming_the_setting_and_its_range():
    with pytest.raises(KnobError, match=r"Batch size is 0, but it must be between 1 and 4,096\.") as caught:
        TrainConfig(batch_size=0)
    assert isinstance(caught.value, PlainError)  # the worker and the pages show it as it is


def test_a_negative_learning_rate_is_refused_naming_the_setting_and_its_range():
    with pytest.raises(KnobError, match=r"Learning rate is -1, but it must be between 1e-07 and 1\."):
        TrainConfig(learning_rate=-1.0)


def test_too_many_worked_examples_are_refused_naming_the_setting_and_its_range():
    with pytest.raises(KnobError, match=r"Worked examples is 500, but it must be between 0 and 64\."):
        PromptRecipe(few_shot_k=500)


def test_a_setting_that_is_not_a_number_is_refused_plainly_not_with_a_type_error():
    with pytest.raises(KnobError, match=r"Epochs must be a number between 0\.05 and 1,000, not ''"):
        TrainConfig(epochs="")  # what an emptied form field used to send, which crashed on "<="


@pytest.mark.parametrize("build", [
    lambda: ModelSpec(num_layers=0),
    lambda: LoraSpec(rank=0),
    lambda: ImagePreprocessConfig(image_size=4),
    lambda: ImagePreprocessConfig(rotation_degrees=270.0),
    lambda: TabularPreprocessConfig(target="y", numeric_columns=("x",), one_hot_max_categories=1),
], ids=["model layers", "lora rank", "image size", "rotation", "one-hot categories"])
def test_every_settings_dataclass_checks_its_limits(build):
    with pytest.raises(KnobError, match="but it must be"):
        build()


def test_installation_settings_name_the_setting_as_written_in_the_settings_file():
    with pytest.raises(SettingsError, match=r"^cpu_runs is 0, but it must be between 1 and 64\."):
        Settings(cpu_runs=0)


def test_the_tasks_and_sources_offered_each_have_their_presets():
    offered = {(task, "scratch") for task in scratch_tasks()} | {(task, "pretrained") for task in pretrained_tasks()}
    assert set(PRESETS) == offered
    assert all(set(presets) == set(PRESET_NAMES) for presets in PRESETS.values())


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize(("task", "source"), sorted(PRESETS), ids=lambda value: value)
def test_every_preset_of_every_task_and_source_builds_a_valid_config(task, source, preset):
    config = default_config(task, "data", source, preset)
    assert (config.task, config.model.source) == (task, source)
    for name, value in PRESETS[(task, source)][preset].items():
        assert getattr(config, name) == value
        low, high = knob_limits(TrainConfig, name)
        assert low <= value <= high, f"{preset} sets {name} outside its limits"
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config  # and survives its config.json


def test_an_old_config_file_with_an_impossible_setting_gets_a_plain_message(workspace, tmp_path, capsys):
    values = default_config("text-classification", "cafe", "scratch").to_dict()
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**values, "warmup_ratio": 0.9}))  # written before the limits were enforced
    with pytest.raises(KnobError, match=r"Warmup ratio is 0\.9, but it must be between 0 and 0\.5"):
        TrainConfig.load(path)
    assert worker.main(["--config", str(path), "--workspace", str(workspace.root)]) == 2
    error = capsys.readouterr().err
    assert "Warmup ratio is 0.9, but it must be between 0 and 0.5" in error and "Traceback" not in error


def test_an_old_saved_recipe_with_an_impossible_setting_gets_a_plain_message(workspace):
    path = save_recipe(workspace, "many shots", PromptRecipe(label_words=WORDS))
    document = json.loads(path.read_text())
    document["recipe"]["few_shot_k"] = 500
    recipe_path(workspace, "many shots").write_text(json.dumps(document))
    with pytest.raises(RecipeError, match=r"Worked examples is 500, but it must be between 0 and 64"):
        load_recipe(workspace, "many shots")


def test_every_number_setting_has_both_limits_and_its_default_inside_them():
    for cls in (TrainConfig, ModelSpec, LoraSpec, ImagePreprocessConfig, TabularPreprocessConfig, PromptRecipe,
                Settings):
        for item in fields(cls):
            low, high = knob_limits(cls, item.name)
            if item.type in ("int", "float"):
                assert low is not None and high is not None, f"{cls.__name__}.{item.name} has no limits"
                assert low <= item.default <= high, f"{cls.__name__}.{item.name}'s default is outside its limits"
