"""The deploy job's summary on GitHub (`$GITHUB_STEP_SUMMARY`) and its environment's URL. Pure: data in, text out.

Each stack `up` ran: how it ended, its update number, the PR and merge it deployed, and each app's
from, to and outcome. What runs is read from the update's own `deployed` output, so an app switched
back after a failed health check shows the commit that runs, not the one the file names. Every value
is escaped for Markdown (report/render.py), so a name cannot break the table or ping anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from deployctl.core.change.plan import PlanChange
from deployctl.core.repo.model import same_commit, short
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.trace.outcomes import Outcome
from deployctl.report.render import _short, code, md


def _runs(outcome: Outcome) -> dict[str, str]:
    deployed: Any = outcome.outputs.get("deployed") or {}
    return {app: str(v["commit"]) for app, v in deployed.items() if isinstance(v, dict) and v.get("commit")}


def _headline(outcome: Outcome) -> str:
    if outcome.skipped:
        return "⏭️ skipped"
    return "✅ deployed" if outcome.ok else "❌ failed"


def _app_outcome(outcome: Outcome, new: str | None, runs: str | None) -> str:
    if outcome.skipped:
        return "skipped"
    if new is None:
        return "removed" if runs is None else f"still runs {_short(runs)}"
    if runs is not None and same_commit(runs, new):
        return "deployed"
    if runs is not None:
        return f"not deployed: {_short(runs)} runs"
    return "failed" if not outcome.ok else "not running"


def render_job_summary(outcomes: Sequence[Outcome], changes: Sequence[PlanChange], head: Snapshot,
                       pr: int | None, merge: str | None, repo_url: str | None) -> str:
    """One section per stack: its result and update number, the PR and merge commit, and a table of its
    apps (the plan's changes; without a plan, every app the head names in the env)."""
    lines = ["## deployctl up", ""]
    where = []
    if pr is not None:
        where.append(f"PR [#{pr}]({repo_url}/pull/{pr})" if repo_url else f"PR #{pr}")
    if merge:
        shown = code(short(merge))
        where.append(f"merge [{shown}]({repo_url}/commit/{merge})" if repo_url else f"merge {shown}")
    if where:
        lines += [" · ".join(where), ""]
    for outcome in outcomes:
        number = f", update {outcome.update}" if outcome.update else ""
        lines.append(f"### {md(outcome.env)}: {_headline(outcome)}{number}")
        lines.append("")
        if outcome.skipped:
            lines += [md(outcome.skipped), ""]
        elif not outcome.ok:
            lines += [md(outcome.failure_line()), ""]
        runs = _runs(outcome)
        rows = [(c.app, c.old, c.new) for c in changes if c.env == outcome.env]
        if not rows and outcome.env in head.envs:
            rows = [(f.app, None, f.commit) for f in head.tree.in_env(outcome.env)]
        if rows:
            lines += ["| app | from | to | outcome |", "|---|---|---|---|"]
            lines += [f"| {code(app, table=True)} | {_short(old)} | {_short(new)} | "
                      f"{_app_outcome(outcome, new, runs.get(app))} |" for app, old, new in sorted(rows)]
            lines.append("")
    return "\n".join(lines) + "\n"


def environment_url(head: Snapshot, env: str) -> str | None:
    """Where the env's apps answer, for its GitHub Environment: the first app (by name) whose settings
    in `env` name a public https URL (its health check's `url`, as its origin, or a static site's first
    alias). Encrypted settings are never read (Snapshot.settings_of leaves them out); None when no app
    says one (the workflow then links the status page)."""
    for file in sorted(head.tree.in_env(env), key=lambda f: f.app):
        if file.app not in head.catalog.apps:
            continue
        try:
            settings = head.settings_of(env, file.app)
        except ValueError:
            continue
        health = getattr(settings, "health", None)
        url = getattr(health, "url", None) if health is not None else None
        if url and (parts := urlsplit(url)).scheme == "https" and parts.hostname:
            return f"https://{parts.netloc.rsplit('@', 1)[-1]}/"
        aliases = getattr(settings, "aliases", None)
        if aliases:
            return f"https://{aliases[0]}/"
    return None


__all__ = ["environment_url", "render_job_summary"]
