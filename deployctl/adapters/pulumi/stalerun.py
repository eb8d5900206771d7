"""The stale-run guard: the commit of the stack's last successful update, read from the backend, must be
an ancestor of the commit being deployed (any runner, with or without --base); and `DeployGuard`, what
every `up` of a stack goes through (that verdict, then the stack's lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl.adapters.pulumi.backend import BackendStalled, Store, backend_url, open_store
from deployctl.adapters.pulumi.locks import DEFAULT_LOCK_TIMEOUT, LockInfo, read_locks, up_when_unlocked
from deployctl.adapters.pulumi.statereads import StateReads
from deployctl.core.change.deployguard import stale_refusal
from deployctl.core.repo.model import HASH_RE
from deployctl.core.trace.outcomes import Outcome
from deployctl.core.trace.updatemessage import forced_message
from deployctl.core.urls import redact_urls

if TYPE_CHECKING:
    from deployctl.adapters.git.repo import DeployRepo


def ran_since(repo: DeployRepo, recorded: str, merge: str) -> bool:
    """Is `recorded` (a commit the backend names: its text, never an option) `merge` or a commit after
    it in the deploy repo?"""
    if recorded == merge:
        return True
    known = bool(HASH_RE.match(recorded)) and repo.knows(recorded)
    return known and repo.is_ancestor(merge, recorded)



def stale_judge(repo: DeployRepo, engine: Any, env: str, deploying: str,
                store: Store | None = None, memo: dict[str, bytes] | None = None) -> Callable[[], str | None]:
    """The stale-run verdict on `env`, taken anew each time it is called (after each wait for the lock).
    With the backend's `store`, the history is read there directly (StateReads, sharing the run's
    `memo` of records already read: the listing is read anew each time), else through the CLI."""
    reads = StateReads(engine, store, memo if memo is not None else {})

    def judge() -> str | None:
        last = reads.latest_success(env)
        head = last.head if last else None
        if last is None or head is None:
            return None
        known = bool(HASH_RE.match(head)) and repo.knows(head)  # the backend's text, never an option
        ancestor = known and repo.is_ancestor(head, deploying)
        return stale_refusal(env, last, deploying, known, ancestor)

    return judge



@dataclass
class DeployGuard:
    """What every `up` of a stack goes through: the stale-run guard and the stack lock."""

    root: Path
    repo: DeployRepo
    """The deploy repo, opened once per run and shared by every stack's verdict."""
    engine: Any
    deploying: str
    force_reason: str | None = None
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    _store: list[Store | None] = field(default_factory=list, init=False, repr=False)
    _store_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _memo: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)
    """The backend's immutable objects this run has read (statereads._read_once), never kept past it."""

    def store(self) -> Store | None:
        """The backend's store, opened once per run for every stack (stacks deploy side by side)."""
        with self._store_lock:
            if not self._store:
                self._store.append(open_store(backend_url(self.root)))
            return self._store[0]

    def reads(self, store: Store | None) -> StateReads:
        """The run's reader of the backend's state (`store`: self.store(), or None to read through the CLI)."""
        return StateReads(self.engine, store, self._memo)

    def up(self, env: str, message: str, sink: Any = None) -> Outcome:
        from deployctl import console
        from deployctl.core.repo.envconfig import PROJECT

        store = self.store()
        judge = stale_judge(self.repo, self.engine, env, self.deploying, store, self._memo)
        if self.force_reason is not None:
            message = forced_message(message, self.force_reason)
            refusal = judge()
            if refusal:
                console.info(f"{env}: stale-run guard overridden by --force ({self.force_reason}): {refusal}")
            judge = _never

        def locks() -> list[LockInfo]:
            try:
                return read_locks(store, PROJECT, env) if store is not None else []
            except BackendStalled as exc:  # said once per stack; Pulumi's own run is bounded too
                console.info(f"{env}: cannot read the backend's locks: {exc}")
                return []
            except Exception as exc:  # an unreadable lock folder: let Pulumi itself decide
                why = redact_urls(" ".join(str(exc).split())[:200], [backend_url(self.root)])
                console.info(f"{env}: cannot read the backend's locks ({type(exc).__name__}: {why})")
                return []

        def attempt() -> Outcome:
            if store is None:
                return self.engine.up(env, message, sink=sink)
            return self.engine.up(env, message, sink=sink,
                                  outputs=self.reads(store).existing_outputs)

        return up_when_unlocked(env, attempt, judge, locks, self.lock_timeout, console.info)


def _never() -> str | None:
    return None
