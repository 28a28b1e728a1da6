"""Files people really have (issue 17, items 6, 7, 8 and 10): a file with no extension and no header row, one
whose messages open quotes they never close, a news set labelled 1–4 with its classes file and two text columns,
and classes that are uneven or tiny. Each is read, checked and saved the way the Data page does it, and then
through the Data page itself (AppTest).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.data.class_balance import class_balance_checks
from core.data.class_names import checked_names, names_in_order, natural_order, read_class_names
from core.data.delimited import header_note
from core.data.sniffing import guess_format, guess_header
from core.data.splits import split_train_validation
from core.data.uploads import DataError, read_upload
from core.prompting.recipe import default_label_words
from core.tasks.text_classification.data import (
    TextColumns,
    check_classification,
    guess_columns,
    save_text_classification,
)
from tests.conftest import shared_dataset
from tests.support.paths import ROOT
from tests.support.real_files import (
    CLASSES_TXT,
    NEWS_CLASSES,
    WINE_QUALITY_COUNTS,
    auto_mpg_data,
    news_csv,
    sms_collection,
    sms_lines,
)

# ---------------------------------------------------------------------------------------------------- SMS spam


def test_the_sms_spam_file_without_extension_or_header_keeps_every_line(workspace):
    raw = sms_collection(600)
    table = read_upload("SMSSpamCollection", raw, workspace)
    assert table.file_format == "TSV"
    assert len(table.frame) == 600 == raw.count(b"\n")  # the first message and the quoted ones are all rows
    assert list(table.frame.columns) == ["column 1", "column 2"]
    assert table.frame.iloc[0].tolist() == list(sms_lines(600)[0])
    said = " ".join(c.message for c in table.checks)
    assert "no extension" in said and "separated by tabs" in said
    assert "2 lines have a double quote" in said and "(the first is line 11)" in said
    assert "10 rows would have vanished" in said  # line 11 opens a quote that line 21 closes
    note = header_note(table)
    assert note.startswith("The first row was read as data, not as column names")
    assert "“ham” appears again below it" in note and "column 1 and column 2" in note


def test_a_uci_data_file_of_numbers_lined_up_with_spaces_is_read_column_by_column(workspace):
    # auto-mpg.data: read by its single tab, it was two columns, all the numbers in the first as one text.
    from core.tasks.tabular.columns import suggest_preprocess_config
    from core.tasks.tabular.roles import ROLE_NUMERIC, detect_column_roles

    table = read_upload("auto-mpg.data", auto_mpg_data(200), workspace)
    assert table.frame.shape == (200, 9) and not table.header.has_header
    assert table.file_format == "columns lined up with spaces"
    assert "9 fields separated by spaces (columns lined up)" in table.checks[0].message
    assert table.frame["column 9"].iloc[0].endswith(" 0")  # the quoted name is one cell, spaces and all
    horsepower = detect_column_roles(table.frame)["column 4"]
    assert horsepower.role == ROLE_NUMERIC and horsepower.missing == 6, horsepower  # the "?" cells (rows 5, 38, … 170)
    assert suggest_preprocess_config(table.frame, "column 1").task == "regression"
    # A text whose lines happen to have as many words is still lines of text, not a table.
    words = "\n".join(f"the cat sat {word}" for word in ("down", "up", "still", "there")) + "\n"
    assert read_upload("notes.txt", words.encode(), workspace).file_format == "TXT"


def test_a_european_table_with_semicolons_and_decimal_commas_reads_its_numbers(workspace):
    # "7,4;0,7;9,4;5": split at its commas it was four columns of nonsense ("4;0", "7;9"), and as text its numbers
    # were categories.
    rows = "".join(f"7,{i % 10};0,{i % 7 + 1};9,{i % 5};{5 + i % 3}\n" for i in range(50))
    for header in ("fixed acidity;volatile acidity;alcohol;quality\n", ""):
        table = read_upload("winequality-red.csv", (header + rows).encode(), workspace)
        assert table.frame.shape == (50, 4)
        assert table.frame.iloc[:, 0].tolist()[:3] == [7.0, 7.1, 7.2] and table.frame.iloc[:, 3].iloc[0] == 5
        assert "decimal comma (like “7,4”)" in table.checks[-1].message
    # A comma-separated file keeps its commas as separators, and points stay decimal points.
    assert read_upload("plain.csv", b"a,b\n1.5,x\n2.5,y\n", workspace).frame["a"].tolist() == [1.5, 2.5]


def test_renamed_to_tsv_it_reads_the_same_rows(workspace):
    raw = sms_collection(600)
    table = read_upload("SMSSpamCollection.tsv", raw, workspace)
    assert len(table.frame) == 600 and not table.header.has_header


def test_the_person_can_say_the_first_row_is_a_header_after_all(workspace):
    table = read_upload("SMSSpamCollection", sms_collection(600), workspace, header=True)
    assert len(table.frame) == 599
    assert list(table.frame.columns) == ["ham", sms_lines(600)[0][1]]
    assert header_note(table) == "As you chose, the first row holds the column names."
    table = read_upload("SMSSpamCollection", sms_collection(600), workspace, header=False)
    assert header_note(table).startswith("As you chose, the first row is data like the others.")


def test_sms_rows_drop_only_what_is_said_and_the_imbalance_is_warned(workspace):
    table = read_upload("SMSSpamCollection", sms_collection(600), workspace)
    text_column, label_column = guess_columns(table.frame)
    assert (text_column, label_column) == ("column 2", "column 1")
    checked = check_classification(table.frame, text_column, label_column)
    assert checked.ok
    assert "3 exact duplicate rows were left out" in " ".join(c.message for c in checked.checks)
    assert len(checked.frame) == 597
    [warning] = class_balance_checks(checked.frame["label"].value_counts().to_dict(), "text")
    assert "87.3 % of the texts are “ham”" in warning.message
    assert "A model that always answers “ham”, without looking, is right 87.3 % of the time" in warning.message
    assert "macro-F1, a score from 0 to 1 that averages how well each class is found" in warning.message


# ---------------------------------------------------------------------------------------------------- guessing


@pytest.mark.parametrize("rows, has_header, because", [
    ([["text", "label"], ["a lovely film", "pos"], ["far too long", "neg"], ["great", "pos"]], True,
     "“text” and “label” are usual column names"),
    ([["a", "b"], ["1", "0"], ["2", "1"], ["3", "0"]], True, "“a” and “b” are words above columns of numbers"),
    ([["1", "2"], ["3", "4"], ["5", "6"]], False, "“1” and “2” are numbers, like the values below them"),
    ([["review"], ["a lovely film"], ["far too long"]], True, "“review” is a usual column name"),
    ([["I laughed from the first minute to the very last one"], ["Dull"], ["Loved it"]], False,
     "is as long as a text, not a column name"),
    ([["spam", "Win a prize"], ["ham", "hi"], ["ham", "ok"], ["spam", "Free"], ["ham", "yes"]], False,
     "“spam” appears again below it"),
    ([["verdict", "comment"], ["good", "nice"], ["bad", "meh"], ["good", "fine"], ["good", "great"]], True,
     "“verdict” is not one of the values below it"),
    ([["only one row"]], True, "single row"),
])
def test_the_first_row_is_judged_column_by_column(rows, has_header, because):
    guess = guess_header(rows)
    assert guess.has_header is has_header
    assert because in guess.reason


def test_real_headers_are_kept(workspace):
    sst2 = read_upload("dev.tsv", shared_dataset("sst2/dev.tsv").read_bytes(), workspace)
    assert sst2.header.has_header and list(sst2.frame.columns) == ["sentence", "label"]
    titanic = read_upload("titanic.csv", shared_dataset("titanic.csv").read_bytes(), workspace)
    assert titanic.header.has_header and "Survived" in titanic.frame.columns and len(titanic.frame) == 891


def test_a_numbers_only_file_and_a_one_column_file(workspace):
    numbers = read_upload("measures.csv", b"1,2\n3,4\n5,6\n", workspace)
    assert list(numbers.frame.columns) == ["column 1", "column 2"] and len(numbers.frame) == 3
    named = read_upload("measures.csv", b"a,b\n1,2\n3,4\n", workspace)
    assert list(named.frame.columns) == ["a", "b"] and len(named.frame) == 2
    sentences = b"I laughed from the first minute to the very last one\n\"A waste of a whole evening, sadly\"\n"
    one = read_upload("notes.csv", sentences, workspace)
    assert one.frame["column 1"].tolist() == ["I laughed from the first minute to the very last one",
                                              "A waste of a whole evening, sadly"]
    assert any("Only one column" in c.message for c in one.checks)


@pytest.mark.parametrize("content, extension, reader", [
    (b'[{"text": "great", "label": "pos"}]', ".json", "JSON"),
    (b'{"text": "great", "label": "pos"}\n{"text": "awful", "label": "neg"}\n', ".jsonl", "JSON Lines"),
    (b"__label__pos great film\n__label__neg awful\n", ".txt", "TXT (fastText labels)"),
    (b"great film\nawful\nfine, I suppose\n", ".txt", "TXT"),
    (b"text;label\ngreat;pos\nawful;neg\n", ".csv", "CSV"),
])
def test_a_file_without_extension_is_read_by_its_content(content, extension, reader, workspace):
    assert guess_format(content.decode()).extension == extension
    table = read_upload("export", content, workspace)
    assert table.file_format == reader
    assert any("it has no extension" in c.message for c in table.checks)


def test_parquet_and_binary_files_are_known_by_their_first_bytes(workspace):
    buffer = io.BytesIO()
    pd.DataFrame({"text": ["great", "awful"], "label": ["pos", "neg"]}).to_parquet(buffer)
    assert read_upload("data.bin", buffer.getvalue(), workspace).file_format == "Parquet"
    with pytest.raises(DataError, match="binary"):
        read_upload("Book1", b"PK\x03\x04\x14\x00\x06\x00xl/workbook.xml", workspace)


def test_rows_that_span_lines_are_said(workspace):
    raw = b'text,label\n"a film\nover two lines",pos\nshort,neg\n"another\none",pos\n'
    table = read_upload("reviews.csv", raw, workspace)
    assert table.frame["text"].tolist() == ["a film\nover two lines", "short", "another\none"]
    [note] = table.checks
    assert note.level == "info" and "5 lines of data but 3 rows" in note.message and "line 2" in note.message


# ---------------------------------------------------------------------------------------------------- news


def test_news_labelled_1_to_4_get_names_and_two_text_columns(workspace):
    table = read_upload("train.csv", news_csv(60), workspace)
    assert not table.header.has_header and list(table.frame.columns) == ["column 1", "column 2", "column 3"]
    columns = TextColumns(("column 2", "column 3"), "column 1", ". ")
    checked = check_classification(table.frame, list(columns.text), columns.label, joiner=columns.joiner)
    assert checked.ok and checked.labels == ["1", "2", "3", "4"]
    first = table.frame.iloc[0]
    assert checked.frame["text"].iloc[0] == f"{first['column 2']}. {first['column 3']}"

    names = names_in_order(read_class_names(CLASSES_TXT.encode()), natural_order(checked.frame["label"]))
    assert names == {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
    train, validation = split_train_validation(checked.frame, 0.2)
    saved = save_text_classification(workspace, "news", train, validation, "CSV", checked.checks, columns=columns,
                                     class_names=names)
    assert saved.info.labels == list(NEWS_CLASSES)  # in label order, 1 → World, not alphabetical
    assert default_label_words(saved.info.labels) == {  # the Prompt lab's starting label words
        "World": "world", "Sports": "sports", "Business": "business", "Sci/Tech": "sci/tech"}
    info = json.loads((saved.folder / "dataset.json").read_text())
    assert info["details"] == {"text_columns": ["column 2", "column 3"], "joined_with": ". ",
                               "label_column": "column 1", "class_names": names}
    saved_train, saved_validation = saved.frames()
    assert set(saved_train["label"]) == set(saved_validation["label"]) == set(NEWS_CLASSES)


def test_class_names_are_checked():
    assert natural_order(["10", "2", "1", "spam", "Ham"]) == ["1", "2", "10", "Ham", "spam"]
    with pytest.raises(DataError, match="has 4 names but the labels have 3 values"):
        names_in_order(list(NEWS_CLASSES), ["1", "2", "3"])
    with pytest.raises(DataError, match="“World” names two classes"):
        checked_names({"1": "World", "2": "World"})
    assert checked_names({"1": "World", "2": "  ", "3": None}) == {"1": "World", "2": "2", "3": "3"}
    with pytest.raises(DataError, match="no names"):
        read_class_names(b"\n  \n")


def test_the_models_classes_follow_the_names(workspace):
    """The model is built from the dataset's classes, in their order: naming them names its outputs (id2label)."""
    from core.config.train_config import ModelSpec
    from core.tasks.text_classification.models import build_classifier, train_wordpiece_tokenizer

    rows = pd.DataFrame({"text": [f"text number {i}" for i in range(40)], "label": [str(1 + i % 2) for i in range(40)]})
    train, validation = split_train_validation(check_classification(rows, "text", "label").frame, 0.25)
    saved = save_text_classification(workspace, "named", train, validation, "test", [],
                                     class_names={"1": "negative", "2": "positive"})
    assert saved.info.details["class_names"] == {"1": "negative", "2": "positive"}
    tokenizer = train_wordpiece_tokenizer(train["text"].tolist(), vocab_size=60)
    model = build_classifier(ModelSpec(source="scratch", name="bag_of_embeddings"), saved.info.labels, tokenizer, 16)
    assert model.config.id2label == {0: "negative", 1: "positive"}


