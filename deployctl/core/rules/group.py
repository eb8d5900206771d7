"""The group family: the apps of a co-deploy group change together within an env (group-incomplete).
Reads the changed files, the group's files in that env and the catalog."""

from __future__ import annotations

from deployctl.core.changes import FileChange, Op
from deployctl.core.rules.commit import ERROR, _v
from deployctl.core.snapshot import Snapshot
from deployctl.core.violations import Violation


def check_groups(head: Snapshot, changes: list[FileChange]) -> list[Violation]:
    """Apps of one co-deploy group change together within an env, or not at all."""
    found: list[Violation] = []
    changed = {(c.env, c.app) for c in changes if c.op is not Op.NOOP}
    for env in sorted({c.env for c in changes}):
        groups = {head.catalog.apps[a].group for (e, a) in changed
                  if e == env and a in head.catalog.apps and head.catalog.apps[a].group}
        for group in sorted(g for g in groups if g):
            present = [m for m in head.catalog.group_members(group)
                       if head.tree.get(env, m) is not None or (env, m) in changed]
            missing = [m for m in present if (env, m) not in changed]
            if not missing:
                continue
            for c in changes:
                if c.env == env and c.app in present and (env, c.app) in changed:
                    found.append(_v("group-incomplete", ERROR, c,
                                    f"'{c.app}' is in co-deploy group '{group}' with "
                                    f"{', '.join(missing)}, which this change leaves as they are "
                                    f"in '{env}'; deploy the whole group in one pull request "
                                    f"(prepend the matching commit to deploys/{env}/"
                                    + f", deploys/{env}/".join(missing) + ")"))
    return found
