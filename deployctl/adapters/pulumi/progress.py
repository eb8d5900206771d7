"""Live progress of `pulumi up` and `preview`: one line per resource step, from the engine's events.

A long deploy must not look frozen. The engine reports each step as it starts (resourcePreEvent),
ends (resOutputsEvent) or fails (resOpFailedEvent); `step_line` turns one event into one line (pure),
and `ResourceProgress` is the sink `Engine.preview/up` call with every event. In a terminal the lines
are coloured by rich; in CI they are plain, one per step, and read well in a log.
"""

from __future__ import annotations

import threading
from typing import Any

from deployctl import console
from deployctl.core.trace.outcomes import change_from_event, warnings_from_events

QUIET = {"same", "read"}
_PAST = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced",
         "create-replacement": "created replacement", "delete-replaced": "deleted old", "import": "imported",
         "refresh": "refreshed"}


def step_line(env: str, event: dict[str, Any], started: dict[str, int], preview: bool) -> str | None:
    """The line for one engine event, or None (an unchanged resource, a log line, a summary).

    `started` maps a URN to the second its step began (filled here), for the duration on its end.
    """
    kind = next((k for k in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent") if k in event), None)
    if kind is None:
        return None
    meta = event[kind].get("metadata") or {}
    state = meta.get("new") or meta.get("old") or {}
    if not state.get("custom") or str(meta.get("type", "")).startswith("pulumi:providers:"):
        return None  # components, the stack and providers do no work of their own: name what does
    change = change_from_event({"resourcePreEvent": event[kind]})
    if change is None or change.op in QUIET or not change.name:
        return None
    if preview and change.op in ("create-replacement", "delete-replaced"):
        return None  # a planned replacement is one `replace` line; an up shows each of its steps
    what = f"{change.name} ({change.type})"
    props = ", ".join(p.path for p in change.properties) or ", ".join(change.detailed) or ", ".join(change.diffs)
    detail = f": {props}" if props else ""
    now = int(event.get("timestamp") or 0)
    if kind == "resourcePreEvent":
        started[change.urn] = now
        if preview:
            return f"{env}: would {change.op} {what}{detail}"
        return f"{env}: {change.op} {what}{detail} ..."
    took = f" in {now - started[change.urn]}s" if change.urn in started and now else ""
    if kind == "resOpFailedEvent":
        return f"{env}: FAILED to {change.op} {what}{took}"
    if preview:
        return None
    return f"{env}: {_PAST.get(change.op, change.op)} {what}{took}"


class ResourceProgress:
    """The event sink for one stack: prints each step line, keeps the engine's warnings."""

    def __init__(self, env: str, preview: bool = False):
        self.env, self.preview = env, preview
        self._started: dict[str, int] = {}
        self._diagnostics: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        if "diagnosticEvent" in event:
            with self._lock:
                self._diagnostics.append(event)
            return
        line = step_line(self.env, event, self._started, self.preview)
        if line is not None:
            console.progress(line, failed=line.startswith(f"{self.env}: FAILED"))

    @property
    def warnings(self) -> tuple[str, ...]:
        with self._lock:
            return warnings_from_events(self._diagnostics)
