"""Reading a self-managed backend's state in place: the update history the stale-run guard needs and
each stack's outputs, read from the very files Pulumi's own `stack history` and `stack output` read
(file and S3 backends in the project layout), else through the engine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deployctl.adapters.pulumi.backend import BackendStalled, Store
from deployctl.core.change.deployguard import last_success
from deployctl.core.trace.outcomes import UpdateRecord


def latest_success(engine: Any, env: str) -> UpdateRecord | None:
    """The stack's last successful update, read from the backend through Engine.history: the one
    reader of update history, so the guard sees the versions `history` shows (numbered for a file
    or S3 backend, which does not number them). Pages stop at the first that holds a success: pages
    run newest first, so it holds the newest (a stack with thousands of updates costs one page; a
    file or S3 backend reads one object per update on it, so pages are short)."""
    return last_success(engine.history(env, page_size=HISTORY_PAGE,
                                       enough=lambda records: last_success(records) is not None))


HISTORY_PAGE = 10
"""Update records the stale-run guard reads at a time, newest first, until a page holds a success."""


META_FILE = ".pulumi/meta.yaml"
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""How Pulumi marks a secret value in a checkpoint (sdk/go/common/resource/sig: Secret)."""
_MASKED = "[secret]"
"""What `pulumi stack output --json` prints in place of a secret value (not asked to show secrets)."""


class _NotInPlace(Exception):
    """The state is not laid out as read here (a legacy or gzipped backend, an unknown checkpoint):
    the CLI reads it."""


def _project_mode(store: Store, memo: dict[str, bytes]) -> None:
    """Pulumi's project-scoped layout (meta.yaml `version: 1`), the only one read in place."""
    try:
        meta = _read_once(store, memo, META_FILE).decode("utf-8")
    except BackendStalled:
        raise
    except Exception:
        raise _NotInPlace(META_FILE) from None
    if "version: 1" not in [line.strip() for line in meta.splitlines()]:
        raise _NotInPlace(META_FILE)


def _read_once(store: Store, memo: dict[str, bytes], key: str) -> bytes:
    """An object Pulumi writes once and never changes (meta.yaml, an update record: each update writes
    a new `<stack>-<unix ns>.history.json`), read once per run: `memo` lives as long as the run's store.
    The listing, the checkpoint and the locks are read anew each time."""
    if key not in memo:
        memo[key] = store.read(key)
    return memo[key]


def _history_keys(store: Store, memo: dict[str, bytes], project: str, env: str) -> list[str]:
    """The stack's update records, newest first (`<stack>-<unix ns>.history.json`: names sort by time,
    as Pulumi's own reader lists them)."""
    _project_mode(store, memo)
    keys = store.list(f".pulumi/history/{project}/{env}/")
    if any(k.endswith(".gz") for k in keys):
        raise _NotInPlace("gzipped history")
    return sorted((k for k in keys if k.endswith(".history.json")), reverse=True)


def _record(env: str, version: int, data: bytes) -> UpdateRecord:
    """One of Pulumi's UpdateInfo files (pkg/backend/updates.go) as the record Engine.history makes."""
    raw = json.loads(data)
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str) or not isinstance(raw.get("result"), str):
        raise _NotInPlace("an update record of another shape")

    def moment(key: str) -> datetime | None:
        value = raw.get(key)
        return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int) and value > 0 else None

    environment = raw.get("environment") or {}
    changes = raw.get("resourceChanges") or {}
    return UpdateRecord(env=env, version=version, kind=raw["kind"], result=raw["result"],
                        message=str(raw.get("message") or ""), start=moment("startTime"), end=moment("endTime"),
                        environment={str(k): str(v) for k, v in environment.items()},
                        counts={str(k): int(v) for k, v in changes.items()})


def _unmasked_leaf(value: Any) -> Any:
    """A checkpoint value as `pulumi stack output --json` prints it: each secret as "[secret]"."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
            return _MASKED
        return {k: _unmasked_leaf(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unmasked_leaf(v) for v in value]
    return value


@dataclass
class StateReads:
    """What `up` reads before an update (the stale-run guard's newest success, each stack's outputs),
    read where Pulumi keeps them when the backend is a file or S3 store in its project layout: the
    very files Pulumi's own `stack history` and `stack output` read, with no CLI start (~0.3 s each
    on the way to an update). Any other backend or layout, or a file that does not parse, is read
    through the engine as before; a stalled store stays an error (BackendStalled)."""

    engine: Any
    store: Store | None
    memo: dict[str, bytes] = field(default_factory=dict)
    """The run's immutable objects already read (_read_once): share it for the run (DeployGuard.reads)."""

    def latest_success(self, env: str) -> UpdateRecord | None:
        from deployctl.core.repo.envconfig import PROJECT

        if self.store is not None:
            try:
                keys = _history_keys(self.store, self.memo, PROJECT, env)
                records: list[UpdateRecord] = []
                for i, key in enumerate(keys):  # numbered oldest first, as Engine.history numbers them
                    records.append(_record(env, len(keys) - i, _read_once(self.store, self.memo, key)))
                    if (found := last_success(records)) is not None:
                        # the newest success: names sort by the time each record was written, and one
                        # stack's updates never overlap (its lock), so no older record started later
                        return found
                return last_success(records)
            except BackendStalled as exc:
                raise BackendStalled(f"cannot read {env}'s update history: {exc}") from None
            except Exception:  # _NotInPlace, a record being written, an unexpected answer: ask the CLI
                pass
        return latest_success(self.engine, env)

    def existing_outputs(self, env: str) -> dict[str, Any] | None:
        """As Engine.existing_outputs: the outputs but the secret ones, None for a stack never created."""
        from deployctl.core.repo.envconfig import PROJECT

        if self.store is not None:
            try:
                return self._outputs_in_place(PROJECT, env)
            except BackendStalled as exc:
                raise BackendStalled(f"cannot read {env}'s outputs: {exc}") from None
            except Exception:
                pass
        out: dict[str, Any] | None = self.engine.existing_outputs(env)
        return out

    def _outputs_in_place(self, project: str, env: str) -> dict[str, Any] | None:
        assert self.store is not None
        _project_mode(self.store, self.memo)
        base = f".pulumi/stacks/{project}/{env}.json"
        found = set(self.store.list(f".pulumi/stacks/{project}/"))
        if base + ".gz" in found:  # gzipped (PULUMI_DIY_BACKEND_GZIP): Pulumi decides which one is current
            raise _NotInPlace("a gzipped checkpoint")
        if base not in found:
            return None  # never created: the CLI's StackNotFound
        raw = json.loads(self.store.read(base))
        checkpoint = raw.get("checkpoint") if isinstance(raw, dict) else None
        if not isinstance(checkpoint, dict):
            raise _NotInPlace("a checkpoint of another shape")
        latest = checkpoint.get("latest") or {}
        stacks = [r for r in latest.get("resources") or [] if r.get("type") == "pulumi:pulumi:Stack"]
        if len(stacks) > 1:
            raise _NotInPlace("several root stack resources")
        outputs = (stacks[0].get("outputs") or {}) if stacks else {}
        shown = {k: _unmasked_leaf(v) for k, v in outputs.items()}
        return {k: v for k, v in shown.items() if v != _MASKED}