# ---------------------------------------------------------------------------------------------------- classes


def test_tiny_and_uneven_classes_are_warned_in_plain_words():
    uneven, tiny = class_balance_checks(WINE_QUALITY_COUNTS)
    assert "42.6 % of the rows are “5”" in uneven.message
    assert tiny.message.startswith("Classes “3” (10 rows) and “8” (18 rows) are tiny")
    assert class_balance_checks({"cats": 50, "dogs": 45}, "image") == []
    [one] = class_balance_checks({"cats": 50, "dogs": 45, "owls": 12}, "image")
    assert one.message.startswith("Class “owls” (12 images) is tiny")


# ---------------------------------------------------------------------------------------------------- the Data page


def data_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/data.py")
    return at.run()


def shown(elements) -> str:
    """What the page shows, as a person reads it: Markdown's escapes taken out."""
    return " ".join(str(e.value) for e in elements).replace("\\", "").replace("\u2060", "")


def test_the_data_page_takes_the_sms_file_as_it_is_and_the_first_row_can_change(workspace):
    at = data_page()
    at.file_uploader(key="data_text_file").set_value(("SMSSpamCollection", sms_collection(600),
                                                      "application/octet-stream")).run()
    assert not at.exception
    assert "600 rows · 2 columns · read as TSV" in shown(at.caption)
    assert "The first row was read as data, not as column names" in shown(at.info)
    assert "2 rows would have vanished" not in shown(at.warning) and "10 rows would have vanished" in shown(at.warning)
    assert "87.3 % of the texts are “ham”" in shown(at.warning)
    [first_row] = at.toggle
    assert first_row.label == "The first row holds the column names" and first_row.value is False

    first_row.set_value(True).run()  # one click reads the file again with the first row as names
    assert "599 rows · 2 columns" in shown(at.caption)
    assert "As you chose, the first row holds the column names." in shown(at.info)
    at.toggle[0].set_value(False).run()
    assert "600 rows · 2 columns" in shown(at.caption)
    assert "As you chose, the first row is data like the others." in shown(at.info)

    at.text_input(key="data_text_name").set_value("sms").run()
    at.button(key="data_text_save").click().run()
    info = json.loads((workspace.datasets / "sms" / "dataset.json").read_text())
    assert info["train_rows"] + info["validation_rows"] == 597  # 600 lines less the 3 duplicates it said
    assert info["labels"] == ["ham", "spam"]
    assert any("87.3 % of the texts" in check["message"] for check in info["checks"])
    assert info["details"] == {"text_columns": ["column 2"], "label_column": "column 1"}


