"""The Pulumi CLI binary: where it is, and its version, without importing Pulumi.

Every CLI start costs ~0.3 s (a large Go binary). The Automation API starts one (`pulumi version`)
before any other; a command that will preview starts it here first thing, before its own imports,
so that start overlaps them instead of delaying the preview.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from deployctl.core.violations import CannotJudge

_VERSIONS: dict[Path, subprocess.Popen[bytes]] = {}
"""`pulumi version` runs started and not yet collected."""
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


def start_version(pulumi_bin: Path | None = None) -> None:
    """Start `pulumi version` in the background (read-only); `version_of` collects what it prints."""
    pulumi_bin = pulumi_bin or find_pulumi()
    if pulumi_bin is None:
        return
    with _LOCK:
        if pulumi_bin not in _VERSIONS:
            with contextlib.suppress(OSError):  # version_of says why it cannot run
                _VERSIONS[pulumi_bin] = subprocess.Popen(
                    [str(pulumi_bin), "version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})


def version_of(pulumi_bin: Path, timeout: float = 120) -> str:
    """What `pulumi version` prints (e.g. v3.274.1), from the run start_version began, else a new one."""
    with _LOCK:
        if pulumi_bin in _KNOWN:
            return _KNOWN[pulumi_bin]
    start_version(pulumi_bin)
    with _LOCK:
        proc = _VERSIONS.pop(pulumi_bin, None)
    if proc is None:
        raise CannotJudge(f"cannot run {pulumi_bin}; run `make setup` or put `pulumi` on PATH")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise CannotJudge(f"`{pulumi_bin} version` did not answer in {timeout:.0f} s") from None
    if proc.returncode != 0:  # a later call tries again
        raise CannotJudge(f"`{pulumi_bin} version` failed: {err.decode(errors='replace').strip()[:300]}")
    with _LOCK:
        _KNOWN[pulumi_bin] = out.decode(errors="replace").strip()
        return _KNOWN[pulumi_bin]
