"""`deployctl plan`: what a change deploys, and the stacks it affects in deploy order.
"""

from __future__ import annotations

from pathlib import Path

from deployctl.commands.load import load_pair
from deployctl.core.plan import Plan


def run_plan(root: Path, base: str, head: str | None) -> Plan:
    return load_pair(root, base, head)[2]
