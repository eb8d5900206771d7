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

from deployctl.core.programpaths import workflow_paths

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


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def engine_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    """Every job that runs `deployctl preview`, `up` or `doctor`: the ones that need the engine."""
    found = []
    for name in FILES:
        for job_name, job in load(name)["jobs"].items():
            scripts = " ".join(s.get("run", "") for s in steps_of(job))
            if any(f"deployctl {cmd}" in scripts for cmd in ("preview", "up", "doctor")):
                found.append((name, job_name, job))
    return found


def installs(job: dict[str, Any]) -> list[str]:
    return [s["run"] for s in steps_of(job) if s.get("run", "").startswith("make ")]


def test_every_engine_job_gets_the_shared_backend_and_the_passphrase() -> None:
    jobs = engine_jobs()
    assert {(f, j) for f, j, _ in jobs} == {("preview.yml", "preview"), ("deploy.yml", "deploy")}
    for _, _, job in jobs:
        assert job["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
        assert job["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
        assert installs(job) == ["make engine"]  # no actionlint, no Chromium, no test tools


def test_light_jobs_install_only_deployctl() -> None:
    assert installs(load("checks.yml")["jobs"]["checks"]) == ["make venv"]
    assert installs(load("deploy.yml")["jobs"]["plan"]) == ["make venv"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    engine_target = makefile.split("\nengine:", 1)[1].split("\n\n", 1)[0]
    assert "install-tools" not in engine_target and "install-browser" not in engine_target
    assert "engine: venv" in makefile and "venv: $(VENV)/.installed" in makefile


def test_preview_permissions_fork_safety_and_the_read_only_role() -> None:
    workflow = load("preview.yml")
    on = triggers(workflow)
    assert on["pull_request"] == {
        "types": ["opened", "synchronize", "reopened"],
        "paths": workflow_paths(),
    }
    assert on["merge_group"] == {"types": ["checks_requested"]}  # a merge queue previews the queued commit
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    job = workflow["jobs"]["preview"]
    # The job adds only the OIDC token for the cloud role, which GitHub never grants to a fork's PR.
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in workflow["concurrency"]["group"]
    assert "merge_group.base_sha" in job["env"]["BASE_SHA"]
    steps = steps_of(job)
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    cloud = [s for s in steps if "configure-aws-credentials" in s.get("uses", "")]
    assert cloud and all(s["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}" for s in cloud)
    assert "AWS_ROLE_ARN" not in (WORKFLOWS / "preview.yml").read_text().replace("AWS_PREVIEW_ROLE_ARN", "")
    trusted = job["env"]["TRUSTED"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in trusted
    assert all("env.TRUSTED == 'true'" in s["if"] for s in cloud)
    post = next(s for s in steps if "--post" in s.get("run", ""))
    assert post["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "env.TRUSTED == 'true'" in post["if"]
    queued = next(s for s in steps if "merge_group" in s.get("if", ""))
    assert "deployctl preview" in queued["run"] and "GITHUB_STEP_SUMMARY" in queued["run"]


def test_deploy_runs_one_stack_at_a_time_in_order_and_never_cancels() -> None:
    workflow = load("deploy.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    assert triggers(workflow)["push"]["paths"] == workflow_paths()  # the program, as plan sees it
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
    assert "id-token" not in plan.get("permissions", {})  # planning gets no cloud identity
    cloud = [s for s in steps_of(deploy) if "configure-aws-credentials" in s.get("uses", "")]
    assert [s["with"]["role-to-assume"] for s in cloud] == ["${{ vars.AWS_ROLE_ARN }}"]
    up = next(s for s in steps_of(deploy) if "deployctl up" in s.get("run", ""))
    assert up["env"]["DEPLOYCTL_SLACK_WEBHOOK"] == "${{ secrets.DEPLOYCTL_SLACK_WEBHOOK }}"
    assert '--stack "$STACK"' in up["run"]
    assert "--force" not in up["run"]  # a retry goes through the same stale-run guard
    plan_script = next(s["run"] for s in steps_of(plan) if "deployctl plan" in s.get("run", ""))
    assert "~1" in plan_script  # a new branch (before = zeros) compares with the commit's parent


def test_a_failed_deploy_is_retried_by_dispatch_through_the_same_guard() -> None:
    workflow = load("deploy.yml")
    dispatch = triggers(workflow)["workflow_dispatch"]
    assert dispatch["inputs"]["stack"]["required"] is True
    plan = workflow["jobs"]["plan"]
    step = next(s for s in steps_of(plan) if "deployctl plan" in s.get("run", ""))
    assert step["env"]["STACK"] == "${{ inputs.stack }}"  # a user string: through env, then validated
    assert 'Pulumi.$STACK.yaml' in step["run"] and "^[a-z0-9][a-z0-9_-]*$" in step["run"]
    up = next(s for s in steps_of(workflow["jobs"]["deploy"]) if "deployctl up" in s.get("run", ""))
    assert '.venv/bin/deployctl up --head "$GITHUB_SHA" --stack "$STACK"' in up["run"]
    assert plan["if"] == "github.ref == 'refs/heads/main'"  # a dispatch from another branch deploys nothing
    assert workflow["jobs"]["deploy"]["needs"] == "plan"


def test_checks_runs_check_and_codeowners_everywhere_a_required_check_must() -> None:
    workflow = load("checks.yml")
    assert set(triggers(workflow)) == {"pull_request", "push", "merge_group"}
    assert triggers(workflow)["pull_request"] is None  # no paths filter: safe to require
    assert workflow["permissions"] == {"contents": "read"}
    scripts = runs(workflow)
    check = next(s for s in scripts if "deployctl check" in s)
    # a PR or a queued merge is judged against its base (backward deploys, promotion, freezes ...)
    assert '.venv/bin/deployctl check --no-artifacts --base "$BASE_SHA"' in check  # no cloud credentials here
    job = workflow["jobs"]["checks"]
    assert "merge_group.base_sha" in job["env"]["BASE_SHA"] and job["steps"][0]["with"]["fetch-depth"] == 0
    assert ".venv/bin/deployctl codeowners --check" in scripts
