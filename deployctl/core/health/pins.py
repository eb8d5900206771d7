"""The switch-back's pin: which apps an update holds on a given commit (adapters/pulumi/switchback.py).

The environment variable DEPLOYCTL_PIN, `{"<env>": {"<app>": "<commit>"}}`, is an explicit input to
the program (stacks/program.py); a null commit leaves a never-deployed dependent out. Its own module
so the program does not import the switch-back's engine side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

PIN_VAR = "DEPLOYCTL_PIN"


def pins_for(env: str, environ: Mapping[str, str]) -> dict[str, str | None]:
    """The apps of `env` pinned for this update (app -> commit, or None: leave the app out)."""
    raw = environ.get(PIN_VAR)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        pins = data.get(env, {}) if isinstance(data, dict) else None
    except ValueError:
        pins = None
    if not isinstance(pins, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                             for k, v in pins.items()):
        raise ValueError(f"{PIN_VAR} must be a JSON object {{env: {{app: commit-or-null}}}}")
    return pins
