"""Where a person's things live on disk: prepared datasets, training runs, uploads and model caches.

One folder per workspace. `AI_PLAYGROUND_HOME` picks it (tests point it at a temporary folder); by default it is
`workspace/` beside the code, so a local user needs no set-up.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOME_VARIABLE = "AI_PLAYGROUND_HOME"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def default(cls) -> Workspace:
        root = Path(os.environ.get(HOME_VARIABLE) or PROJECT_ROOT / "workspace")
        return cls(root.resolve())

    def _folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def datasets(self) -> Path:
        return self._folder("datasets")

    @property
    def runs(self) -> Path:
        return self._folder("runs")

    @property
    def uploads(self) -> Path:
        return self._folder("uploads")

    @property
    def models(self) -> Path:
        """Converted or cached pretrained models (e.g. the bundled GGUF turned into safetensors)."""
        return self._folder("models")

    @property
    def cache(self) -> Path:
        """Library caches (the `datasets` Arrow cache) kept inside the workspace rather than in $HOME."""
        return self._folder("cache")


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, fallback: str = "untitled") -> str:
    """A folder name made from what a person typed: no slashes, no dots at the start, at most 60 characters."""
    name = _UNSAFE_NAME.sub("-", text.strip()).strip("-.")[:60]
    return name or fallback