def test_the_data_page_joins_title_and_description_and_names_the_classes_from_a_file(workspace):
    at = data_page()
    at.file_uploader(key="data_text_file").set_value(("train.csv", news_csv(30), "text/csv")).run()
    assert not at.exception
    text_box, label_box = at.selectbox
    assert label_box.value == "column 1"
    text_box.set_value("column 2").run()  # the title first…
    assert "column 3 also holds text" in shown(at.caption)
    at.multiselect[0].set_value(["column 3"]).run()  # …then the description
    assert "Each text is column 2 + column 3, joined with a full stop and a space (“. ”)" in shown(at.caption)
    assert "The first row was read as data, not as column names" in shown(at.info)  # a guess, still, not a choice

    assert "Name the classes: they are numbers" in [e.label for e in at.expander]
    classes_file = at.file_uploader[1]
    classes_file.set_value(("classes.txt", CLASSES_TXT.encode(), "text/plain")).run()
    names = [box for box in at.text_input if box.key != "data_text_name"]
    assert [box.value for box in names] == list(NEWS_CLASSES)
    names[3].set_value("Science and technology").run()  # typed over the file's name, and kept
    assert "Saved as: 1 → World, 2 → Sports, 3 → Business, 4 → Science and technology" in shown(at.caption)

    at.text_input(key="data_text_name").set_value("news").run()
    at.button(key="data_text_save").click().run()
    assert not at.exception
    info = json.loads((workspace.datasets / "news" / "dataset.json").read_text())
    assert info["labels"] == ["World", "Sports", "Business", "Science and technology"]
    assert info["details"] == {"text_columns": ["column 2", "column 3"], "joined_with": ". ",
                               "label_column": "column 1",
                               "class_names": {"1": "World", "2": "Sports", "3": "Business",
                                               "4": "Science and technology"}}


