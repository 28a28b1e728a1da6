"""Shared fixtures: a throwaway workspace per test, the sample dataset in it, tiny models built from configs, and
one torch thread for a test that trains (two threads fight over this machine's two cores).

Nothing here touches the network: tiny models are made from configs with tokenizers trained in the test, and
the bundled models come from installed packages.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import ARTIFACTS, SHARED_DATASETS

# Quiet, offline, single-threaded defaults for every test process (workers inherit them).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")



@pytest.fixture
def one_thread():
    """Two cores are shared on this machine; one thread is faster than fighting over them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from core.workspace import HOME_VARIABLE, Workspace

    root = tmp_path / "workspace"
    monkeypatch.setenv(HOME_VARIABLE, str(root))
    yield Workspace(root.resolve())
    # A run queued by the test started the job queue's consumer in its own session: end it with the test.
    from core.engine.launcher import stop_consumer

    stop_consumer(root / "queue")


@pytest.fixture
def sample_dataset(workspace):
    """The built-in café sample, prepared and saved as "cafe" (360 texts, 3 classes)."""
    from core.data.sample_datasets import cafe_feedback
    from core.data.splits import split_train_validation
    from core.tasks.text_classification.data import (
        check_classification,
        save_text_classification,
    )

    checked = check_classification(cafe_feedback(), "message", "category")
    train, validation = split_train_validation(checked.frame, 0.2)
    return save_text_classification(workspace, "cafe", train, validation, "sample", checked.checks)


@pytest.fixture(scope="session")
def tiny_bert_folder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with its own WordPiece vocabulary, saved as a local "pretrained" model folder."""
    from transformers import BertConfig, BertForSequenceClassification

    from core.data.sample_datasets import cafe_feedback
    from core.tasks.text_classification.models import train_wordpiece_tokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = train_wordpiece_tokenizer(cafe_feedback()["message"].tolist(), vocab_size=300)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def shared_dataset(relative: str) -> Path:
    """A file of ../shared/datasets, or skip when this checkout has none beside it."""
    path = SHARED_DATASETS / relative
    if not path.exists():
        pytest.skip(f"{path} is not available on this machine")
    return path


# ---------------------------------------------------------------------------------------------------- browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture
def app_server(workspace):
    """The real app (`streamlit run app.py`) on a free port, using this test's workspace; yields its URL."""
    from tests.support.browser import start_app, stop_app

    server, url = start_app(workspace.root)
    yield url
    stop_app(server, workspace.root)


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.fail("Browser tests need Debian's Chromium: apt-get install -y chromium (see .ci/run).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh browser tab; on failure its screenshot is kept under test-artifacts/ for a person to look at."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        artifacts = ARTIFACTS
        artifacts.mkdir(exist_ok=True)
        tab.screenshot(path=str(artifacts / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
