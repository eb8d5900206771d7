"""The one list of what the Pulumi program executes, read by `plan`, `codeowners` and the workflows.

A change to one of these paths changes what `pulumi up` does in every stack, so `plan` then deploys
every stack. Only the `deployctl` modules that `__main__.py` -> `stacks/program.py` -> `components/`
import count: the CLI, its templates, Slack and the switch-back's engine side run around the program,
not inside it, so changing them redeploys nothing. tests/test_programpaths.py recomputes the modules
from the program's real imports and fails when this list drifts from them.

A team's repository made by `deployctl init` holds none of the tool's source: its program is the
installed package at the version its pin file names, run by `__main__.py` and `Pulumi.yaml`. So the
pin file is part of the program too: a pull request that upgrades the tool previews every stack.
"""

from __future__ import annotations

from deployctl.core.repo.catalog import CATALOG_FILE

PIN_FILE = "requirements.txt"
"""A team repository's pin of the tool (`deploy-by-code==X`, core/repo/scaffold.py); absent here, where the
program is the source itself."""

PROGRAM_MODULES: tuple[str, ...] = (
    "deployctl/__init__.py",
    *(f"deployctl/adapters/{name}.py" for name in (
        "__init__", "cachedir")),
    *(f"deployctl/adapters/cloud/{name}.py" for name in (
        "__init__", "probes")),
    *(f"deployctl/adapters/git/{name}.py" for name in (
        "__init__", "apprepos", "commitgraph", "reads", "repo", "repourl")),
    *(f"deployctl/core/{name}.py" for name in (
        "__init__", "lazymodel", "urls", "violations")),
    *(f"deployctl/core/health/{name}.py" for name in (
        "__init__", "checks", "healthmessage", "pins")),
    *(f"deployctl/core/kinds/{name}.py" for name in (
        "__init__", "artifactnames", "awslimits", "awsnames")),
    *(f"deployctl/core/repo/{name}.py" for name in (
        "__init__", "catalog", "commitinfo", "envconfig", "model", "order", "owners", "safegit",
        "snapshot", "tree", "yamlfile")),
)
"""The deployctl modules the program and its providers import (directly, through another of them, or
inside a function, as the local kind's provider imports the app-repository cache when it deploys)."""

PROGRAM_PATHS: tuple[str, ...] = (CATALOG_FILE, "Pulumi.yaml", "__main__.py", "stacks/", "components/",
                                  "deployctl/stacks", "deployctl/components", *PROGRAM_MODULES, "pyproject.toml",
                                  PIN_FILE)
"""Files, and folders (ending in `/`), shared by every stack; each stack's own `Pulumi.<env>.yaml` and
`deploys/<env>/` are not in it (they change that stack only)."""


def is_program_path(path: str) -> bool:
    """True when `path` (relative to the repo root, `/`-separated) is part of the program."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PROGRAM_PATHS)


def workflow_paths() -> list[str]:
    """The `paths:` filter of the workflows that preview or deploy: the deploy files, the stack
    configs (`Pulumi*.yaml`, Pulumi.yaml included) and the program."""
    program = [f"{p}**" if p.endswith("/") else p for p in PROGRAM_PATHS if p != "Pulumi.yaml"]
    return ["deploys/**", "Pulumi*.yaml", *program]
