"""The Pulumi CLI binary: where it is, and its version, without importing Pulumi.

Every CLI start costs ~0.3 s (a large Go binary). The Automation API needs the version before any
other run; it is kept in the cache folder by the binary's path, size and modification time (a new
build is asked again), so a command asks it once per binary, not once per run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from deployctl.adapters.cachedir import cache_root
from deployctl.core.violations import CannotJudge

VERSIONS_FILE = "pulumi-versions.json"

ENGINE_TIMEOUT_VAR, DEFAULT_ENGINE_TIMEOUT = "DEPLOYCTL_ENGINE_TIMEOUT", 3600.0
"""Seconds for one engine run that changes or previews a stack (up, preview, refresh, destroy)."""
ENGINE_READ_TIMEOUT_VAR, DEFAULT_ENGINE_READ_TIMEOUT = "DEPLOYCTL_ENGINE_READ_TIMEOUT", 120.0
"""Seconds for any other engine command (stack output, history, config, select, export...)."""
STOP_GRACE = 10.0
"""Seconds a stalled update or read has, after SIGINT, to cancel and end its plugins before it is killed."""
UPDATE_COMMANDS = frozenset({"up", "update", "preview", "refresh", "destroy", "import"})

_KNOWN: dict[Path, str] = {}
_LOCK = threading.Lock()


def find_pulumi() -> Path | None:
    """The CLI: $DEPLOYCTL_PULUMI, beside this venv's python, or on PATH."""
    if explicit := os.environ.get("DEPLOYCTL_PULUMI"):
        return Path(explicit)
    beside = Path(sys.executable).parent / "pulumi"
    if beside.exists():
        return beside
    found = shutil.which("pulumi")
    return Path(found) if found else None


_VERSION_RE = re.compile(r"^v?\d+\.\d+\.\d+[0-9A-Za-z.+-]*$")


def _identity(pulumi_bin: Path) -> str | None:
    try:
        real = pulumi_bin.resolve()
        st = real.stat()
    except OSError:
        return None
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def _known_versions() -> dict[str, str]:
    """The versions recorded in the cache folder, by binary; a missing or garbled file is empty."""
    try:
        known = json.loads((cache_root() / VERSIONS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(known, dict):
        return {}
    return {k: v for k, v in known.items() if isinstance(k, str) and isinstance(v, str) and _VERSION_RE.match(v)}


def _cached(pulumi_bin: Path) -> str | None:
    """The version recorded for exactly this binary, if any."""
    key = _identity(pulumi_bin)
    return _known_versions().get(key) if key is not None else None


def _record(pulumi_bin: Path, version: str) -> None:
    """Remember the version (best effort: a read-only cache only costs the next run a CLI start)."""
    key = _identity(pulumi_bin)
    if key is None or not _VERSION_RE.match(version):
        return
    path = cache_root() / VERSIONS_FILE
    known = _known_versions()
    known[key] = version
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(dict(sorted(known.items())[-20:]), indent=1), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one


def version_of(pulumi_bin: Path, timeout: float = 120) -> str:
    """What `pulumi version` prints (e.g. v3.274.1): known in this process, kept in the cache folder
    for exactly this binary, else asked (read-only) and kept."""
    with _LOCK:
        if pulumi_bin in _KNOWN:
            return _KNOWN[pulumi_bin]
    version = _cached(pulumi_bin)
    if version is None:
        try:
            done = subprocess.run([str(pulumi_bin), "version"], capture_output=True, timeout=timeout,
                                  env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
        except OSError:
            raise CannotJudge(f"cannot run {pulumi_bin}; run `make setup` or put `pulumi` on PATH") from None
        except subprocess.TimeoutExpired:
            raise CannotJudge(f"`{pulumi_bin} version` did not answer in {timeout:.0f} s") from None
        if done.returncode != 0:  # a later call tries again
            raise CannotJudge(f"`{pulumi_bin} version` failed: {done.stderr.decode(errors='replace').strip()[:300]}")
        version = done.stdout.decode(errors="replace").strip()
        _record(pulumi_bin, version)
    with _LOCK:
        _KNOWN[pulumi_bin] = version
    return version


def engine_deadline(args: list[str]) -> tuple[float, str]:
    """The deadline of one CLI run, by its command (its first word that is not a flag), and the variable
    that sets it: a stalled engine (a backend that never answers, a hung plugin) is ended and named."""
    from deployctl.adapters.seconds import seconds_from_env

    verb = next((a for a in args if not a.startswith("-")), "")
    if verb in UPDATE_COMMANDS:
        return seconds_from_env(ENGINE_TIMEOUT_VAR, DEFAULT_ENGINE_TIMEOUT), ENGINE_TIMEOUT_VAR
    return seconds_from_env(ENGINE_READ_TIMEOUT_VAR, DEFAULT_ENGINE_READ_TIMEOUT), ENGINE_READ_TIMEOUT_VAR


def command_words(args: list[str]) -> str:
    """`pulumi stack output` for a message: the command's words, no flag or value of one."""
    words: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            if words:
                break
            continue  # a global flag before the command (--non-interactive)
        words.append(arg)
    return " ".join(["pulumi", *words[:2]])


def stall_message(command: str, seconds: float, variable: str, backend: str) -> str:
    """What a stalled engine run says: the command, its deadline and variable, and the backend to check."""
    from deployctl.core.urls import redact_url

    where = f"the backend {redact_url(backend)}" if backend else "the backend"
    return (f"`{command}` did not end within {seconds:g} s ({variable}) and was stopped: the engine stalled; check "
            f"that {where} answers (`deployctl doctor`), or a provider that hangs")
