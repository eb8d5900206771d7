"""What a health check says through the engine, and deployctl reads back: the one codec for it.

The check runs inside the engine (components/health.py); its only way out is the provider's stderr,
which reaches deployctl as an engine diagnostic event. Each line is marked with PROGRESS
(progress_line / progress_of); the line of a failed check starts with FAILED and names the env and
the app (failed_line / failure_of / failed_app), which the switch-back reads to know what to switch
back (adapters/pulumi/switchback.py). Writer and reader live here, so the two cannot drift.
"""

from __future__ import annotations

from deployctl.core.health.checks import HealthResult, HealthTarget
from deployctl.core.repo.model import short

PROGRESS = "deployctl-health:"
"""Prefix of the provider's progress lines, so deployctl can tell them from other engine output."""
FAILED = "FAILED "
"""Start of the progress line of a failed check."""


def progress_line(line: str) -> str:
    """A line as the provider writes it to stderr."""
    return f"{PROGRESS} {line}"


def progress_of(message: str) -> str | None:
    """Our progress line inside an engine diagnostic message, or None."""
    for line in message.splitlines():
        if line.startswith(PROGRESS):
            return line[len(PROGRESS):].strip()
    return None


def failure_line(target: HealthTarget, result: HealthResult) -> str:
    """Why the check failed, for a person: `<env>/<app>: health check of <commit> failed after ...`
    (also the error the check's resource fails with)."""
    return (f"{target.env}/{target.app}: health check of {short(target.commit)} failed after {result.tries} "
            f"tr{'y' if result.tries == 1 else 'ies'}: {result.detail}")


def failed_line(failure: str) -> str:
    """The progress line that says a check failed, from its failure_line."""
    return FAILED + failure


def failure_of(line: str) -> str | None:
    """The failure_line a progress line carries; None for any other progress line."""
    return line[len(FAILED):] if line.startswith(FAILED) else None


def failed_app(failure: str) -> str:
    """The app a failure_line names (its `<env>/<app>` before the first colon)."""
    return failure.split(":", 1)[0].split("/", 1)[-1]
