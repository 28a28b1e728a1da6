"""People on a hosted installation (core.hosting.people, limits, vetting): the allow-list, admins, per-person
workspaces, limits, typed paths confined to the workspace, safetensors-only model folders, and copying a team mate's
run."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core.config.presets import default_config
from core.engine.run_folder import update_status
from core.engine.run_status import RunState
from core.engine.runs import create_run, list_runs
from core.hosting.limits import Limits, current_limits, limit_problem, save_limits, upload_problem
from core.hosting.people import (
    LOCAL_PERSON,
    AccessError,
    Person,
    Team,
    clean_typed_name,
    copy_run,
    email_allowed,
    person_for,
)
from core.hosting.settings import Settings, load_settings
from core.hosting.vetting import confine, model_folder_problem, vet_config, vet_model_name
from core.workspace import Workspace
from tests.support.paths import ROOT

# ---------------------------------------------------------------------------------------------------- who may sign in


@pytest.mark.parametrize(("email", "allowed"), [
    ("ada@example.org", True),  # listed domain
    ("ADA@Example.ORG", True),  # case does not matter
    ("bob@partner.com", True),  # listed address
    ("carol@partner.com", False),  # same domain, address not listed
    ("eve@evil-example.org", False),  # a domain that merely ends like a listed one
    ("eve@example.org.evil.com", False),
    ("eve@sub.example.org", False),  # sub-domains must be listed themselves
    ("eve@example.org@evil.com", False),
    ("example.org", False),
    ("", False),
    ("eve @example.org", False),
])
def test_the_allow_list_admits_exactly_the_listed_addresses_and_domains(email, allowed):
    assert email_allowed(email, "bob@partner.com", "example.org, @lab.example.net") is allowed


def test_an_empty_allow_list_lets_nobody_in():
    assert not email_allowed("ada@example.org", "", "")


def test_admins_are_recognised_whatever_the_case():
    settings = Settings(admins="Boss@Example.org, Grace")
    assert person_for("boss@example.org", "", settings).is_admin
    assert person_for("grace", "Grace", settings).is_admin
    assert not person_for("ada@example.org", "Ada", settings).is_admin


def test_person_folders_are_distinct_even_when_names_clean_up_alike():
    ids = {Person(identity, "someone").id for identity in ("a.b@x.org", "a-b@x.org", "a@b-x.org", "A.B@X.org")}
    assert len(ids) == 3  # the last is the first with other capitals: the same person
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", i) for i in ids)
    assert LOCAL_PERSON.id == "local"


def test_a_person_keeps_the_folder_name_earlier_versions_gave_them():
    # Dataset names now keep letters of any script; person folders must not move, or José's runs would vanish.
    assert Person("josé@example.org", "José").id == "jos-" + hashlib.sha256(b"jos\xc3\xa9@example.org").hexdigest()[:8]


@pytest.mark.parametrize("typed", ["", " ", "x", "-- --", "a" * 61])
def test_a_typed_name_must_be_a_real_name(typed):
    with pytest.raises(AccessError, match="Type your name"):
        clean_typed_name(typed)


def test_hosting_is_off_by_default_and_set_by_the_environment():
    assert not load_settings({}, Path("/nonexistent.toml")).hosted
    settings = load_settings({"AI_PLAYGROUND_HOSTED": "true", "AI_PLAYGROUND_SIGN_IN": "oidc",
                              "AI_PLAYGROUND_ALLOWED_DOMAINS": "example.org"}, Path("/nonexistent.toml"))
    assert settings.hosted and settings.sign_in == "oidc" and settings.allowed_domains == "example.org"


# ---------------------------------------------------------------------------------------------------- workspaces


def test_each_person_gets_a_workspace_and_sees_the_teams_runs(tmp_path):
    team = Team(tmp_path)
    ada, bob = Person("ada@example.org", "Ada"), Person("bob@example.org", "Bob")
    ada_space, bob_space = team.register(ada), team.register(bob)
    assert ada_space.root != bob_space.root and ada_space.root.parent == bob_space.root.parent
    run = create_run(ada_space, default_config("text-classification", "cafe"))
    assert list_runs(bob_space) == []  # nothing leaks into Bob's own workspace
    assert [(r.owner_name, r.run.id) for r in team.runs()] == [("Ada", run.id)]
    assert team.find_run(ada.id, run.id).run == run
    assert team.find_run(ada.id, "../../" + bob.id) is None
    assert team.find_run("nobody", run.id) is None


def test_copying_a_finished_run_brings_its_results_and_dataset(tmp_path, sample_dataset):
    team = Team(tmp_path / "team")
    ada, bob = Person("ada@example.org", "Ada"), Person("bob@example.org", "Bob")
    ada_space, bob_space = team.register(ada), team.register(bob)
    # Ada's run uses the café dataset, prepared in her workspace.
    shutil.copytree(sample_dataset.folder, ada_space.datasets / "cafe")
    run = create_run(ada_space, default_config("text-classification", "cafe"))
    (run.model_dir).mkdir()
    (run.model_dir / "config.json").write_text("{}")
    (run.folder / "eval.json").write_text(json.dumps({"accuracy": 0.9}))
    (run.folder / "metrics.jsonl").write_text("".join(
        json.dumps({"step": step, "epoch": step / 10, "loss": 1.0 / step, "eval_accuracy": 0.5 + step / 100}) + "\n"
        for step in range(1, 21)))
    update_status(run.folder, state=RunState.RUNNING, pid=1)
    with pytest.raises(AccessError, match="still training"):
        copy_run(team.find_run(ada.id, run.id), bob_space)
    update_status(run.folder, state=RunState.COMPLETED, pid=None)

    copy = copy_run(team.find_run(ada.id, run.id), bob_space)
    assert copy.folder.parent == bob_space.runs and copy.has_model and copy.evaluation == {"accuracy": 0.9}
    assert copy.status.state is RunState.COMPLETED and "Ada" in copy.status.copied_from and copy.status.pid is None
    assert (bob_space.datasets / "cafe" / "dataset.json").is_file()
    assert not any(copy.folder.glob("checkpoints"))
    again = copy_run(team.find_run(ada.id, run.id), bob_space)
    assert again.folder != copy.folder  # a second copy never overwrites the first
    assert run.status.state is RunState.COMPLETED  # the original is untouched


# ---------------------------------------------------------------------------------------------------- limits


def test_limits_come_from_settings_and_an_admin_can_change_them(tmp_path):
    settings = Settings(max_live_runs=2, max_epochs=10.0)
    assert current_limits(tmp_path, settings) == Limits(max_live_runs=2, max_epochs=10.0)
    save_limits(tmp_path, Limits(max_live_runs=1, max_upload_mb=5, max_epochs=3.0, max_steps=500))
    assert current_limits(tmp_path, settings) == Limits(1, 5, 3.0, 500)
    with pytest.raises(AccessError, match="negative"):
        Limits(max_steps=-1)


def test_limits_refuse_too_many_runs_too_many_epochs_and_steps():
    config = default_config("text-classification", "cafe")
    assert limit_problem(config, Limits(), live_runs=50, train_rows=10_000) is None  # 0 = no limit
    assert "already have 2 runs" in limit_problem(config, Limits(max_live_runs=2), 2, 100)
    assert limit_problem(config, Limits(max_live_runs=2), 1, 100) is None
    assert "at most 1 epochs" in limit_problem(replace(config, epochs=3.0), Limits(max_epochs=1.0), 0, 100)
    assert limit_problem(replace(config, epochs=3.0, max_steps=20), Limits(max_epochs=1.0, max_steps=50), 0, 100) \
        is None  # max_steps decides when it is set
    message = limit_problem(replace(config, epochs=2.0, batch_size=10), Limits(max_steps=15), 0, 100)
    assert "about 20 steps" in message and "at most 15 steps" in message
    assert limit_problem(replace(config, epochs=1.0, batch_size=10), Limits(max_steps=15), 0, 100) is None
    assert "at most 15 steps" in limit_problem(replace(config, max_steps=16), Limits(max_steps=15), 0, None)


def test_upload_limit():
    assert upload_problem(10 * 2**20, Limits()) is None
    assert upload_problem(2 * 2**20, Limits(max_upload_mb=2)) is None
    assert "at most 2 MB" in upload_problem(2 * 2**20 + 1, Limits(max_upload_mb=2))


def test_vet_config_enforces_limits_where_runs_are_built(workspace, sample_dataset):
    config = replace(default_config("text-classification", "cafe", source="scratch"), epochs=5.0)
    settings = Settings(hosted=True)
    assert vet_config(config, workspace, settings, Limits()) == config
    with pytest.raises(AccessError, match="at most 2 epochs"):
        vet_config(config, workspace, settings, Limits(max_epochs=2.0))
    create_run(workspace, config)  # queued: counts as live
    with pytest.raises(AccessError, match="already have 1 run"):
        vet_config(config, workspace, settings, Limits(max_live_runs=1))


# ---------------------------------------------------------------------------------------------------- paths and models


def safetensors_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize("typed", ["../other-person/models/x", "/etc", "~/", "models/../../..", "/"])
def test_typed_paths_cannot_leave_the_workspace(workspace, typed):
    with pytest.raises(AccessError, match="outside your workspace"):
        confine(typed, workspace)


def test_a_link_inside_the_workspace_cannot_lead_out_of_it(workspace, tmp_path):
    outside = safetensors_folder(tmp_path / "elsewhere")
    workspace.models.mkdir(parents=True, exist_ok=True)
    (workspace.models / "sneaky").symlink_to(outside)
    with pytest.raises(AccessError, match="outside your workspace"):
        confine("models/sneaky", workspace)
    with pytest.raises(AccessError, match="outside your workspace"):
        vet_model_name("models/sneaky", workspace, hosted=True)


def test_model_folders_load_only_safetensors(tmp_path):
    good = safetensors_folder(tmp_path / "good")
    assert model_folder_problem(good) is None
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04")
    assert "can run code" in model_folder_problem(pickled)
    (tmp_path / "bare").mkdir()
    assert "no config.json" in model_folder_problem(tmp_path / "bare")


def test_hosted_model_names_stay_in_the_workspace(workspace, tmp_path):
    inside = safetensors_folder(workspace.models / "mine")
    assert vet_model_name("models/mine", workspace, hosted=True) == str(inside)
    assert vet_model_name(str(inside), workspace, hosted=True) == str(inside)
    assert vet_model_name("bundled:minilm-l6", workspace, hosted=True) == "bundled:minilm-l6"
    assert vet_model_name("distilbert/distilbert-base-uncased", workspace, hosted=True) == \
        "distilbert/distilbert-base-uncased"  # a hub id: downloaded, safetensors only
    elsewhere = safetensors_folder(tmp_path / "elsewhere")
    with pytest.raises(AccessError, match="outside your workspace"):
        vet_model_name(str(elsewhere), workspace, hosted=True)
    with pytest.raises(AccessError, match="no folder 'core' in your workspace"):
        vet_model_name("core", workspace, hosted=True)  # the app's own folders are not the person's
    # A local user may use any folder on their own machine, but still only with safetensors weights.
    assert vet_model_name(str(elsewhere), workspace, hosted=False) == str(elsewhere)
    (elsewhere / "model.safetensors").unlink()
    with pytest.raises(AccessError, match="no .safetensors"):
        vet_model_name(str(elsewhere), workspace, hosted=False)


def test_nothing_in_the_app_ever_trusts_remote_code():
    sources = [p for folder in ("core", "ui", "pages") for p in (ROOT / folder).rglob("*.py")]
    offenders = [p.name for p in sources if re.search(r"trust_remote_code\s*=\s*(?!False)", p.read_text())]
    assert offenders == []


# ---------------------------------------------------------------------------------------------- the pages (AppTest)

PAGES = ("home", "data", "train", "runs", "playground", "team")


@pytest.fixture(autouse=True)
def _restore_streamlit_options():
    # A hosted app hides error details and the developer menu for the whole server process: undo it after a test.
    from streamlit import config

    saved = {name: config.get_option(name) for name in ("client.showErrorDetails", "client.toolbarMode")}
    yield
    for name, value in saved.items():
        config.set_option(name, value)


def hosted_app(monkeypatch, sign_in: str = "password", person: Person | None = None, **settings: str):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("AI_PLAYGROUND_HOSTED", "true")
    monkeypatch.setenv("AI_PLAYGROUND_SIGN_IN", sign_in)
    for name, value in settings.items():
        monkeypatch.setenv(f"AI_PLAYGROUND_{name.upper()}", value)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["team_password"] = "s3cret"
    at.secrets["admin_password"] = "b0ss"
    if person is not None:
        at.session_state["auth_person"] = person
    return at


def shown(at) -> str:
    return " ".join(str(e.value) for kind in ("title", "error", "info", "success", "caption", "markdown")
                    for e in getattr(at, kind))


def test_a_local_user_signs_in_to_nothing_and_has_no_team_page(workspace):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception and at.title[0].value == "AI Playground"
    assert not any(t.label == "Team password" for t in at.text_input)
    with pytest.raises(Exception):  # noqa: B017 - AppTest says "page not found" in its own words
        at.switch_page("pages/team.py")


@pytest.mark.parametrize("page", PAGES)
def test_every_hosted_page_shows_only_the_sign_in(workspace, monkeypatch, page):
    at = hosted_app(monkeypatch).run()
    if page != "home":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Your name", "Team password"]
    assert [t.value for t in at.title] == ["AI Playground"]
    assert not at.dataframe and not at.file_uploader and not at.selectbox


@pytest.mark.parametrize(("user", "admitted"), [
    ({"is_logged_in": True, "email": "ada@example.org", "name": "Ada"}, True),
    ({"is_logged_in": True, "email": "eve@evil-example.org", "name": "Eve"}, False),
    ({"is_logged_in": True, "email": "ada@example.org", "email_verified": False}, False),
    ({"is_logged_in": False}, False),
])
def test_provider_sign_in_admits_only_the_allow_list(workspace, monkeypatch, user, admitted):
    at = hosted_app(monkeypatch, sign_in="oidc", allowed_domains="example.org")
    at.user = user
    at.run()
    assert not at.exception
    assert ("Train and try AI models" in shown(at)) is admitted
    if admitted:
        assert Team(workspace.root).members() == {Person("ada@example.org", "Ada").id: "Ada"}
    elif user["is_logged_in"]:
        assert "is not allowed into this app" in shown(at)
        assert at.button(key="auth_refused_sign_out")
    elif importlib.util.find_spec("authlib") is None:  # st.login cannot work: the host is told what to install
        assert 'pip install "streamlit[auth]"' in shown(at)
    else:
        at.button(key="auth_sign_in").click().run()  # no provider can be reached here: a plain message, no traceback
        assert not at.exception


def finished_run(space: Workspace, state: str = "completed"):
    run = create_run(space, replace(default_config("text-classification", "cafe", source="scratch"),
                                    model=replace(default_config("text-classification", "cafe").model,
                                                  source="scratch", name="bag_of_embeddings")))
    run.model_dir.mkdir()
    (run.model_dir / "config.json").write_text("{}")
    (run.model_dir / "model.safetensors").write_bytes(b"")
    (run.folder / "eval.json").write_text(json.dumps({"accuracy": 0.9}))
    (run.folder / "metrics.jsonl").write_text("".join(
        json.dumps({"step": step, "epoch": step / 10, "loss": 1.0 / step, "eval_accuracy": 0.5 + step / 100}) + "\n"
        for step in range(1, 21)))
    update_status(run.folder, state=RunState(state), message="Done." if state == "completed" else "Waiting to start.")
    return run


def test_a_team_mate_sees_a_run_read_only_and_copies_it(workspace, monkeypatch):
    team = Team(workspace.root)
    ada, bob = Person("ada", "Ada"), Person("bob", "Bob")
    ada_run = finished_run(team.register(ada))
    waiting = finished_run(team.register(ada), state="queued")
    bob_space = team.register(bob)
    at = hosted_app(monkeypatch, person=bob).run()
    at.switch_page("pages/team.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["person"]) == ["Ada", "Ada"] and set(table["run"]) == {ada_run.id, waiting.id}

    at.query_params["team_run"] = f"{ada.id}/{waiting.id}"
    at.run()
    assert not [b for b in at.button if b.label == "Stop"]  # not Bob's run, and Bob is no admin
    assert at.button(key="team_copy").disabled  # still waiting: nothing to copy yet

    at.query_params["team_run"] = f"{ada.id}/{ada_run.id}"
    at.run()
    at.button(key="team_copy").click().run()
    assert "Copied as" in shown(at)
    assert [r.id for r in list_runs(bob_space)] == [ada_run.id] and list_runs(bob_space)[0].has_model
    assert "Limits for everyone" not in shown(at)


def test_an_admin_stops_anyones_run_and_sets_the_limits(workspace, monkeypatch):
    team = Team(workspace.root)
    ada = Person("ada", "Ada")
    waiting = finished_run(team.register(ada), state="queued")
    at = hosted_app(monkeypatch, person=Person("grace", "Grace", is_admin=True)).run()
    at.switch_page("pages/team.py").run()
    at.query_params["team_run"] = f"{ada.id}/{waiting.id}"
    at.run()
    at.button(key="team_live_stop").click().run()
    assert not at.exception
    assert waiting.status.state is RunState.STOPPED

    at.number_input(key="team_limit_max_epochs").set_value(1.0)
    at.number_input(key="team_limit_max_upload_mb").set_value(1)
    at.button[-1].click().run()  # the form's "Save limits"
    assert "Saved." in shown(at)
    assert current_limits(workspace.root, Settings()) == Limits(max_upload_mb=1, max_epochs=1.0)


def test_limits_are_enforced_on_the_train_and_data_pages(workspace, monkeypatch, sample_dataset):
    team = Team(workspace.root)
    ada = Person("ada", "Ada")
    shutil.copytree(sample_dataset.folder, team.register(ada).datasets / "cafe")
    save_limits(workspace.root, Limits(max_epochs=1.0, max_upload_mb=1))
    at = hosted_app(monkeypatch, person=ada).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert "at most 1 epochs" in shown(at)
    assert not [b for b in at.button if b.label == "Start training"]

    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_text_file").set_value(("big.csv", b"text,label\n" + b"x,y\n" * 400_000, "text/csv"))
    at.run()
    assert "files here may be at most 1 MB" in shown(at)


def test_a_typed_model_folder_outside_the_workspace_is_refused_in_the_prompt_lab(workspace, monkeypatch, tmp_path):
    from ui.prompt_lab.models import OTHER

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text("{}")
    (elsewhere / "model.safetensors").write_bytes(b"")
    at = hosted_app(monkeypatch, person=Person("ada", "Ada")).run()
    at.switch_page("pages/prompt_lab.py").run()
    at.selectbox(key="prompt_model_choice").set_value(OTHER).run()
    at.text_input(key="prompt_model_other").input(str(elsewhere)).run()
    assert not at.exception
    assert "outside your workspace" in shown(at)
    assert not [b for b in at.button if b.key == "prompt_load"]
