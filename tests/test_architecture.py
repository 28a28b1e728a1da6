"""The folder tree is the architecture: what may import what, how big a module may grow, what lives at the root.

docs/architecture.md states these rules for people; this test holds the code to them. Imports are read from the
source (every `import` and `from … import`, at any depth, including those inside functions), so a rule cannot be
dodged by importing late.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 300

# (importer prefix, forbidden prefixes, why): a module whose dotted name starts with the importer prefix may not
# import anything whose name starts with one of the forbidden prefixes.
RULES = [
    ("core", ("streamlit", "ui", "pages"), "core is UI-free: the pages are a skin over it"),
    ("core.tasks", ("core.hosting",), "a task pipeline trains on any machine; sharing one is hosting's concern"),
    ("core.config", ("core.engine", "core.hosting", "core.lm", "core.prompting", "core.data"),
     "settings are plain data everything else reads"),
    ("core.data", ("core.engine", "core.hosting", "core.lm", "core.prompting", "core.tasks"),
     "reading and storing data knows no models and no runs"),
    ("core.lm", ("core.hosting", "core.prompting"), "the language-model stack serves prompting, not the other way"),
    ("core.prompting", ("core.hosting", "core.tasks"), "prompting uses a pretrained model, never a training task"),
    ("core.engine", ("core.prompting", "core.coach", "core.estimate", "core.search"),
     "the engine trains; prompting needs no run, and advice, estimates and searches sit on top of it"),
    ("core.coach", ("core.hosting", "core.estimate", "core.search", "core.prompting"),
     "the coach reads a run and suggests settings; it starts nothing"),
    ("core.estimate", ("core.coach", "core.search", "core.prompting"), "an estimate measures one configuration"),
    ("core.search", ("core.estimate", "core.prompting"), "a search trains ordinary runs through the queue"),
    ("ui", ("pages",), "pages call ui, never the other way"),
    ("pages", ("pages",), "a page links to another page, it never imports one"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def product_files() -> list[Path]:
    return sorted(p for folder in ("core", "ui", "pages") for p in (ROOT / folder).rglob("*.py"))


def starts_with(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_every_import_follows_the_layering_rules():
    broken = []
    for path in product_files():
        importer = module_name(path)
        for importer_prefix, forbidden, why in RULES:
            if not starts_with(importer, importer_prefix):
                continue
            for name in imported_names(path):
                if any(starts_with(name, prefix) for prefix in forbidden):
                    broken.append(f"{importer} imports {name}: {why}")
    assert not broken, "\n".join(sorted(set(broken)))


@pytest.mark.parametrize("folder", ["core", "ui"])
def test_no_module_is_over_the_size_limit(folder):
    too_long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not too_long, f"split these modules (over {MAX_MODULE_LINES} lines): {too_long}"


def test_core_root_holds_packages_and_at_most_two_modules():
    modules = sorted(p.name for p in (ROOT / "core").glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= 2, f"core/ root should hold packages, not modules: {modules}"


def test_tests_mirror_the_product():
    """tests/core/<package>/ for a core package's tests, tests/pages/ and tests/browser/ for the pages, tests/bench/
    for the benches, tests/support/ for shared helpers: only this file stays at the root."""
    core_packages = {p.relative_to(ROOT / "core") for p in (ROOT / "core").rglob("__init__.py")}
    test_folders = {p.relative_to(ROOT / "tests" / "core") for p in (ROOT / "tests" / "core").rglob("__init__.py")}
    strays = sorted(str(f.parent) for f in test_folders - core_packages)
    assert not strays, f"tests/core/ folders with no core package of that name: {strays}"
    at_root = sorted(p.name for p in (ROOT / "tests").glob("test_*.py"))
    assert at_root == ["test_architecture.py"], f"move these into the folder of what they test: {at_root}"


def test_every_module_states_its_boundary_in_a_docstring():
    missing = [str(p.relative_to(ROOT)) for p in product_files()
               if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not missing, f"modules without a docstring: {missing}"
