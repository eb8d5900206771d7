"""`deployctl bump`, `promote` and `rollback`: the verbs that write a deploy line, judged as CI will.
Each takes its request (built by cli.py from the options), says what it wrote and returns the exit status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployctl import console
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.adapters.git.log import deploy_history
from deployctl.adapters.git.reads import commit_snapshot, safe_branch_name, worktree_files
from deployctl.adapters.git.repo import open_git
from deployctl.commands.codeowners import follow_new_file
from deployctl.commands.load import load_head, no_env, open_engine, readable
from deployctl.commands.output import wrote
from deployctl.core.change import rules
from deployctl.core.change.authoring import AUTHORING_NOTES, group_still_needed, prepend, previous_commit, with_file
from deployctl.core.repo.catalog import App
from deployctl.core.repo.model import Tag, deploy_path, same_commit, short
from deployctl.core.repo.names import unknown
from deployctl.core.repo.snapshot import Snapshot, build_snapshot
from deployctl.core.violations import CannotJudge, ExitStatus, InputError, Severity, Violation, errors

MAIN_BRANCHES = ("origin/main", "main", "origin/master", "master")


@dataclass(frozen=True)
class BumpRequest:
    """`deployctl bump ENV APP COMMIT`: prepend COMMIT to deploys/ENV/APP."""

    root: Path
    env: str
    app: str
    commit: str
    message: str = ""
    tags: tuple[Tag, ...] = ()
    branch: str | None = None
    """Create this branch and commit the change on it."""
    base: str | None = None
    """Judge against this base, as CI will (default: the merge base with the main branch)."""


@dataclass(frozen=True)
class PromoteRequest:
    """`deployctl promote APP --from ENV --to ENV`: deploy to one env what another runs now."""

    root: Path
    app: str
    from_env: str
    to_env: str
    message: str = ""
    branch: str | None = None
    base: str | None = None


@dataclass(frozen=True)
class RollbackRequest:
    """`deployctl rollback ENV APP`: prepend the previous (or given) commit, tagged [rollback]."""

    root: Path
    env: str
    app: str
    to: str | None = None
    message: str = ""
    branch: str | None = None
    base: str | None = None


def bump(request: BumpRequest) -> ExitStatus:
    written = write_deploy(request.root, request.env, request.app, request.commit, request.message, request.tags,
                           request.branch, request.base)
    return _say_written(request.env, request.app, written, request.branch)


def promote(request: PromoteRequest) -> ExitStatus:
    commit, source = upstream_commit(request.root, request.from_env, request.app, request.base,
                                     to_env=request.to_env)
    console.error(f"promoting {request.app} {short(commit)}: {source}")
    written = write_deploy(request.root, request.to_env, request.app, commit,
                           request.message or f"promoted from {request.from_env}", (), request.branch, request.base)
    return _say_written(request.to_env, request.app, written, request.branch)


def rollback(request: RollbackRequest) -> ExitStatus:
    commit = request.to or rollback_target(request.root, request.env, request.app)
    written = write_deploy(request.root, request.env, request.app, commit, request.message or "rollback",
                           (Tag.ROLLBACK,), request.branch, request.base)
    return _say_written(request.env, request.app, written, request.branch)


def _say_written(env: str, app: str, result: tuple[str, list[Violation], list[str]], branch: str | None) -> ExitStatus:
    wrote(env, app, result, branch)
    return ExitStatus.OK


def authoring_base(root: Path, base: str | None = None) -> str | None:
    """What CI's `check --base` will compare this branch with: the merge base of HEAD and the deploy
    repo's main branch (or `base`); None in a repo without commits (then every file is judged alone)."""
    repo = open_git(root)
    head = repo.head_sha()
    if head is None:
        return None
    for ref in ([base] if base else MAIN_BRANCHES):
        try:
            tip = repo.resolve(ref)
        except CannotJudge:
            if base:
                raise
            continue
        return repo.merge_base(head, tip) or tip
    return head


