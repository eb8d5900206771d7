"""`deployctl deployed`: what runs where, read back from each stack's `deployed` output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployctl.commands.load import load_head, open_engine, ordered_envs


def read_deployed(root: Path, stacks: list[str] | None) -> dict[str, dict[str, Any]]:
    head = load_head(root)
    engine = open_engine(root)
    return {env: engine.outputs(env).get("deployed", {}) for env in ordered_envs(head, stacks)}
