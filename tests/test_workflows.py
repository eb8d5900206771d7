"""The GitHub Actions workflows, this repository's and those `deployctl init` writes for a team
(deployctl/scaffold/workflows/): actionlint-clean, and the safety properties that a linter cannot see,
proven by reading them: no PR code near a credential, secrets per env, caches per purpose."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployctl.core.repo.programpaths import workflow_paths

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
SCAFFOLD = ROOT / "deployctl" / "scaffold" / "workflows"
FILES = ("preview.yml", "deploy.yml", "checks.yml", "propose.yml", "drift.yml")
ALL = [WORKFLOWS / f for f in FILES] + [SCAFFOLD / f for f in FILES]
IDS = [f"{p.parent.parent.name}/{p.name}" for p in ALL]
SECRET_RE = re.compile(r"secrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[)")
CODE_GATE = "preview-code"
"""The job whose GitHub Environment (required reviewers) a release manager approves before PR code
runs with a credential."""


def load(path: Path | str) -> dict[str, Any]:
    path = WORKFLOWS / path if isinstance(path, str) else path
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """`on:`, which YAML 1.1 reads as the key True."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def runs(workflow: dict[str, Any]) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in steps_of(job) if "run" in step]


def secrets_named(node: Any) -> set[str]:
    """Every secret a part of a workflow names; a dynamic `secrets[...]` lookup is `[dynamic]`."""
    text = yaml.safe_dump(node)
    return {m.group(1) or "[dynamic]" for m in SECRET_RE.finditer(text)}


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def upstream(workflow: dict[str, Any], name: str) -> set[str]:
    """Every job `name` waits for, directly or through another."""
    seen: set[str] = set()
    todo = needs_of(workflow["jobs"][name])
    while todo:
        job = todo.pop()
        if job not in seen:
            seen.add(job)
            todo += needs_of(workflow["jobs"][job])
    return seen


def environment_of(job: dict[str, Any]) -> str | None:
    """A job's GitHub Environment: its name, written alone or with a `url`."""
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def checkouts(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s.get("with", {}) for s in steps_of(job) if str(s.get("uses", "")).startswith("actions/checkout@")]


def caches(path: Path) -> list[tuple[str, dict[str, Any], str, str]]:
    return [(name, job, s["with"]["key"], s["with"].get("restore-keys", ""))
            for name, job in load(path)["jobs"].items() for s in steps_of(job)
            if str(s.get("uses", "")).startswith("actions/cache@")]


