"""The commands' wiring: read the repo, ask the core, drive the engine. No rules live here."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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
from deployctl.outcomes import Outcome
from deployctl.plan import Plan, PlanChange, affected_envs, make_plan, pr_number
from deployctl.render import CommitLog, PreviewReport, StackPreview, github_compare_url
from deployctl.snapshot import RepoFiles, Snapshot, build_snapshot, env_of_stack_file
from deployctl.status import StatusReport
from deployctl.violations import CannotJudge, InputError, Severity, Violation, errors

if TYPE_CHECKING:
    from deployctl.engine import Engine


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
    with console.step("checking deploy files against the app repositories"):
        return rules.check(head, commits, base_snap, at)


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


def _deploy_message(env: str, changes: list[PlanChange], pr: int | None, merge: str | None) -> str:
    moves = ", ".join(f"{c.app} {(c.old or 'none')[:12]}->{(c.new or 'removed')[:12]}" for c in changes)
    where = "".join([f" PR #{pr}" if pr else "", f" merge {merge[:12]}" if merge else ""])
    return f"deployctl: {env}: {moves or 'program or config change'}" + (f" ({where.strip()})" if where else "")


def newer_commit_stacks(root: Path, head_sha: str, branch: str, head: Snapshot) -> dict[str, str]:
    """Stacks that a commit after `head` on the deploy branch also changes: its own run deploys them."""
    repo = open_repo(root)
    remote, _, name = branch.partition("/")
    if name and remote in [r.name for r in repo.remotes]:
        try:
            repo.git.fetch("--quiet", remote, name)
        except Exception as exc:  # an unreachable remote must not stop a deploy
            console.info(f"could not fetch {branch} ({exc.__class__.__name__}); judging staleness from the local ref")
    try:
        tip = repo.commit(branch).hexsha
    except Exception:
        return {}
    if tip == head_sha or not repo.is_ancestor(head_sha, tip):
        return {}
    newer: dict[str, str] = {}
    for sha in repo.git.rev_list(f"{head_sha}..{tip}").split():
        envs, _ = affected_envs(changed_paths(repo, f"{sha}^", sha), head)
        for env in envs:
            newer.setdefault(env, sha)
    return newer


def run_up(root: Path, stacks: list[str] | None, base: str | None, head: str | None = None,
           message: str | None = None, branch: str = "origin/main") -> list[Outcome]:
    """Deploy: safeguards first, then `pulumi up` per affected stack, upstream first."""
    repos = AppRepos(root)
    if base is not None:
        base_snap, head_snap, plan = load_pair(root, base, head)
        envs = [e for e in plan.stacks if not stacks or e in stacks]
        changes = plan.changes
    else:
        base_snap, head_snap, plan = None, load_head(root), None
        envs, changes = ordered_envs(head_snap, stacks), []
    if head is not None:
        _require_checkout(root, plan.head if plan else resolve_ref(open_repo(root), head))
    with console.step("running the safeguards"):
        violations = rules.check(head_snap, repos, base_snap, datetime.now(UTC))
    for v in violations:
        console.violation(v, err=True)
    if errors(violations):
        raise InputError(errors(violations))

    newer = newer_commit_stacks(root, plan.head, branch, head_snap) if plan and plan.head else {}
    merge = plan.head if plan else None
    pr = pr_number(open_repo(root).commit(merge).message) if merge else None
    engine = _engine(root) if envs else None
    for env in envs:  # select every stack first: only the updates themselves run side by side
        engine.stack(env)  # type: ignore[union-attr]
    upstream = {env: head_snap.stacks[env].settings.promote_from for env in envs}
    failed: set[str] = set()
    done: dict[str, Outcome] = {}

    def deploy(env: str) -> Outcome:
        env_changes = [c for c in changes if c.env == env]
        if upstream[env] in failed:
            outcome = Outcome(env=env, ok=False, skipped=f"{upstream[env]}, which {env} promotes from, failed")
        elif env in newer:
            outcome = Outcome(env=env, ok=True, skipped=f"newer commit {newer[env][:12]} also changes "
                              f"{env}; its run deploys it")
        else:
            if message is None and plan is None:
                apps = ", ".join(f"{f.app} {f.commit[:12]}" for f in head_snap.tree.in_env(env))
                text = f"deployctl: {env}: {apps or 'no apps'}"
            else:
                text = message or _deploy_message(env, env_changes, pr, merge)
            console.info(f"pulumi up {env} ...")
            outcome = engine.up(env, text)  # type: ignore[union-attr]
        notify(env, outcome, env_changes, pr, merge)
        return outcome

    parallel = max(1, int(os.environ.get("DEPLOYCTL_PARALLEL", "4")))
    for wave in deploy_waves(envs, upstream):
        with ThreadPoolExecutor(max_workers=min(parallel, len(wave))) as pool:
            for env, outcome in zip(wave, pool.map(deploy, wave), strict=True):
                _say(outcome)
                done[env] = outcome
                if not outcome.ok:
                    failed.add(env)
    return [done[env] for env in envs]


def deploy_waves(envs: list[str], upstream: dict[str, str | None]) -> list[list[str]]:
    """Envs in waves: each after the wave holding the env it promotes from; a wave runs side by side."""
    level: dict[str, int] = {}
    for env in envs:  # already in deploy order, upstream first
        up = upstream.get(env)
        level[env] = level[up] + 1 if up in level else 0
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for env in envs:
        waves[level[env]].append(env)
    return waves


def _require_checkout(root: Path, head_sha: str) -> None:
    """The program runs from the working tree, so it must be exactly --head."""
    repo = open_repo(root)
    if repo.head.commit.hexsha != head_sha or repo.is_dirty(untracked_files=False):
        raise CannotJudge(f"the working tree is not a clean checkout of --head {head_sha[:12]}; "
                          f"run `git checkout {head_sha}` first (Pulumi deploys what is checked out)")


def notify(env: str, outcome: Outcome, changes: list[PlanChange], pr: int | None, merge: str | None) -> None:
    url = os.environ.get("DEPLOYCTL_SLACK_WEBHOOK")
    if not url:
        return
    from deployctl.notify import DeployNotice, post_slack

    result = "skipped" if outcome.skipped else ("succeeded" if outcome.ok else "failed")
    post_slack(url, DeployNotice(
        env=env, result=result, apps=[{"app": c.app, "old": c.old, "new": c.new} for c in changes],
        pr=pr, merge_commit=merge, run_url=run_url(), message=outcome.skipped or outcome.error or "",
    ))


def run_url() -> str | None:
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def read_deployed(root: Path, stacks: list[str] | None) -> dict[str, dict[str, Any]]:
    head = load_head(root)
    engine = _engine(root)
    return {env: engine.outputs(env).get("deployed", {}) for env in ordered_envs(head, stacks)}


def _say(outcome: Outcome) -> None:
    if outcome.skipped:
        (console.out if outcome.ok else console.error)(f"{outcome.env}: skipped: {outcome.skipped}")
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items())) or "no changes"
    if outcome.ok:
        console.out(f"{outcome.env}: ok ({counts})")
    else:
        console.error(f"{outcome.env}: failed\n{outcome.error}")


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


def commit_log(repos: AppRepos, snapshot: Snapshot, change: PlanChange) -> CommitLog | None:
    app = snapshot.catalog.apps.get(change.app)
    if app is None or change.new is None:
        return None
    repo = repos.get(app.repo)
    try:
        news = repo.resolve(change.new)
        olds = repo.resolve(change.old) if change.old else []
    except CannotJudge:
        return None
    if len(news) != 1:
        return None
    new, old = news[0], (olds[0] if len(olds) == 1 else None)
    commits = repo.log(old, new, limit=50)
    info = repo.info(new)
    return CommitLog(
        count=repo.count_between(old, new) if old else len(commits),
        commits=commits,
        author=info.author if info else None,
        compare_url=github_compare_url(app.repo, old, new) if old else None,
    )


def build_preview(root: Path, base: str, stacks: list[str] | None, at: datetime,
                  run_engine: bool = True) -> tuple[PreviewReport, list[str]]:
    """Safeguards, commit logs and `pulumi preview` for each affected stack; and secrets to redact."""
    base_snap, head_snap, plan = load_pair(root, base, None)
    repos = AppRepos(root)
    with console.step("running the safeguards"):
        violations = rules.check(head_snap, repos, base_snap, at)
    envs = [e for e in plan.stacks if not stacks or e in stacks]
    engine = _engine(root) if run_engine and envs else None
    previews, secrets = [], []
    for env in envs:
        changes = [c for c in plan.changes if c.env == env]
        logs = {c.app: log for c in changes if (log := commit_log(repos, head_snap, c)) is not None}
        outcome = None
        if engine is not None:
            with console.step(f"pulumi preview {env}"):
                outcome = engine.preview(env)
            secrets += engine.secret_values(env)
        previews.append(StackPreview(
            env=env, protected=head_snap.stacks[env].settings.protected, changes=changes, logs=logs,
            outcome=outcome,
            reason="the program changed" if plan.program_changed else "its stack config changed",
        ))
    report = PreviewReport(base=plan.base, head=plan.head, stacks=previews, violations=violations)
    return report, secrets


def post_comment(body: str) -> None:
    """Create or update the PR's one preview comment, from the GitHub Actions environment."""
    from deployctl.github import GitHubError, github_from_env, pull_request_context
    from deployctl.render import MARKER

    ctx = pull_request_context(os.environ)
    try:
        with github_from_env(os.environ) as client:
            action, comment_id = client.upsert_comment(ctx.repository, ctx.number, body, MARKER)
    except GitHubError as exc:
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if exc.status != 403 or not summary:
            raise
        # A PR from a fork gets a read-only token: the reviewer still sees the preview in the run.
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(body + "\n")
        console.error(f"cannot comment on {ctx.repository}#{ctx.number} (403: a fork's read-only token, or "
                      "the workflow lacks `pull-requests: write`); the preview is in the job summary instead")
        return
    console.info(f"preview comment {action} on {ctx.repository}#{ctx.number} (comment {comment_id})")


def pull_request_base() -> str:
    """The PR's base commit, from the GitHub Actions event, when --base is not given."""
    from deployctl.github import pull_request_context

    if not os.environ.get("GITHUB_EVENT_PATH"):
        raise CannotJudge("--base is required outside GitHub Actions (e.g. --base origin/main)")
    return pull_request_context(os.environ).base_sha


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
