"""The commit family: the commit a deploy file names exists, once, in full where it must, with the
app's `path` (commit-not-found, ambiguous-commit, short-hash, path-not-found). Reads the file, the
catalog, the stack config and the app repository (registry.py)."""

from __future__ import annotations

from deployctl.core.change.rules.common import ERROR, WARNING, Commits, violation_at
from deployctl.core.repo.model import DeployFile
from deployctl.core.repo.model import short as _short
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.violations import Violation


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
        found.append(violation_at("commit-not-found", ERROR, f,
                        f"commit {f.commit} is not in {f.app}'s repository ({app.repo}); check the "
                        "hash, and that the commit was pushed to the app repository"))
    elif len(matches) > 1:
        found.append(violation_at("ambiguous-commit", ERROR, f,
                        f"short hash {f.commit} matches {len(matches)} commits in {app.repo} ("
                        + ", ".join(_short(m) for m in matches[:5])
                        + "); write the full 40-character hash"))
    else:
        full = matches[0]
    if not f.current.is_full_hash:
        protected = stack.settings.protected
        hint = f" ({full})" if full else ""
        found.append(violation_at(
            "short-hash", ERROR if protected else WARNING, f,
            f"commit {f.commit} is abbreviated; write the full hash{hint}"
            + (f": env '{f.env}' is protected, so every deploy names its commit exactly"
               if protected else " so the deploy names exactly one commit forever"),
        ))
    return found, full


def check_path(snapshot: Snapshot, f: DeployFile, full: str | None, commits: Commits) -> list[Violation]:
    """`path-not-found`: the app deploys a subfolder its commit does not have (a typo, a move)."""
    app = snapshot.catalog.apps.get(f.app)
    if app is None or not app.path or full is None:
        return []
    if commits.has_path(app.repo, full, app.path) is not False:  # None: it cannot tell, so nothing is judged
        return []
    return [violation_at("path-not-found", ERROR, f,
               f"path '{app.path}' (apps.yaml, app '{f.app}') is not a folder at {_short(full)} in "
               f"{app.repo}: nothing could be deployed; fix `path` in apps.yaml, or deploy a commit that has it")]

