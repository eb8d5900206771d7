"""What a command makes of an option's raw value before it works: a time given as text. A value that
does not parse is the user's to fix (exit 2), said with the option's name."""

from __future__ import annotations

from datetime import UTC, datetime

from deployctl.core.violations import CannotJudge


def parse_time(value: str | None, option: str = "at") -> datetime:
    """An ISO-8601 time (`Z` allowed; UTC when it names no zone), or now when the option was not given."""
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CannotJudge(f"--{option} '{value}' is not an ISO-8601 time (e.g. 2026-12-24T10:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
