"""The commands' wiring: read the repo, ask the core, drive the engine. No rules live here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployctl import console, rules
from deployctl.apprepos import AppRepos
from deployctl.engine import Engine, Outcome
from deployctl.gitaccess import commit_snapshot, open_repo, resolve_ref, worktree_snapshot
from deployctl.order import env_order
from deployctl.snapshot import Snapshot
from deployctl.violations import CannotJudge, InputError, Violation, errors


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
    head = load_head(root)
    base_snap = None
    if base is not None:
        repo = open_repo(root)
        base_snap = commit_snapshot(repo, resolve_ref(repo, base))
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


def run_up(root: Path, stacks: list[str] | None, base: str | None, message: str | None) -> list[Outcome]:
    violations = run_check(root, base=base, at=datetime.now(UTC))
    for v in violations:
        console.violation(v, err=True)
    if errors(violations):
        raise InputError(errors(violations))
    head = load_head(root)
    engine = Engine(root)
    outcomes: list[Outcome] = []
    failed: set[str] = set()
    for env in ordered_envs(head, stacks):
        upstream = head.stacks[env].settings.promote_from
        if upstream in failed:
            console.error(f"{env}: skipped, because {upstream} (which it promotes from) failed")
            failed.add(env)
            outcomes.append(Outcome(env=env, ok=False, error=f"skipped: upstream {upstream} failed"))
            continue
        with console.step(f"pulumi up {env}"):
            outcome = engine.up(env, message or f"deployctl up {env}")
        _say(outcome)
        if not outcome.ok:
            failed.add(env)
        outcomes.append(outcome)
    return outcomes


def run_preview(root: Path, stacks: list[str] | None) -> list[Outcome]:
    head = load_head(root)
    engine = Engine(root)
    outcomes = []
    for env in ordered_envs(head, stacks):
        with console.step(f"pulumi preview {env}"):
            outcome = engine.preview(env)
        _say(outcome)
        for change in outcome.changes:
            if change.op not in ("same", "read"):
                console.out(f"  {change.op:<8} {change.type} {change.name}")
        outcomes.append(outcome)
    return outcomes


def read_deployed(root: Path, stacks: list[str] | None) -> dict[str, dict[str, Any]]:
    head = load_head(root)
    engine = Engine(root)
    return {env: engine.outputs(env).get("deployed", {}) for env in ordered_envs(head, stacks)}


def _say(outcome: Outcome) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items())) or "no changes"
    if outcome.ok:
        console.out(f"{outcome.env}: ok ({counts})")
    else:
        console.error(f"{outcome.env}: failed\n{outcome.error}")
