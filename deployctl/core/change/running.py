"""What runs, as the base a deploy is judged against: a retry, a dispatch and a merge's `up` are one
judgement, from what runs to what will run.

The change rules (freeze window, co-deploy group, promotion order, backward deploy, history) compare a
base with the head. A deploy changes what runs, not what the base file said: a merge whose `up` was
refused leaves its line in git, and a later `up` without --base would otherwise see no change at all.
So `running_base` builds the base from Pulumi's record (each stack's `deployed` output): each app's
file as it stood when the commit that runs was on top. Pure: the commands read the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deployctl.core.repo.model import (
    HASH_RE,
    DeployFile,
    DeployFileError,
    DeployLine,
    deploy_path,
    parse_deploy_file,
    same_commit,
)
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.repo.tree import DeployTree

Deployed = Mapping[str, Mapping[str, str]]
"""Env -> app -> the commit Pulumi's record says runs there. An env Pulumi has no record of (its
stack never deployed) is absent: it is judged against the reference, as git says."""


@dataclass(frozen=True)
class Running:
    """What runs (`deployed`) and the envs whose changes are judged against it (`envs`: the stacks
    being deployed or checked). An env only read for its record (the env another promotes from, for
    promotion-order) is in `deployed` but not in `envs`: its own pending changes are not judged."""

    deployed: Deployed
    envs: frozenset[str] = field(default_factory=frozenset)


def deployed_commits(outputs: Mapping[str, Any] | None) -> dict[str, str] | None:
    """App -> commit from a stack's outputs (its `deployed` output, as the program exports it); None
    when the stack has no such record (never deployed, or no outputs)."""
    deployed = (outputs or {}).get("deployed")
    if not isinstance(deployed, Mapping):
        return None
    return {str(app): commit for app, entry in deployed.items()
            if isinstance(entry, Mapping) and isinstance(commit := entry.get("commit"), str) and HASH_RE.match(commit)}


def _naming(file: DeployFile | None, commit: str) -> DeployLine | None:
    """The newest line of `file` naming `commit` (a prefix of it, or it of the line)."""
    if file is None:
        return None
    return next((line for line in (file.current, *file.history) if same_commit(line.commit, commit)), None)


def _from_line(file: DeployFile, raw: bytes, line: DeployLine) -> tuple[DeployFile, bytes]:
    """The file as it stood when `line` was on top: its bytes from that line on."""
    data = b"\n".join(raw.split(b"\n")[line.line - 1:])
    try:
        return parse_deploy_file(file.env, file.app, data), data
    except DeployFileError:  # cannot happen for a suffix of a parsed file; be safe
        return _unnamed(file.env, file.app, line.commit)


def _unnamed(env: str, app: str, commit: str) -> tuple[DeployFile, bytes]:
    """What runs, when no deploy file names it (a deploy by hand, or a head that dropped its line):
    one line, so a head file without it is judged as history rewritten (the line that runs is gone)."""
    data = f"{commit}\n".encode()
    return parse_deploy_file(env, app, data), data


def as_it_ran(env: str, app: str, commit: str, reference: Snapshot, head: Snapshot) -> tuple[DeployFile, bytes]:
    """The deploy file (parsed, and its bytes) as it stood when `commit` ran on top of it.

    Its bytes are the reference's (the --base file) when the reference names what runs and the change
    touched the file, so history-rewritten judges exactly the reviewed change; else the file from the
    line that runs on (nothing above it was ever deployed)."""
    path = deploy_path(env, app)
    ref_file, ref_raw = reference.tree.files.get(path), reference.tree.raw.get(path)
    head_file, head_raw = head.tree.files.get(path), head.tree.raw.get(path)
    ref_line = _naming(ref_file, commit)
    touched = ref_raw is not None and ref_raw != head_raw
    if ref_file is not None and ref_raw is not None and ref_line is not None and touched:
        return _from_line(ref_file, ref_raw, ref_line)[0], ref_raw
    if head_file is not None and head_raw is not None and same_commit(head_file.commit, commit):
        return head_file, head_raw  # what runs is what the head says: no change
    for file, raw in ((head_file, head_raw), (ref_file, ref_raw)):
        if file is not None and raw is not None and (line := _naming(file, commit)) is not None:
            return _from_line(file, raw, line)
    return _unnamed(env, app, commit)


def running_base(reference: Snapshot, head: Snapshot, deployed: Deployed) -> Snapshot:
    """The reference (the --base snapshot, else the head itself) with each env Pulumi has a record of
    replaced by what runs there: an app the record lacks has no file (it does not run), every other
    app its file as it ran (`as_it_ran`). The catalog and stack configs stay the reference's."""
    files = {p: f for p, f in reference.tree.files.items() if f.env not in deployed}
    raw = {p: r for p, r in reference.tree.raw.items() if p.split("/")[1] not in deployed}
    for env, apps in deployed.items():
        for app, commit in apps.items():
            file, data = as_it_ran(env, app, commit, reference, head)
            files[file.path], raw[file.path] = file, data
    tree = DeployTree(envs=reference.tree.envs, files=files, raw=raw)
    return reference.model_copy(update={"tree": tree, "violations": (), "config_errors": ()})
