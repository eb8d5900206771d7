"""The shared backend: where Pulumi keeps a team's state and locks, and what protects that trace.

- the CI policy: in CI, refuse any file:// backend, in the repo or not (a runner's folder dies with the
  job, and the stack history, the deploy trace, with it) and the empty passphrase for a protected env;
- the stale-run guard: the commit of the stack's last successful update, read from the backend,
  must be an ancestor of the commit being deployed (any runner, with or without --base);
- waiting for Pulumi's stack lock, bounded, then re-judging; and `unlock` for a run that died.

Pulumi's self-managed backends keep one lock file per running update under
`.pulumi/locks/<org>/<project>/<stack>/<id>.json` ({pid, username, hostname, timestamp}; see
pkg/backend/diy/lock.go). They are read here directly (file:// and s3://), never parsed from CLI text.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.model import HASH_RE, short
from deployctl.core.outcomes import Outcome, UpdateRecord
from deployctl.core.updatemessage import forced_message
from deployctl.core.urls import redact_url, redact_urls
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.adapters.gitrepo import DeployRepo

STATE_DIR = ".pulumi-state"
ALLOW_LOCAL = "DEPLOYCTL_ALLOW_LOCAL_BACKEND"
LOCKS_DIR = ".pulumi/locks"
DEFAULT_LOCK_TIMEOUT = 300.0
BACKEND_TIMEOUT_VAR = "DEPLOYCTL_BACKEND_TIMEOUT"
DEFAULT_BACKEND_TIMEOUT = 20.0
"""Seconds for each of deployctl's own reads and writes of an S3 backend, whole (connect, headers, body)."""


# -- where the state lives ----------------------------------------------------------------------


