"""People on a hosted installation: who may sign in, where each person's things live, and the team's runs.

The boundary: this module decides who someone is (allow-lists, admins, a typed name), gives each person a workspace
and lets them see and copy a team mate's run; it knows nothing about how a person signed in, which is
`ui.common.auth`'s job. What a person may use is `core.hosting.limits`; what they may launch, `core.hosting.vetting`.
On a local installation (`hosted` off) there is one person, "you", whose workspace is the data folder itself, so
nothing changes for a single user.

    <data folder>/
        people/<person id>/       one workspace per person: datasets/, runs/, recipes…, person.json
        team/limits.json          the limits an admin set on the Team page (over the settings' defaults)
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

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
from core.messages import PlainError
from core.workspace import Workspace, safe_name

PEOPLE_FOLDER = "people"
PERSON_FILE = "person.json"
EMAIL = re.compile(r"^[^@\s]+@([A-Za-z0-9-]+\.)+[A-Za-z0-9-]+$")


class AccessError(PlainError):
    """Something a person may not do here; the message says why and what they can do instead."""


# ---------------------------------------------------------------------------------------------------- who


_ASCII_RUNS = re.compile(r"[^a-z0-9._-]+")


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
        # Kept to ASCII on purpose, unlike dataset names: an existing installation's folders were named this way,
        # and a new rule would hand José an empty workspace beside his old one.
        readable = _ASCII_RUNS.sub("-", self.identity.lower().split("@")[0]).strip("-.")[:30] or "person"
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
