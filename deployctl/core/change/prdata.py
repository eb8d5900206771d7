"""What a pull request changes, judged as data or code, for the trusted preview (`deployctl pr-data`).

The credentialed preview runs the BASE branch's workflow and tool on the PR's deploy data: the deploy
files (`deploys/**`), the catalog (`apps.yaml`) and the stack configs (`Pulumi.<env>.yaml`), read from
the PR's head commit as blobs. Anything else a PR changes (the program, `Pulumi.yaml`, the pin, the
workflows, any `.py`) is code: it never reaches a credential before a release manager approves.

A stack config is data only in the keys that say what to deploy: the `deploys:` namespace, `aws:region`
and the file-level `encryptionsalt`. A key that changes what runs or how secrets are read (a provider
endpoint, a plugin, `secretsprovider`, `encryptedkey`, any other namespace) is refused here when the PR
changes it. Pure: texts in, a verdict out.
"""

from __future__ import annotations

import posixpath
import re
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.catalog import CATALOG_FILE
from deployctl.core.repo.envconfig import PROJECT, is_secure
from deployctl.core.repo.model import DEPLOYS_DIR, NAME_RE
from deployctl.core.repo.snapshot import env_of_stack_file

DATA_CONFIG_KEYS = frozenset({"aws:region"})
"""Stack-config keys outside the `deploys:` namespace that are data: where the AWS apps deploy."""
DATA_FILE_KEYS = frozenset({"config", "encryptionsalt"})
"""Top-level keys of `Pulumi.<env>.yaml` a data PR may change (`encryptionsalt` is the passphrase's
check value: a PR cannot learn or change the passphrase through it)."""
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\\]")


class Verdict(StrEnum):
    DATA = "data"
    """Every changed path is deploy data and every stack-config change is to a data key."""
    CODE = "code"
    """The PR changes code (or a path or key that is not data): its credentialed preview waits."""


class EntryMode(StrEnum):
    FILE = "file"
    DELETED = "deleted"
    SYMLINK = "symlink"
    SUBMODULE = "submodule"
    OTHER = "other"


def entry_mode(git_mode: str) -> EntryMode:
    """A git tree mode (`git diff --raw`'s new mode) as what it is."""
    return {"100644": EntryMode.FILE, "100755": EntryMode.FILE, "000000": EntryMode.DELETED,
            "120000": EntryMode.SYMLINK, "160000": EntryMode.SUBMODULE}.get(git_mode, EntryMode.OTHER)


class Refusal(LazyModel):
    """One reason the PR is not data-only: a path, or a key of a stack config, and why."""

    model_config = ConfigDict(frozen=True)

    path: str
    key: str | None = None
    message: str


class HealthCommand(LazyModel):
    """A health `command` a PR adds or changes: `up` runs it through a shell on the deploy runner."""

    model_config = ConfigDict(frozen=True)

    path: str
    app: str
    command: str
    """As written, or `[secret]` when it is stored encrypted."""
    was: str | None = None

    def text(self) -> str:
        before = f" (was: {self.was})" if self.was is not None else ""
        return f"{self.path}: app '{self.app}' health command, run by `up` on the deploy runner: {self.command}{before}"


class PrData(LazyModel):
    """The verdict on a PR: its data files (to write from the head commit) or why it is code."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    changed: list[str] = []
    """Every path the PR changes (from the merge base to its head)."""
    written: list[str] = []
    """Data files written from the head commit's blobs (only when the verdict is data)."""
    deleted: list[str] = []
    """Data files the PR deletes, removed from the base checkout (only when the verdict is data)."""
    refused: list[Refusal] = []
    health_commands: list[HealthCommand] = []
    """What a reviewer must see although it is data: each health `command` added or changed."""

    @property
    def notes(self) -> list[str]:
        return [h.text() for h in self.health_commands]

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.DATA