def test_a_classes_file_that_does_not_fit_is_said_and_nothing_is_renamed(workspace):
    at = data_page()
    at.file_uploader(key="data_text_file").set_value(("train.csv", news_csv(30), "text/csv")).run()
    at.file_uploader[1].set_value(("classes.txt", b"World\nSports\n", "text/plain")).run()
    assert "The classes file has 2 names but the labels have 4 values (1, 2, 3, 4)" in shown(at.error)
    assert [box.value for box in at.text_input if box.key != "data_text_name"] == [""] * 4
    at.text_input[0].set_value("Sports").run()
    at.text_input[1].set_value("Sports").run()
    assert "“Sports” names two classes (1 and 2)" in shown(at.error)
    assert "data_text_save" not in [button.key for button in at.button]  # nothing is saved with a name twice


# ---------------------------------------------------------------------------------------------------- the Runs page


def test_the_majority_score_stands_beside_every_accuracy(workspace):
    from core.config.presets import default_config
    from core.engine.baselines import chance_rung, ladder, majority_rung, model_rung
    from core.engine.run_table import headline_text, run_row
    from core.engine.run_table import majority_rung as majority_of
    from tests.pages.test_eval_views import classification_report, finished_run, open_run, table_with
    from ui.runs.compare_views import final_scores

    labels = ["ham"] * 876 + ["spam"] * 124
    report = classification_report([{"text": t} for t in "abcd"]) | {"accuracy": 0.912, "macro_f1": 0.74}
    report["ladder"] = ladder("accuracy", [chance_rung(["ham", "spam"]), majority_rung(labels, labels),
                                           model_rung(0.912, 30.0, "accuracy")], 4000, 1000)
    config = default_config("text-classification", "sms", source="scratch")
    run = finished_run(workspace, config, report, "eval_accuracy", [0.9, 0.912],
                       {"accuracy": 0.912, "macro_f1": 0.74})
    assert run_row(run)["majority"] == 0.876
    assert headline_text(run.status.headline, majority_of(run.evaluation)) == (
        "Validation: accuracy 91.2 % (always answering “ham” gets 87.6 %), macro-F1 0.74.")

    at = open_run(run.id)
    row = table_with(at, "score", "majority").iloc[0]
    assert (row["score"], row["majority"]) == ("91.2 %", "87.6 %")  # percentages, as the Evaluation tab says
    assert final_scores([run])[0] == {"run": run.id, "task": "text-classification", "state": "completed",
                                      "accuracy": 0.912, "always the most common": 0.876, "macro_f1": 0.74}
    metrics = {m.label: m for m in at.metric}
    assert metrics["Always the most common class"].value == "87.6%"
    assert metrics["Accuracy"].proto.delta == "+3.6 points"
    assert "how many points above (or below) always answering the most common class" in metrics["Accuracy"].proto.help
    assert "averages how well each class is found" in metrics["Macro-F1"].proto.help


