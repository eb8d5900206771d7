"""`deployctl history`: the trace, git history of deploys/ joined with Pulumi's updates and PR approvals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl import console
from deployctl.adapters.git.log import deploy_history, first_parent_order
from deployctl.adapters.git.repo import open_git
from deployctl.core.violations import CannotJudge, ExitStatus

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.engine import Engine
    from deployctl.core.trace.appstate import InFlight
    from deployctl.core.trace.history import HistoryEntry
    from deployctl.core.trace.outcomes import UpdateRecord


@dataclass(frozen=True)
class Trace:
    """The deploy history joined with Pulumi's updates, and what each read stack is doing now."""

    entries: list[HistoryEntry]
    updates: dict[str, list[UpdateRecord]] = field(default_factory=dict)
    """Each stack's updates, newest first (the stacks read: every env with a stack config)."""
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    """The stacks an update of which runs now (adapters/pulumi/inflight.py), read before their histories; a
    `stale` one is a dead run's lock, shown as such, never as a deploy."""


def read_trace(root: Path, envs: list[str] | None = None, ref: str = "HEAD", with_engine: bool = True,
               engine: Engine | None = None, judge: Callable[[list[HistoryEntry]], None] | None = None) -> Trace:
    """Git history of deploys/ plus each stack's updates and whether one runs now, on any runner (the
    backend's lock is read before the history, so an update that ends in between shows its record).
    `envs`: the stacks to read (default: every env of the history); through `engine` when the caller
    has one already, as status does; `judge` may refuse the git history before the engine is asked."""
    from deployctl.core.trace.history import join, mark_in_flight

    repo = open_git(root)
    with console.step("reading the deploy history"):
        entries = deploy_history(repo, ref)
    if judge is not None:
        judge(entries)
    wanted = sorted({e.env for e in entries} if envs is None else set(envs))
    updates: dict[str, list[UpdateRecord]] = {}
    flights: dict[str, InFlight] = {}
    if with_engine and wanted:  # the engine loads only here: --no-engine reads git alone
        from deployctl.adapters.pulumi.inflight import in_flight, lock_reader
        from deployctl.commands.load import open_engine
        from deployctl.core.repo.snapshot import env_of_stack_file

        stacks = {found for item in root.iterdir() if (found := env_of_stack_file(item.name)) is not None}
        engine = engine or open_engine(root)
        locks = lock_reader(root)
        now = datetime.now(UTC)
        for name in console.track([e for e in wanted if e in stacks], "reading stack histories"):
            held = locks(name)
            updates[name] = engine.history(name)
            if (flight := in_flight(held, updates[name], now)) is not None:
                flights[name] = flight
    if updates:  # without Pulumi's updates there is nothing to join: the branch's order is not needed
        entries = join(entries, updates, first_parent_order(repo, ref))
    if live := {env: f.since for env, f in flights.items() if not f.stale}:  # a dead run's lock carries out nothing
        entries = mark_in_flight(entries, live)
    return Trace(entries=entries, updates=updates, in_flight=flights)


@dataclass(frozen=True)
class HistoryRequest:
    repo: Path
    env: str | None = None
    app: str | None = None
    limit: int | None = None
    with_engine: bool = True
    """False: git history only (--no-engine)."""
    as_json: bool = False


def history(request: HistoryRequest) -> ExitStatus:
    """Print the trace, with approvals where GitHub says: a JSON list, or a table (report/tables.py)."""
    entries = with_approvals(run_history(request.repo, request.env, request.app, request.limit,
                                         with_engine=request.with_engine))
    if request.as_json:
        from deployctl.core.trace.history import history_json

        console.json_text(history_json(entries, console.json_indent()))
        return ExitStatus.OK
    from deployctl.report.tables import history_table

    for line in history_table(entries) if entries else []:
        console.out(line)
    if not entries:
        console.out("no deploys yet")
    return ExitStatus.OK


def run_history(root: Path, env: str | None, app: str | None, limit: int | None,
                with_engine: bool = True, ref: str = "HEAD", engine: Engine | None = None) -> list[HistoryEntry]:
    """The joined trace: git history of deploys/ plus each stack's Pulumi updates, a line an update
    carries out right now `in-progress`."""
    from deployctl.core.trace.history import select

    trace = read_trace(root, [env] if env else None, ref, with_engine, engine,
                       judge=lambda entries: _require_known(root, entries, env, app))
    return select(trace.entries, env, app, limit)  # approvals: `with_approvals`, only where they are shown


def _require_known(root: Path, entries: list[HistoryEntry], env: str | None, app: str | None) -> None:
    """A misspelt env or app is refused with the closest one, never answered with an empty history:
    an env has a stack config or a deploy in the history; an app is in the catalog or was deployed."""
    from deployctl.adapters.git.reads import worktree_files
    from deployctl.core.repo.names import unknown
    from deployctl.core.repo.snapshot import build_snapshot

    if env is None and app is None:
        return
    config = build_snapshot(worktree_files(root, paths=set()))  # the catalog and stack configs only
    envs = set(config.stacks) | {e.env for e in entries}
    if env is not None and env not in envs:
        raise unknown("env", env, envs)
    apps = set(config.catalog.apps) | {e.app for e in entries if env is None or e.env == env}
    if app is not None and app not in apps:
        raise unknown("app", app, apps, env or "")


def with_approvals(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """Who approved each entry's PR, from GitHub, when GITHUB_TOKEN and GITHUB_REPOSITORY say where;
    otherwise (or when GitHub cannot answer) approved_by stays absent rather than guessed."""
    import os

    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    numbers = sorted({e.pr for e in entries if e.pr is not None})
    if not (token and repository and numbers):
        return entries
    from deployctl.adapters.github import github_from_env
    from deployctl.core.trace.history import approvals

    found: dict[int, list[str]] = {}
    try:
        with github_from_env(os.environ) as client, console.step("reading PR reviews from GitHub"):
            for number in numbers:
                found[number] = approvals(client.pull_request_reviews(repository, number))
    except CannotJudge as exc:
        console.error(f"approvals not shown: {exc}")
    return [e.model_copy(update={"approved_by": found[e.pr]}) if e.pr in found else e for e in entries]
