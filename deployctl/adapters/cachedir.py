"""Where deployctl keeps what it can rebuild: app-repository clones, the Pulumi CLI's version."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$DEPLOYCTL_CACHE, else the XDG cache folder's deploy-by-code."""
    return Path(os.environ.get("DEPLOYCTL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deploy-by-code"))
