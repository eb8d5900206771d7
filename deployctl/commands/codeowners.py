"""`deployctl codeowners`: write or verify .github/CODEOWNERS.
"""

from __future__ import annotations

from pathlib import Path

from deployctl.commands.load import load_head


def codeowners(root: Path, check_only: bool) -> list[str]:
    """Write .github/CODEOWNERS from the catalog and stack configs, or the diff that --check finds."""
    from deployctl.report.codeowners import CODEOWNERS_FILE, codeowners_diff, render_codeowners

    head = load_head(root)
    deployed = {(f.env, f.app) for f in head.tree.files.values()}
    expected = render_codeowners(head.catalog, head.stacks, deployed)
    target = root / CODEOWNERS_FILE
    actual = target.read_text(encoding="utf-8") if target.exists() else None
    diff = codeowners_diff(expected, actual)
    if not check_only and diff:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(expected, encoding="utf-8")
    return diff
