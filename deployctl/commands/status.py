"""`deployctl status`: what runs where, lag and drift, as text, JSON or a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl import console
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.commands.history import read_trace
from deployctl.commands.load import load_head, open_engine
from deployctl.core.violations import ExitStatus

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.engine import Engine
    from deployctl.commands.history import Trace
    from deployctl.core.repo.snapshot import Snapshot
    from deployctl.core.trace.statusdata import StatusReport


@dataclass(frozen=True)
class WhatRuns:
    """What `status` and `drift` read once and classify alike (core/appstate.classify)."""

    head: Snapshot
    envs: list[str]
    """In deploy order."""
    deployed: dict[str, dict[str, Any]]
    """Env -> that stack's `deployed` output; an env absent was never deployed."""
    trace: Trace
    """The deploy history joined with each stack's updates; the stacks an update of which runs now."""


def read_what_runs(root: Path, wanted: list[str] | None = None, engine: Engine | None = None) -> WhatRuns:
    """The deploy files, each stack's `deployed` output, update history and in-flight update. The
    backend's locks are read first (read_trace), so an update that ends while this reads shows its
    record rather than vanishing between the two."""
    from deployctl.commands.load import ordered_envs

    head = load_head(root)
    envs = ordered_envs(head, wanted)
    engine = engine or open_engine(root)
    trace = read_trace(root, envs, engine=engine)
    deployed: dict[str, dict[str, Any]] = {}
    for env in console.track(envs, "reading stack outputs"):
        outputs = engine.existing_outputs(env)
        if outputs is not None:
            deployed[env] = outputs.get("deployed", {})
    return WhatRuns(head=head, envs=envs, deployed=deployed, trace=trace)


@dataclass(frozen=True)
class StatusRequest:
    repo: Path
    html: Path | None = None
    """Also write the self-contained page here."""
    pr_url: str | None = None
    as_json: bool = False


def status(request: StatusRequest) -> ExitStatus:
    """Print the matrix (text or JSON rows), and write the page when asked: its path is tried first."""
    from deployctl.commands.output import check_writable, write_file
    from deployctl.report.status import render_html, render_text, status_rows

    if request.html is not None:
        check_writable(request.html)
    report = run_status(request.repo, pr_url=request.pr_url)
    if request.html is not None:
        write_file(request.html, render_html(report, pr_url=request.pr_url))
        console.info(f"status page written to {request.html}")
    if request.as_json:
        console.as_json(status_rows(report))
    else:
        console.out(render_text(report))
    return ExitStatus.OK


def run_status(root: Path, pr_url: str | None = None) -> StatusReport:
    """What runs where: deploy files, Pulumi's outputs, lag, each app's state (a running update shows
    as deploying, never as drift), and the recent trace. A `pr_url` for the page is checked first
    (report.status.pr_link), so a bad one stops before anything is read."""
    from deployctl.adapters.git.apprepos import repo_lookups
    from deployctl.core.trace.statusdata import build_status
    from deployctl.report.status import pr_link

    if pr_url is not None:
        pr_link(pr_url)

    runs = read_what_runs(root)
    repos = AppRepos(root)
    counts, tips = repo_lookups(repos)
    now = datetime.now(UTC)
    with console.step("comparing with the app repositories"):
        report = build_status(runs.head, runs.deployed, runs.trace.entries, counts, tips, now,
                              in_flight=runs.trace.in_flight)
    from deployctl.commands.metrics import status_metrics

    return report.model_copy(update={"metrics": status_metrics(runs.head, runs.trace.entries, repos, now)})
