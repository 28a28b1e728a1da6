"""People on a hosted installation: who may sign in, where each person's things live, what they may do.

The boundary: this module decides (allow-lists, admins, quotas, path confinement, copying a team mate's run); it
knows nothing about how a person signed in, which is `ui.common.auth`'s job. On a local installation (`hosted` off)
there
is one person, "you", whose workspace is the data folder itself, so nothing changes for a single user.

    <data folder>/
        people/<person id>/       one workspace per person: datasets/, runs/, recipes…, person.json
        team/limits.json          the limits an admin set on the Team page (over the settings' defaults)
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from core.config.catalog import BUNDLED_PREFIX
from core.config.train_config import TrainConfig
from core.data.dataset_store import DatasetError, load_dataset_info
from core.engine.run_folder import (
    CONFIG_FILE,
    EVAL_FILE,
    LOG_FILE,
    METRICS_FILE,
    MODEL_DIR,
    read_json,
    write_json_atomic,
    write_status,
)
from core.engine.runs import Run, get_run, list_runs
from core.hosting.settings import Settings
from core.messages import PlainError, counted
from core.workspace import PROJECT_ROOT, Workspace, safe_name

PEOPLE_FOLDER = "people"
LIMITS_FILE = Path("team") / "limits.json"
PERSON_FILE = "person.json"
# A model id on the Hugging Face hub: "name" or "owner/name", nothing that walks folders.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
UNSAFE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".h5")
EMAIL = re.compile(r"^[^@\s]+@([A-Za-z0-9-]+\.)+[A-Za-z0-9-]+$")


class AccessError(PlainError):
    """Something a person may not do here; the message says why and what they can do instead."""


# ---------------------------------------------------------------------------------------------------- who


@dataclass(frozen=True)
class Person:
    identity: str  # the e-mail from the sign-in provider, or the name typed with the team password
    name: str  # what the pages call them
    is_admin: bool = False

    @property
    def id(self) -> str:
        """Their folder name: readable, and unique even when two identities clean up to the same letters."""
        if not self.identity:
            return "local"
        readable = safe_name(self.identity.lower().split("@")[0], "person")[:30]
        return f"{readable}-{hashlib.sha256(self.identity.lower().encode()).hexdigest()[:8]}"


LOCAL_PERSON = Person(identity="", name="you", is_admin=True)


def split_list(text: str) -> list[str]:
    """'a@x.org, b@y.org' → ['a@x.org', 'b@y.org'] (settings hold lists as comma-separated text)."""
    return [item.strip().lower() for item in re.split(r"[,\s;]+", text or "") if item.strip()]


def email_allowed(email: str, allowed_emails: str, allowed_domains: str) -> bool:
    """Exactly one of the listed addresses, or any address whose domain is exactly a listed domain.

    'evil-example.org' or 'example.org.evil.com' do not pass for 'example.org'; sub-domains must be listed too.
    An empty allow-list lets nobody in: a host who forgot it must not open the app to the whole internet.
    """
    email = (email or "").strip().lower()
    if not EMAIL.match(email):
        return False
    domain = email.rsplit("@", 1)[1]
    domains = [d.removeprefix("@") for d in split_list(allowed_domains)]
    return email in split_list(allowed_emails) or domain in domains


def is_admin(identity: str, settings: Settings) -> bool:
    return bool(identity) and identity.strip().lower() in split_list(settings.admins)


def person_for(identity: str, name: str, settings: Settings) -> Person:
    return Person(identity=identity.strip(), name=(name or identity).strip()[:60],
                  is_admin=is_admin(identity, settings))


def clean_typed_name(text: str) -> str:
    """The name a person types with the team password, or an AccessError saying what a name may be."""
    name = " ".join((text or "").split())
    if not 2 <= len(name) <= 60 or not re.search(r"[A-Za-z0-9]", name):
        raise AccessError("Type your name (2 to 60 characters), so your datasets and runs are kept apart from "
                          "everyone else's.")
    return name


# ---------------------------------------------------------------------------------------------------- the team


@dataclass(frozen=True)
class TeamRun:
    owner: str  # person id
    owner_name: str
    run: Run


@dataclass(frozen=True)
class Team:
    """Everyone on one installation: the data folder with a workspace per person."""

    root: Path

    def workspace_of(self, person: Person) -> Workspace:
        return Workspace((self.root / PEOPLE_FOLDER / person.id).resolve())

    def register(self, person: Person) -> Workspace:
        """Create their workspace on first sign-in and remember the name to show beside their runs."""
        workspace = self.workspace_of(person)
        workspace.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(workspace.root / PERSON_FILE, {"identity": person.identity, "name": person.name,
                                                         "last_seen": time.time()})
        return workspace

    def members(self) -> dict[str, str]:
        """person id → name, for everyone who has signed in at least once."""
        folder = self.root / PEOPLE_FOLDER
        if not folder.is_dir():
            return {}
        return {f.name: (read_json(f / PERSON_FILE, {}) or {}).get("name", f.name)
                for f in sorted(folder.iterdir()) if f.is_dir()}

    def runs(self) -> list[TeamRun]:
        """Every person's runs, newest first."""
        found = []
        for owner, name in self.members().items():
            workspace = Workspace(self.root / PEOPLE_FOLDER / owner)
            found += [TeamRun(owner, name, run) for run in list_runs(workspace)]
        return sorted(found, key=lambda item: item.run.id, reverse=True)

    def find_run(self, owner: str, run_id: str) -> TeamRun | None:
        members = self.members()
        if owner not in members:
            return None
        run = get_run(Workspace(self.root / PEOPLE_FOLDER / owner), run_id)
        return TeamRun(owner, members[owner], run) if run else None


