"""The commands' wiring: read the repo, ask the core, drive the engine. No rules live here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl import console, rules
from deployctl.apprepos import AppRepos
from deployctl.authoring import AUTHORING_NOTES, group_still_needed, prepend, previous_commit, with_file
from deployctl.catalog import CATALOG_FILE
from deployctl.gitaccess import (
    changed_paths,
    commit_files,
    commit_snapshot,
    deploy_history,
    first_parent_order,
    open_git,
    open_repo,
    resolve_ref,
    safe_branch_name,
    worktree_files,
    worktree_snapshot,
)
from deployctl.model import DEPLOYS_DIR, Tag, deploy_path, same_commit, short
from deployctl.order import env_order
from deployctl.plan import Plan, make_plan
from deployctl.snapshot import RepoFiles, Snapshot, build_snapshot, env_of_stack_file
from deployctl.violations import CannotJudge, InputError, Severity, Violation, errors

if TYPE_CHECKING:
    from deployctl.engine import Engine
    from deployctl.history import HistoryEntry
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
    repo = open_git(root)
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
    from deployctl.history import join, select

    repo = open_git(root)
    with console.step("reading the deploy history"):
        entries = deploy_history(repo, ref)
    envs = sorted({e.env for e in entries if env is None or e.env == env})
    updates: dict[str, list] = {}
    if with_engine and envs:
        head = worktree_snapshot(root)
        engine = _engine(root)
        for name in console.track([e for e in envs if e in head.stacks], "reading stack histories"):
            updates[name] = engine.history(name)
    if updates:  # without Pulumi's updates there is nothing to join: the branch's order is not needed
        entries = join(entries, updates, first_parent_order(repo, ref))
    return with_approvals(select(entries, env, app, limit))


def with_approvals(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """Who approved each entry's PR, from GitHub, when GITHUB_TOKEN and GITHUB_REPOSITORY say where;
    otherwise (or when GitHub cannot answer) approved_by stays absent rather than guessed."""
    import os

    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    numbers = sorted({e.pr for e in entries if e.pr is not None})
    if not (token and repository and numbers):
        return entries
    from deployctl.github import github_from_env
    from deployctl.history import approvals

    found: dict[int, list[str]] = {}
    try:
        with github_from_env(os.environ) as client, console.step("reading PR reviews from GitHub"):
            for number in numbers:
                found[number] = approvals(client.pull_request_reviews(repository, number))
    except CannotJudge as exc:
        console.error(f"approvals not shown: {exc}")
    return [e.model_copy(update={"approved_by": found[e.pr]}) if e.pr in found else e for e in entries]


# -- authoring ----------------------------------------------------------------------------------


MAIN_BRANCHES = ("origin/main", "main", "origin/master", "master")


def authoring_base(root: Path, base: str | None = None) -> str | None:
    """What CI's `check --base` will compare this branch with: the merge base of HEAD and the deploy
    repo's main branch (or `base`); None in a repo without commits (then every file is judged alone)."""
    repo = open_repo(root)
    try:
        head = repo.head.commit.hexsha
    except ValueError:
        return None
    for ref in ([base] if base else MAIN_BRANCHES):
        try:
            tip = resolve_ref(repo, ref)
        except CannotJudge:
            if base:
                raise
            continue
        found = repo.merge_base(head, tip)
        return found[0].hexsha if found else tip
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
    current = build_snapshot(files)
    if current.config_errors:
        raise CannotJudge("the catalog or a stack config cannot be read:\n"
                          + "\n".join(v.format() for v in current.config_errors), list(current.config_errors))
    if env not in current.stacks:
        raise CannotJudge(f"no env '{env}' (no Pulumi.{env}.yaml); envs are {', '.join(current.envs) or '(none)'}")
    spec = current.catalog.apps.get(app)
    if spec is None:
        raise CannotJudge(f"no app '{app}' in apps.yaml; add it to the catalog first")
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
            message=f"{full[:12]} is already the top line of {path}; nothing written (name another commit)")])
    new = prepend(current.tree.raw.get(path), full, message, tags)
    head = build_snapshot(with_file(files, path, new))
    base_sha = authoring_base(root, base_ref)
    base = commit_snapshot(open_repo(root), base_sha) if base_sha else None
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
        open_repo(root).git.checkout("-b", new_branch)
    target.write_bytes(new)
    if new_branch:
        repo = open_repo(root)
        repo.git.add("--", path)
        repo.git.commit("-m", f"Deploy {app} {full[:12]} to {env}", "--", path)
    warnings = [v for v in mine if v.severity is not Severity.ERROR and v.rule not in AUTHORING_NOTES]
    return full, warnings, notes


def upstream_commit(root: Path, env: str, app: str, base_ref: str | None = None) -> tuple[str, str]:
    """What `env` runs for app, to promote: its `deployed` output from Pulumi when the stack has one,
    else the deploy file on the base CI judges against (never a line only written in this branch).
    Returns (commit, where it came from)."""
    outputs = None
    if (root / "Pulumi.yaml").is_file():
        from pulumi.automation.errors import CommandError

        try:
            outputs = _engine(root).existing_outputs(env)
        except (CannotJudge, CommandError) as exc:  # no CLI, no backend: the base's file says what merged
            console.info(f"cannot read what Pulumi runs in {env} ({str(exc).splitlines()[0][:120]})")
    running = ((outputs or {}).get("deployed") or {}).get(app) or {}
    if isinstance(running, dict) and running.get("commit"):
        return str(running["commit"]), f"what Pulumi runs in {env} (its `deployed` output)"
    base_sha = authoring_base(root, base_ref)
    file = commit_snapshot(open_repo(root), base_sha).tree.get(env, app) if base_sha else None
    if file is None:
        raise CannotJudge(f"deploys/{env}/{app} does not exist on the base ({(base_sha or 'none')[:12]}) and "
                          f"Pulumi runs no {app} in {env}: nothing to promote; deploy it to {env} first")
    return file.commit, f"deploys/{env}/{app} on the base {short(base_sha)} (Pulumi has no record of {env})"


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
    repos = AppRepos(root)
    counts, tips = repo_lookups(repos)
    now = datetime.now(UTC)
    with console.step("comparing with the app repositories"):
        report = build_status(head, deployed, history, counts, tips, now)
    from deployctl.metricsload import status_metrics

    return report.model_copy(update={"metrics": status_metrics(head, history, repos, now)})