def backend_url(root: Path, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The backend the engine uses: PULUMI_BACKEND_URL, else the file backend inside the repo."""
    return environ.get("PULUMI_BACKEND_URL") or (root / STATE_DIR).resolve().as_uri()


def in_repo_file_backend(url: str, root: Path) -> bool:
    if not url.startswith("file://"):
        return False
    path = Path(unquote(urlparse(url).path)).expanduser().resolve()
    return path == root.resolve() or root.resolve() in path.parents


# -- the CI policy ------------------------------------------------------------------------------


def in_ci(environ: dict[str, str] | os._Environ[str]) -> bool:
    return any(environ.get(k, "").lower() not in ("", "0", "false") for k in ("CI", "GITHUB_ACTIONS"))


def passphrase_set(environ: dict[str, str] | os._Environ[str]) -> bool:
    if environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return True
    file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not file:
        return False
    return Path(file).is_file() and bool(Path(file).read_text(encoding="utf-8").strip())


def _stack_file(root: Path, env: str) -> dict[str, Any]:
    """The stack config's top-level keys ({} when it cannot be read: `check` says why)."""
    from deployctl.core.yamlfile import YamlError, load_yaml  # the one bounded YAML reader

    file = f"Pulumi.{env}.yaml"
    try:
        data = load_yaml((root / file).read_text(encoding="utf-8"), file, "stack-config")[0] or {}
    except (OSError, YamlError):
        return {}
    return data if isinstance(data, dict) else {}


def secrets_provider(root: Path, env: str) -> str | None:
    """The stack's `secretsprovider` (awskms://..., gcpkms://...), None for the passphrase."""
    provider = _stack_file(root, env).get("secretsprovider")
    return str(provider) if provider and provider != "passphrase" else None


def encryption_salt(root: Path, env: str) -> str | None:
    """The passphrase stack's `encryptionsalt` (its check value), None when it has none yet."""
    salt = _stack_file(root, env).get("encryptionsalt")
    return str(salt) if salt else None


def passphrase(environ: dict[str, str] | os._Environ[str]) -> str:
    """The passphrase Pulumi will use, read as Pulumi reads it: PULUMI_CONFIG_PASSPHRASE (even empty),
    else the file PULUMI_CONFIG_PASSPHRASE_FILE names, trimmed; else empty."""
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        return environ["PULUMI_CONFIG_PASSPHRASE"]
    file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    try:
        return Path(file).read_text(encoding="utf-8").strip() if file else ""
    except OSError:
        return ""


def ci_refusals(url: str, root: Path, protected: dict[str, bool], providers: dict[str, str | None],
                environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """What `up`/`preview` must refuse in CI (pure): each message names the variable to set."""
    if not in_ci(environ) or environ.get(ALLOW_LOCAL, "") not in ("", "0"):
        return []
    found = []
    if url.startswith("file://") and not in_repo_file_backend(url, root):
        found.append(
            f"PULUMI_BACKEND_URL is {redact_url(url)}, a folder on this runner: the state and the deploy history "
            "would vanish with it, as with the in-repo backend (the next run would create every app again). Set "
            "PULUMI_BACKEND_URL to a shared backend (in GitHub: vars.PULUMI_BACKEND_URL, e.g. "
            f"s3://acme-deploy-state/deploys?region=eu-west-1). Only a throwaway demo or test may set {ALLOW_LOCAL}=1."
        )
    if in_repo_file_backend(url, root):
        found.append(
            "PULUMI_BACKEND_URL is not set, so the state and the deploy history would live in this runner's "
            f"{STATE_DIR}/ and vanish with it (the next run would create every app again). Set "
            "PULUMI_BACKEND_URL (in GitHub: vars.PULUMI_BACKEND_URL, e.g. s3://acme-deploy-state/deploys"
            f"?region=eu-west-1). Only a throwaway demo or test may set {ALLOW_LOCAL}=1."
        )
    bare = [env for env, on in protected.items() if on and providers.get(env) is None]
    if bare and not passphrase_set(environ):
        found.append(
            f"PULUMI_CONFIG_PASSPHRASE is not set, so the secrets of protected env(s) {', '.join(bare)} would be "
            "encrypted with the empty passphrase. Set PULUMI_CONFIG_PASSPHRASE (in GitHub: "
            "secrets.PULUMI_CONFIG_PASSPHRASE) or PULUMI_CONFIG_PASSPHRASE_FILE, or move the stack to a cloud "
            "secrets provider (README: \"Secrets for a team\")."
        )
    return found


def enforce_ci_policy(root: Path, protected: dict[str, bool]) -> None:
    """Raise CannotJudge (exit 2) when CI would lose the trace or deploy with the empty passphrase."""
    found = ci_refusals(backend_url(root), root, protected, {e: secrets_provider(root, e) for e in protected},
                        os.environ)
    if found:
        raise CannotJudge("refusing to run the engine in CI:\n  " + "\n  ".join(found))


# -- the stale-run guard ------------------------------------------------------------------------


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


# -- locks --------------------------------------------------------------------------------------


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


class Store(Protocol):
    """The few object-store operations Pulumi's lock protocol needs."""

    def list(self, prefix: str) -> list[str]: ...
    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...


@dataclass
class FileStore:
    root: Path

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root).as_posix()) for p in base.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class BackendStalled(CannotJudge):
    """The backend gave no complete answer within its deadline (exit 2)."""


