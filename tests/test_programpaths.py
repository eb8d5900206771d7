"""The one list of program paths: it is what the program really imports, and a change outside it (the
CLI, the templates, Slack) redeploys no stack, on a real deploy repo."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deployctl.core.repo.programpaths import PIN_FILE, PROGRAM_MODULES, PROGRAM_PATHS, is_program_path
from tests.builders import PROJECT_ROOT
from tests.scenario import Scenario, build, run_cli


def _imported_inside(folders: tuple[str, ...]) -> list[str]:
    """The deployctl modules named by any import statement in these folders, also those inside a
    function: a provider imports some only when it deploys (components/local.py, `_repos`)."""
    return sorted({node.module for folder in folders for path in (PROJECT_ROOT / folder).glob("*.py")
                   for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deployctl")})


def test_the_listed_modules_are_exactly_what_the_program_imports() -> None:
    """Import the program, every component kind and what they import when they run, in a fresh
    interpreter, as `pulumi up` does."""
    kinds = sorted(p.stem for p in (PROJECT_ROOT / "components").glob("*.py") if p.stem != "__init__")
    later = _imported_inside(("stacks", "components"))
    assert "deployctl.adapters.git.apprepos" in later  # the local kind's provider, when it deploys
    code = ("import json, sys, importlib; import deployctl.stacks.program\n"
            f"for k in {kinds!r}: importlib.import_module('deployctl.components.' + k)\n"
            f"for m in {later!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(getattr(m, '__file__', None) or '' for n, m in sys.modules.items()"
            " if n == 'deployctl' or (n.startswith('deployctl.')"
            " and n.split('.')[1] not in ('components', 'stacks')))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    imported = {Path(f).resolve().relative_to(PROJECT_ROOT).as_posix() for f in json.loads(result.stdout)}
    assert imported == set(PROGRAM_MODULES)
    # every path is this repository's, but the pin: a team's repository (`deployctl init`) pins the tool there
    assert [p for p in PROGRAM_PATHS if not (PROJECT_ROOT / p).exists()] == [PIN_FILE]


@pytest.mark.parametrize(("path", "program"), [
    ("deployctl/cli.py", False), ("deployctl/adapters/notify.py", False),
    ("deployctl/report/templates/comment.md.j2", False),
    ("deployctl/core/repo/catalog.py", True), ("components/local.py", True), ("apps.yaml", True), ("stacks/x.py", True),
    ("deploys/staging/api", False), ("Pulumi.staging.yaml", False), (PIN_FILE, True), ("README.md", False),
])
def test_is_program_path(path: str, program: bool) -> None:
    assert is_program_path(path) is program


@pytest.fixture
def sc(tmp_path: Path) -> Scenario:
    sc = build(tmp_path)
    for rel in ("deployctl/cli.py", "deployctl/adapters/notify.py", "deployctl/report/templates/comment.md.j2",
                "deployctl/core/repo/catalog.py"):
        sc.deploy.write(rel, (PROJECT_ROOT / rel).read_text(encoding="utf-8"))
    sc.base = sc.deploy.commit("the project's code, as in a real deploy repo")
    return sc


def plan(sc: Scenario, head: str) -> dict:
    code, out, err = run_cli(sc.root, "plan", "--base", sc.base, "--head", head, "--json")
    assert code == 0, err
    return json.loads(out)


def test_a_change_to_the_cli_the_templates_or_slack_redeploys_nothing(sc: Scenario) -> None:
    for rel in ("deployctl/cli.py", "deployctl/adapters/notify.py", "deployctl/report/templates/comment.md.j2"):
        sc.deploy.write(rel, (sc.root / rel).read_text(encoding="utf-8") + "\n# touched\n")
    head = sc.deploy.commit("CLI, template and Slack changes")
    result = plan(sc, head)
    assert (result["stacks"], result["program_changed"], result["changes"]) == ([], False, [])


def test_a_change_to_a_module_the_program_imports_redeploys_every_stack(sc: Scenario) -> None:
    path = "deployctl/core/repo/catalog.py"
    sc.deploy.write(path, (sc.root / path).read_text() + "\n# touched\n")
    head = sc.deploy.commit("catalog parsing change")
    result = plan(sc, head)
    assert (result["stacks"], result["program_changed"]) == (["staging", "production"], True)
