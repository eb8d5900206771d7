"""The text views for people at a terminal: aligned rows of a plan, of what runs where, of the trace.

Pure: each returns lines; cli.py prints them. (The status matrix and the metrics report keep their
text views beside their HTML and JSON forms, in status.py and metrics.py.)
"""

from __future__ import annotations

from typing import Any

from deployctl.core.change.plan import Plan
from deployctl.core.repo.model import short
from deployctl.core.trace.history import HistoryEntry
from deployctl.core.violations import one_line


def plan_lines(plan: Plan) -> list[str]:
    """Each changed deploy file (each tag once: the comment may already show it), then the stacks.
    Every name and comment is shown with one_line: one row per change, whatever a folder is called."""
    lines = [f"plan {one_line(short(plan.base))} -> {one_line(short(plan.head) or 'working tree')}"]
    for c in plan.changes:
        tags = "".join(f" [{t}]" for t in c.tags if f"[{t}]" not in c.comment)
        where = one_line(f"{c.env}/{c.app}")
        lines.append(f"  {where:<32} {c.op:<7} {short(c.old) or '-':>12} -> {short(c.new) or '-':<12}"
                     f" {one_line(c.comment)}{tags}".rstrip())
    if not plan.changes:
        lines.append("  no deploy file changes")
    lines.append("stacks in deploy order: " + (", ".join(one_line(s) for s in plan.stacks) or "(none)"))
    return lines


def deployed_lines(deployed: dict[str, dict[str, Any]]) -> list[str]:
    """Each stack's `deployed` output: per app, the commit, the kind and the deploy line's comment."""
    lines = []
    for env, apps in deployed.items():
        lines.append(f"{one_line(env)}:")
        for name, info in sorted(apps.items()):
            lines.append(f"  {one_line(name):<24} {one_line(short(info['commit']))}  {one_line(info['kind']):<12} "
                         f"{one_line(info['comment'])}")
    return lines


def _outcome_text(e: HistoryEntry) -> str:
    d = e.deploy
    text = d.result + (f" #{d.update}" if d.update is not None and d.result != "skipped" else "")
    if d.superseded_by:
        text += f" (then {'#' + str(d.superseded_by_pr) if d.superseded_by_pr else short(d.superseded_by)})"
    if d.forced:
        text += f" [forced: {d.forced}]"
    return text


def history_table(entries: list[HistoryEntry]) -> list[str]:
    """Aligned rows for people: when it ran (else merged), where, what, the outcome, the PR, who."""
    head = ["ran (UTC)", "merged (UTC)", "env", "app", "from", "", "to", "outcome (update)", "PR", "commit",
            "author", "approved by", "comment"]
    rows = [[
        f"{e.time:%Y-%m-%d %H:%M}" if e.time else "-",
        f"{e.merged:%Y-%m-%d %H:%M}", e.env, e.app, short(e.from_, "-"), "->", short(e.to, "removed"),
        _outcome_text(e), f"#{e.pr}" if e.pr else "-", short(e.commit), e.author,
        ", ".join(e.approved_by) if e.approved_by else "-", e.comment,
    ] for e in entries]
    rows = [[one_line(cell) for cell in row] for row in rows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
