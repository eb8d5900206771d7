"""`deployctl deployed`: what runs where, read back from each stack's `deployed` output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployctl import console
from deployctl.commands.load import load_head, open_engine, ordered_envs
from deployctl.core.violations import ExitStatus


@dataclass(frozen=True)
class DeployedRequest:
    repo: Path
    stacks: list[str] | None = None
    """Only these envs (default: every env)."""
    as_json: bool = False


def deployed(request: DeployedRequest) -> ExitStatus:
    """Print each stack's `deployed` output: as JSON, or as lines (report/tables.py)."""
    result = read_deployed(request.repo, stacks=request.stacks)
    if request.as_json:
        console.as_json(result)
        return ExitStatus.OK
    from deployctl.report.tables import deployed_lines

    for line in deployed_lines(result):
        console.out(line)
    return ExitStatus.OK


def read_deployed(root: Path, stacks: list[str] | None) -> dict[str, dict[str, Any]]:
    head = load_head(root)
    engine = open_engine(root)
    return {env: engine.outputs(env).get("deployed", {}) for env in ordered_envs(head, stacks)}
