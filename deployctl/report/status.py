"""What runs where, at a glance, drawn: the env-by-app matrix as text, `--json` rows, the HTML page,
and `drift` for people.

Pure: core/trace/statusdata.py builds the report (the matrix, lags, drift); this module only draws it, so
the terminal, `--json` and the HTML page agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2

from deployctl.core.repo.model import short as model_short
from deployctl.core.trace.appstate import AppState, State
from deployctl.core.trace.history import HistoryEntry
from deployctl.core.trace.statusdata import Cell, StatusReport
from deployctl.core.trace.updatemessage import SWITCHED_BACK
from deployctl.core.violations import CannotJudge, one_line

PROBLEM_RESULTS = ("failed", "in-progress", SWITCHED_BACK)


def short(commit: str | None) -> str:
    """A commit in the status views: model.short, with a dash for none."""
    return model_short(commit, "—")


# -- JSON ---------------------------------------------------------------------------------------


def status_rows(report: StatusReport) -> list[dict[str, Any]]:
    """One JSON object per cell, in matrix order, for `deployctl status --json`."""
    return [c.model_dump(mode="json") for c in report.cells]


# -- terminal -------------------------------------------------------------------------------------

LEGEND = ("↓N  N commits the upstream env runs that this env does not (counted from what runs)\n"
          "»N  N commits on the app's release branch this env does not run\n"
          "✗   the last deploy failed    … deploying  an update of the env runs now (see below)\n"
          "⚠   drift: pending, failed, switched-back or out-of-band (see below)\n"
          "—   no deploy file in this env")


def _text_cell(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    parts = [one_line(short(cell.commit)) if cell.commit else "(removed)"]
    if cell.behind_upstream:
        parts.append(f"↓{cell.behind_upstream}")
    if cell.behind_branch:
        parts.append(f"»{cell.behind_branch}")
    if cell.state == State.IN_PROGRESS:
        parts.append("… deploying")
    elif (cell.result or "").startswith("failed"):
        parts.append("✗")
    if cell.drift:
        parts.append(f"⚠ {cell.state}")
    return " ".join(parts)


def render_text(report: StatusReport) -> str:
    """A fixed-width matrix (apps down, envs across), a legend, then each drift spelled out."""
    header = ["app", *map(one_line, report.envs)]
    rows = [[one_line(app), *(_text_cell(report.cell(env, app)) for env in report.envs)] for app in report.apps]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cols: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()

    out = [f"Deploy status at {report.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC", "",
           line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if not report.apps:
        out.append("(no apps)")
    out += ["", LEGEND]
    deploying = [c for c in report.cells if c.state == State.IN_PROGRESS]
    if deploying:
        out += ["", "Deploying now:"] + [f"  … {one_line(c.env)}/{one_line(c.app)}: {one_line(c.detail)}"
                                         for c in deploying]
    drifts = [c for c in report.cells if c.drift]
    if drifts:
        out += ["", "Drift:"] + [f"  ⚠ {one_line(c.env)}/{one_line(c.app)}: {c.state}: {one_line(c.drift)}"
                                 + (f"; fix: {one_line(c.fix)}" if c.fix else "") for c in drifts]
    return "\n".join(out) + "\n"


def render_drift(states: list[AppState]) -> str:
    """`deployctl drift` for people: one row per env and app (state, the file's commit, what runs),
    then what differs and what fixes it, for each app that is not in sync."""
    header = ["env", "app", "state", "file", "running"]
    rows = [[one_line(s.env), one_line(s.app), s.state.value, short(s.file), short(s.running)] for s in states]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cols: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if not states:
        out.append("(no apps)")
    told = [s for s in states if s.state != State.IN_SYNC]
    for s in told:
        when = f" (since {s.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" if s.since else ""
        out += ["", f"{one_line(s.env)}/{one_line(s.app)}: {s.state.value}{when}", f"  {one_line(s.detail)}"]
        if s.fix:
            out.append(f"  fix: {one_line(s.fix)}")
    drifted = sum(1 for s in states if s.drifted)
    out += ["", f"{drifted} drifted of {len(states)}" if drifted else f"no drift ({len(states)} apps)"]
    return "\n".join(out) + "\n"


# -- HTML -----------------------------------------------------------------------------------------


def _ago(moment: datetime | None, now: datetime) -> str:
    """A short relative time ("3h ago"), computed here so the page needs no script to read well."""
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "just now" if seconds > -60 else moment.astimezone(UTC).strftime("%Y-%m-%d")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n}{unit} ago" if unit != "d" or n < 60 else moment.astimezone(UTC).strftime("%Y-%m-%d")
    return "just now"


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def outcome_class(result: str | None) -> str:
    """One CSS class per deploy outcome: a failed deploy and one switched back after its failed health
    check both take the failure colour (the result text alone, "failed, switched back", is no class)."""
    if (result or "").startswith("failed"):
        return "failed"
    return result if result in ("succeeded", "in-progress") else "quiet"


def _state(cell: Cell | None) -> str:
    """One CSS state per cell, the most urgent first, so colour alone tells what needs attention."""
    if cell is None:
        return "empty"
    if cell.state == State.IN_PROGRESS:
        return "progress"
    if cell.drift:
        return "drift"
    if (cell.result or "").startswith("failed"):
        return "failed"
    if cell.behind_upstream or cell.behind_branch:
        return "behind"
    return "ok"


PR_PLACEHOLDER = "{pr}"


def pr_link(template: str) -> Callable[[int], str]:
    """The page's PR link for a PR number, from `--pr-url`: an http(s) URL in which `{pr}` (the one
    placeholder) stands for the number, substituted as text (never str.format, which would look up
    attributes); anything else is refused (exit 2) before the page, or anything, is made."""
    from urllib.parse import urlsplit

    def refuse(why: str) -> CannotJudge:
        return CannotJudge(f"--pr-url '{one_line(template)}' {why}; give an http(s) URL with {PR_PLACEHOLDER} "
                           f"where the PR number goes, e.g. https://github.com/acme/deploys/pull/{PR_PLACEHOLDER}")

    rest = template.replace(PR_PLACEHOLDER, "")
    if PR_PLACEHOLDER not in template:
        raise refuse(f"has no {PR_PLACEHOLDER}")
    if "{" in rest or "}" in rest:
        raise refuse(f"has a placeholder other than {PR_PLACEHOLDER} (the only one)")
    if not rest.isprintable() or any(ch.isspace() for ch in rest) or not rest.isascii():
        raise refuse("has a space, a control or a non-ASCII character (percent-encode it)")
    try:
        parts = urlsplit(template.replace(PR_PLACEHOLDER, "1"))
        host, _ = parts.hostname, parts.port  # a bad port is found when it is read
    except ValueError:
        raise refuse("is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise refuse("is not an http(s) URL with a host")
    if "@" in parts.netloc:
        raise refuse("has credentials in it, which the page would show to every reader")
    return lambda n: template.replace(PR_PLACEHOLDER, str(int(n)))


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deployctl.report", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    return env.get_template("status.html.j2")


def render_html(report: StatusReport, pr_url: str | None = None, per_app: int = 8) -> str:
    """One self-contained page: the matrix, then each env's timeline per app.

    `pr_url`, e.g. "https://github.com/acme/deploys/pull/{pr}", turns PR numbers into links (see pr_link);
    `per_app` events per timeline card show at once, older ones fold away.
    """
    cells = {(c.env, c.app): c for c in report.cells}
    timeline: dict[str, dict[str, list[HistoryEntry]]] = {}
    for e in report.timeline:
        timeline.setdefault(e.env, {}).setdefault(e.app, []).append(e)
    counts = {
        "drift": sum(1 for c in report.cells if c.drift),
        "deploying": sum(1 for c in report.cells if c.state == State.IN_PROGRESS),
        "failed": sum(1 for c in report.cells if (c.result or "").startswith("failed")),
        "behind": sum(1 for c in report.cells if c.behind_upstream or c.behind_branch),
    }
    now = report.generated_at
    return _template().render(
        report=report, cells=cells, timeline=timeline, counts=counts,
        state=_state, outcome_class=outcome_class, short=short, ago=lambda m: _ago(m, now), utc=_utc, iso=_iso,
        pr_link=pr_link(pr_url) if pr_url else None, per_app=per_app,
        problem_results=PROBLEM_RESULTS, **_metrics_context(report),
    )


def _metrics_context(report: StatusReport) -> dict[str, Any]:
    """What templates/metrics.html.j2 needs: the report's metrics and the chart helpers."""
    import json

    from deployctl.report import metrics as m

    return {"metrics": report.metrics, "chart_keys": list(m.CHART_TITLES), "metric_chart": m.chart,
            "metric_shown": m.shown, "to_json": json.dumps, "chart_w": m.CHART_W, "chart_h": m.CHART_H,
            "chart_base": m.CHART_BASE}

