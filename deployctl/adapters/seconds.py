"""Seconds for every wait at the edge, from the environment (DEPLOYCTL_*_TIMEOUT). Apart from the
HTTP deadlines (deadline.py) so that what only waits on a process or the backend never imports httpx."""

from __future__ import annotations

import os
from collections.abc import Mapping

from deployctl.core.violations import CannotJudge


def seconds_from_env(name: str, default: float, environ: Mapping[str, str] = os.environ) -> float:
    """A positive number of seconds from `name`, else `default`; a value that is not one is an error
    naming the variable (exit 2), never a traceback."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise CannotJudge(f"{name} is {raw!r}, not a positive number of seconds; unset it for the default "
                          f"({default:g} s)")
    return value
