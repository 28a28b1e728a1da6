"""Hostile names and labels on every page, through AppTest (issue 21, item 2): a person named like a Markdown
image, a dataset named like a web address, class labels written as a link, an image and Streamlit's own syntax, and
generated text full of Markdown. Every string that reaches an element which renders Markdown must show the hostile
text as the characters it holds: no link, no image, no formatting, no emoji or icon; every chart holds no tag.

`hostile_workspace` is shared with tests/browser/test_browser_hostile_names.py, which checks the same pages in Chromium.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace

import pandas as pd
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from core.config.presets import default_config
from core.data.sample_datasets import cafe_feedback
from core.data.splits import split_train_validation
from core.engine.run_folder import EVAL_FILE, SAMPLES_FILE, append_metrics, update_status, write_json_atomic
from core.engine.run_status import RunState
from core.engine.runs import Run, create_run
from core.hosting.people import Person, Team
from core.messages import WORD_JOINER
from core.tasks.text_classification.data import check_classification, save_text_classification
from core.workspace import Workspace
from tests.core.hosting.test_people import hosted_app
from tests.pages.test_prompt_lab_page import make_tiny_lm
from tests.support.paths import ROOT

DATASET = "www.zqd.example"  # a dataset name may hold dots: a bare web address, which GFM would link
TRACKER = "http://127.0.0.1:9"  # the browser test points these at a server of its own that records every hit


def hostile(tracker: str = TRACKER) -> dict[str, str]:
    """Every string a person controls, each with a marker word (zq…) that is in nothing else the app writes."""
    return {
        "person": f"![zqp]({tracker}/person.png)",
        "label_link": f'<a href="{tracker}/label">zq1</a>',
        "label_image": f"![zq2]({tracker}/label.png)",
        "label_syntax": f"**zq3** _x_ :red[r] :smile: :material/home: $x$ <{tracker}/auto> {tracker}/bare",
        "prompt": f"zqg [go]({tracker}/prompt) ![g]({tracker}/prompt.png) # not a heading",
        "generated": f"zqw **not bold** ![w]({tracker}/written.png)",
    }


def hostile_dataset(space: Workspace, tracker: str = TRACKER):
    """The café sample with its three classes renamed to hostile labels, saved as DATASET."""
    names = hostile(tracker)
    frame = cafe_feedback()
    classes = sorted(frame["category"].unique())
    relabel = dict(zip(classes, [names["label_link"], names["label_image"], names["label_syntax"]]))
    frame = frame.assign(category=frame["category"].map(relabel))
    checked = check_classification(frame, "message", "category")
    train, validation = split_train_validation(checked.frame, 0.2)
    return save_text_classification(space, DATASET, train, validation, "upload", checked.checks)


def trained_run(space: Workspace) -> Run:
    """A real run of the worker on the hostile dataset: its eval.json holds the labels in every view."""
    config = default_config("text-classification", DATASET, source="scratch", preset="quick")
    config = replace(config, model=replace(config.model, name="bag_of_embeddings", vocab_size=400), epochs=2,
                     learning_rate=5e-3)
    run = create_run(space, config)
    subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    return run


def written_run(space: Workspace, tracker: str = TRACKER) -> Run:
    """A finished language-model run, as the worker leaves it, whose prompt and samples are hostile."""
    names = hostile(tracker)
    run = create_run(space, default_config("text-generation", DATASET, source="scratch", preset="quick"))
    for step in (10, 20):
        append_metrics(run.folder, {"step": step, "epoch": step / 20, "loss": 3.0 / step, "eval_loss": 4.0 / step})
        with open(run.folder / SAMPLES_FILE, "a") as file:
            file.write(json.dumps({"step": step, "prompt": names["prompt"], "text": names["generated"]}) + "\n")
    write_json_atomic(run.folder / EVAL_FILE, {"eval_loss": 0.2, "perplexity": 1.22,
                                               "samples": [{"text": names["generated"]}]})
    update_status(run.folder, state=RunState.COMPLETED, step=20, max_steps=20, started_at=1.0, finished_at=2.0,
                  headline={"eval_loss": 0.2}, message="Done.")
    return run


def hostile_workspace(space: Workspace, tracker: str = TRACKER) -> tuple[Run, Run]:
    hostile_dataset(space, tracker)
    return trained_run(space), written_run(space, tracker)


# ---------------------------------------------------------------------------------------------------- the check

# Proto fields Streamlit renders as Markdown, and the ones among them it shows as they are.
MARKDOWN_FIELDS = {"body", "label", "help", "caption", "text", "content", "delta", "options", "value"}
PLAIN = {("selectbox", "options"), ("multiselect", "options"), ("text", "body"), ("json", "body"),
         ("code", "body"), ("text_input", "value"), ("text_area", "value"), ("selectbox", "value"),
         ("multiselect", "value"), ("number_input", "value")}
UNSAFE_TOKENS = {"link_open", "image", "html_inline", "html_block"}
# What Streamlit's frontend rewrites in the parsed text (see tests/core/test_plain_text.py): addresses, emoji, the logo.
REWRITES = re.compile(r"https?://|www\.|[-.\w+]+@[-\w]+\.\w|:(?!material/)[\w+-][\w_+-]*:|:streamlit:")


def markdown_strings(at: AppTest) -> list[tuple[str, str]]:
    """(element type, Markdown source) of every string on the page that Streamlit renders as Markdown."""
    found: list[tuple[str, str]] = []

    def strings(kind: str, message, field: str = "") -> None:
        if isinstance(message, str):
            if field in MARKDOWN_FIELDS and (kind, field) not in PLAIN:
                found.append((kind, message))
            return
        if not hasattr(message, "ListFields"):
            return
        for descriptor, value in message.ListFields():
            repeated = not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields") and hasattr(
                value, "__iter__")
            values = value if repeated else [value]
            for item in values:
                strings(kind, item, descriptor.name)

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            strings(getattr(node, "type", ""), proto)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def problems(at: AppTest, names: dict[str, str]) -> list[str]:
    """Every Markdown string that would show a link, an image or a rewrite, or show a hostile text otherwise
    than as its characters."""
    wrong = []
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for kind, source in markdown_strings(at):
        children = [child for token in parser.parse(source) for child in token.children or []]
        unsafe = {child.type for child in children} & UNSAFE_TOKENS
        text = "".join(child.content for child in children if child.type in ("text", "code_inline"))
        visible = text.replace(WORD_JOINER, "")
        if unsafe or REWRITES.search(text) or re.search(r"(?<!\\)(\$|:[a-z][\w-]*\[)", source):
            wrong.append(f"{kind}: {source!r}")
        for name in names.values():
            marker = re.search(r"zq\w", name).group(0)
            if marker in visible and name not in visible:
                wrong.append(f"{kind} shows {name!r} otherwise than as written: {source!r}")
    return wrong


def charts_with_tags(at: AppTest) -> list[str]:
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    return [spec[:200] for spec in specs if re.search(r"<(a|b|img)\b|\\u003c(a|b|img)\b", spec)]


def page(at: AppTest, path: str, **params: str) -> AppTest:
    at.query_params.clear()
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def shown_everywhere(at: AppTest, names: dict[str, str]) -> str:
    return " ".join(source for _, source in markdown_strings(at)).replace(WORD_JOINER, "")


# ---------------------------------------------------------------------------------------------------- the tests


def test_every_page_shows_hostile_labels_dataset_and_run_names_as_text(workspace):
    names = hostile()
    classifier, writer = hostile_workspace(workspace)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not problems(at, names)  # Start: the newest run's name

    page(at, "pages/train.py", dataset=DATASET, run=classifier.id)
    assert not problems(at, names)
    assert "Training on **www\\.zqd\\.example**" not in shown_everywhere(at, names)  # the old, partial escape

    # Runs: the queue, the table, a finished classifier's status, charts, evaluation (ladder, diagnosis, matrix,
    # per class, mistakes), then the language model's samples; and the comparison of both.
    page(at, "pages/runs.py", run=classifier.id)
    assert not problems(at, names) and not charts_with_tags(at)
    assert len(at.get("plotly_chart")) >= 4
    page(at, "pages/runs.py", run=writer.id)
    assert not problems(at, names)
    assert any(names["prompt"] in source.replace("\\", "").replace(WORD_JOINER, "")
               for _, source in markdown_strings(at))  # the prompt is shown, as text
    at.multiselect(key="runs_compare").set_value([classifier.id, writer.id]).run()
    assert not problems(at, names) and not charts_with_tags(at)

    # Playground: the predicted label in words and in the probability chart.
    page(at, "pages/playground.py", run=classifier.id)
    at.text_area(key=f"play_text_{classifier.id}").set_value("The cake was lovely\nWhere is the station?").run()
    assert not at.exception, at.exception
    assert not problems(at, names) and not charts_with_tags(at)
    assert at.get("plotly_chart")


def test_the_prompt_lab_shows_hostile_labels_as_text(workspace):
    names = hostile()
    hostile_dataset(workspace)
    folder = make_tiny_lm(workspace.root / "tiny-lm")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    page(at, "pages/prompt_lab.py")
    at.selectbox(key="prompt_model_choice").set_value("other").run()
    at.text_input(key="prompt_model_other").set_value(str(folder)).run()
    at.button(key="prompt_load").click().run()
    assert not at.exception, at.exception
    assert not problems(at, names)
    words = shown_everywhere(at, names)
    assert all(name in words.replace("\\", "") for name in (names["label_link"], names["label_image"]))


def test_the_team_page_shows_hostile_person_names_as_text(workspace, monkeypatch):
    names = hostile()
    team = Team(workspace.root)
    mallory = Person(identity=names["person"].lower(), name=names["person"])
    bob = Person("bob", "Bob")
    hostile_dataset(team.register(mallory))
    run = written_run(team.workspace_of(mallory))
    team.register(bob)
    at = hosted_app(monkeypatch, person=bob).run()
    page(at, "pages/team.py", team_run=f"{mallory.id}/{run.id}")
    assert not problems(at, names)
    assert f"{names['person']}’s run" in shown_everywhere(at, names).replace("\\", "")  # her name, as text
    assert at.dataframe[0].value["person"].tolist() == [names["person"]]  # a table cell shows it as it is

    at = hosted_app(monkeypatch, person=mallory).run()  # her own pages: the sidebar and the Team page say her name
    assert not problems(at, names)
    assert f"Signed in as **{names['person']}**" in shown_everywhere(at, names).replace("\\", "")
    page(at, "pages/team.py")
    assert not problems(at, names)
    assert f"You are **{names['person']}**" in shown_everywhere(at, names).replace("\\", "")


def test_an_uploaded_file_with_hostile_columns_and_labels_is_described_as_text(workspace):
    names = hostile()
    frame = pd.DataFrame({"review [zqt](http://127.0.0.1:9/t)": [f"text number {i} is here" for i in range(40)],
                          "<b>zqc</b>": [names["label_image"]] * 36 + [names["label_link"]] * 4})
    names |= {"text_column": "review [zqt](http://127.0.0.1:9/t)", "label_column": "<b>zqc</b>"}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    page(at, "pages/data.py")
    at.file_uploader(key="data_text_file").set_value(("reviews.csv", frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert not problems(at, names) and not charts_with_tags(at)
    assert at.warning  # the tiny class is warned about, quoting its label as text
