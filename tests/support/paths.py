"""Where things are, for every test wherever it sits in tests/: the repository, the shared data, the corpus."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
TESTS = ROOT / "tests"
MALFORMED = TESTS / "malformed"  # the malformed-upload corpus (tests/malformed/make_corpus.py)
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"  # real data nobody here wrote (see its SOURCES.md)
ARTIFACTS = ROOT / "test-artifacts"  # screenshots the browser tests leave for a person to look at
