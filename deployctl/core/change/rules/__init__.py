"""The safeguards: what a tired reviewer misses, refused while the deploy is still a pull request.

One module per family (commit.py, change.py, group.py, artifact.py); check() runs them all.

Pure over snapshots and a `Commits` oracle (the app repositories' answers), so each rule reads
as its table row in the README. Rule ids are part of the interface; never rename one. Each rule's
family and the inputs it may read (with --base, only the changed, upstream and group deploy files are
loaded) are stated in deployctl/core/change/rules/registry.py: a new rule is registered there first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from deployctl.core.change.changes import FileChange, Op, file_changes
from deployctl.core.change.rules.change import ChangeFacts, check_change, multiple_new_lines
from deployctl.core.change.rules.commit import check_file, check_path
from deployctl.core.change.rules.common import Commits
from deployctl.core.change.rules.group import check_groups
from deployctl.core.change.running import Running, running_base
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.violations import Violation, sort_key

if TYPE_CHECKING:
    from deployctl.core.change.rules.artifact import Artifacts


PER_CHANGE = ("multiple-new-lines",)
"""Rules of one reviewed change (a PR adds one line per file): judged between base and head as git says,
never from what runs, where the lines of several merged changes that have not run yet stand together."""


def check(head: Snapshot, commits: Commits, base: Snapshot | None = None,
          at: datetime | None = None, artifacts: Artifacts | None = None,
          running: Running | None = None) -> list[Violation]:
    """Every violation, errors first. Without a base, each deploy file on its own; with one, each
    changed file and each change between base and head (every file when the catalog or a stack
    config changed). With `running` (what Pulumi runs), the changes in its envs are those from what
    runs to the head, judged by every rule (core/change/running.py): a deploy is judged from what runs to
    what will run, with or without a base. With `artifacts`, each commit
    being deployed (with a base: each created or updated file) must have its artifact built.
    """
    at = at or datetime.now(UTC)
    found: list[Violation] = list(head.all_violations())
    judged_base, changes = _judged_changes(head, base, running)
    every_file = base is None or _changed_configs(base, head)
    paths: set[str] | None = None if every_file else {c.path for c in changes}
    resolved: dict[str, str | None] = {}
    for f in sorted(head.tree.files.values(), key=lambda f: f.path):
        if paths is None or f.path in paths:
            file_found, resolved[f.path] = check_file(head, f, commits)
            found.extend(file_found)
            found.extend(check_path(head, f, resolved[f.path], commits))
    for c in changes:
        from_running = running is not None and c.env in running.envs
        found.extend(v for v in check_change(judged_base, head, c, resolved.get(c.path), commits, at)  # type: ignore[arg-type]  # changes: a base is set
                     if not (from_running and v.rule in PER_CHANGE))
    if running is not None and base is not None:  # one reviewed change's own rules: base to head, as git says
        found.extend(v for c in file_changes(base, head) if c.env in running.envs
                     if (v := multiple_new_lines(ChangeFacts(base=base, head=head, change=c,
                                                             new_full=resolved.get(c.path), commits=commits,
                                                             at=at))) is not None)
    found.extend(check_groups(head, changes))
    if artifacts is not None:
        from deployctl.core.change.rules.artifact import check_artifacts

        targets = ([c.head for c in changes if c.op in (Op.CREATE, Op.UPDATE)] if base is not None
                   else [head.tree.files[p] for p in resolved])
        found.extend(check_artifacts(head, [f for f in targets if f and resolved.get(f.path)], artifacts))
    return sorted(set(found), key=sort_key)


def _judged_changes(head: Snapshot, base: Snapshot | None,
                    running: Running | None) -> tuple[Snapshot | None, list[FileChange]]:
    """The base the change rules read, and the changes they judge: from what runs in `running.envs`,
    and the change since `base` (as git says) in every other env."""
    git_changes = file_changes(base, head) if base is not None else []
    if running is None:
        return base, git_changes
    judged = running_base(base or head, head, running.deployed)
    changes = [c for c in file_changes(judged, head) if c.env in running.envs]
    return judged, sorted(changes + [c for c in git_changes if c.env not in running.envs], key=lambda c: c.path)


def _changed_configs(base: Snapshot, head: Snapshot) -> bool:
    """The catalog or a stack config changed: every file must be judged again."""
    return base.catalog != head.catalog or base.stacks != head.stacks


__all__ = ["Commits", "Running", "check", "check_change", "check_file", "check_groups", "check_path"]
