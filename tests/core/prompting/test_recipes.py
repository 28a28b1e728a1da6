"""Named prompt recipes in the workspace: saved, listed, reloaded the same, and refused when tampered with."""

from __future__ import annotations

import json

import pytest

from core.prompting.recipe import PromptRecipe
from core.prompting.saved_recipes import RecipeError, list_recipes, load_recipe, recipe_path, save_recipe

WORDS = {"pos": "great", "neg": "terrible"}


def _recipe(**changes) -> PromptRecipe:
    return PromptRecipe(**{"label_words": WORDS, **changes})


def test_a_saved_recipe_comes_back_the_same(workspace):
    recipe = _recipe(template="Text: {text}\nAnswer:", instructions="Say {labels}.", few_shot_k=6,
                     selection="similar", order="by-class",
                     calibrate=True, seed=7, example_separator="\n---\n")
    path = save_recipe(workspace, "My sentiment / recipe", recipe, dataset="reviews")
    assert path.parent == workspace.root / "recipes" and path.suffix == ".json"
    saved = load_recipe(workspace, "My sentiment / recipe")
    assert (saved.name, saved.recipe, saved.dataset) == ("My sentiment / recipe", recipe, "reviews")


def test_recipes_are_listed_by_name_and_replaced_by_name(workspace):
    save_recipe(workspace, "zero-shot", _recipe(few_shot_k=0))
    save_recipe(workspace, "Four examples", _recipe(few_shot_k=4))
    save_recipe(workspace, "zero-shot", _recipe(few_shot_k=0, calibrate=True))
    listed = list_recipes(workspace)
    assert [saved.name for saved in listed] == ["Four examples", "zero-shot"]
    assert listed[1].recipe.calibrate


def test_no_recipes_yet_is_an_empty_list(workspace):
    assert list_recipes(workspace) == []
    with pytest.raises(RecipeError, match="no saved recipe"):
        load_recipe(workspace, "missing")


def test_a_recipe_needs_a_name(workspace):
    with pytest.raises(RecipeError, match="name"):
        save_recipe(workspace, "  ", _recipe())


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    (json.dumps(["a", "list"]), "does not hold a recipe"),
    (json.dumps({"recipe": {"template": "{text}", "label_words": WORDS, "few_shot_k": "4"}}), "few_shot_k"),
    (json.dumps({"recipe": {"template": "{text}", "label_words": WORDS, "run": "rm -rf /"}}), "Unknown"),
    (json.dumps({"recipe": {"template": "no placeholder", "label_words": WORDS}}), "{text}"),
    (json.dumps({"recipe": {"label_words": WORDS, "few_shot_k": True}}), "few_shot_k"),
])
def test_a_tampered_recipe_file_is_refused_with_a_reason(workspace, content, message):
    save_recipe(workspace, "good", _recipe())
    path = recipe_path(workspace, "bad")
    path.write_text(content)
    with pytest.raises(RecipeError, match=message):
        load_recipe(workspace, "bad")
    assert [saved.name for saved in list_recipes(workspace)] == ["good"]  # the damaged one does not hide others


def test_a_recipe_saved_before_instructions_existed_still_loads(workspace):
    path = save_recipe(workspace, "older", _recipe(few_shot_k=2))
    content = json.loads(path.read_text())
    del content["recipe"]["instructions"]
    path.write_text(json.dumps(content))
    assert load_recipe(workspace, "older").recipe == _recipe(few_shot_k=2)


def test_a_recipe_saved_before_sets_of_worked_examples_existed_still_reads_one_set(workspace):
    path = save_recipe(workspace, "one set", _recipe(few_shot_k=2, draws=1))
    content = json.loads(path.read_text())
    del content["recipe"]["draws"]
    path.write_text(json.dumps(content))
    assert load_recipe(workspace, "one set").recipe.draws == 1
