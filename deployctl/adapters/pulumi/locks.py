"""Pulumi's stack locks on a self-managed backend: reading them, waiting for them (bounded, then
re-judging), and what `unlock` may clear.

Pulumi's self-managed backends keep one lock file per running update under
`.pulumi/locks/<org>/<project>/<stack>/<id>.json` ({pid, username, hostname, timestamp}; see
pkg/backend/diy/lock.go). They are read here directly (file:// and s3://), never parsed from CLI text.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import ConfigDict

from deployctl.core.change.deployguard import looks_locked
from deployctl.core.lazymodel import LazyModel
from deployctl.core.trace.outcomes import Outcome

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.backend import Store

LOCKS_DIR = ".pulumi/locks"
DEFAULT_LOCK_TIMEOUT = 300.0
UNLOCK_TAG = "deployctl:unlocked"


class LockInfo(LazyModel):
    """One Pulumi lock file: who runs an update on the stack, and since when."""

    model_config = ConfigDict(frozen=True)

    key: str
    pid: int | None = None
    username: str = "?"
    hostname: str = "?"
    timestamp: datetime | None = None

    def describe(self) -> str:
        since = f" since {self.timestamp.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if self.timestamp else ""
        return f"{self.username}@{self.hostname} (pid {self.pid}){since}"

    def dead_here(self) -> bool:
        """Taken on this machine by a process that no longer runs (killed, crashed)."""
        if self.hostname != socket.gethostname() or not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def alive_here(self) -> bool:
        return self.hostname == socket.gethostname() and bool(self.pid) and not self.dead_here()


def stack_lock_keys(keys: list[str], project: str, env: str) -> list[str]:
    """Lock files of one stack: `<org>/<project>/<stack>/` (project mode) or `<stack>/` (legacy)."""
    found = []
    for key in keys:
        parts = key[len(LOCKS_DIR) + 1:].split("/")
        if not key.endswith(".json"):
            continue
        if (len(parts) == 4 and parts[1:3] == [project, env]) or (len(parts) == 2 and parts[0] == env):
            found.append(key)
    return found


def parse_lock(key: str, data: bytes) -> LockInfo:
    try:
        raw = json.loads(data)
    except ValueError:
        return LockInfo(key=key)
    if not isinstance(raw, dict):  # any file there locks the stack for Pulumi: seen, never dropped
        return LockInfo(key=key)
    stamp = None
    if isinstance(raw.get("timestamp"), str):
        try:
            stamp = datetime.fromisoformat(raw["timestamp"].replace("Z", "+00:00"))
        except ValueError:
            stamp = None
    pid = raw.get("pid")
    return LockInfo(key=key, pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                    username=str(raw.get("username", "?")),
                    hostname=str(raw.get("hostname", "?")), timestamp=stamp)


def read_locks(store: Store, project: str, env: str) -> list[LockInfo]:
    locks = []
    for key in stack_lock_keys(store.list(LOCKS_DIR + "/"), project, env):
        try:
            locks.append(parse_lock(key, store.read(key)))
        except Exception:  # released between the listing and the read
            continue
    return locks


def _now() -> float:
    return time.monotonic()


def up_when_unlocked(env: str, attempt: Callable[[], Outcome], judge: Callable[[], str | None],
                     locks: Callable[[], list[LockInfo]], timeout: float, say: Callable[[str], None],
                     clock: Callable[[], float] = _now, sleep: Callable[[float], None] = time.sleep,
                     note_every: float = 15.0) -> Outcome:
    """Run `attempt` once the stack is free. While another run holds it, wait (a progress line every
    `note_every` s) up to `timeout`. The staleness verdict is taken once the lock is seen free, right
    before each try, since the run that held it may have deployed something newer (Pulumi records
    the update in the history before it releases the lock). A lock left by a dead process on this
    machine fails at once, pointing to `deployctl unlock`."""
    start = clock()
    next_note = start
    judged_since_wait = False
    while True:
        held = locks()
        if not held:
            if not judged_since_wait:
                if (refusal := judge()) is not None:
                    return Outcome(env=env, ok=False, error=refusal)
                judged_since_wait = True
            outcome = attempt()
            if not looks_locked(outcome):
                return outcome
            held = locks()
        judged_since_wait = False
        dead = [lock for lock in held if lock.dead_here()]
        if dead:
            return Outcome(env=env, ok=False, error=dead_lock_message(env, dead))
        waited = clock() - start
        if waited >= timeout:
            who = "; ".join(lock.describe() for lock in held) or "another run (it just released it)"
            return Outcome(env=env, ok=False, error=(
                f"{env} is locked by {who}; gave up after {waited:.0f} s (--lock-timeout {timeout:.0f}). "
                f"If that run has ended (a cancelled or killed job), run `deployctl unlock {env}`."))
        if held and clock() >= next_note:
            say(f"{env}: waiting for the lock held by {'; '.join(lock.describe() for lock in held)} "
                f"({waited:.0f} s of {timeout:.0f} s)")
            next_note = clock() + note_every
        sleep(min(max(0.0, timeout - waited), 0.5 + random.random() * 1.5))


def dead_lock_message(env: str, dead: list[LockInfo]) -> str:
    who = "; ".join(lock.describe() for lock in dead)
    return (f"{env} is locked by {who}, a process that no longer runs: an update was killed mid-way. "
            f"Run `deployctl unlock {env}` (it clears the lock and any pending operation, and records that it did), "
            "then deploy again; the state is kept.")


def unlock_refusal(env: str, held: list[LockInfo], force: bool) -> str | None:
    """Why unlocking now would break a run that may still be going (pure), or None."""
    alive = [lock for lock in held if lock.alive_here()]
    if alive:
        return (f"{env} is locked by {'; '.join(lock.describe() for lock in alive)}, which still runs on this "
                "machine: let it finish (or stop it) first")
    elsewhere = [lock for lock in held if lock.hostname != socket.gethostname()]
    if elsewhere and not force:
        return (f"{env} is locked by {'; '.join(lock.describe() for lock in elsewhere)} on another machine, "
                "which this one cannot see: check that its run has ended (its CI job shows it), then rerun "
                "with --force")
    return None


class Refused(Exception):
    """Doing it now could break what still runs: exit 1, with what to do."""
