"""`deployctl status`: what runs where, lag and drift, as text, JSON or a page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl import console
from deployctl.adapters.apprepos import AppRepos
from deployctl.commands.history import run_history
from deployctl.commands.load import load_head, open_engine

if TYPE_CHECKING:
    from deployctl.report.status import StatusReport


def run_status(root: Path, pr_url: str | None = None) -> StatusReport:
    """What runs where: deploy files, Pulumi's outputs, lag and drift, and the recent trace. A `pr_url`
    for the page is checked first (report.status.pr_link), so a bad one stops before anything is read."""
    from deployctl.adapters.apprepos import repo_lookups
    from deployctl.report.status import build_status, pr_link

    if pr_url is not None:
        pr_link(pr_url)

    head = load_head(root)
    engine = open_engine(root)
    deployed: dict[str, dict[str, dict]] = {}
    for env in console.track(head.envs, "reading stack outputs"):
        outputs = engine.existing_outputs(env)
        if outputs is not None:
            deployed[env] = outputs.get("deployed", {})
    history = run_history(root, None, None, None, engine=engine)
    repos = AppRepos(root)
    counts, tips = repo_lookups(repos)
    now = datetime.now(UTC)
    with console.step("comparing with the app repositories"):
        report = build_status(head, deployed, history, counts, tips, now)
    from deployctl.commands.metrics import status_metrics

    return report.model_copy(update={"metrics": status_metrics(head, history, repos, now)})
