"""A name that is no env, app or stack: refused with the closest valid one, so a typo never looks like an
empty answer ("no deploys yet") and the fix is one glance away."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from deployctl.core.violations import CannotJudge


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name a typo most likely meant (difflib's ratio at least 0.6), or None."""
    found = difflib.get_close_matches(name, sorted(set(valid)), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """"; did you mean 'x'?" for a close valid name, else nothing."""
    near = closest(name, valid)
    return f"; did you mean '{near}'?" if near else ""


def unknown(kind: str, name: str, valid: Iterable[str], where: str = "") -> CannotJudge:
    """`no app 'helo' in staging; did you mean 'hello'? apps: hello, web` (exit 2)."""
    names = sorted(set(valid))
    place = f" in {where}" if where else ""
    listed = ", ".join(names) if names else "(none)"
    return CannotJudge(f"no {kind} '{name}'{place}{did_you_mean(name, names) or ';'} {kind}s{place}: {listed}")
