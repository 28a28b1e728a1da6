"""Where a person's things live on disk: prepared datasets, training runs, uploads and model caches.

One folder per workspace. `AI_PLAYGROUND_HOME` picks it (tests point it at a temporary folder); by default it is
`workspace/` beside the code, so a local user needs no set-up.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import unicodedata
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


def safe_name(text: str, fallback: str = "untitled") -> str:
    """A folder name made from what a person typed: letters and digits of any script are kept (日本語 stays 日本語;
    it used to become "dataset", like every other name in Chinese or Japanese), and so are dots, dashes and
    underscores; each run of anything else (slashes, spaces, control characters) becomes one dash. No dots or
    dashes at the ends, at most 60 characters."""
    text = unicodedata.normalize("NFC", text.strip())
    name = "".join("".join(run) if kept else "-" for kept, run in itertools.groupby(text, _kept_in_names))
    return name.strip("-.")[:60] or fallback


def _kept_in_names(character: str) -> bool:
    # Combining marks (Mn, Mc) carry the vowels of Hindi, Thai or Arabic words and the accent of a decomposed é.
    return character.isalnum() or character in "._-" or unicodedata.category(character).startswith("M")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace a file whole or not at all: readers polling it never see half of it, and a full or read-only disk
    leaves the old file as it was (and no stray temporary file), raising the OSError for the caller to explain."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())  # a full disk can refuse the data only now: find out before replacing
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
