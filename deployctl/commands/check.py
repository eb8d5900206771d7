"""`deployctl check`: the safeguards over the working tree, or over the changes since a base.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from deployctl import console
from deployctl.adapters.apprepos import AppRepos
from deployctl.commands.load import load_head, load_pair
from deployctl.core import rules
from deployctl.core.violations import Violation


def run_check(root: Path, base: str | None, at: datetime, offline: bool = False,
              no_artifacts: bool = False) -> list[Violation]:
    if base is None:
        head, base_snap = load_head(root), None
    else:
        base_snap, head, _ = load_pair(root, base, None)
    commits = AppRepos(root, offline=offline)
    from deployctl.commands.init import version_pin

    if (pin := version_pin(root)) is not None and not pin[0]:
        console.error(f"note: {pin[1]}")  # said, not judged: CI installs the pin, a laptop may lag
    from deployctl.adapters.artifacts import artifact_oracle

    with console.step("checking deploy files against the app repositories"):
        return rules.check(head, commits, base_snap, at, artifacts=artifact_oracle(offline, skip=no_artifacts))