def backend_timeout(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """Seconds for each of deployctl's own backend reads and writes, whole: DEPLOYCTL_BACKEND_TIMEOUT."""
    from deployctl.adapters.deadline import seconds_from_env

    return seconds_from_env(BACKEND_TIMEOUT_VAR, DEFAULT_BACKEND_TIMEOUT, environ)


@dataclass
class S3Store:
    """The bucket of an `s3://bucket/prefix?region=..&endpoint=..` backend, with the same parameters.

    Each operation ends within `deadline` seconds, whole: boto3's own timeouts are per socket read,
    so an endpoint that dribbles an endless header would hold it forever. Past the deadline the call
    is left to its (daemon) thread and BackendStalled names the backend; the store then fails at
    once, since an endpoint that stalled once is not asked again in the same run."""

    client: Any
    bucket: str
    prefix: str
    deadline: float = DEFAULT_BACKEND_TIMEOUT
    shown: str = ""
    """The backend's URL as it may be printed (core/urls.redact_url)."""
    _stalled: list[str] = field(default_factory=list, repr=False)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _bounded(self, what: str, call: Callable[[], Any]) -> Any:
        if self._stalled:
            raise BackendStalled(self._stalled[0])
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = call()
            except BaseException as exc:  # handed to the caller's thread as it is
                box["error"] = exc

        worker = threading.Thread(target=run, name="deployctl-backend", daemon=True)
        worker.start()
        worker.join(self.deadline)
        if worker.is_alive():
            self._stalled.append(
                f"the backend {self.shown or f's3://{self.bucket}/{self.prefix}'} gave no complete answer to a "
                f"{what} within {self.deadline:g} s ({BACKEND_TIMEOUT_VAR}); check its endpoint and this runner's "
                "network path to it")
            raise BackendStalled(self._stalled[0])
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def list(self, prefix: str) -> list[str]:
        def call() -> list[str]:
            keys: list[str] = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                              Prefix=self._key(prefix)):
                keys += [o["Key"][len(self._key("")):] for o in page.get("Contents", [])]
            return keys

        return list(self._bounded("listing", call))

    def read(self, key: str) -> bytes:
        return bytes(self._bounded("read", lambda: self.client.get_object(Bucket=self.bucket,
                                                                          Key=self._key(key))["Body"].read()))

    def write(self, key: str, data: bytes) -> None:
        self._bounded("write", lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data))

    def delete(self, key: str) -> None:
        self._bounded("delete", lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))


def s3_client_args(url: str, timeout: float = DEFAULT_BACKEND_TIMEOUT) -> tuple[str, str, dict[str, Any]]:
    """Bucket, prefix and boto3 client arguments from Pulumi's S3 URL (gocloud.dev s3blob parameters):
    connect and read timeouts of `timeout` s, 2 attempts in all (S3Store bounds each call, whole)."""
    parsed = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    from botocore.config import Config

    args: dict[str, Any] = {"config": Config(
        connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"},
        s3={"addressing_style": "path" if query.get("use_path_style") == "true" else "auto"})}
    if region := query.get("region"):
        args["region_name"] = region
    if endpoint := query.get("endpoint"):
        if "://" not in endpoint:
            endpoint = ("http://" if query.get("disable_https") == "true" else "https://") + endpoint
        args["endpoint_url"] = endpoint
    if profile := query.get("profile"):
        args["profile"] = profile
    return parsed.netloc, parsed.path.strip("/"), args


def open_store(url: str) -> Store | None:
    """The backend's object store, for file:// and s3:// backends; None for others (Pulumi Cloud...)."""
    if url.startswith("file://"):
        return FileStore(Path(unquote(urlparse(url).path)).expanduser())
    if url.startswith("s3://"):
        import boto3

        timeout = backend_timeout()
        bucket, prefix, args = s3_client_args(url, timeout)
        profile = args.pop("profile", None)
        session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
        return S3Store(session.client("s3", **args), bucket, prefix, deadline=timeout, shown=redact_url(url))
    return None


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


def looks_locked(outcome: Outcome) -> bool:
    """An `up` that failed because another update holds the stack's lock (Pulumi's diy message)."""
    return not outcome.ok and "currently locked" in (outcome.error or "")


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


# -- unlock -------------------------------------------------------------------------------------


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


