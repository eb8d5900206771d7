"""The commands' wiring: read the repo, ask the core, drive the engine. No rules live here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl import console, rules
from deployctl.apprepos import AppRepos
from deployctl.authoring import AUTHORING_NOTES, prepend, previous_commit, with_file
from deployctl.catalog import CATALOG_FILE
from deployctl.gitaccess import (
    changed_paths,
    commit_files,
    deploy_history,
    first_parent_order,
    open_repo,
    resolve_ref,
    worktree_files,
    worktree_snapshot,
)
from deployctl.history import HistoryEntry, join, select
from deployctl.model import DEPLOYS_DIR, Tag, deploy_path
from deployctl.order import env_order
from deployctl.plan import Plan, make_plan
from deployctl.snapshot import RepoFiles, Snapshot, build_snapshot, env_of_stack_file
from deployctl.violations import CannotJudge, InputError, Severity, Violation, errors

if TYPE_CHECKING:
    from deployctl.engine import Engine
    from deployctl.status import StatusReport


def _engine(root: Path) -> Engine:
    """The engine, imported here so commands that never touch Pulumi never load it."""
    from deployctl.engine import Engine

    return Engine(root)


def load_head(root: Path) -> Snapshot:
    snapshot = worktree_snapshot(root)
    if snapshot.config_errors:
        raise CannotJudge(
            "the catalog or a stack config cannot be read, so nothing can be judged:\n"
            + "\n".join(v.format() for v in snapshot.config_errors),
            list(snapshot.config_errors),
        )
    return snapshot


def run_check(root: Path, base: str | None, at: datetime, offline: bool = False) -> list[Violation]:
    if base is None:
        head, base_snap = load_head(root), None
    else:
        base_snap, head, _ = load_pair(root, base, None)
    commits = AppRepos(root, offline=offline)
    from deployctl.artifacts import artifact_oracle

    with console.step("checking deploy files against the app repositories"):
        return rules.check(head, commits, base_snap, at, artifacts=artifact_oracle(offline))


def ordered_envs(snapshot: Snapshot, wanted: list[str] | None) -> list[str]:
    envs = snapshot.envs
    if wanted:
        unknown = sorted(set(wanted) - set(envs))
        if unknown:
            raise CannotJudge(
                f"no such env: {', '.join(unknown)}; envs are {', '.join(envs) or '(none)'}"
            )
        envs = [e for e in envs if e in wanted]
    upstream = {e: snapshot.stacks[e].settings.promote_from for e in envs}
    return env_order(upstream, envs)


def read_deployed(root: Path, stacks: list[str] | None) -> dict[str, dict[str, Any]]:
    head = load_head(root)
    engine = _engine(root)
    return {env: engine.outputs(env).get("deployed", {}) for env in ordered_envs(head, stacks)}


# -- plan and preview ---------------------------------------------------------------------------


def load_pair(root: Path, base: str, head: str | None) -> tuple[Snapshot, Snapshot, Plan]:
    """Base and head snapshots and the plan between them (head None: the working tree).

    Only the deploy files a change touches are read (with the upstream and co-deploy files the
    rules compare them to), so the cost follows the change, not the repo. A change to the catalog
    or a stack config can change the verdict on any file: then everything is read.
    """
    repo = open_repo(root)
    base_sha = resolve_ref(repo, base)
    head_sha = resolve_ref(repo, head) if head is not None else None
    paths = changed_paths(repo, base_sha, head_sha)

    def files(rev: str | None, wanted: set[str] | None) -> RepoFiles:
        return commit_files(repo, rev, wanted) if rev else worktree_files(root, paths=wanted)

    wanted: set[str] | None = None
    if not any(p == CATALOG_FILE or env_of_stack_file(p) is not None for p in paths):
        config = build_snapshot(files(head_sha, set()))
        wanted = related_paths(config, [p for p in paths if p.startswith(DEPLOYS_DIR + "/")])
    head_snap = build_snapshot(files(head_sha, wanted))
    if head_snap.config_errors:
        raise CannotJudge("the catalog or a stack config cannot be read at head:\n"
                          + "\n".join(v.format() for v in head_snap.config_errors),
                          list(head_snap.config_errors))
    base_snap = build_snapshot(files(base_sha, wanted))
    plan = make_plan(base_snap, head_snap, paths, base_sha, head_sha)
    return base_snap, head_snap, plan


def related_paths(config: Snapshot, changed: list[str]) -> set[str]:
    """The changed deploy files, their upstream env's file, and their co-deploy group's files."""
    wanted = set(changed)
    for path in changed:
        parts = path.split("/")
        if len(parts) != 3:
            continue
        _, env, app = parts
        stack = config.stacks.get(env)
        if stack and stack.settings.promote_from:
            wanted.add(deploy_path(stack.settings.promote_from, app))
        spec = config.catalog.apps.get(app)
        if spec and spec.group:
            wanted.update(deploy_path(env, member) for member in config.catalog.group_members(spec.group))
    return wanted


def run_plan(root: Path, base: str, head: str | None) -> Plan:
    return load_pair(root, base, head)[2]


# -- history ------------------------------------------------------------------------------------


def run_history(root: Path, env: str | None, app: str | None, limit: int | None,
                with_engine: bool = True, ref: str = "HEAD") -> list[HistoryEntry]:
    """The joined trace: git history of deploys/ plus each stack's Pulumi updates."""
    repo = open_repo(root)
    with console.step("reading the deploy history"):
        entries = deploy_history(repo, ref)
    envs = sorted({e.env for e in entries if env is None or e.env == env})
    updates: dict[str, list] = {}
    if with_engine and envs:
        head = worktree_snapshot(root)
        engine = _engine(root)
        for name in console.track([e for e in envs if e in head.stacks], "reading stack histories"):
            updates[name] = engine.history(name)
    entries = join(entries, updates, first_parent_order(repo, ref))
    return select(entries, env, app, limit)


