"""`deployctl drift`: every app of every env classified (core/trace/appstate.py), with the engine's refresh
to find what runs differing from Pulumi's record. Exit 0 when all is in sync or deploying, 1 when
anything drifted, 2 when it cannot judge.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl import console
from deployctl.core.violations import ExitStatus

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.engine import Engine
    from deployctl.core.trace.appstate import AppState, OutOfBand

Refresh = Callable[[str], "dict[str, OutOfBand]"]
"""env -> app -> what the engine's refresh found differing from Pulumi's record (absent: as recorded)."""


@dataclass(frozen=True)
class DriftRequest:
    repo: Path
    envs: list[str] | None = None
    """Only these envs (default: every env)."""
    refresh: bool = True
    """False: judge from Pulumi's record alone (--no-refresh)."""
    post: bool = False
    as_json: bool = False


def drift(request: DriftRequest) -> ExitStatus:
    """Print each app's state (JSON, or the text view), post it when asked: 1 when anything drifted."""
    from deployctl.commands.load import open_engine
    from deployctl.core.trace.appstate import exit_status

    publish = poster() if request.post else None
    engine = open_engine(request.repo)
    states = run_drift(request.repo, request.envs, engine_refresh(engine) if request.refresh else None,
                       engine=engine)
    if request.as_json:
        console.as_json([s.to_json() for s in states])
    else:
        from deployctl.report.status import render_drift

        console.out(render_drift(states))
    if publish is not None:
        publish(request.repo, states)
    return exit_status(states)


def engine_refresh(engine: Engine) -> Refresh:
    """The engine's own refresh (`pulumi preview --refresh` through the Automation API), per stack. Its
    adapter loads on the first stack that needs it (none does while every stack is being updated)."""

    def refresh(env: str) -> dict[str, OutOfBand]:
        from deployctl.adapters.pulumi.refresh import out_of_band

        found: dict[str, OutOfBand] = out_of_band(engine, env)
        return found

    return refresh


def poster(environ: Mapping[str, str] = os.environ) -> Callable[[Path, list[AppState]], None]:
    """`drift --post`'s publisher (one issue per env with drift, Slack on new drift only), built before
    anything is read, so a missing GITHUB_TOKEN or GITHUB_REPOSITORY stops the run before the engine."""
    from deployctl.adapters.github import github_from_env, repository_from_env
    from deployctl.commands.driftpost import post_drift

    github = github_from_env(environ)
    repo = repository_from_env(environ)
    slack = environ.get("DEPLOYCTL_SLACK_WEBHOOK") or None

    def publish(root: Path, states: list[AppState]) -> None:
        with github:
            done = post_drift(root, states, github, repo, slack, datetime.now(UTC))
        for env in done.envs:
            where = f" #{env.issue}" if env.issue else ""
            console.info(f"{env.env}: drift issue{where} {env.action}"
                         + (f" (new: {', '.join(env.new)})" if env.new else ""))

    return publish


def run_drift(root: Path, envs: list[str] | None, refresh: Refresh | None,
              engine: Engine | None = None) -> list[AppState]:
    """Each app of `envs` (default every env), in deploy order, in one of the six states. `refresh`
    (None: Pulumi's record is taken as what runs) is asked only of stacks that were deployed and
    that no update is changing right now."""
    from deployctl.commands.status import read_what_runs
    from deployctl.core.change.running import deployed_commits
    from deployctl.core.trace.appstate import StackRecord, classify

    runs = read_what_runs(root, envs or None, engine)
    records: dict[str, StackRecord] = {}
    for env in runs.envs:
        flight = runs.trace.in_flight.get(env)
        deployed = runs.deployed.get(env)
        commits = None if deployed is None else deployed_commits({"deployed": deployed})
        found = None
        if refresh is not None and commits and (flight is None or flight.stale):
            with console.step(f"{env}: refreshing (the engine reads back what runs)"):
                found = refresh(env)
        records[env] = StackRecord(deployed=commits, in_flight=flight, out_of_band=found)
    return classify(runs.head, records, runs.trace.entries, runs.envs)


__all__ = ["Refresh", "engine_refresh", "poster", "run_drift"]