def owner_of(run: Run) -> str | None:
    """The person id a run belongs to on a hosted installation (None for a local run)."""
    workspace = run.folder.parent.parent
    return workspace.name if workspace.parent.name == PEOPLE_FOLDER else None


# ---------------------------------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limits:
    """What one person may use. 0 means no limit."""

    max_live_runs: int = 0  # runs waiting or training at once
    max_upload_mb: int = 0
    max_epochs: float = 0.0
    max_steps: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) < 0:
                raise AccessError(f"{item.name.replace('_', ' ')} cannot be negative (0 means no limit).")


def current_limits(root: Path, settings: Settings) -> Limits:
    """The settings' limits, overridden by what an admin saved on the Team page."""
    saved = read_json(root / LIMITS_FILE, {}) or {}
    defaults = Limits.from_settings(settings)
    known = {f.name: type(getattr(defaults, f.name))(saved[f.name]) for f in fields(Limits) if f.name in saved}
    return replace(defaults, **known)


def save_limits(root: Path, limits: Limits) -> None:
    (root / LIMITS_FILE).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / LIMITS_FILE, asdict(limits))


def limit_problem(config: TrainConfig, limits: Limits, live_runs: int, train_rows: int | None) -> str | None:
    """Why this person may not start this run now, in plain words; None when they may."""
    if limits.max_live_runs and live_runs >= limits.max_live_runs:
        return (f"You already have {counted(live_runs, 'run')} waiting or training; the limit is "
                f"{limits.max_live_runs} per person. Wait for one to finish, or stop one on the Runs page.")
    if limits.max_epochs and config.epochs > limits.max_epochs and config.max_steps <= 0:
        return f"Runs here may train for at most {limits.max_epochs:g} epochs. Lower 'Epochs' to {limits.max_epochs:g}."
    steps = planned_steps(config, train_rows)
    if limits.max_steps and (steps is None or steps > limits.max_steps):
        planned = f"This run would take about {steps:,} steps; " if steps else ""
        return (f"{planned}runs here may train for at most {limits.max_steps:,} steps. Set 'Max steps' (under "
                f"'More settings') to {limits.max_steps:,} or less, or lower the epochs.")
    return None


def planned_steps(config: TrainConfig, train_rows: int | None) -> int | None:
    """Training steps the run will take: its max_steps, or rows ÷ batch size × epochs. None when that cannot be
    known before training (a language model's steps depend on how its text is tokenised)."""
    if config.max_steps > 0:
        return config.max_steps
    if train_rows is None or config.task == "text-generation":
        return None
    return math.ceil(math.ceil(train_rows / config.batch_size) * config.epochs)


def live_run_count(workspace: Workspace) -> int:
    return sum(1 for run in list_runs(workspace) if run.status.is_live)


def upload_problem(size_bytes: int, limits: Limits) -> str | None:
    if limits.max_upload_mb and size_bytes > limits.max_upload_mb * 2**20:
        return (f"The file is {size_bytes / 2**20:.1f} MB; files here may be at most {limits.max_upload_mb} MB. "
                "Upload a sample of it.")
    return None


# ---------------------------------------------------------------------------------------------------- paths and models


def confine(typed: str, workspace: Workspace) -> Path:
    """A path a person typed, resolved inside their workspace (relative to it), or an AccessError.

    Links are followed before the check, so a link inside the workspace cannot point out of it.
    """
    text = (typed or "").strip()
    if not text:
        raise AccessError("Type the path of a folder in your workspace.")
    candidate = Path(text).expanduser()
    resolved = (candidate if candidate.is_absolute() else workspace.root / candidate).resolve()
    if not resolved.is_relative_to(workspace.root.resolve()):
        raise AccessError(f"'{text}' is outside your workspace. Only folders inside it can be used here, for "
                          "example models/my-model.")
    return resolved