# -- authoring ----------------------------------------------------------------------------------


def write_deploy(root: Path, env: str, app: str, commit: str, message: str, tags: tuple[Tag, ...],
                 branch: str | None = None) -> tuple[str, list[Violation]]:
    """Resolve, check and prepend one deploy line; refuse (nothing written) what the safeguards refuse."""
    files = worktree_files(root)
    base = build_snapshot(files)
    if base.config_errors:
        raise CannotJudge("the catalog or a stack config cannot be read:\n"
                          + "\n".join(v.format() for v in base.config_errors), list(base.config_errors))
    if env not in base.stacks:
        raise CannotJudge(f"no env '{env}' (no Pulumi.{env}.yaml); envs are {', '.join(base.envs) or '(none)'}")
    spec = base.catalog.apps.get(app)
    if spec is None:
        raise CannotJudge(f"no app '{app}' in apps.yaml; add it to the catalog first")
    repos = AppRepos(root)
    matches = repos.resolve(spec.repo, commit)
    if len(matches) != 1:
        rule = "commit-not-found" if not matches else "ambiguous-commit"
        raise InputError([Violation(
            rule=rule, severity=Severity.ERROR, file=deploy_path(env, app), env=env, app=app,
            message=f"{commit} " + ("is not in" if not matches else f"matches {len(matches)} commits in")
            + f" {app}'s repository ({spec.repo}); give a longer or different hash",
        )])
    full = matches[0]
    path = deploy_path(env, app)
    old = base.tree.raw.get(path)
    new = prepend(old, full, message, tags)
    head = build_snapshot(with_file(files, path, new))
    found = rules.check(head, repos, base, datetime.now(UTC), only=[path])
    refused = [v for v in errors(found) if v.rule not in AUTHORING_NOTES]
    if refused:
        raise InputError(refused)
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if branch:
        open_repo(root).git.checkout("-b", branch)
    target.write_bytes(new)
    if branch:
        repo = open_repo(root)
        repo.git.add("--", path)
        repo.git.commit("-m", f"Deploy {app} {full[:12]} to {env}", "--", path)
    return full, [v for v in found if v not in refused]


def source_commit(root: Path, env: str, app: str) -> str:
    file = load_head(root).tree.get(env, app)
    if file is None:
        raise CannotJudge(f"deploys/{env}/{app} does not exist (or does not parse): nothing to promote; "
                          f"deploy it to {env} first")
    return file.commit


def rollback_target(root: Path, env: str, app: str) -> str:
    file = load_head(root).tree.get(env, app)
    if file is None:
        raise CannotJudge(f"deploys/{env}/{app} does not exist: nothing to roll back")
    target = previous_commit(file)
    if target is None:
        raise CannotJudge(f"deploys/{env}/{app} has no earlier deploy of another commit; name one with --to")
    return target


# -- codeowners ---------------------------------------------------------------------------------


def codeowners(root: Path, check_only: bool) -> list[str]:
    """Write .github/CODEOWNERS from the catalog and stack configs, or the diff that --check finds."""
    from deployctl.codeowners import CODEOWNERS_FILE, codeowners_diff, render_codeowners

    head = load_head(root)
    deployed = {(f.env, f.app) for f in head.tree.files.values()}
    expected = render_codeowners(head.catalog, head.stacks, deployed)
    target = root / CODEOWNERS_FILE
    actual = target.read_text(encoding="utf-8") if target.exists() else None
    diff = codeowners_diff(expected, actual)
    if not check_only and diff:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(expected, encoding="utf-8")
    return diff


# -- status -------------------------------------------------------------------------------------


def run_status(root: Path) -> StatusReport:
    """What runs where: deploy files, Pulumi's outputs, lag and drift, and the recent trace."""
    from deployctl.status import build_status, repo_lookups

    head = load_head(root)
    engine = _engine(root)
    deployed: dict[str, dict[str, dict]] = {}
    for env in console.track(head.envs, "reading stack outputs"):
        outputs = engine.existing_outputs(env)
        if outputs is not None:
            deployed[env] = outputs.get("deployed", {})
    history = run_history(root, None, None, None)
    counts, tips = repo_lookups(AppRepos(root))
    with console.step("comparing with the app repositories"):
        return build_status(head, deployed, history, counts, tips, datetime.now(UTC))
