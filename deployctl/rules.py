"""The safeguards: what a tired reviewer misses, refused while the deploy is still a pull request.

Pure over snapshots and a `Commits` oracle (the app repositories' answers), so each rule reads
as its table row in the README. Rule ids are part of the interface; never rename one. Each rule's
family and the inputs it may read (with --base, only the changed, upstream and group deploy files are
loaded) are stated in deployctl/rulebook.py: a new rule is registered there first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from deployctl.changes import FileChange, Op, file_changes
from deployctl.model import DeployFile, Tag
from deployctl.model import short as _short
from deployctl.snapshot import Snapshot
from deployctl.violations import Severity, Violation, sort_key

if TYPE_CHECKING:
    from deployctl.artifacts import Artifacts

ERROR, WARNING = Severity.ERROR, Severity.WARNING


class Commits(Protocol):
    """What the rules need to know about app repositories."""

    def resolve(self, repo: str, prefix: str) -> list[str]: ...

    def is_ancestor(self, repo: str, ancestor: str, descendant: str) -> bool: ...

    def on_branch(self, repo: str, commit: str, branch: str) -> bool: ...


def _v(rule: str, severity: Severity, f: DeployFile | FileChange, message: str,
       line: int | None = None) -> Violation:
    current = f.current.line if isinstance(f, DeployFile) else f.line
    return Violation(rule=rule, severity=severity, file=f.path, line=line or current,
                     env=f.env, app=f.app, message=message)


# -- every file ---------------------------------------------------------------------------------


def check_file(snapshot: Snapshot, f: DeployFile, commits: Commits) -> tuple[list[Violation], str | None]:
    """Rules on one deploy file alone; returns the violations and the resolved full commit."""
    app = snapshot.catalog.apps.get(f.app)
    stack = snapshot.stacks.get(f.env)
    if app is None or stack is None:
        return [], None  # unknown-app / unknown-env are reported by the snapshot
    found: list[Violation] = []
    full: str | None = None
    matches = commits.resolve(app.repo, f.commit)
    if not matches:
        found.append(_v("commit-not-found", ERROR, f,
                        f"commit {f.commit} is not in {f.app}'s repository ({app.repo}); check the "
                        "hash, and that the commit was pushed to the app repository"))
    elif len(matches) > 1:
        found.append(_v("ambiguous-commit", ERROR, f,
                        f"short hash {f.commit} matches {len(matches)} commits in {app.repo} ("
                        + ", ".join(_short(m) for m in matches[:5])
                        + "); write the full 40-character hash"))
    else:
        full = matches[0]
    if not f.current.is_full_hash:
        protected = stack.settings.protected
        hint = f" ({full})" if full else ""
        found.append(_v(
            "short-hash", ERROR if protected else WARNING, f,
            f"commit {f.commit} is abbreviated; write the full hash{hint}"
            + (f": env '{f.env}' is protected, so every deploy names its commit exactly"
               if protected else " so the deploy names exactly one commit forever"),
        ))
    return found, full


def check_path(snapshot: Snapshot, f: DeployFile, full: str | None, commits: Commits) -> list[Violation]:
    """`path-not-found`: the app deploys a subfolder its commit does not have (a typo, a move)."""
    app = snapshot.catalog.apps.get(f.app)
    has_path = getattr(commits, "has_path", None)  # an oracle that cannot answer judges nothing
    if app is None or not app.path or full is None or has_path is None:
        return []
    if has_path(app.repo, full, app.path) is not False:
        return []
    return [_v("path-not-found", ERROR, f,
               f"path '{app.path}' (apps.yaml, app '{f.app}') is not a folder at {_short(full)} in "
               f"{app.repo}: nothing could be deployed; fix `path` in apps.yaml, or deploy a commit that has it")]


# -- changes against a base ---------------------------------------------------------------------


def _resolved(commits: Commits, repo: str, sha: str | None) -> str | None:
    if sha is None:
        return None
    matches = commits.resolve(repo, sha)
    return matches[0] if len(matches) == 1 else None


def check_change(base: Snapshot, head: Snapshot, c: FileChange, new_full: str | None,
                 commits: Commits, at: datetime) -> list[Violation]:
    found: list[Violation] = []
    app = head.catalog.apps.get(c.app)
    stack = head.stacks.get(c.env)
    if c.op is Op.REMOVE:
        found.append(_v("app-removed", WARNING, c,
                        f"deploys/{c.env}/{c.app} is deleted: '{c.app}' and its resources will be "
                        f"destroyed in '{c.env}'; make sure that is intended"))
    if c.op is not Op.NOOP and stack is not None and (window := stack.settings.freeze_at(at)) is not None \
            and not c.head_has(Tag.HOTFIX):
        found.append(_v("freeze-window", ERROR, c,
                        f"env '{c.env}' is frozen until {window.end.isoformat()} ({window.reason}); "
                        "wait for the window to end, or tag the line [hotfix] if this fix cannot "
                        "wait (a reviewer will see the tag)"))
    if c.head is None or app is None:
        return found
    if c.base_raw is not None and c.head_raw is not None and not c.head_raw.endswith(c.base_raw):
        found.append(_v("history-rewritten", ERROR, c,
                        "the change edits or removes existing lines; a deploy file only grows at "
                        "the top: restore the old content byte for byte and prepend the new line "
                        f"(deployctl bump {c.env} {c.app} <commit>)"))
    if c.op is Op.NOOP:
        found.append(_v("no-op", WARNING, c,
                        f"{_short(c.new)} is already what '{c.env}' runs for {c.app}; the new line "
                        "changes nothing (drop it, or name the commit you meant)"))
        return found
    if new_full is None:
        return found  # commit-not-found / ambiguous-commit already said why
    old_full = _resolved(commits, app.repo, c.old)

    on_branch = commits.on_branch(app.repo, new_full, app.branch)
    if not on_branch:
        descends = old_full is None or commits.is_ancestor(app.repo, old_full, new_full)
        if not c.head_has(Tag.HOTFIX):
            found.append(_v("not-on-release-branch", ERROR, c,
                            f"{_short(new_full)} is not on {c.app}'s release branch '{app.branch}' "
                            "(an old or unmerged branch?); merge it to "
                            f"'{app.branch}' and deploy that commit, or, for an urgent fix built on "
                            f"what runs now ({_short(c.old) or 'nothing'}), tag the line [hotfix]"))
        elif not descends:
            found.append(_v("not-on-release-branch", ERROR, c,
                            f"{_short(new_full)} is off '{app.branch}' and is not a descendant of "
                            f"{_short(old_full)}, which '{c.env}' runs now; [hotfix] allows only "
                            "a fix built on top of what runs: rebase the fix onto "
                            f"{_short(old_full)}"))

    if old_full is not None and old_full != new_full and not c.head_has(Tag.ROLLBACK):
        if commits.is_ancestor(app.repo, new_full, old_full):
            found.append(_v("backward-deploy", ERROR, c,
                            f"{_short(new_full)} is older than {_short(old_full)}, which '{c.env}' "
                            f"runs now: this deploy goes back in history; if that is the intent, "
                            f"tag the line [rollback] (deployctl rollback {c.env} {c.app} --to "
                            f"{_short(new_full)})"))
        elif not commits.is_ancestor(app.repo, old_full, new_full):
            found.append(_v("backward-deploy", ERROR, c,
                            f"{_short(new_full)} and {_short(old_full)} (running in '{c.env}') have "
                            "diverged: the new commit lacks changes that run now; deploy a commit "
                            "that contains both, or tag the line [rollback] if dropping them is "
                            "intended"))

    upstream = stack.settings.promote_from if stack else None
    if upstream and not c.head_has(Tag.HOTFIX):
        up_file = base.tree.get(upstream, c.app)
        seen = up_file.commits() if up_file else []
        if not any(new_full.startswith(s) for s in seen):
            found.append(_v("promotion-order", ERROR, c,
                            f"{_short(new_full)} never ran in '{upstream}', which '{c.env}' "
                            f"promotes from; deploy it to {upstream} first "
                            f"(deployctl bump {upstream} {c.app} {new_full}), merge, then "
                            f"deployctl promote {c.app} --from {upstream} --to {c.env}; "
                            "tag [hotfix] only for an emergency"))
    return found


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


# -- the whole check ----------------------------------------------------------------------------


def check(head: Snapshot, commits: Commits, base: Snapshot | None = None,
          at: datetime | None = None, only: Iterable[str] | None = None,
          artifacts: Artifacts | None = None) -> list[Violation]:
    """Every violation, errors first. Without a base, each deploy file on its own; with one, each
    changed file and each change between base and head (every file when the catalog or a stack
    config changed). `only` limits the per-file rules to those paths. With `artifacts`, each commit
    being deployed (with a base: each created or updated file) must have its artifact built.
    """
    at = at or datetime.now(UTC)
    found: list[Violation] = list(head.all_violations())
    changes = file_changes(base, head) if base is not None else []
    if only is not None:
        paths: set[str] | None = set(only)
    elif base is None or _changed_configs(base, head):
        paths = None  # every file
    else:
        paths = {c.path for c in changes}
    resolved: dict[str, str | None] = {}
    for f in sorted(head.tree.files.values(), key=lambda f: f.path):
        if paths is None or f.path in paths:
            file_found, resolved[f.path] = check_file(head, f, commits)
            found.extend(file_found)
            found.extend(check_path(head, f, resolved[f.path], commits))
    for c in changes:
        found.extend(check_change(base, head, c, resolved.get(c.path), commits, at))  # type: ignore[arg-type]  # changes: base is set
    found.extend(check_groups(head, changes))
    if artifacts is not None:
        from deployctl.artifacts import check_artifacts

        targets = ([c.head for c in changes if c.op in (Op.CREATE, Op.UPDATE)] if base is not None
                   else [head.tree.files[p] for p in resolved])
        found.extend(check_artifacts(head, [f for f in targets if f and resolved.get(f.path)], artifacts))
    return sorted(set(found), key=sort_key)


def _changed_configs(base: Snapshot, head: Snapshot) -> bool:
    """The catalog or a stack config changed: every file must be judged again."""
    return base.catalog != head.catalog or base.stacks != head.stacks


__all__ = ["Commits", "check", "check_change", "check_file", "check_groups", "check_path"]