def model_folder_problem(folder: Path) -> str | None:
    """Only safetensors weights are ever loaded: a folder with pickled weights alone is refused, plainly."""
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        return f"The folder '{folder.name}' has no config.json, so it is not a saved model."
    files = [p for p in folder.rglob("*") if p.is_file()]
    if any(p.suffix == ".safetensors" for p in files):
        return None
    pickled = sorted(p.name for p in files if p.suffix.lower() in UNSAFE_WEIGHTS)
    if pickled:
        return (f"The folder '{folder.name}' holds its weights as {', '.join(pickled[:3])}: files that can run code "
                "when loaded, so they are never opened here. Save the model with safetensors "
                "(model.save_pretrained(folder, safe_serialization=True)) and use that folder.")
    return f"The folder '{folder.name}' has no .safetensors weights. Save the model with safetensors and try again."


def vet_model_name(name: str, workspace: Workspace, hosted: bool) -> str:
    """The model name to store in the config: bundled and hub ids as typed, folders checked (and, when hosted,
    confined to the person's workspace and written as an absolute path)."""
    if name.startswith(BUNDLED_PREFIX):
        return name
    typed = Path(name.strip()).expanduser()
    if hosted:
        in_workspace = workspace.root / typed
        # Anything that could be read as a folder (here or beside the code) is a path, and must stay inside.
        looks_local = typed.is_absolute() or in_workspace.exists() or in_workspace.is_symlink() \
            or (PROJECT_ROOT / typed).exists() or not HUB_ID.match(name.strip())
        if not looks_local:
            return name.strip()
        folder = confine(name, workspace)
    else:
        if not typed.is_dir():
            return name  # a hub id, or a folder that does not exist: the loader says so plainly
        folder = typed.resolve()
    if not folder.is_dir():
        raise AccessError(f"There is no folder '{name}' in your workspace.")
    problem = model_folder_problem(folder)
    if problem:
        raise AccessError(problem)
    return str(folder)


def vet_config(config: TrainConfig, workspace: Workspace, settings: Settings, limits: Limits) -> TrainConfig:
    """The config as it may be launched for this person, or an AccessError saying what to change."""
    problem = limit_problem(config, limits, live_run_count(workspace), _train_rows(workspace, config.dataset))
    if problem:
        raise AccessError(problem)
    if config.model.source != "pretrained":
        return config
    name = vet_model_name(config.model.name, workspace, settings.hosted)
    return config if name == config.model.name else replace(config, model=replace(config.model, name=name))


def _train_rows(workspace: Workspace, dataset: str) -> int | None:
    try:
        return load_dataset_info(workspace, dataset).info.train_rows
    except DatasetError:
        return None


# ---------------------------------------------------------------------------------------------------- copying


# config.json last: a run folder without it is no run, so a copy cut short is never listed as one.
COPIED_ITEMS = (METRICS_FILE, EVAL_FILE, LOG_FILE, MODEL_DIR, CONFIG_FILE)


def copy_run(source: TeamRun, into: Workspace) -> Run:
    """A finished team mate's run, copied into this workspace (with its dataset when this person lacks it).

    The copy has the run's settings, charts, evaluation and model, but no checkpoints: it can be compared,
    exported and tried in the Playground, and trained again from its settings, not resumed.
    """
    run = source.run
    problem = run.problem
    if problem:
        raise AccessError(f"This run's files are damaged ({problem}), so it cannot be copied.")
    status = run.status
    if status.is_live:
        raise AccessError("This run is still training. Copy it once it has finished.")
    target = into.runs / run.id
    suffix = 1
    while target.exists():
        suffix += 1
        target = into.runs / f"{run.id}-copy{suffix}"
    target.mkdir(parents=True)
    write_status(target, replace(status, pid=None, pid_created=None, copied_from=f"{source.owner_name} · {run.id}"))
    for item in COPIED_ITEMS:
        path = run.folder / item
        if path.is_dir():
            shutil.copytree(path, target / item, symlinks=False)
        elif path.is_file():
            shutil.copy2(path, target / item)
    _copy_dataset(run, into)
    return Run(target)


def _copy_dataset(run: Run, into: Workspace) -> None:
    dataset = run.folder.parent.parent / "datasets" / safe_name(run.config.dataset)
    if dataset.is_dir() and not (into.datasets / dataset.name).exists():
        shutil.copytree(dataset, into.datasets / dataset.name, symlinks=False)
