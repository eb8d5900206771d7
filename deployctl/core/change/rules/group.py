"""The group family: the apps of a co-deploy group change together within an env (group-incomplete).
Reads the changed files, the group's files in that env and the catalog."""

from __future__ import annotations

from deployctl.core.change.changes import FileChange, Op
from deployctl.core.change.rules.common import ERROR, violation_at
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.violations import Violation


def changed_apps(changes: list[FileChange], env: str) -> set[str]:
    """The apps whose deploy file in `env` the changes really change (a no-op changes nothing)."""
    return {c.app for c in changes if c.env == env and c.op is not Op.NOOP}


def group_missing(head: Snapshot, changes: list[FileChange], env: str, group: str) -> list[str]:
    """The members of `group` that `env` deploys and the changes leave as they are: the one judgement
    behind group-incomplete, and behind the note `bump` writes while a group is half done."""
    changed = changed_apps(changes, env)
    return [m for m in head.catalog.group_members(group) if m not in changed and head.tree.get(env, m) is not None]


def check_groups(head: Snapshot, changes: list[FileChange]) -> list[Violation]:
    """Apps of one co-deploy group change together within an env, or not at all."""
    found: list[Violation] = []
    for env in sorted({c.env for c in changes}):
        changed = changed_apps(changes, env)
        groups = {head.catalog.apps[a].group for a in changed if a in head.catalog.apps and head.catalog.apps[a].group}
        for group in sorted(g for g in groups if g):
            missing = group_missing(head, changes, env, group)
            if not missing:
                continue
            members = set(head.catalog.group_members(group))
            for c in changes:
                if c.env == env and c.app in members and c.app in changed:
                    found.append(violation_at("group-incomplete", ERROR, c,
                                    f"'{c.app}' is in co-deploy group '{group}' with "
                                    f"{', '.join(missing)}, which this change leaves as they are "
                                    f"in '{env}'; deploy the whole group in one pull request "
                                    f"(prepend the matching commit to deploys/{env}/"
                                    + f", deploys/{env}/".join(missing) + ")"))
    return found
