"""The `deploys/` folder as data: which envs and apps exist, their parsed files, and what is malformed.

Pure over a list of entries, so a working tree and a git commit are read by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import ConfigDict, Field

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import (
    DEPLOYS_DIR,
    NAME_RULE,
    DeployFile,
    DeployFileError,
    is_valid_name,
    parse_deploy_file,
)
from deployctl.core.violations import Severity, Violation


class EntryKind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"


class Entry(LazyModel):
    """One path below `deploys/`, as the filesystem or git sees it."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: EntryKind
    data: bytes | None = None


class DeployTree(LazyModel):
    model_config = ConfigDict(frozen=True)

    envs: tuple[str, ...] = ()
    files: dict[str, DeployFile] = Field(default_factory=dict)
    raw: dict[str, bytes] = Field(default_factory=dict)
    violations: tuple[Violation, ...] = ()
    links: tuple[Violation, ...] = ()
    """`deploys` itself, or anything under it, as a symbolic link (`invalid-path`): the working tree
    follows a link that git records as one, so what the program would read is not what was reviewed,
    and nothing can be judged."""

    def get(self, env: str, app: str) -> DeployFile | None:
        return self.files.get(f"{DEPLOYS_DIR}/{env}/{app}")

    def in_env(self, env: str) -> list[DeployFile]:
        return sorted((f for f in self.files.values() if f.env == env), key=lambda f: f.app)


def _invalid(path: str, message: str, env: str | None = None, app: str | None = None) -> Violation:
    return Violation(
        rule="invalid-path", severity=Severity.ERROR, file=path, env=env, app=app, message=message
    )


def _what(kind: EntryKind) -> str:
    return {EntryKind.SYMLINK: "a symbolic link", EntryKind.FILE: "a file"}.get(kind, "not a folder")


def _hidden(name: str) -> bool:
    return name.startswith(".") and name not in (".", "..")


def build_tree(entries: Iterable[Entry]) -> DeployTree:
    """Sort entries below `deploys/` into envs, parsed files and violations."""
    envs: set[str] = set()
    files: dict[str, DeployFile] = {}
    raw: dict[str, bytes] = {}
    violations: list[Violation] = []
    links: list[Violation] = []

    for entry in sorted(entries, key=lambda e: e.path):
        parts = entry.path.split("/")
        if parts[0] != DEPLOYS_DIR:
            continue
        if len(parts) == 1 or entry.kind is EntryKind.SYMLINK:
            if (link := _link_problem(entry, parts)) is not None:
                links.append(link)
            continue
        if any(_hidden(p) for p in parts[1:]):
            continue
        env = parts[1]
        if len(parts) == 2:
            if (problem := _env_folder_problem(entry, env)) is not None:
                violations.append(problem)
            else:
                envs.add(env)
            continue
        if not is_valid_name(env) or len(parts) > 3:
            continue  # reported once, with its env folder or its nested folder
        app = parts[2]
        if (problem := _app_file_problem(entry, env, app)) is not None:
            violations.append(problem)
            continue
        data = entry.data or b""
        raw[entry.path] = data
        try:
            files[entry.path] = parse_deploy_file(env, app, data)
        except DeployFileError as exc:
            violations.append(exc.violation)
    return DeployTree(envs=tuple(sorted(envs)), files=files, raw=raw, violations=tuple(violations),
                      links=tuple(links))


def _link_problem(entry: Entry, parts: list[str]) -> Violation | None:
    """`deploys` itself that is no real folder, or a symbolic link anywhere under it: git lists a link
    where the working tree would follow it, so what is reviewed would not be what deploys."""
    if len(parts) == 1:
        if entry.kind is EntryKind.DIR:
            return None
        return _invalid(entry.path, f"'{DEPLOYS_DIR}' is {_what(entry.kind)}; it must be a real "
                        "folder in the repository, so what is reviewed is what deploys: replace "
                        "it with the folder itself")
    env = parts[1] if is_valid_name(parts[1]) else None
    app = parts[2] if len(parts) == 3 and is_valid_name(parts[2]) else None
    return _invalid(entry.path, f"'{entry.path}' is a symbolic link; nothing under {DEPLOYS_DIR}/ "
                    "may be a link, so what is reviewed is what deploys: replace it with the "
                    "file or folder itself", env, app)


def _env_folder_problem(entry: Entry, env: str) -> Violation | None:
    """What is wrong with an entry directly under deploys/ (None: a valid env folder)."""
    if entry.kind is not EntryKind.DIR:
        return _invalid(entry.path, f"'{entry.path}' is a {entry.kind} directly under deploys/; "
                        "deploy files live in deploys/<env>/<app>: move it into an env folder")
    if not is_valid_name(env):
        return _invalid(entry.path, f"environment folder '{env}' is not a valid name: "
                        f"{NAME_RULE}; rename the folder (and its Pulumi.<env>.yaml)")
    return None


def _app_file_problem(entry: Entry, env: str, app: str) -> Violation | None:
    """What is wrong with an entry in an env folder (None: a deploy file to parse)."""
    if entry.kind is EntryKind.DIR:
        return _invalid(entry.path, f"'{entry.path}' is a folder; deploys/<env>/ holds only one file "
                        "per app, no nested folders: move its files up or remove it", env, app)
    if entry.kind is EntryKind.OTHER:
        return _invalid(entry.path, f"'{entry.path}' is not a regular file (a device, pipe, socket "
                        "or submodule); remove it", env, app)
    if not is_valid_name(app):
        return _invalid(entry.path, f"app file name '{app}' is not a valid name: {NAME_RULE}; "
                        "rename the file to the app's name in apps.yaml", env, app)
    return None
