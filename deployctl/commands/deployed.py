"""`deployctl deployed`: what runs where, read back from each stack's `deployed` output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployctl.commands.load import _engine, load_head, ordered_envs


def read_deployed(root: Path, stacks: list[str] | None) -> dict[str, dict[str, Any]]:
    head = load_head(root)
    engine = _engine(root)
    return {env: engine.outputs(env).get("deployed", {}) for env in ordered_envs(head, stacks)}
