"""The deploy guard's pure decisions: the stale-run verdict, the newest success among update records,
what a failed update that met a lock looks like, and the state `unlock` writes back. The adapters
(adapters/pulumi/stalerun.py, locks.py, statereads.py) read the backend and git, and ask these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deployctl.core.repo.model import short
from deployctl.core.trace.outcomes import Outcome, UpdateRecord


def last_success(records: list[UpdateRecord]) -> UpdateRecord | None:
    ups = [r for r in records if r.kind == "update" and r.result == "succeeded"]
    return max(ups, key=lambda r: (r.start or datetime.min.replace(tzinfo=UTC), r.version or 0), default=None)


def stale_refusal(env: str, last: UpdateRecord | None, deploying: str, known: bool, ancestor: bool) -> str | None:
    """Why deploying `deploying` would overwrite a newer deploy of `env` (pure), or None."""
    if last is None:
        return None
    head = last.head
    if head is None:
        return None  # an update made outside deployctl and git: nothing to compare with
    moment = last.end or last.start
    when = ", ".join(([f"v{last.version}"] if last.version else []) + ([f"{moment:%Y-%m-%d %H:%M} UTC"] if moment
                                                                        else []))
    when = f" ({when})" if when else ""
    fix = ("deploy a newer commit of the deploy repo, or override with --force --reason TEXT "
           "(the reason is recorded in the update and shown by `deployctl history`)")
    if not known:
        return (f"stale run: {env}'s last successful update{when} was made from deploy-repo "
                f"commit {short(head)}, which this clone does not have, so it cannot tell whether {short(deploying)} "
                f"is newer; fetch it (`git fetch origin`), or {fix}")
    if not ancestor:
        return (f"stale run: {env}'s last successful update{when} was made from deploy-repo "
                f"commit {short(head)}, which is not an ancestor of {short(deploying)} being deployed: this run would "
                f"overwrite a newer (or diverged) deploy; {fix}")
    return None


def looks_locked(outcome: Outcome) -> bool:
    """An `up` that failed because another update holds the stack's lock (Pulumi's diy message)."""
    return not outcome.ok and "currently locked" in (outcome.error or "")


def clear_pending(deployment: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The exported state without pending operations (pure), and what they were."""
    inner = deployment.get("deployment") or {}
    pending = inner.get("pending_operations") or []
    if not pending:
        return deployment, []
    described = [f"{p.get('type', '?')} {(p.get('resource') or {}).get('urn', '?')}" for p in pending]
    return {**deployment, "deployment": {**inner, "pending_operations": []}}, described
