"""The shared backend: where Pulumi keeps a team's state and locks, and its object store (file:// and
s3://), read by deployctl directly. What protects that trace lives beside it: the CI policy
(cipolicy.py), the stack locks (locks.py), reading the state in place (statereads.py) and the stale-run
guard every update goes through (stalerun.py); their pure decisions in core/change/deployguard.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

from deployctl.core.urls import redact_url
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.s3objects import ObjectClient

STATE_DIR = ".pulumi-state"
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


# -- the store --------------------------------------------------------------------------------


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
        """Every file under `prefix`, as keys relative to the root. A stack's history folder holds a
        file per update (thousands in a year), listed before each update: os.scandir, not pathlib."""
        root = os.path.join(str(self.root), "")
        keys: list[str] = []
        folders = [os.path.join(root, prefix)]
        while folders:
            try:
                entries = list(os.scandir(folders.pop()))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file():
                    keys.append(entry.path.removeprefix(root))
        return sorted(keys)

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
    from deployctl.adapters.seconds import seconds_from_env

    return seconds_from_env(BACKEND_TIMEOUT_VAR, DEFAULT_BACKEND_TIMEOUT, environ)


@dataclass
class S3Store:
    """The bucket of an `s3://bucket/prefix?region=..&endpoint=..` backend, with the same parameters.

    Each operation ends within `deadline` seconds, whole: a client's own timeouts are per socket read,
    so an endpoint that dribbles an endless header would hold it forever. Past the deadline the call
    is left to its (daemon) thread and BackendStalled names the backend; the store then fails at
    once, since an endpoint that stalled once is not asked again in the same run."""

    client: ObjectClient
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
        start = len(self._key(""))
        return [key[start:] for key in self._bounded("listing", lambda: self.client.list_keys(self.bucket,
                                                                                                self._key(prefix)))]

    def read(self, key: str) -> bytes:
        return bytes(self._bounded("read", lambda: self.client.get(self.bucket, self._key(key))))

    def write(self, key: str, data: bytes) -> None:
        self._bounded("write", lambda: self.client.put(self.bucket, self._key(key), data))

    def delete(self, key: str) -> None:
        self._bounded("delete", lambda: self.client.delete(self.bucket, self._key(key)))


@dataclass(frozen=True)
class S3Params:
    """Pulumi's S3 backend URL (gocloud.dev s3blob parameters), as deployctl's own client needs it."""

    bucket: str
    prefix: str
    region: str | None
    endpoint: str | None
    """scheme://host[:port]; None: AWS's own."""
    path_style: bool
    profile: str | None


def s3_params(url: str) -> S3Params:
    parsed = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    endpoint = query.get("endpoint") or None
    if endpoint is not None and "://" not in endpoint:
        endpoint = ("http://" if query.get("disable_https") == "true" else "https://") + endpoint
    return S3Params(bucket=parsed.netloc, prefix=parsed.path.strip("/"), region=query.get("region") or None,
                    endpoint=endpoint, path_style=query.get("use_path_style") == "true",
                    profile=query.get("profile") or None)


def s3_client_args(url: str, timeout: float = DEFAULT_BACKEND_TIMEOUT) -> tuple[str, str, dict[str, Any]]:
    """Bucket, prefix and botocore client arguments from Pulumi's S3 URL: connect and read timeouts of
    `timeout` s, 2 attempts in all (S3Store bounds each call, whole)."""
    from botocore.config import Config

    params = s3_params(url)
    args: dict[str, Any] = {"config": Config(
        connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"},
        s3={"addressing_style": "path" if params.path_style else "auto"})}
    if params.region:
        args["region_name"] = params.region
    if params.endpoint:
        args["endpoint_url"] = params.endpoint
    if params.profile:
        args["profile"] = params.profile
    return params.bucket, params.prefix, args


def open_store(url: str) -> Store | None:
    """The backend's object store, for file:// and s3:// backends; None for others (Pulumi Cloud...).
    Each call is a store of its own (what it learnt, such as a stall, lasts one run); an S3 store's
    client is the process's one for that URL and credentials (s3_client)."""
    if url.startswith("file://"):
        return FileStore(Path(unquote(urlparse(url).path)).expanduser())
    if url.startswith("s3://"):
        timeout = backend_timeout()
        params = s3_params(url)
        return S3Store(s3_client(url, timeout), params.bucket, params.prefix, deadline=timeout, shown=redact_url(url))
    return None


_CLIENTS: dict[tuple[Any, ...], ObjectClient] = {}
_CLIENTS_LOCK = threading.Lock()


def s3_client(url: str, timeout: float) -> ObjectClient:
    """The object client of an s3:// backend, made once per process for the same URL, timeout and AWS
    settings of the environment: signed calls over the standard library where the settings are the
    plain case (s3objects.direct_settings), else a botocore client (its session loads the endpoint
    and service models and resolves credentials: ~0.4 s, paid again by every store otherwise). A
    client holds no object data, only its connections and credentials; both are safe to share
    between threads. Made under a lock, so a store opened while the preload thread
    (`preload_s3_client`) is making it waits for that one instead of making a second."""
    from deployctl.adapters.pulumi.s3objects import BotoObjects, SignedObjects, direct_settings

    key = (url, timeout, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            params = s3_params(url)
            direct = direct_settings(params.bucket, params.region, params.endpoint, params.path_style,
                                     params.profile, os.environ)
            _CLIENTS[key] = (SignedObjects(direct, timeout) if direct is not None
                             else BotoObjects(_botocore(url, timeout)))
        return _CLIENTS[key]


def _botocore(url: str, timeout: float) -> Any:
    # botocore's own session, which boto3's wraps (the same credential chain, models and client):
    # boto3's import and its resource and transfer set-up cost ~0.15 s more, and nothing here uses them
    import botocore.session

    _, _, args = s3_client_args(url, timeout)
    profile = args.pop("profile", None)
    return botocore.session.Session(profile=profile).create_client("s3", **args)


def preload_s3_client(url: str) -> None:
    """Make the S3 client of an s3:// backend ahead of its first use (commands/up.py's preload thread,
    beside git and the safeguards); anything wrong is left for the store's own opening to say."""
    if not url.startswith("s3://"):
        return
    try:
        s3_client(url, backend_timeout())
    except Exception:
        return
