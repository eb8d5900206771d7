"""`deployctl codeowners`: write or verify .github/CODEOWNERS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployctl import console
from deployctl.commands.load import load_head
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.violations import ExitStatus


@dataclass(frozen=True)
class CodeownersRequest:
    repo: Path
    check_only: bool = False
    """Only verify (--check): 1 when the file is stale, and nothing written."""


def codeowners(request: CodeownersRequest) -> ExitStatus:
    """Write the file (or verify it) and say which: a stale file under --check shows its diff."""
    diff = update_codeowners(request.repo, request.check_only)
    if request.check_only and diff:
        console.out("\n".join(diff))
        console.error(".github/CODEOWNERS is out of date; run `deployctl codeowners` and commit it")
        return ExitStatus.VIOLATION
    console.out(".github/CODEOWNERS is up to date" if not diff else ".github/CODEOWNERS written")
    return ExitStatus.OK


def expected_codeowners(snapshot: Snapshot) -> str:
    """The CODEOWNERS text for a deploy repo as it is: its catalog, stack configs and deploy files."""
    from deployctl.report.codeowners import render_codeowners

    deployed = {(f.env, f.app) for f in snapshot.tree.files.values()}
    return render_codeowners(snapshot.catalog, snapshot.stacks, deployed)


def follow_new_file(root: Path, before: Snapshot, after: Snapshot) -> str | None:
    """When a verb adds a deploy file that needs a CODEOWNERS rule, write that rule in the same change,
    so the new app's first pull request passes `codeowners --check`. Only a file that was up to date is
    rewritten (one that was already stale is left for `deployctl codeowners` and said); returns its path
    when it was written."""
    from deployctl.report.codeowners import CODEOWNERS_FILE

    target = root / CODEOWNERS_FILE
    actual = target.read_text(encoding="utf-8") if target.is_file() else None
    old, new = expected_codeowners(before), expected_codeowners(after)
    if old == new or actual is None:
        return None
    if actual != old:
        console.error(f"{CODEOWNERS_FILE} is out of date already; run `deployctl codeowners` and commit it "
                      "with this change (CI's checks job verifies it)")
        return None
    target.write_text(new, encoding="utf-8")
    return CODEOWNERS_FILE


def update_codeowners(root: Path, check_only: bool) -> list[str]:
    """Write .github/CODEOWNERS from the catalog and stack configs, or the diff that --check finds."""
    from deployctl.report.codeowners import CODEOWNERS_FILE, codeowners_diff

    expected = expected_codeowners(load_head(root))
    target = root / CODEOWNERS_FILE
    actual = target.read_text(encoding="utf-8") if target.exists() else None
    diff = codeowners_diff(expected, actual)
    if not check_only and diff:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(expected, encoding="utf-8")
    return diff
