"""What runs, told truthfully: one state for every app in every env.

The one classification `status`, `history`, `drift` and the status page share (issue 23). Pure data
here; the classifier that fills it (from the deploy files, the stacks' `deployed` outputs, their update
history, the backend's locks and the engine's refresh) lives beside these models.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel


class State(StrEnum):
    IN_SYNC = "in-sync"
    """What the file names runs, per Pulumi's record and (when refreshed) per the engine's refresh."""
    PENDING = "pending"
    """Merged, no update has run it, none is running (also: a file removed while its app still runs)."""
    IN_PROGRESS = "in-progress"
    """An update of its stack is running now (the backend's lock / the stack's in-flight update)."""
    FAILED = "failed"
    """The last update that tried it failed."""
    SWITCHED_BACK = "switched-back"
    """Its health check failed and the previous commit runs."""
    OUT_OF_BAND = "out-of-band"
    """Pulumi's record says what the file says, but what runs differs from the record (found by refresh)."""


DRIFTED = frozenset({State.PENDING, State.FAILED, State.SWITCHED_BACK, State.OUT_OF_BAND})
"""The states `drift` exits 1 for; `in-sync` and `in-progress` are not drift."""


class OutOfBand(LazyModel):
    """What the engine's refresh found for one app whose real resources differ from Pulumi's record."""

    model_config = ConfigDict(frozen=True)

    detail: str
    """What differs, for a person: e.g. `release: runs 1a2b3c4, Pulumi recorded 5d6e7f8`."""
    runs: str | None = None
    """The commit that really runs, when the refresh can tell (None: unknown or nothing runs)."""


class InFlight(LazyModel):
    """An update of a stack that is running now, on any runner."""

    model_config = ConfigDict(frozen=True)

    since: datetime | None = None
    by: str | None = None
    """Who runs it (the lock's user@host, or the update's author)."""
    pr: int | None = None
    message: str = ""


class AppState(LazyModel):
    """One app in one env, classified. `--json` of `drift` is a list of these (`to_json`)."""

    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    state: State
    file: str | None
    """The commit the deploy file names (None: the env has no file for the app)."""
    running: str | None
    """The commit that runs per Pulumi's `deployed` record (None: Pulumi runs nothing for it)."""
    detail: str = ""
    """What differs, for a person; empty when in sync."""
    since: datetime | None = None
    """Since when it has been in this state (the merge, the failed update, the switch-back, the refresh)."""
    fix: str = ""
    """The command or PR that fixes it (e.g. `deployctl up --stack production`, the [rollback] PR)."""
    in_flight: InFlight | None = None
    """For `in-progress`: the running update."""

    @property
    def drifted(self) -> bool:
        return self.state in DRIFTED

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