def test_actionlint() -> None:
    search = os.pathsep.join([str(ROOT / ".venv" / "bin"), str(Path(sys.executable).parent),
                              os.environ.get("PATH", "")])
    actionlint = shutil.which("actionlint", path=search)
    if actionlint is None:
        pytest.fail("actionlint is not installed; run `make setup` (it runs scripts/install-tools .venv/bin)")
    result = subprocess.run([actionlint, "-no-color", *map(str, ALL)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_no_inline_expressions_in_scripts(path: Path) -> None:
    for script in runs(load(path)):
        # PR-controlled strings (titles, branch names) must reach a script through env only.
        assert "${{" not in script, script


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_no_pull_request_job_holds_a_secret_or_a_cloud_identity(path: Path) -> None:
    """`pull_request` runs the PR's own code (and its own copy of this file): the GITHUB_TOKEN alone."""
    workflow = load(path)
    if "pull_request" not in triggers(workflow):
        return
    assert secrets_named({k: v for k, v in workflow.items() if k != "jobs"}) <= {"GITHUB_TOKEN"}
    assert "id-token" not in (workflow.get("permissions") or {})
    for name, job in workflow["jobs"].items():
        assert secrets_named(job) <= {"GITHUB_TOKEN"}, name
        assert "id-token" not in (job.get("permissions") or {}), name
        assert "environment" not in job, name  # an environment's secrets are secrets all the same
        assert not any("configure-aws-credentials" in str(s.get("uses", "")) for s in steps_of(job)), name


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_every_secret_is_an_environments_and_workflow_permissions_are_none_or_read(path: Path) -> None:
    """Only a job in a GitHub Environment (deployment branches: main) names a secret other than the
    GITHUB_TOKEN: a branch a contributor pushes cannot read one, in any workflow it adds."""
    workflow = load(path)
    assert secrets_named({k: v for k, v in workflow.items() if k != "jobs"}) == set()
    assert workflow["permissions"] in ({}, {"contents": "read"})
    for name, job in workflow["jobs"].items():
        named = secrets_named(job) - {"GITHUB_TOKEN"}
        assert "[dynamic]" not in named, name  # every secret a job reads is named in it
        if named:
            assert "environment" in job, name
        if environment_of(job) == "${{ matrix.stack }}" or str(environment_of(job) or "").startswith("preview-$"):
            assert "stack" in job["strategy"]["matrix"], name  # one env's secrets per job


def test_the_trusted_preview_runs_the_bases_workflow_on_the_prs_data_only() -> None:
    for path in (WORKFLOWS / "preview.yml", SCAFFOLD / "preview.yml"):
        workflow = load(path)
        assert set(triggers(workflow)) == {"pull_request_target"}
        assert workflow["env"]["BASE_SHA"] == "${{ github.sha }}"  # the base branch's commit
        assert "pull_request_target" in path.read_text().split("\nname:", 1)[0]  # the header says why it is safe
        approved = {name for name in workflow["jobs"] if CODE_GATE in upstream(workflow, name) | {name}}
        for name, job in workflow["jobs"].items():
            if name in approved:
                continue
            for checkout in checkouts(job):
                assert checkout["ref"] == "${{ github.sha }}", name  # the base, never the PR
                assert checkout["persist-credentials"] is False and "repository" not in checkout, name
            for step in steps_of(job):
                assert not str(step.get("uses", "")).startswith("./"), name  # no action of the checkout
                script = step.get("run", "")
                for line in script.splitlines():
                    if "HEAD_SHA" in line:  # the PR's head: fetched as objects, judged, or read as data
                        assert re.search(r"git fetch --no-tags --no-recurse-submodules origin \"\$HEAD_SHA\"|"
                                         r"git cat-file -e|git merge-base|deployctl pr-data|--head \"\$HEAD_SHA\"\)",
                                         line), line
                assert not re.search(r"\bgit (checkout|switch|restore|worktree|read-tree|reset|merge|"
                                     r"cherry-pick|archive|stash|apply|am)(?![\w-])", script), name
        sort = workflow["jobs"]["sort"]
        assert "deployctl pr-data" in " ".join(runs({"jobs": {"sort": sort}}))
        preview = workflow["jobs"]["preview"]
        assert "needs.sort.outputs.kind == 'data'" in preview["if"]
        data_step = next(s for s in steps_of(preview) if "pr-data" in s.get("run", ""))
        assert steps_of(preview).index(data_step) < next(i for i, s in enumerate(steps_of(preview))
                                                        if "deployctl preview" in s.get("run", ""))


def test_code_waits_for_a_release_managers_approval() -> None:
    for path in (WORKFLOWS / "preview.yml", SCAFFOLD / "preview.yml"):
        workflow = load(path)
        gate = workflow["jobs"][CODE_GATE]
        assert gate["environment"] == CODE_GATE  # required reviewers, set on the environment
        assert gate["permissions"] == {"actions": "read"} and secrets_named(gate) == set()
        check = steps_of(gate)[0]["run"]  # an environment GitHub made on first use has no reviewers: refused
        assert "environments/preview-code" in check and "required_reviewers" in check and "exit 1" in check
        assert "needs.sort.outputs.kind == 'code'" in gate["if"]
        for name, job in workflow["jobs"].items():
            if any("pull_request.head" in str(c.get("ref", "")) for c in checkouts(job)):
                assert CODE_GATE in upstream(workflow, name), name  # PR code runs only after the approval
                assert checkouts(job)[0]["ref"] == "${{ github.event.pull_request.head.sha }}"  # the approved push


def test_per_env_secrets_deploy_and_preview() -> None:
    for base in (WORKFLOWS, SCAFFOLD):
        deploy = load(base / "deploy.yml")["jobs"]["deploy"]
        assert environment_of(deploy) == "${{ matrix.stack }}"
        assert deploy["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
        preview = load(base / "preview.yml")
        for name in ("preview", "preview-approved-code"):
            job = preview["jobs"][name]
            assert job["environment"] == "preview-${{ matrix.stack }}", name
            assert secrets_named(job) == {"PULUMI_CONFIG_PASSPHRASE"}, name
            assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
            cloud = [s for s in steps_of(job) if "configure-aws-credentials" in s.get("uses", "")]
            assert [s["with"]["role-to-assume"] for s in cloud] == ["${{ vars.AWS_PREVIEW_ROLE_ARN }}"]
        assert "AWS_ROLE_ARN" not in (base / "preview.yml").read_text().replace("AWS_PREVIEW_ROLE_ARN", "")
        for name in ("sort", "comment"):
            job = preview["jobs"][name]
            assert secrets_named(job) <= {"GITHUB_TOKEN"} and "environment" not in job, name
            assert job["permissions"] == {"contents": "read", "pull-requests": "write"}, name


def test_caches_are_keyed_per_purpose() -> None:
    """No cache key or restore-key prefix of one job purpose matches another's: a deploy never restores
    what a preview (or another env's deploy) wrote. Purposes are dot-delimited, and env names have no dot."""
    found = [(f"{p.parent.parent.name}/{p.name}:{name}", job, key, restore)
             for p in ALL for name, job, key, restore in caches(p)]
    assert {f.split(":")[1] for f, *_ in found} == {"deploy", "preview", "preview-approved-code", "propose", "drift",
                                                     "status"}
    purposes = {}
    for where, job, key, restore in found:
        if where.endswith(":status"):  # the status page reads every env: one key of its own, no env's
            match = re.fullmatch(r"deploy-by-code\.(status)\.\$\{\{ runner\.os \}\}\.(.+)", key)
            assert match and "strategy" not in job, (where, key)
        else:
            match = re.fullmatch(r"deploy-by-code\.([a-z-]+)\.\$\{\{ matrix\.stack \}\}\.\$\{\{ runner\.os \}\}\.(.+)",
                                 key)
            assert match, (where, key)
            assert "stack" in job["strategy"]["matrix"], where  # one env per key
        assert restore == key[: key.index(match.group(2))], where  # the same purpose and env only
        purposes.setdefault(where.split(":")[1], set()).add(match.group(1))
    assert purposes == {"deploy": {"deploy"}, "preview": {"preview"}, "preview-approved-code": {"code-preview"},
                        "propose": {"propose"}, "drift": {"drift"}, "status": {"status"}}
    for where, _, _, restore in found:
        for other, _, other_key, _ in found:
            if other.split(":")[1] != where.split(":")[1]:
                assert not other_key.startswith(restore), (where, other)


def engine_jobs(base: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """Every job that runs `deployctl preview`, `up` or `doctor`: the ones that need the engine."""
    found = []
    for name in FILES:
        for job_name, job in load(base / name)["jobs"].items():
            scripts = " ".join(s.get("run", "") for s in steps_of(job))
            if any(f"deployctl {cmd} " in scripts for cmd in ("preview", "up", "doctor", "drift", "status")):
                found.append((name, job_name, job))
    return found


def uv_pin() -> str:
    """The uv the Makefile pins (UV_VERSION): the scaffold's install steps pin the same one."""
    (line,) = [x for x in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines() if x.startswith("UV_VERSION")]
    return line.split("=", 1)[1].strip()


PINNED_INSTALL = (f"python -m venv .venv && .venv/bin/pip install --disable-pip-version-check uv=={uv_pin()} && "
                  ".venv/bin/uv pip install --python .venv/bin/python -r requirements.txt")
"""A team's job installs its pinned tool (requirements.txt) with uv, itself pinned as the Makefile pins it."""


def installs(job: dict[str, Any]) -> list[str]:
    return [s["run"] for s in steps_of(job) if s.get("run", "").startswith(("make ", "python -m venv"))]


def test_every_engine_job_gets_the_shared_backend_and_its_envs_passphrase() -> None:
    for base, engine in ((WORKFLOWS, ["make engine"]),
                         (SCAFFOLD, [f"{PINNED_INSTALL}\n.venv/bin/deployctl install-engine\n"])):
        jobs = engine_jobs(base)
        assert {(f, j) for f, j, _ in jobs} == {("preview.yml", "preview"), ("preview.yml", "preview-approved-code"),
                                                ("deploy.yml", "deploy"), ("drift.yml", "drift"),
                                                ("drift.yml", "status")}
        for _, name, job in jobs:
            assert job["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
            if name != "status":  # the page reads outputs only, of every env: no env's passphrase
                assert job["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
            assert installs(job) == engine, name  # no actionlint, no Chromium, no test tools


def test_light_jobs_install_only_deployctl() -> None:
    assert installs(load("checks.yml")["jobs"]["checks"]) == ["make venv"]
    assert installs(load("deploy.yml")["jobs"]["plan"]) == ["make venv"]
    assert installs(load("preview.yml")["jobs"]["sort"]) == ["make venv"]
    pinned = [PINNED_INSTALL]
    for name, job in (("checks.yml", "checks"), ("deploy.yml", "plan"), ("preview.yml", "sort")):
        assert installs(load(SCAFFOLD / name)["jobs"][job]) == pinned  # a team installs the pin, not `make`
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    engine_target = makefile.split("\nengine:", 1)[1].split("\n\n", 1)[0]
    assert "install-tools" not in engine_target and "install-browser" not in engine_target
    assert "engine: venv" in makefile and "venv: $(VENV)/.installed" in makefile


def test_paths_filters() -> None:
    """This repository's filters are the program's paths (deployctl/core/repo/programpaths.py); a team's are
    its data and its program: the pin, __main__.py and Pulumi.yaml."""
    for name in ("preview.yml", "deploy.yml"):
        on = triggers(load(name))
        assert (on.get("pull_request_target") or on.get("push"))["paths"] == workflow_paths()
        team = triggers(load(SCAFFOLD / name))
        assert (team.get("pull_request_target") or team.get("push"))["paths"] == [
            "deploys/**", "Pulumi*.yaml", "apps.yaml", "__main__.py", "requirements.txt"]


def test_preview_cancels_moot_runs_and_comments_once() -> None:
    for base in (WORKFLOWS, SCAFFOLD):
        workflow = load(base / "preview.yml")
        assert triggers(workflow)["pull_request_target"]["types"] == ["opened", "synchronize", "reopened"]
        assert workflow["concurrency"]["cancel-in-progress"] is True
        assert "pull_request.number" in workflow["concurrency"]["group"]
        comment = workflow["jobs"]["comment"]
        assert set(needs_of(comment)) == {"sort", "preview", "preview-approved-code"}
        post = next(s for s in steps_of(comment) if "deployctl pr-comment" in s.get("run", ""))
        assert post["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
        sort = next(s for s in steps_of(workflow["jobs"]["sort"]) if "pr-data" in s.get("run", ""))
        assert "--post" in sort["run"] and sort["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"


def test_deploy_runs_one_stack_at_a_time_in_order_and_never_cancels() -> None:
    for base in (WORKFLOWS, SCAFFOLD):
        workflow = load(base / "deploy.yml")
        assert triggers(workflow)["push"]["branches"] == ["main"]
        plan, deploy = workflow["jobs"]["plan"], workflow["jobs"]["deploy"]
        assert "stacks" in plan["outputs"]
        assert deploy["needs"] == "plan"
        assert "'[]'" in deploy["if"]
        assert deploy["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.plan.outputs.stacks || '[]') }}"
        assert deploy["strategy"]["max-parallel"] == 1 and deploy["strategy"]["fail-fast"] is True
        assert deploy["concurrency"]["cancel-in-progress"] is False
        assert "matrix.stack" in deploy["concurrency"]["group"]
        assert "concurrency" not in workflow  # a workflow-wide group would queue or drop whole runs
        # the [rollback] branch and PR (SECURITY.md): write, in this job only, the token in the up step only
        assert deploy["permissions"] == {"contents": "write", "pull-requests": "write", "id-token": "write"}
        assert "id-token" not in plan.get("permissions", {})  # planning gets no cloud identity
        cloud = [s for s in steps_of(deploy) if "configure-aws-credentials" in s.get("uses", "")]
        assert [s["with"]["role-to-assume"] for s in cloud] == ["${{ vars.AWS_ROLE_ARN }}"]
        up = next(s for s in steps_of(deploy) if "deployctl up" in s.get("run", ""))
        assert up["env"]["DEPLOYCTL_SLACK_WEBHOOK"] == "${{ secrets.DEPLOYCTL_SLACK_WEBHOOK }}"
        assert '--stack "$STACK"' in up["run"]
        assert up["run"].count("--post") == up["run"].count("deployctl up") == 2  # a merge and a retry alike
        assert up["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
        for step in steps_of(deploy):
            if step is not up:  # no other step of the deploy job holds the write token
                assert "GITHUB_TOKEN" not in yaml.safe_dump(step) and "github.token" not in yaml.safe_dump(step)
        assert "GITHUB_TOKEN" not in yaml.safe_dump(deploy.get("env", {}))
        assert up["id"] == "deploy" and deploy["environment"]["url"] == (
            "${{ steps.deploy.outputs.url || vars.DEPLOYCTL_STATUS_URL }}")
        assert all(c["persist-credentials"] is False for c in checkouts(deploy))  # the token pushes once, by up
        assert "--force" not in up["run"]  # a retry goes through the same stale-run guard
        plan_script = next(s["run"] for s in steps_of(plan) if "deployctl plan" in s.get("run", ""))
        assert "~1" in plan_script  # a new branch (before = zeros) compares with the commit's parent


def test_a_failed_deploy_is_retried_by_dispatch_through_the_same_guard() -> None:
    for base in (WORKFLOWS, SCAFFOLD):
        workflow = load(base / "deploy.yml")
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


def test_checks_runs_check_plan_and_codeowners_everywhere_a_required_check_must() -> None:
    for base in (WORKFLOWS, SCAFFOLD):
        workflow = load(base / "checks.yml")
        assert set(triggers(workflow)) == {"pull_request", "push", "merge_group"}
        assert triggers(workflow)["pull_request"] is None  # no paths filter: safe to require
        assert workflow["permissions"] == {"contents": "read"}
        scripts = runs(workflow)
        check = next(s for s in scripts if "deployctl check" in s)
        # a PR or a queued merge is judged against its base (backward deploys, promotion, freezes ...)
        assert '.venv/bin/deployctl check --no-artifacts --base "$BASE_SHA"' in check  # no cloud credentials here
        assert any('deployctl plan --base "$BASE_SHA" --head HEAD' in s for s in scripts)
        job = workflow["jobs"]["checks"]
        assert "merge_group.base_sha" in job["env"]["BASE_SHA"] and job["steps"][0]["with"]["fetch-depth"] == 0
        assert ".venv/bin/deployctl codeowners --check" in scripts


def test_propose_opens_prs_with_the_narrowest_permissions_and_never_merges() -> None:
    """`propose --post` on a schedule, by hand and from an app's CI: one job per env in its preview
    environment (the read-only trace credentials), writing only branches and PRs; nothing in it merges,
    approves or deploys, and no payload of the dispatch reaches a script."""
    for base in (WORKFLOWS, SCAFFOLD):
        text = (base / "propose.yml").read_text(encoding="utf-8")
        workflow = load(base / "propose.yml")
        on = triggers(workflow)
        assert set(on) == {"schedule", "workflow_dispatch", "repository_dispatch"}
        assert on["schedule"][0]["cron"] and on["repository_dispatch"]["types"] == ["artifact-built"]
        assert workflow["permissions"] == {}
        assert "client_payload" not in text and "github.event." not in text  # the dispatch's data is never read
        envs, propose = workflow["jobs"]["envs"], workflow["jobs"]["propose"]
        assert envs["if"] == "github.ref == 'refs/heads/main'" and envs["permissions"] == {"contents": "read"}
        assert secrets_named(envs) == set() and "environment" not in envs
        only = next(s for s in steps_of(envs) if "Pulumi.*.yaml" in s.get("run", ""))
        assert only["env"]["ONLY"] == "${{ inputs.env }}" and "^[a-z0-9][a-z0-9_-]*$" in only["run"]
        assert propose["needs"] == "envs" and propose["environment"] == "preview-${{ matrix.stack }}"
        assert propose["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.envs.outputs.stacks) }}"
        assert propose["permissions"] == {"contents": "write", "pull-requests": "write", "id-token": "write"}
        assert secrets_named(propose) == {"PULUMI_CONFIG_PASSPHRASE", "GITHUB_TOKEN", "DEPLOYCTL_PROPOSE_APP_KEY"}
        assert propose["concurrency"] == {"group": "propose-${{ matrix.stack }}", "cancel-in-progress": False}
        cloud = [s for s in steps_of(propose) if "configure-aws-credentials" in s.get("uses", "")]
        # the read-only role, never the deploy role
        assert [s["with"]["role-to-assume"] for s in cloud] == ["${{ vars.AWS_PREVIEW_ROLE_ARN }}"]
        assert "AWS_ROLE_ARN" not in text.replace("AWS_PREVIEW_ROLE_ARN", "")
        assert all(c["persist-credentials"] is False for c in checkouts(envs) + checkouts(propose))
        step = next(s for s in steps_of(propose) if "deployctl propose" in s.get("run", ""))
        assert '.venv/bin/deployctl propose "$STACK" --post || status=$?' in step["run"]
        assert '"$status" == 1' in step["run"] and 'exit "$status"' in step["run"]  # held: a notice; 2: a failure
        assert step["env"]["GITHUB_TOKEN"] == "${{ steps.app.outputs.token || secrets.GITHUB_TOKEN }}"
        assert "::add-mask::" in step["run"]  # the push credential never shows in the log
        scripts = " ".join(runs(workflow))
        for never in ("deployctl up", "gh pr merge", "gh pr review", "--admin", "git push", "/merge"):
            assert never not in scripts, never



def test_drift_runs_daily_read_only_and_posts_one_issue_per_env() -> None:
    """The scheduled drift: each env's job in its preview environment (its read-only role and passphrase),
    `issues: write` in that job only and its token in the posting step only; the status page kept as an
    artifact by a job that writes nothing to GitHub."""
    for base in (WORKFLOWS, SCAFFOLD):
        workflow = load(base / "drift.yml")
        on = triggers(workflow)
        assert set(on) == {"schedule", "workflow_dispatch"}
        assert re.fullmatch(r"\d+ \d+ \* \* \*", on["schedule"][0]["cron"])  # daily
        assert workflow["permissions"] == {"contents": "read"}
        assert workflow["concurrency"]["cancel-in-progress"] is False
        drift = workflow["jobs"]["drift"]
        assert environment_of(drift) == "preview-${{ matrix.stack }}"
        assert drift["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.envs.outputs.stacks) }}"
        assert drift["permissions"] == {"contents": "read", "id-token": "write", "issues": "write"}
        assert secrets_named(drift) == {"PULUMI_CONFIG_PASSPHRASE", "GITHUB_TOKEN", "DEPLOYCTL_SLACK_WEBHOOK"}
        cloud = [s for s in steps_of(drift) if "configure-aws-credentials" in s.get("uses", "")]
        assert [s["with"]["role-to-assume"] for s in cloud] == ["${{ vars.AWS_PREVIEW_ROLE_ARN }}"]
        assert "AWS_ROLE_ARN" not in (base / "drift.yml").read_text().replace("AWS_PREVIEW_ROLE_ARN", "")
        post = next(s for s in steps_of(drift) if "deployctl drift" in s.get("run", ""))
        assert '.venv/bin/deployctl drift "$STACK" --post' in post["run"]
        assert post["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
        assert 'if [[ "$status" == 1 ]]' in post["run"] and 'exit "$status"' in post["run"]  # 2 fails the run
        for step in steps_of(drift):
            if step is not post:
                assert "GITHUB_TOKEN" not in yaml.safe_dump(step), step
        for name, job in workflow["jobs"].items():
            if name != "drift":
                assert not {"issues", "pull-requests"} & set(job.get("permissions") or {}), name
                assert (job.get("permissions") or {}).get("contents", "read") == "read", name
        status = workflow["jobs"]["status"]
        assert environment_of(status) == "status-page" and secrets_named(status) == set()
        assert "deployctl status --html" in " ".join(runs({"jobs": {"status": status}}))
        upload = next(s for s in steps_of(status) if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
        assert upload["with"]["name"] == "status-page" and "status-page" in upload["with"]["path"]
        assert status["if"] == "${{ !cancelled() }}" and status["needs"] == "drift"
        envs = next(s["run"] for s in steps_of(workflow["jobs"]["envs"]) if "Pulumi" in s.get("run", ""))
        assert "[a-z0-9][a-z0-9_-]*" in envs  # only valid env names become jobs
