"""The pinned Pulumi CLI for a team's CI, from the installed package: `deployctl install-engine`.

The package ships `install-pulumi` (this source's scripts/install-pulumi, which `make engine` runs):
a pulumi of the pinned version on PATH, else its cache (~/.cache/deploy-by-code/pulumi-<version>,
or $DEPLOYCTL_PULUMI_HOME), else the official installer, else a build from the Go module proxy. A team's
repository holds none of the tool's scripts, so its workflows run this command instead. In a venv,
the CLI is then linked beside its python, as `make engine` does, where deployctl looks for it first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path

from deployctl import console
from deployctl.core.violations import CannotJudge

SCRIPT = "install-pulumi"
TIMEOUT = 3600.0
"""A build from source takes about ten minutes on two cores; an hour is a hung one."""


def install_engine(bin_dir: Path | None) -> Path:
    """Find or install the pinned CLI (into bin_dir, else the cache) and return its bin folder.
    The script's progress is passed on to stderr as it comes; a run past TIMEOUT is stopped."""
    bash = shutil.which("bash")
    if bash is None:
        raise CannotJudge("install-engine needs bash on PATH")
    with resources.as_file(resources.files("deployctl.adapters.pulumi") / SCRIPT) as script:
        proc = subprocess.Popen([bash, str(script), *([str(bin_dir)] if bin_dir is not None else [])],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.extend(proc.stdout or ()), daemon=True)
        reader.start()
        watchdog = threading.Timer(TIMEOUT, proc.kill)
        watchdog.start()
        try:
            for line in proc.stderr or ():
                console.error(line.rstrip("\n"))
            code = proc.wait()
            reader.join()
        finally:
            expired = not watchdog.is_alive()
            watchdog.cancel()
    if expired and code != 0:
        raise CannotJudge(f"installing the Pulumi CLI took over {TIMEOUT / 60:.0f} minutes; stopped")
    lines = "".join(out).strip().splitlines()
    if code != 0 or not lines:
        raise CannotJudge(f"the Pulumi CLI could not be installed (exit {code}); the reason is above")
    return Path(lines[-1])


def link_beside_python(bin_dir: Path) -> Path | None:
    """Link every program of bin_dir into this venv's bin folder (deployctl's `find_pulumi` looks
    there first); None outside a venv, where nothing is written. A real file of the same name is left
    as it is (the venv's own); an older link is replaced."""
    if sys.prefix == sys.base_prefix:
        return None
    target = Path(sys.executable).parent
    if target.resolve() == bin_dir.resolve():
        return target
    for item in sorted(bin_dir.iterdir()):
        link = target / item.name
        if item.name.startswith(".") or not item.is_file() or (link.exists() and not link.is_symlink()):
            continue
        fresh = target / f".{item.name}.{os.getpid()}"
        fresh.unlink(missing_ok=True)
        fresh.symlink_to(item)
        os.replace(fresh, link)  # atomic: a run beside this one sees the old link or the new one
    return target
