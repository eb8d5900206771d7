"""`deployctl plan`: what a change deploys, and the stacks it affects in deploy order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployctl import console
from deployctl.commands.load import load_pair
from deployctl.core.change.plan import Plan
from deployctl.core.violations import ExitStatus


@dataclass(frozen=True)
class PlanRequest:
    repo: Path
    base: str
    head: str | None = None
    """Default: the working tree."""
    as_json: bool = False


def plan(request: PlanRequest) -> ExitStatus:
    """Print the plan: its JSON, or its lines (report/tables.py)."""
    result = run_plan(request.repo, request.base, request.head)
    if request.as_json:
        console.as_json(result.model_dump(mode="json"))
        return ExitStatus.OK
    from deployctl.report.tables import plan_lines

    for line in plan_lines(result):
        console.out(line)
    return ExitStatus.OK


def run_plan(root: Path, base: str, head: str | None) -> Plan:
    return load_pair(root, base, head)[2]