def data_path_problem(path: str) -> str | None:
    """Why `path` (repo-relative, `/`-separated, as git lists it) is not deploy data; None when it is.

    Data is `apps.yaml` and `Pulumi.<env>.yaml` at the root, and anything inside `deploys/`; a path that
    is not normalised (`..`, `.`, `//`, a backslash or a control character) is never data."""
    if not path or _CONTROL_RE.search(path) or path.startswith("/") or posixpath.normpath(path) != path:
        return "is not a plain relative path"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "is not a plain relative path"
    if any(part.lower().rstrip(". ") == ".git" for part in path.split("/")):
        return "is inside a `.git` folder (git's own files: config and hooks run code)"
    if path == CATALOG_FILE:
        return None
    env = env_of_stack_file(path)
    if env is not None:
        return None if NAME_RE.match(env) else f"names env '{env}', which is not an env name ({NAME_RE.pattern})"
    if path.startswith(DEPLOYS_DIR + "/") and len(path) > len(DEPLOYS_DIR) + 1:
        return None
    return (f"is code, not deploy data (data is {DEPLOYS_DIR}/**, {CATALOG_FILE} and Pulumi.<env>.yaml at the "
            "root): its credentialed preview waits for a release manager's approval")


def _stack_keys(data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(top-level keys, config keys) of a parsed stack config; anything not a mapping is empty."""
    top = data if isinstance(data, dict) else {}
    config = top.get("config") if isinstance(top.get("config"), dict) else {}
    return {str(k): v for k, v in top.items()}, {str(k): v for k, v in (config or {}).items()}


def is_data_config_key(key: str) -> bool:
    namespace, _, name = key.partition(":")
    return (namespace == PROJECT and bool(name)) or key in DATA_CONFIG_KEYS


def stack_config_refusals(path: str, base: Any, head: Any) -> list[Refusal]:
    """The keys a PR changes (adds, edits or removes) in `Pulumi.<env>.yaml` that are not data.

    `base` and `head` are the file parsed (None: absent). A key that is not data but unchanged was
    reviewed when it merged, so it passes."""
    base_top, base_config = _stack_keys(base)
    head_top, head_config = _stack_keys(head)
    if head is not None and not isinstance(head, dict):
        return [Refusal(path=path, message="is not a mapping of stack settings")]
    if "config" in head_top and not isinstance(head_top["config"], dict | None):
        return [Refusal(path=path, key="config", message="'config' is not a mapping")]
    out: list[Refusal] = []
    for key in sorted(set(base_top) | set(head_top)):
        if key not in DATA_FILE_KEYS and base_top.get(key, _ABSENT) != head_top.get(key, _ABSENT):
            why = ("changes how the stack's secrets are read (the secrets provider or its key)"
                   if key in ("secretsprovider", "encryptedkey") else "is not a deploy-data setting")
            out.append(Refusal(path=path, key=key, message=f"'{key}' {why}: only a release manager may approve it"))
    for key in sorted(set(base_config) | set(head_config)):
        if not is_data_config_key(key) and base_config.get(key, _ABSENT) != head_config.get(key, _ABSENT):
            out.append(Refusal(path=path, key=key, message=(
                f"'{key}' is not deploy data (data is '{PROJECT}:*' and {', '.join(sorted(DATA_CONFIG_KEYS))}): "
                "it can change what runs (a provider endpoint, a plugin, another namespace), so only a "
                "release manager may approve it")))
    return out


_ABSENT = object()


def _health_commands(settings: Any) -> dict[str, Any]:
    """app -> its health `command` (as written: a string, or `{secure: ...}`) in a settings map."""
    out: dict[str, Any] = {}
    if not isinstance(settings, dict):
        return out
    for app, value in settings.items():
        health = value.get("health") if isinstance(value, dict) else None
        if isinstance(health, dict) and "command" in health:
            out[str(app)] = health["command"]
    return out


def _shown(command: Any) -> str:
    if is_secure(command):
        return "[secret]"
    return " ".join(str(command).split())


def health_command_changes(path: str, base: dict[str, Any], head: dict[str, Any]) -> list[HealthCommand]:
    """Each app whose health `command` the PR adds or changes (a secret one is named, never shown)."""
    return [HealthCommand(path=path, app=app, command=_shown(command),
                          was=_shown(base[app]) if app in base else None)
            for app, command in sorted(head.items()) if base.get(app, _ABSENT) != command]


def stack_health_commands(data: Any) -> dict[str, Any]:
    _, config = _stack_keys(data)
    return _health_commands(config.get(f"{PROJECT}:settings"))


def catalog_health_commands(data: Any) -> dict[str, Any]:
    apps = data.get("apps") if isinstance(data, dict) else None
    if not isinstance(apps, dict):
        return {}
    return _health_commands({name: (app or {}).get("settings") if isinstance(app, dict) else None
                             for name, app in apps.items()})
