"""Is an update of a stack running now, on any runner? Read from the backend, never from this machine.

Two witnesses: the backend's lock (file and S3 backends: `.pulumi/locks/...`, written by whichever
runner's `pulumi up` holds the stack; adapters/locks.read_locks) and the stack's in-flight update (the
newest update of its history whose result is `in-progress`, which backends that record an update as
it starts list; the file and S3 backends write an update's record only when it ends). A lock taken
on this machine by a process that no longer runs is a killed run's leftover, not a deploy: `unlock`
recovers it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl.core.trace.appstate import InFlight
from deployctl.core.trace.outcomes import UpdateRecord
from deployctl.core.trace.updatemessage import pr_of

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.backend import Store
    from deployctl.adapters.pulumi.locks import LockInfo


STALE_AFTER = timedelta(hours=6)
"""Longer than any deploy job runs (GitHub ends a hosted job at 6 h): a lock held longer, or dated that
far ahead of this clock, is a dead run's leftover or a wrong clock, never a reason to hide drift."""


def _aware(stamp: datetime | None) -> datetime | None:
    """A lock's time without an offset (not how Pulumi writes one) read as UTC, so it compares."""
    return stamp.replace(tzinfo=UTC) if stamp is not None and stamp.tzinfo is None else stamp


def _stale(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "its lock names no time (not a lock Pulumi wrote)"
    if now - since > STALE_AFTER:
        return f"held since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC, longer than any deploy runs"
    if since - now > STALE_AFTER:
        return f"dated {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC, ahead of this clock (a wrong clock?)"
    return ""


def in_flight(locks: list[LockInfo], updates: list[UpdateRecord], now: datetime | None = None) -> InFlight | None:
    """The running update from a stack's live locks and its history (newest first): the in-flight
    record says which PR and since when; the lock says who, and that it runs at all. With `now`, a
    reading no deploy could still be making (STALE_AFTER, or no time at all) is marked `stale`, so
    it never hides drift; `deployctl unlock ENV --force` clears it."""
    live = [lock for lock in locks if not lock.dead_here()]
    record = next((r for r in updates[:1] if r.kind == "update" and r.result in ("in-progress", "not-started")),
                  None)
    if not live and record is None:
        return None
    stamps = [_aware(lk.timestamp) for lk in live]
    first = min(range(len(live)), key=lambda i: (stamps[i] is None, stamps[i] or datetime.min.replace(tzinfo=UTC)),
                default=None)
    lock = live[first] if first is not None else None
    by = f"{lock.username}@{lock.hostname}" if lock else (record.environment.get("git.author") if record else None)
    since = _aware(record.start if record and record.start else None) or (stamps[first] if first is not None
                                                                          else None)
    return InFlight(since=since, by=by, pr=pr_of(record.message) if record else None,
                    message=record.message if record else "", stale=_stale(since, now) if now else "")


def lock_reader(root: Path) -> Callable[[str], list[LockInfo]]:
    """env -> the stack's locks, from the backend this repo uses (none for a backend without lock files,
    Pulumi Cloud: its in-flight update says it all). The store is opened once, on first use."""
    from deployctl.adapters.pulumi.backend import backend_url, open_store
    from deployctl.adapters.pulumi.locks import read_locks
    from deployctl.core.repo.envconfig import PROJECT
    from deployctl.core.urls import redact_urls
    from deployctl.core.violations import CannotJudge

    opened: list[Store | None] = []

    def read(env: str) -> list[LockInfo]:
        try:
            if not opened:
                opened.append(open_store(backend_url(root)))
            store = opened[0]
            return read_locks(store, PROJECT, env) if store is not None else []
        except CannotJudge:
            raise
        except Exception as exc:  # an unreachable bucket, no credentials: whether a deploy runs is unknown
            why = redact_urls(" ".join(str(exc).split())[:200], [backend_url(root)])
            raise CannotJudge(f"{env}: cannot read the backend's locks, so whether an update runs is unknown "
                              f"({type(exc).__name__}: {why})") from None

    return read


__all__ = ["in_flight", "lock_reader"]
