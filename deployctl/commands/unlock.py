"""`deployctl unlock ENV`: recover a stack after a run died mid-`up`: clear its lock and pending operations,
and record that it was done. The lock files and their judgement live in adapters/pulumi/locks.py."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployctl.adapters.pulumi.backend import backend_url, open_store, redact_url
from deployctl.adapters.pulumi.locks import UNLOCK_TAG, Refused, read_locks, unlock_refusal
from deployctl.core.change.deployguard import clear_pending
from deployctl.core.violations import CannotJudge, ExitStatus


@dataclass(frozen=True)
class UnlockRequest:
    repo: Path
    env: str
    force: bool = False
    """Also clear a lock taken on another machine."""


def unlock(request: UnlockRequest) -> ExitStatus:
    """Print what was cleared; a refusal (the lock's run may still live) is said on stderr, exit 1."""
    from deployctl import console

    try:
        done = run_unlock(request.repo, request.env, request.force)
    except Refused as exc:
        console.error(str(exc))
        return ExitStatus.VIOLATION
    for line in done:
        console.out(line)
    return ExitStatus.OK


def run_unlock(root: Path, env: str, force: bool) -> list[str]:
    """Clear a dead run's lock and pending operations on ENV, and record that it was done (a stack tag)."""
    import getpass

    from pulumi import automation as auto

    from deployctl.commands.load import load_head, no_env, open_engine
    from deployctl.core.repo.envconfig import PROJECT

    head = load_head(root)
    if env not in head.stacks:
        raise no_env([env], head, sorted(head.stacks))
    url = backend_url(root)
    store = open_store(url)
    if store is None:
        raise CannotJudge(f"cannot inspect the locks of backend {redact_url(url)} (deployctl reads file:// and s3:// "
                          "backends); for Pulumi Cloud, see the update in the console and use `pulumi cancel`")
    held = read_locks(store, PROJECT, env)
    if refusal := unlock_refusal(env, held, force):
        raise Refused(refusal)
    stack = open_engine(root).existing(env)
    if stack is None:
        raise CannotJudge(f"stack {env} does not exist in {redact_url(url)}: nothing to unlock")
    done = []
    if held:
        stack.cancel()
        done.append(f"removed {len(held)} lock(s): " + "; ".join(lock.describe() for lock in held))
    exported = stack.export_stack()
    cleaned, pending = clear_pending({"version": exported.version, "deployment": exported.deployment})
    if pending:
        stack.import_stack(auto.Deployment(version=cleaned["version"], deployment=cleaned["deployment"]))
        done.append(f"cleared {len(pending)} pending operation(s): " + "; ".join(pending)
                    + " (the next `up` creates or updates them again; check that the cloud has no orphan)")
    if not done:
        return [f"{env} was neither locked nor holding pending operations: nothing to do"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = f"{stamp} by {getpass.getuser()}@{socket.gethostname()}: {len(held)} lock(s), {len(pending)} pending op(s)"
    stack.set_tag(UNLOCK_TAG, note)
    done.append(f"recorded as stack tag {UNLOCK_TAG}={note}")
    return done
