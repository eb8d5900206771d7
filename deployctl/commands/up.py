"""Deploying after a merge: safeguards first, then `pulumi up` of the affected stacks, in waves.

Upstream envs deploy before the envs that promote from them, independent envs side by side; a
downstream env never deploys after its upstream failed, and an older run never overwrites a newer
deploy. Each stack's result reaches Slack when DEPLOYCTL_SLACK_WEBHOOK is set.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl import console
from deployctl.adapters.apprepos import AppRepos
from deployctl.adapters.backend import DEFAULT_LOCK_TIMEOUT, DeployGuard, enforce_ci_policy
from deployctl.adapters.gitaccess import changed_paths, open_repo, resolve_ref
from deployctl.commands.load import _engine, load_head, load_pair, ordered_envs
from deployctl.core import rules
from deployctl.core.outcomes import Outcome
from deployctl.core.plan import PlanChange, affected_envs, pr_number
from deployctl.core.snapshot import Snapshot
from deployctl.core.updatemessage import deploy_message
from deployctl.core.violations import CannotJudge, InputError, errors

if TYPE_CHECKING:
    from deployctl.adapters.engine import EventSink


def newer_commit_stacks(root: Path, head_sha: str, branch: str, head: Snapshot) -> dict[str, str]:
    """Stacks that a commit after `head` on the deploy branch also changes: its own run deploys them."""
    repo = open_repo(root)
    remote, _, name = branch.partition("/")
    if name and not name.startswith("-") and remote in [r.name for r in repo.remotes]:
        from deployctl.core.safegit import git_timeout

        try:
            repo.git.fetch("--quiet", "--", remote, name, kill_after_timeout=git_timeout())
        except Exception as exc:  # an unreachable remote must not stop a deploy
            console.info(f"could not fetch {branch} ({exc.__class__.__name__}); judging staleness from the local ref")
    try:
        tip = repo.commit(branch).hexsha
    except Exception:
        return {}
    if tip == head_sha or not repo.is_ancestor(head_sha, tip):  # type: ignore[arg-type]  # takes any rev
        return {}
    newer: dict[str, str] = {}
    for sha in repo.git.rev_list(f"{head_sha}..{tip}").split():
        envs, _ = affected_envs(changed_paths(repo, f"{sha}^", sha), head)
        for env in envs:
            newer.setdefault(env, sha)
    return newer


def run_up(root: Path, stacks: list[str] | None, base: str | None, head: str | None = None,
           message: str | None = None, branch: str = "origin/main", force_reason: str | None = None,
           lock_timeout: float = DEFAULT_LOCK_TIMEOUT, post: bool = False) -> list[Outcome]:
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
        _require_checkout(root, plan.head if plan and plan.head else resolve_ref(open_repo(root), head))
    if envs:
        enforce_ci_policy(root, {e: head_snap.stacks[e].settings.protected for e in envs})
    with console.step("running the safeguards"):
        violations = rules.check(head_snap, repos, base_snap, datetime.now(UTC))
    if errors(violations):
        raise InputError(violations)  # the CLI says each once, warnings included
    for v in violations:
        console.violation(v, err=True)

    newer = newer_commit_stacks(root, plan.head, branch, head_snap) if plan and plan.head else {}
    merge = plan.head if plan else None
    pr = pr_number(str(open_repo(root).commit(merge).message)) if merge else None  # a str in text repos
    engine = _engine(root) if envs else None
    deploying = (plan.head if plan and plan.head else None) or (open_repo(root).head.commit.hexsha if envs else "")
    guard = DeployGuard(root, engine, deploying, force_reason, lock_timeout)
    for env in envs:  # select every stack first: only the updates themselves run side by side
        engine.stack(env)  # type: ignore[union-attr]  # envs is not empty, so engine is set
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
                text = message or deploy_message(env, [(c.app, c.old, c.new) for c in env_changes], pr, merge)
            console.info(f"pulumi up {env} ...")
            from deployctl.adapters.progress import ResourceProgress
            from deployctl.adapters.switchback import rollback_opener, up_with_health  # health checks, switch-back

            progress = ResourceProgress(env)

            def run(text: str, sink: EventSink | None) -> Outcome:  # the stale-run guard, then the lock
                return save_engine_log(guard.up(env, text, sink=_both(progress, sink)))

            opener = rollback_opener(root, env, branch, console.error) if post else None
            outcome = up_with_health(engine, env, text, head_snap, console.out, opener, run=run)  # type: ignore[arg-type]  # envs is not empty, so engine is set
            if not outcome.ok and outcome.error:  # the terminal and Slack never see a secret config value
                from deployctl.report.render import redact

                outcome = outcome.model_copy(update={"error": redact(outcome.error, engine.secret_values(env))})  # type: ignore[union-attr]  # as above
        return outcome

    parallel = max(1, int(os.environ.get("DEPLOYCTL_PARALLEL", "4")))
    for wave in deploy_waves(envs, upstream):
        with ThreadPoolExecutor(max_workers=min(parallel, len(wave))) as pool:
            for env, outcome in zip(wave, pool.map(deploy, wave), strict=True):
                _say(outcome)  # the terminal and Slack hear from this thread only, in deploy order
                notify(env, outcome, [c for c in changes if c.env == env], pr, merge)
                done[env] = outcome
                if not outcome.ok:
                    failed.add(env)
    return [done[env] for env in envs]


def _both(first: EventSink, second: EventSink | None) -> EventSink:
    """One event stream to two readers: live progress and the health checks' own lines."""
    if second is None:
        return first

    def sink(event: dict[str, Any]) -> None:
        first(event)
        second(event)

    return sink


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
    from deployctl.adapters.notify import DeployNotice, post_slack

    result = "skipped" if outcome.skipped else ("succeeded" if outcome.ok else "failed")
    post_slack(url, DeployNotice(
        env=env, result=result, apps=[{"app": c.app, "old": c.old, "new": c.new} for c in changes],
        pr=pr, merge_commit=merge, run_url=run_url(),
        message=outcome.skipped or (outcome.failure_line() if not outcome.ok else ""),
    ))


def run_url() -> str | None:
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def _say(outcome: Outcome) -> None:
    if outcome.skipped:
        (console.out if outcome.ok else console.error)(f"{outcome.env}: skipped: {outcome.skipped}")
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items())) or "no changes"
    if outcome.ok:
        console.out(f"{outcome.env}: ok ({counts})")
    else:
        saved = f" (full engine log: {outcome.log_file})" if outcome.log_file else ""
        console.error(outcome.failure_line() + saved)


def save_engine_log(outcome: Outcome) -> Outcome:
    """A failed run's full engine output goes to a file (DEPLOYCTL_LOG_DIR, else the temp dir), so
    the terminal and Slack get one line and a person still has every detail."""
    if outcome.ok or not outcome.log:
        return outcome
    import tempfile

    folder = Path(os.environ.get("DEPLOYCTL_LOG_DIR") or Path(tempfile.gettempdir()) / "deployctl-logs")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{outcome.env}-{stamp}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(outcome.log)
    except OSError as exc:
        console.info(f"could not save the engine log of {outcome.env} ({exc.strerror or exc})")
        return outcome
    return outcome.model_copy(update={"log_file": str(path)})
