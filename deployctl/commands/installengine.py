"""`deployctl install-engine`: the pinned Pulumi CLI found or installed (adapters/pulumi/install.py),
linked beside this venv's python, and its bin folder printed (for a team's CI, e.g. `>> "$GITHUB_PATH"`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployctl import console
from deployctl.core.violations import ExitStatus


@dataclass(frozen=True)
class InstallEngineRequest:
    bin_dir: Path | None = None
    """Where to install it (default: the cache)."""
    link: bool = True
    """Link it into this venv's bin folder (False: --no-link)."""


def install_engine(request: InstallEngineRequest) -> ExitStatus:
    """The bin folder on stdout, alone (a script appends it to PATH); the link made on stderr."""
    from deployctl.adapters.pulumi.install import install_engine as run_install
    from deployctl.adapters.pulumi.install import link_beside_python

    found = run_install(request.bin_dir.resolve() if request.bin_dir is not None else None)
    if request.link and (linked := link_beside_python(found)) is not None:
        console.error(f"linked into {linked}")
    console.out(str(found))
    return ExitStatus.OK
