"""Out-of-band drift found by the engine's own refresh: `pulumi preview --refresh` of a stack through
the Automation API (Engine.refreshed), its refresh steps judged by core/trace/outofband.py.

Each kind lets the engine read back what runs: the `local` kind's provider reads its `current` link
and release folder (components/local.py `read`), the AWS provider its resources. The preview writes
nothing: the stack's state, its history and its lock are left as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployctl.core.trace.appstate import OutOfBand
from deployctl.core.trace.outcomes import apps_in
from deployctl.core.trace.outofband import out_of_band as judge
from deployctl.core.trace.outofband import refreshed_from_events
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.engine import Engine
    from deployctl.adapters.pulumi.eventlog import EventSink


def out_of_band(engine: Engine, env: str, sink: EventSink | None = None) -> dict[str, OutOfBand]:
    """Each app of `env` whose real resources differ from Pulumi's record, with what differs and the
    commit that runs when the refresh can tell; none for a stack never created. CannotJudge when the
    refresh failed or read nothing back of a stack that records resources."""
    events = engine.refreshed(env, sink)
    if events is None:
        return {}
    if not any("summaryEvent" in e for e in events):
        raise CannotJudge(f"the refresh of {env} ended without the engine's summary; run "
                          f"`pulumi preview --refresh --stack {env}` to see why")
    resources = refreshed_from_events(events)
    recorded = any(meta.get("op") == "refresh" and (meta.get("old") or {}).get("custom")
                   for meta in (((e.get("resourcePreEvent") or {}).get("metadata") or {}) for e in events))
    if recorded and not resources:
        raise CannotJudge(f"the refresh of {env} read no resource back (is the Pulumi CLI the pinned one? "
                          "`deployctl doctor` checks it)")
    return judge(resources, apps_in(events))
