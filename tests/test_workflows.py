"""The GitHub Actions workflows: actionlint-clean, and the safety properties that a linter cannot see."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = ("preview.yml", "deploy.yml", "checks.yml")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """`on:`, which YAML 1.1 reads as the key True."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def runs(workflow: dict[str, Any]) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def test_actionlint() -> None:
    search = os.pathsep.join([str(ROOT / ".venv" / "bin"), str(Path(sys.executable).parent),
                              os.environ.get("PATH", "")])
    actionlint = shutil.which("actionlint", path=search)
    if actionlint is None:
        pytest.fail("actionlint is not installed; run `make setup` (it runs scripts/install-tools .venv/bin)")
    result = subprocess.run([actionlint, "-no-color", *(str(WORKFLOWS / f) for f in FILES)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", FILES)
def test_no_pull_request_target_and_no_inline_expressions_in_scripts(name: str) -> None:
    workflow = load(name)
    assert "pull_request_target" not in triggers(workflow)
    for script in runs(workflow):
        # PR-controlled strings (titles, branch names) must reach a script through env only.
        assert "${{" not in script, script


def test_preview_permissions_and_fork_safety() -> None:
    workflow = load("preview.yml")
    assert triggers(workflow) == {"pull_request": {
        "types": ["opened", "synchronize", "reopened"],
        "paths": ["deploys/**", "apps.yaml", "Pulumi*.yaml", "__main__.py", "stacks/**", "components/**",
                  "deployctl/**", "pyproject.toml"],
    }}
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    job = workflow["jobs"]["preview"]
    # The job adds only the OIDC token for the cloud role, which GitHub never grants to a fork's PR.
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in workflow["concurrency"]["group"]
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    cloud = [s for s in steps if "configure-aws-credentials" in s.get("uses", "")]
    assert cloud and all("github.event.pull_request.head.repo.full_name == github.repository" in s["if"]
                         for s in cloud)
    post = next(s for s in steps if "--post" in s.get("run", ""))
    assert post["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"


def test_deploy_runs_one_stack_at_a_time_in_order_and_never_cancels() -> None:
    workflow = load("deploy.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    plan, deploy = workflow["jobs"]["plan"], workflow["jobs"]["deploy"]
    assert "stacks" in plan["outputs"]
    assert deploy["needs"] == "plan"
    assert "'[]'" in deploy["if"]
    assert deploy["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.plan.outputs.stacks) }}"
    assert deploy["strategy"]["max-parallel"] == 1 and deploy["strategy"]["fail-fast"] is True
    assert deploy["environment"] == "${{ matrix.stack }}"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "matrix.stack" in deploy["concurrency"]["group"]
    assert "concurrency" not in workflow  # a workflow-wide group would queue or drop whole runs
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    up = next(s for s in deploy["steps"] if "deployctl up" in s.get("run", ""))
    assert up["env"]["DEPLOYCTL_SLACK_WEBHOOK"] == "${{ secrets.DEPLOYCTL_SLACK_WEBHOOK }}"
    assert '--stack "$STACK"' in up["run"]
    plan_script = next(s["run"] for s in plan["steps"] if "deployctl plan" in s.get("run", ""))
    assert "~1" in plan_script  # a new branch (before = zeros) compares with the commit's parent


def test_checks_runs_check_and_codeowners() -> None:
    workflow = load("checks.yml")
    assert set(triggers(workflow)) == {"pull_request", "push"}
    assert workflow["permissions"] == {"contents": "read"}
    scripts = runs(workflow)
    assert ".venv/bin/deployctl check" in scripts
    assert ".venv/bin/deployctl codeowners --check" in scripts
