"""Named prompt recipes saved in the workspace, so a person can come back to a prompt that worked.

    recipes/<safe name>.json    {"name": ..., "dataset": ..., "recipe": {template, label_words, few_shot_k, ...}}

A recipe file is data a person may have edited or been sent: it is read as JSON and every field is checked by
`core.prompting.recipe.recipe_from_dict` before use; nothing in it is ever executed. Writes go through a temporary file
and a rename, so a reader never sees half a recipe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.messages import PlainError
from core.prompting.recipe import PromptRecipe, recipe_from_dict, recipe_to_dict
from core.workspace import Workspace, safe_name

FOLDER = "recipes"
MAX_FILE_BYTES = 1_000_000  # a recipe is a few hundred bytes; anything this big is not one


class RecipeError(PlainError, ValueError):
    """A saved recipe is missing or unreadable; the message says which and why."""


@dataclass(frozen=True)
class SavedRecipe:
    name: str  # as the person typed it
    recipe: PromptRecipe
    dataset: str | None  # the dataset whose classes the label words name, when it was saved from one


def recipes_folder(workspace: Workspace) -> Path:
    return workspace.root / FOLDER


def recipe_path(workspace: Workspace, name: str) -> Path:
    return recipes_folder(workspace) / f"{safe_name(name, fallback='recipe')}.json"


def save_recipe(workspace: Workspace, name: str, recipe: PromptRecipe, dataset: str | None = None) -> Path:
    """Write the recipe under `name`, replacing one of the same name; returns its file."""
    if not name.strip():
        raise RecipeError("Give the recipe a name.")
    path = recipe_path(workspace, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"name": name.strip(), "dataset": dataset, "recipe": recipe_to_dict(recipe)}
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)
    return path


def load_recipe(workspace: Workspace, name: str) -> SavedRecipe:
    path = recipe_path(workspace, name)
    if not path.is_file():
        raise RecipeError(f"There is no saved recipe called {name!r}.")
    return _read(path)


def list_recipes(workspace: Workspace) -> list[SavedRecipe]:
    """Every readable recipe, by name; a damaged file is skipped rather than hiding the others."""
    folder = recipes_folder(workspace)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(_read(path))
        except RecipeError:
            continue
    return sorted(found, key=lambda saved: saved.name.lower())


def _read(path: Path) -> SavedRecipe:
    label = path.stem
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RecipeError(f"The saved recipe {label!r} is too large to be a recipe.")
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecipeError(f"The saved recipe {label!r} is not valid JSON: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("recipe"), dict):
        raise RecipeError(f"The saved recipe {label!r} does not hold a recipe.")
    name, dataset = document.get("name") or label, document.get("dataset")
    if not isinstance(name, str) or not (dataset is None or isinstance(dataset, str)):
        raise RecipeError(f"The saved recipe {label!r} has a malformed name or dataset.")
    try:
        recipe = recipe_from_dict(document["recipe"])
    except (TypeError, ValueError) as error:
        raise RecipeError(f"The saved recipe {name!r} cannot be used: {error}") from error
    return SavedRecipe(name, recipe, dataset)