def write_deploy(root: Path, env: str, app: str, commit: str, message: str, tags: tuple[Tag, ...],
                 branch: str | None = None, base_ref: str | None = None) -> tuple[str, list[Violation], list[str]]:
    """Resolve, check and prepend one deploy line, judged as CI's `check --base` will judge the PR.

    The base is the merge base with the deploy repo's main branch, never the working tree, so what
    is accepted here passes in CI and what CI refuses is refused here (exit 1, nothing written).
    Returns the full commit, the warnings, and notes (a co-deploy group still missing members).
    """
    new_branch = safe_branch_name(branch) if branch else None  # a bad argument is refused before any judging
    files = worktree_files(root)
    current = readable(build_snapshot(files))
    spec = require_env_and_app(current, env, app)
    repos = AppRepos(root)
    matches = repos.resolve(spec.repo, commit)
    path = deploy_path(env, app)
    if len(matches) != 1:
        rule = "commit-not-found" if not matches else "ambiguous-commit"
        raise InputError([Violation(
            rule=rule, severity=Severity.ERROR, file=path, env=env, app=app,
            message=f"{commit} " + ("is not in" if not matches else f"matches {len(matches)} commits in")
            + f" {app}'s repository ({spec.repo}); give a longer or different hash",
        )])
    full = matches[0]
    now_file = current.tree.get(env, app)
    if now_file is not None and same_commit(now_file.commit, full):
        raise InputError([Violation(
            rule="no-op", severity=Severity.ERROR, file=path, env=env, app=app, line=now_file.current.line,
            message=f"{short(full)} is already the top line of {path}; nothing written (name another commit)")])
    new = prepend(current.tree.raw.get(path), full, message, tags)
    head = build_snapshot(with_file(files, path, new))
    base_sha = authoring_base(root, base_ref)
    base = commit_snapshot(open_git(root), base_sha) if base_sha else None
    found = rules.check(head, repos, base, datetime.now(UTC))
    mine = [v for v in found if v.file == path or v.rule in AUTHORING_NOTES]
    refused = [v for v in errors(mine) if v.rule not in AUTHORING_NOTES]
    if refused:
        raise InputError(refused)
    notes: list[str] = []
    if base is not None:
        group, missing = group_still_needed(base, head, env, app)
        if missing:
            notes.append(f"co-deploy group '{group}' in {env}: this pull request still needs "
                         + ", ".join(f"deploys/{env}/{m}" for m in missing)
                         + f" (deployctl bump {env} {missing[0]} <commit>); CI refuses half a group")
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if new_branch:
        open_git(root).new_branch(new_branch)
    target.write_bytes(new)
    written = [path]
    if (owners := follow_new_file(root, current, head)) is not None:
        written.append(owners)
        notes.append(f"{owners} updated: {path} is new and needs its owners' rule (commit it with the deploy)")
    if new_branch:
        open_git(root).commit_paths(written, f"Deploy {app} {short(full)} to {env}")
    warnings = [v for v in mine if v.severity is not Severity.ERROR and v.rule not in AUTHORING_NOTES]
    return full, warnings, notes


def require_env_and_app(snapshot: Snapshot, env: str, app: str) -> App:
    """The app's catalog entry, once `env` is an env and `app` an app of the catalog; else what to fix."""
    if env not in snapshot.stacks:
        raise no_env([env], snapshot, sorted(snapshot.stacks))
    spec = snapshot.catalog.apps.get(app)
    if spec is None:
        raise CannotJudge(f"{unknown('app', app, snapshot.catalog.apps, 'apps.yaml')} (a new app: add it to the "
                          "catalog first)")
    return spec


def upstream_commit(root: Path, env: str, app: str, base_ref: str | None = None,
                    to_env: str | None = None) -> tuple[str, str]:
    """What `env` runs for app, to promote: its `deployed` output from Pulumi when the stack has one,
    else the deploy file on the base CI judges against (never a line only written in this branch).
    Both envs and the app are checked first, before Pulumi is asked. Returns (commit, where it came from)."""
    config = readable(build_snapshot(worktree_files(root, paths=set())))  # the catalog and stack configs only
    for name in filter(None, (env, to_env)):
        require_env_and_app(config, name, app)
    outputs = None
    if (root / "Pulumi.yaml").is_file():
        try:
            outputs = open_engine(root).existing_outputs(env)
        except CannotJudge as exc:  # no CLI, no backend: the base's file says what merged
            console.info(f"cannot read what Pulumi runs in {env} ({str(exc).splitlines()[0][:200]})")
    running = ((outputs or {}).get("deployed") or {}).get(app) or {}
    if isinstance(running, dict) and running.get("commit"):
        return str(running["commit"]), f"what Pulumi runs in {env} (its `deployed` output)"
    base_sha = authoring_base(root, base_ref)
    file = commit_snapshot(open_git(root), base_sha).tree.get(env, app) if base_sha else None
    if file is None:
        raise CannotJudge(f"deploys/{env}/{app} does not exist on the base ({short(base_sha, 'none')}) and "
                          f"Pulumi runs no {app} in {env}: nothing to promote; deploy it to {env} first")
    return file.commit, f"deploys/{env}/{app} on the base {short(base_sha)} (Pulumi has no record of {env})"


def rollback_target(root: Path, env: str, app: str) -> str:
    head = load_head(root)
    require_env_and_app(head, env, app)
    file = head.tree.get(env, app)
    if file is None:
        raise CannotJudge(f"deploys/{env}/{app} does not exist: nothing to roll back")
    try:  # the lines that were each on top once, through a change of their own: reviewed deploys
        on_top: set[str] | None = {e.to for e in deploy_history(open_git(root), "HEAD")
                                   if e.env == env and e.app == app and e.to}
    except CannotJudge:
        on_top = None  # a repository without commits: its file is all there is
    target = previous_commit(file, on_top)
    if target is None:
        raise CannotJudge(f"deploys/{env}/{app} has no earlier deploy of another commit that was once its top "
                          "line (a reviewed deploy); name one with --to")
    return target
