"""What the engine did, as plain data: resource steps, outcomes, update records.

Pure and light (no Pulumi import), so rendering, history and status never pay for the engine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ResourceChange(BaseModel):
    """One resource's planned or applied step, from an engine event."""

    model_config = ConfigDict(frozen=True)

    urn: str
    type: str
    name: str
    op: str
    diffs: tuple[str, ...] = ()
    detailed: dict[str, str] = {}
    """Property path to diff kind (add, update, delete, *-replace)."""


class Outcome(BaseModel):
    """What one preview or up of one stack did."""

    model_config = ConfigDict(frozen=True)

    env: str
    ok: bool
    counts: dict[str, int] = {}
    changes: tuple[ResourceChange, ...] = ()
    error: str | None = None
    outputs: dict[str, Any] = {}
    update: int | None = None
    skipped: str | None = None
    """Why this stack was not run (an upstream failed, or a newer run deploys it)."""


class UpdateRecord(BaseModel):
    """One entry of `pulumi stack history`."""

    model_config = ConfigDict(frozen=True)

    env: str
    version: int | None
    kind: str
    result: str
    message: str
    start: datetime | None
    end: datetime | None
    environment: dict[str, str] = {}
    counts: dict[str, int] = {}


def change_from_event(event: dict[str, Any]) -> ResourceChange | None:
    """A ResourceChange from an engine event as JSON (the `--event-log` and `on_event` shape)."""
    pre = event.get("resourcePreEvent") or event.get("resOutputsEvent")
    if not pre:
        return None
    meta = pre.get("metadata") or {}
    urn = meta.get("urn", "")
    detailed = {
        path: str(diff.get("diffKind") or diff.get("kind") or "update").lower()
        for path, diff in (meta.get("detailedDiff") or {}).items()
    }
    return ResourceChange(
        urn=urn,
        type=meta.get("type", ""),
        name=urn.rsplit("::", 1)[-1],
        op=meta.get("op", ""),
        diffs=tuple(meta.get("diffs") or ()),
        detailed=detailed,
    )


def changes_from_events(events: list[dict[str, Any]]) -> list[ResourceChange]:
    """The planned step of each resource (pre events; outputs events only fill gaps)."""
    seen: dict[str, ResourceChange] = {}
    for event in events:
        change = change_from_event(event)
        if change is None:
            continue
        old = seen.get(change.urn)
        if old is None or ("resourcePreEvent" in event and _RANK.get(change.op, 1) >= _RANK.get(old.op, 1)):
            seen[change.urn] = change
    return list(seen.values())


# A replacement arrives as create-replacement, replace and delete-replaced steps: report `replace`.
_RANK = {"create-replacement": 0, "delete-replaced": 0, "replace": 2}


def outcome_from_events(env: str, events: list[dict[str, Any]]) -> Outcome:
    """An Outcome from a recorded engine event stream (e.g. `pulumi up --event-log`)."""
    changes = changes_from_events(events)
    counts: dict[str, int] = {}
    errors: list[str] = []
    for event in events:
        if summary := event.get("summaryEvent"):
            counts = {k: int(v) for k, v in (summary.get("resourceChanges") or {}).items()}
        diag = event.get("diagnosticEvent")
        if diag and diag.get("severity") == "error":
            errors.append(str(diag.get("message", "")).strip())
    if not counts:
        for change in changes:
            counts[change.op] = counts.get(change.op, 0) + 1
    failed = bool(errors) or any(e.get("resOpFailedEvent") for e in events)
    return Outcome(env=env, ok=not failed, counts=counts, changes=tuple(changes),
                   error="\n".join(errors) or ("a resource operation failed" if failed else None))