def test_the_table_page_warns_about_wine_qualitys_tiny_classes(workspace):
    rng = np.random.default_rng(0)
    quality = np.repeat([int(q) for q in WINE_QUALITY_COUNTS], list(WINE_QUALITY_COUNTS.values()))
    wine = pd.DataFrame({"alcohol": rng.normal(10.4, 1.0, len(quality)).round(1),
                         "acidity": rng.normal(8.3, 1.7, len(quality)).round(1), "quality": quality})
    at = data_page()
    at.segmented_control(key="data_kind").set_value("A table (predict a column)").run()
    at.file_uploader(key="data_table_file").set_value(("winequality-red.csv", wine.to_csv(index=False).encode(),
                                                       "text/csv")).run()
    assert not at.exception
    assert "1,599 rows · 3 columns" in shown(at.caption)
    warnings = shown(at.warning)
    assert "Classes “3” (10 rows) and “8” (18 rows) are tiny" in warnings
    assert "42.6 % of the rows are “5”" in warnings


def test_the_images_page_warns_about_a_tiny_class(workspace):
    from PIL import Image

    def png(shade: int) -> bytes:
        buffer = io.BytesIO()
        Image.new("L", (12, 10), shade).save(buffer, format="PNG")
        return buffer.getvalue()

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for kind, count in (("cats", 30), ("dogs", 30), ("owls", 5)):
            for i in range(count):
                archive.writestr(f"pets/{kind}/{i}.png", png(i * 7 % 255))
    at = data_page()
    at.segmented_control(key="data_kind").set_value("Images in class folders").run()
    at.file_uploader(key="data_images_zip").set_value(("pets.zip", buffer.getvalue(), "application/zip")).run()
    assert not at.exception
    assert "Class “owls” (5 images) is tiny" in shown(at.warning)