def clear_pending(deployment: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The exported state without pending operations (pure), and what they were."""
    inner = deployment.get("deployment") or {}
    pending = inner.get("pending_operations") or []
    if not pending:
        return deployment, []
    described = [f"{p.get('type', '?')} {(p.get('resource') or {}).get('urn', '?')}" for p in pending]
    return {**deployment, "deployment": {**inner, "pending_operations": []}}, described


UNLOCK_TAG = "deployctl:unlocked"


class Refused(Exception):
    """Doing it now could break what still runs: exit 1, with what to do."""


# -- the imperative shell: git, the engine, the store ------------------------------------------


def _git_knows(repo: Any, sha: str) -> bool:
    """DeployRepo.knows for a repository named by its folders (tests hand a GitPython Repo)."""
    from deployctl.adapters.gitrepo import DeployRepo

    return DeployRepo(Path(repo.working_tree_dir or repo.git_dir)).knows(sha)


def ran_since(repo: DeployRepo, recorded: str, merge: str) -> bool:
    """Is `recorded` (a commit the backend names: its text, never an option) `merge` or a commit after
    it in the deploy repo?"""
    if recorded == merge:
        return True
    known = bool(HASH_RE.match(recorded)) and repo.knows(recorded)
    return known and repo.is_ancestor(merge, recorded)


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


def stale_judge(repo: DeployRepo, engine: Any, env: str, deploying: str,
                store: Store | None = None) -> Callable[[], str | None]:
    """The stale-run verdict on `env`, taken anew each time it is called (after each wait for the lock).
    With the backend's `store`, the history is read there directly (StateReads), else through the CLI."""
    reads = StateReads(engine, store)

    def judge() -> str | None:
        last = reads.latest_success(env)
        head = last.head if last else None
        if last is None or head is None:
            return None
        known = bool(HASH_RE.match(head)) and repo.knows(head)  # the backend's text, never an option
        ancestor = known and repo.is_ancestor(head, deploying)
        return stale_refusal(env, last, deploying, known, ancestor)

    return judge


# -- reading a self-managed backend's state in place ----------------------------------------------

META_FILE = ".pulumi/meta.yaml"
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""How Pulumi marks a secret value in a checkpoint (sdk/go/common/resource/sig: Secret)."""
_MASKED = "[secret]"
"""What `pulumi stack output --json` prints in place of a secret value (not asked to show secrets)."""


class _NotInPlace(Exception):
    """The state is not laid out as read here (a legacy or gzipped backend, an unknown checkpoint):
    the CLI reads it."""


def _project_mode(store: Store) -> None:
    """Pulumi's project-scoped layout (meta.yaml `version: 1`), the only one read in place."""
    try:
        meta = store.read(META_FILE).decode("utf-8")
    except BackendStalled:
        raise
    except Exception:
        raise _NotInPlace(META_FILE) from None
    if "version: 1" not in [line.strip() for line in meta.splitlines()]:
        raise _NotInPlace(META_FILE)


def _history_keys(store: Store, project: str, env: str) -> list[str]:
    """The stack's update records, newest first (`<stack>-<unix ns>.history.json`: names sort by time,
    as Pulumi's own reader lists them)."""
    _project_mode(store)
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

    def latest_success(self, env: str) -> UpdateRecord | None:
        from deployctl.core.envconfig import PROJECT

        if self.store is not None:
            try:
                keys = _history_keys(self.store, PROJECT, env)
                records: list[UpdateRecord] = []
                for i, key in enumerate(keys):  # numbered oldest first, as Engine.history numbers them
                    records.append(_record(env, len(keys) - i, self.store.read(key)))
                    if len(records) % HISTORY_PAGE == 0 and (found := last_success(records)) is not None:
                        return found  # the page latest_success's CLI read would have stopped at
                return last_success(records)
            except BackendStalled as exc:
                raise BackendStalled(f"cannot read {env}'s update history: {exc}") from None
            except Exception:  # _NotInPlace, a record being written, an unexpected answer: ask the CLI
                pass
        return latest_success(self.engine, env)

    def existing_outputs(self, env: str) -> dict[str, Any] | None:
        """As Engine.existing_outputs: the outputs but the secret ones, None for a stack never created."""
        from deployctl.core.envconfig import PROJECT

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
        _project_mode(self.store)
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

    def store(self) -> Store | None:
        """The backend's store, opened once per run for every stack (stacks deploy side by side)."""
        with self._store_lock:
            if not self._store:
                self._store.append(open_store(backend_url(self.root)))
            return self._store[0]

    def up(self, env: str, message: str, sink: Any = None) -> Outcome:
        from deployctl import console
        from deployctl.core.envconfig import PROJECT

        store = self.store()
        judge = stale_judge(self.repo, self.engine, env, self.deploying, store)
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
                                  outputs=StateReads(self.engine, store).existing_outputs)

        return up_when_unlocked(env, attempt, judge, locks, self.lock_timeout, console.info)


def _never() -> str | None:
    return None
