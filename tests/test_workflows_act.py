"""The shipped workflows, run end to end under nektos/act (tests/actrunner.py) on their events, against
loopback servers: moto's S3 server as the Pulumi backend, a GitHub API stand-in, a Slack webhook.

Each test is one story on a deploy repository of its own (they may run on different xdist workers);
the act runner, its action cache and the prepared dependencies are shared by the module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.actrunner import (
    PULUMI,
    ActRun,
    ActRunner,
    DeployWorld,
    demo_world,
    dispatch_event,
    env_dispatch_event,
    git,
    init_world,
    merge_group_event,
    pull_request_event,
    push_event,
    repository_payload,
    schedule_event,
)
from tests.awsserver import CREDENTIALS, AwsServer
from tests.githubfake import GitHubApi

pytestmark = pytest.mark.workflows

PASSPHRASE = "act-passphrase-correct-horse"
SLACK_PATH = "/services/T000/B000/act-webhook-secret"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> ActRunner:
    return ActRunner(tmp_path_factory.mktemp("act"))


@pytest.fixture
def github() -> Iterator[GitHubApi]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield GitHubApi(server)
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict]]]:
    server = HTTPServer(host="127.0.0.1", port=0)
    received: list[dict] = []

    def handle(request: Request) -> Response:
        received.append(request.get_json())
        return Response("ok")

    server.expect_request(SLACK_PATH, method="POST").respond_with_handler(handle)
    server.start()
    try:
        yield server.url_for(SLACK_PATH), received
    finally:
        server.clear()
        server.stop()


def with_passphrase(world: DeployWorld) -> None:
    """The demo's stacks re-salted for PASSPHRASE (the demo's own use the empty one), by the real CLI."""
    for env in ("staging", "production"):
        f = world.path / f"Pulumi.{env}.yaml"
        f.write_text("".join(line for line in f.read_text().splitlines(keepends=True)
                             if not line.startswith("encryptionsalt:")))
        scratch = world.path.parent / f"salt-{env}"
        scratch.mkdir()
        subprocess.run([str(PULUMI), "stack", "init", env, "--secrets-provider", "passphrase", "--non-interactive"],
                       cwd=world.path, check=True, capture_output=True,
                       env={**os.environ, "PULUMI_BACKEND_URL": scratch.as_uri(),
                            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "PULUMI_SKIP_UPDATE_CHECK": "true",
                            "PULUMI_HOME": str(world.path.parent / "pulumi-home")})
    world.commit("The stacks' passphrase salts", push_branch="main")


def app_commit(world: DeployWorld, app: str, text: str) -> str:
    repo = world.path.parent / "repos" / app
    name = {"api": "app.py", "worker": "worker.py", "web": "site/index.html"}[app]
    (repo / name).write_text(text)
    git(repo, "commit", "--quiet", "-am", text.strip())
    return git(repo, "rev-parse", "HEAD")


def all_env_values(run: ActRun) -> str:
    return "\n".join(f"{k}={v}" for env in run.envs for k, v in env.items())


# -- pull requests: checks and the preview comment ------------------------------------------------


def test_pr_checks_pass_and_the_preview_comment_is_posted_once_then_edited(
        runner: ActRunner, github: GitHubApi, tmp_path: Path) -> None:
    world = demo_world(tmp_path)
    base = world.head()
    world.git("checkout", "--quiet", "-b", "deploy/api")
    world.prepend("production", "api", world.apps["api"][3], "login fix, tested on staging")
    head = world.commit("Promote api's login fix", push_branch="deploy/api")

    checks = runner.run(world, "pull_request", pull_request_event(7, base, head, "deploy/api"),
                        ".github/workflows/checks.yml")
    assert checks.returncode == 0, checks.log()
    assert checks.job_results() == {"checks/checks": "success"}
    assert "production/api" in checks.summaries["checks"] and "stacks in deploy order: production" in checks.log()

    # The preview runs the base's workflow (pull_request_target) on main, the PR's head fetched from origin.
    world.git("checkout", "--quiet", "main")
    preview_vars = {"PULUMI_BACKEND_URL": ""}  # no shared backend: the throwaway one, opted in below
    local = {"DEPLOYCTL_ALLOW_LOCAL_BACKEND": "1"}
    first = runner.run(world, "pull_request_target", pull_request_event(7, base, head, "deploy/api"),
                       ".github/workflows/preview.yml", variables=preview_vars, env=local, api_url=github.url)
    assert first.returncode == 0, first.log()
    [comment] = github.comments_of(7)
    assert "production" in comment["body"] and world.apps["api"][3][:12] in comment["body"]

    world.git("checkout", "--quiet", "deploy/api")
    world.prepend("production", "worker", world.apps["worker"][1], "retries, tested on staging")
    head2 = world.commit("Promote worker's retries too", push_branch="deploy/api")
    world.git("checkout", "--quiet", "main")
    second = runner.run(world, "pull_request_target",
                        pull_request_event(7, base, head2, "deploy/api", action="synchronize"),
                        ".github/workflows/preview.yml", variables=preview_vars, env=local, api_url=github.url)
    assert second.returncode == 0, second.log()
    [edited] = github.comments_of(7)  # still one comment, edited in place
    assert edited["id"] == comment["id"] and world.apps["worker"][1][:12] in edited["body"]
    assert [m for m, p, _ in github.requests if p.endswith("/comments") and m == "POST"] == ["POST"]
    assert any(m == "PATCH" and p == f"/repos/acme/deploys/issues/comments/{comment['id']}"
               for m, p, _ in github.requests)


def test_a_pr_that_breaks_a_safeguard_fails_checks_with_the_finding_in_the_log(
        runner: ActRunner, tmp_path: Path) -> None:
    world = demo_world(tmp_path)
    base = world.head()
    world.git("checkout", "--quiet", "-b", "oops")
    world.prepend("production", "api", world.apps["api"][2], "meant for staging")  # the old branch's commit
    head = world.commit("Deploy the old branch to production", push_branch="oops")
    run = runner.run(world, "pull_request", pull_request_event(8, base, head, "oops"),
                     ".github/workflows/checks.yml")
    assert run.returncode != 0
    assert run.job_results() == {"checks/checks": "failure"}
    assert re.search(r"deploys/production/api:1.*not-on-release-branch", run.log())


# -- the trusted preview: data gets credentials, code gets none -----------------------------------


TRUSTED_VARS = {"AWS_PREVIEW_ROLE_ARN": "arn:aws:iam::123456789012:role/preview", "AWS_REGION": "us-east-1"}
TRUSTED_SECRETS = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}


def test_a_data_only_pr_gets_its_credentialed_preview_and_a_code_change_holds_no_secret(
        runner: ActRunner, github: GitHubApi, tmp_path: Path) -> None:
    world = demo_world(tmp_path)
    with_passphrase(world)
    base = world.head()
    local = {"DEPLOYCTL_ALLOW_LOCAL_BACKEND": "1"}

    world.git("checkout", "--quiet", "-b", "deploy/web")
    world.prepend("production", "web", world.apps["web"][1], "new landing page, tested on staging")
    data_head = world.commit("Promote web", push_branch="deploy/web")
    world.git("checkout", "--quiet", "main")
    data = runner.run(world, "pull_request_target", pull_request_event(11, base, data_head, "deploy/web"),
                      ".github/workflows/preview.yml", secrets=TRUSTED_SECRETS, variables=TRUSTED_VARS,
                      env=local, api_url=github.url)
    assert data.returncode == 0, data.log()
    assert "data; affected stacks: [\"production\"]" in data.log()
    preview_step = [e for e in data.step_envs("preview") if e.get("STACK") == "production"
                    and e.get("AWS_SECRET_ACCESS_KEY")]
    assert preview_step and all(e["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE for e in preview_step)
    [comment] = github.comments_of(11)
    assert world.apps["web"][1][:12] in comment["body"]

    world.git("checkout", "--quiet", "-b", "code", base)
    (world.path / "stacks" / "program.py").write_text((world.path / "stacks" / "program.py").read_text()
                                                        + "\nimport os  # the PR's code\n")
    world.prepend("production", "web", world.apps["web"][1], "and a code change")
    code_head = world.commit("Change the program", push_branch="code")
    world.git("checkout", "--quiet", "main")
    code = runner.run(world, "pull_request_target", pull_request_event(12, base, code_head, "code"),
                      ".github/workflows/preview.yml", secrets=TRUSTED_SECRETS, variables=TRUSTED_VARS,
                      env=local, api_url=github.url)
    assert 'code; affected stacks: ["staging", "production"]' in code.log()  # the program: every stack
    # Nothing of the PR ran with a credential: no step of any job held the passphrase or a cloud key.
    assert code.envs
    values = all_env_values(code)
    assert PASSPHRASE not in values
    assert "AWS_SECRET_ACCESS_KEY" not in values and "AWS_ACCESS_KEY_ID" not in values
    assert not code.ran("preview") and not code.ran("preview-approved-code")
    [waiting] = github.comments_of(12)
    assert "approv" in waiting["body"]


# -- merges: deploy.yml on the S3 backend ---------------------------------------------------------


def deployed(world: DeployWorld, backend: str, stack: str) -> dict[str, str]:
    """The stack's `deployed` output (app -> commit), read from the S3 backend by the CLI."""
    out = subprocess.run([sys.executable, "-m", "deployctl", "deployed", "--stack", stack, "--json",
                          "--repo", str(world.path)], capture_output=True, text=True,
                         env={**os.environ, **CREDENTIALS, "PULUMI_BACKEND_URL": backend,
                              "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "CI": ""})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    return {app: info["commit"] for app, info in data[stack].items()}


def test_merges_deploy_their_stacks_in_order_on_the_s3_backend_and_a_dispatch_retries_one(
        runner: ActRunner, aws_server: AwsServer, slack: tuple[str, list[dict]], github: GitHubApi,
        tmp_path: Path) -> None:
    world = demo_world(tmp_path)
    with_passphrase(world)  # in CI, a protected env's deploy refuses the empty passphrase
    backend = aws_server.backend_url(aws_server.new_bucket("act-deploys"))
    hook, notices = slack
    variables = {"PULUMI_BACKEND_URL": backend, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/deploy",
                 "AWS_REGION": "us-east-1"}
    secrets = {"DEPLOYCTL_SLACK_WEBHOOK": hook, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}

    def push(message: str, edit: object) -> tuple[ActRun, str]:
        before = world.head()
        assert callable(edit)
        edit()
        after = world.commit(message, push_branch="main")
        return runner.run(world, "push", push_event(before, after), ".github/workflows/deploy.yml",
                          secrets=secrets, variables=variables, api_url=github.url), after

    # 1. staging gets a new api, production the web staging runs: staging first, then production.
    api4 = app_commit(world, "api", "print('api v4')\n")
    first, _ = push("api to staging, web to production", lambda: (
        world.prepend("staging", "api", api4, "api v4"),
        world.prepend("production", "web", world.apps["web"][1], "landing page")))
    assert first.returncode == 0, first.log()
    assert 'affected stacks, in deploy order: ["staging", "production"]' in first.log()
    assert first.ran("deploy") == ["staging", "production"]
    assert deployed(world, backend, "staging")["api"] == api4
    assert deployed(world, backend, "production")["web"] == world.apps["web"][1]
    texts = [n.get("text", "") for n in notices]
    assert any(t.startswith("staging: deployed") for t in texts), texts
    assert any(t.startswith("production: deployed") for t in texts), texts

    # 2. a merge of staging alone deploys staging alone.
    worker3 = app_commit(world, "worker", "print('worker v3')\n")
    second, _ = push("worker to staging", lambda: world.prepend("staging", "worker", worker3, "worker v3"))
    assert second.returncode == 0, second.log()
    assert 'affected stacks, in deploy order: ["staging"]' in second.log()
    assert second.ran("deploy") == ["staging"]
    assert deployed(world, backend, "staging")["worker"] == worker3

    # 3. a retry of one stack, at main's commit; a stack that does not exist fails the plan.
    retry = runner.run(world, "workflow_dispatch", dispatch_event("staging"), ".github/workflows/deploy.yml",
                       secrets=secrets, variables=variables, api_url=github.url)
    assert retry.returncode == 0, retry.log()
    assert retry.ran("deploy") == ["staging"] and retry.result("deploy", "staging") == "success"
    assert any(e.get("GITHUB_SHA") == world.head() and e.get("STACK") == "staging" for e in retry.step_envs("deploy"))
    bad = runner.run(world, "workflow_dispatch", dispatch_event("nope"), ".github/workflows/deploy.yml",
                     secrets=secrets, variables=variables)
    assert bad.returncode != 0
    assert "no env named 'nope'" in bad.log() and not bad.ran("deploy")

    # 4. staging's health check fails: staging fails and switches back.
    api5 = app_commit(world, "api", "print('api v5')\n")
    config = world.path / "Pulumi.staging.yaml"
    production_before = deployed(world, backend, "production")
    third, _ = push("api v5 with a failing health check; production api", lambda: (
        config.write_text(config.read_text().replace(
            "config:\n", "config:\n  deploys:settings:\n    api:\n      health: {command: \"exit 3\", retries: 0}\n")),
        world.prepend("staging", "api", api5, "api v5"),
        world.prepend("production", "api", world.apps["api"][3], "login fix")))
    assert third.returncode != 0
    assert 'affected stacks, in deploy order: ["staging", "production"]' in third.log()
    assert third.result("deploy", "staging") == "failure"
    assert f"health check of {api5[:12]} failed" in third.log()
    assert "failed, switched back: api to" in third.log()
    assert deployed(world, backend, "staging")["api"] == api4  # switched back
    # Production's queued job: GitHub's `fail-fast: true` cancels it; act v0.2.89 parses `fail-fast` but
    # never cancels, so here it starts, and `up --stack production` itself refuses: staging, which this
    # merge also changes, was switched back on it.
    assert third.result("deploy", "production") == "failure"
    assert "staging, which production promotes from and this merge also changes" in third.log()
    assert deployed(world, backend, "production") == production_before  # the downstream stack stopped


# -- the merge queue ------------------------------------------------------------------------------


def test_a_queued_merge_shows_its_plan_in_the_job_summary(runner: ActRunner, tmp_path: Path) -> None:
    world = demo_world(tmp_path)
    base = world.head()
    world.git("checkout", "--quiet", "-b", "gh-readonly-queue/main/pr-9")
    world.prepend("production", "web", world.apps["web"][1], "landing page")
    queued = world.commit("Merge pull request #9", push_branch="gh-readonly-queue/main/pr-9")
    run = runner.run(world, "merge_group", merge_group_event(base, queued), ".github/workflows/checks.yml")
    assert run.returncode == 0, run.log()
    summary = run.summaries["checks"]
    assert f"plan {base[:12]} -> {queued[:12]}" in summary and "production/web" in summary


# -- the workflows `deployctl init` writes, in a team's repository ----------------------------------


def test_the_workflows_init_writes_check_preview_and_deploy_a_team_repo(
        runner: ActRunner, aws_server: AwsServer, github: GitHubApi, tmp_path: Path) -> None:
    world = init_world(tmp_path)
    backend = aws_server.backend_url(aws_server.new_bucket("act-init"))
    base = world.head()
    api = world.apps["api"]
    world.git("checkout", "--quiet", "-b", "deploy/api")
    world.prepend("staging", "api", api[3], "login fix")
    head = world.commit("Deploy api to staging", push_branch="deploy/api")

    checks = runner.run(world, "pull_request", pull_request_event(3, base, head, "deploy/api"),
                        ".github/workflows/checks.yml")
    assert checks.returncode == 0, checks.log()
    assert "staging/api" in checks.summaries["checks"], checks.log()

    world.git("checkout", "--quiet", "main")
    secrets = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    variables = {"PULUMI_BACKEND_URL": backend, "AWS_PREVIEW_ROLE_ARN": "arn:aws:iam::123456789012:role/preview",
                 "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/deploy", "AWS_REGION": "us-east-1"}
    preview = runner.run(world, "pull_request_target", pull_request_event(3, base, head, "deploy/api"),
                         ".github/workflows/preview.yml", secrets=secrets, variables=variables, api_url=github.url)
    assert preview.returncode == 0, preview.log()
    [comment] = github.comments_of(3)
    assert api[3][:12] in comment["body"]

    world.git("merge", "--quiet", "--no-ff", "-m", "Merge pull request #3 from acme/deploy/api", "deploy/api")
    world.git("push", "--quiet", str(world.origin), "main")
    deploy = runner.run(world, "push", push_event(base, world.head()), ".github/workflows/deploy.yml",
                        secrets=secrets, variables=variables)
    assert deploy.returncode == 0, deploy.log()
    assert deploy.ran("deploy") == ["staging"]
    assert deployed(world, backend, "staging")["api"] == api[3]


# -- the scheduled workflows: drift and propose ---------------------------------------------------

PREVIEW_ROLE = "arn:aws:iam::123456789012:role/preview"
DEPLOY_ROLE = "arn:aws:iam::123456789012:role/deploy"


def test_drift_opens_one_issue_for_a_pending_env_writes_nothing_again_and_closes_it_once_deployed(
        runner: ActRunner, aws_server: AwsServer, slack: tuple[str, list[dict]], github: GitHubApi,
        tmp_path: Path) -> None:
    world = demo_world(tmp_path)
    initial = world.head()
    with_passphrase(world)  # re-salted stack configs: a push that affects both stacks
    backend = aws_server.backend_url(aws_server.new_bucket("act-drift"))
    hook, notices = slack
    variables = {"PULUMI_BACKEND_URL": backend, "AWS_PREVIEW_ROLE_ARN": PREVIEW_ROLE, "AWS_ROLE_ARN": DEPLOY_ROLE,
                 "AWS_REGION": "us-east-1"}
    secrets = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "DEPLOYCTL_SLACK_WEBHOOK": hook}
    deploy = runner.run(world, "push", push_event(initial, world.head()), ".github/workflows/deploy.yml",
                        secrets=secrets, variables=variables, api_url=github.url)
    assert deploy.returncode == 0, deploy.log()
    assert deploy.ran("deploy") == ["staging", "production"]

    # A merged line that no `up` ran: staging's api is pending.
    in_sync = world.head()
    api4 = app_commit(world, "api", "print('api v4')\n")
    world.prepend("staging", "api", api4, "api v4")
    pending = world.commit("api v4 to staging (its deploy never ran)", push_branch="main")

    first = runner.run(world, "schedule", schedule_event("23 5 * * *"), ".github/workflows/drift.yml",
                       secrets=secrets, variables=variables, api_url=github.url)
    assert first.returncode == 0, first.log()
    assert sorted(first.ran("drift")) == ["production", "staging"] and first.result("status") == "success"
    [issue] = github.issues
    assert issue["state"] == "open" and issue["title"] == "Drift in staging: what runs differs from git"
    assert issue["body"].startswith("<!-- deployctl:drift:staging -->") and "api" in issue["body"]
    assert "pending" in issue["body"] and "worker" not in issue["body"]
    assert [n for n in notices if "staging" in json.dumps(n)], notices  # Slack hears of the new drift
    told = len(notices)
    # The status page, kept as the run's artifact.
    page = first.artifacts / "status-page" / "index.html"
    assert page.is_file() and "staging" in page.read_text()
    # Read-only: the drift jobs held the preview role and the passphrase, never the deploy role; only
    # the step that posts held the token; the status page's job held neither the passphrase nor the token.
    assert f"configure-aws-credentials stand-in: {PREVIEW_ROLE}" in first.log()
    assert DEPLOY_ROLE not in first.log() and DEPLOY_ROLE not in all_env_values(first)
    drift_steps = first.step_envs("drift")
    assert drift_steps and all(e.get("PULUMI_CONFIG_PASSPHRASE") == PASSPHRASE for e in drift_steps)
    with_token = [e for e in drift_steps if e.get("GITHUB_TOKEN")]
    assert with_token and all(e.get("DEPLOYCTL_SLACK_WEBHOOK") == hook for e in with_token)
    status_steps = first.step_envs("status")
    assert status_steps and not any(e.get("PULUMI_CONFIG_PASSPHRASE") or e.get("GITHUB_TOKEN") for e in status_steps)

    # The same drift again: nothing written, no second issue, no edit, Slack not told twice.
    writes = len(github.writes())
    again = runner.run(world, "workflow_dispatch", {"ref": "refs/heads/main", "repository": repository_payload()},
                       ".github/workflows/drift.yml", secrets=secrets, variables=variables, api_url=github.url,
                       job="drift")
    assert again.returncode == 0, again.log()
    assert len(github.writes()) == writes and len(github.issues) == 1 and len(notices) == told
    assert f"drift issue #{issue['number']} unchanged" in again.log()

    # Deployed: the next run comments and closes the issue.
    fixed = runner.run(world, "push", push_event(in_sync, pending), ".github/workflows/deploy.yml",
                       secrets=secrets, variables=variables, api_url=github.url)
    assert fixed.returncode == 0, fixed.log()
    assert fixed.ran("deploy") == ["staging"] and deployed(world, backend, "staging")["api"] == api4
    last = runner.run(world, "schedule", schedule_event("23 5 * * *"), ".github/workflows/drift.yml",
                      secrets=secrets, variables=variables, api_url=github.url, job="drift")
    assert last.returncode == 0, last.log()
    [closed] = github.issues
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    [comment] = github.comments_of(closed["number"])
    assert "staging" in comment["body"]
    assert ("PATCH", f"/repos/acme/deploys/issues/{closed['number']}",
            {"state": "closed", "state_reason": "completed"}) in github.requests


def test_propose_opens_one_pr_for_a_newer_release_commit_and_a_second_run_opens_none(
        runner: ActRunner, github: GitHubApi, tmp_path: Path) -> None:
    world = demo_world(tmp_path)
    github.origin = world.origin
    config = world.path / "Pulumi.staging.yaml"
    config.write_text(config.read_text().replace("config:\n", "config:\n  deploys:autoDeploy: true\n"))
    world.commit("staging: propose each app's newest release commit", push_branch="main")
    api4 = app_commit(world, "api", "print('api v4')\n")  # newer than what staging names
    local = {"DEPLOYCTL_ALLOW_LOCAL_BACKEND": "1"}
    branch = "deployctl/propose/staging/api"

    first = runner.run(world, "workflow_dispatch", env_dispatch_event("staging"), ".github/workflows/propose.yml",
                       variables={"PULUMI_BACKEND_URL": ""}, env=local, api_url=github.url)
    assert first.returncode == 0, first.log()
    assert first.ran("propose") == ["staging"]
    [pr] = github.pulls
    assert pr["head"]["ref"] == branch and pr["base"]["ref"] == "main" and pr["state"] == "open"
    assert api4[:12] in pr["title"] + pr["body"]
    pushed = git(world.origin, "show", f"refs/heads/{branch}:deploys/staging/api")
    assert pushed.splitlines()[0].startswith(api4)
    assert git(world.origin, "rev-parse", f"refs/heads/{branch}~1") == world.head()  # on main's tip

    # The hourly run, every env (production has no policy): the same proposal, no second PR.
    second = runner.run(world, "schedule", schedule_event("23 * * * *"), ".github/workflows/propose.yml",
                        variables={"PULUMI_BACKEND_URL": ""}, env=local, api_url=github.url)
    assert second.returncode == 0, second.log()
    assert sorted(second.ran("propose")) == ["production", "staging"]
    assert len(github.pulls) == 1 and github.pulls[0]["state"] == "open"
    assert git(world.origin, "rev-parse", f"refs/heads/{branch}") == pr["head"]["sha"]  # not rewritten

    # An app's CI built a newer commit (repository_dispatch): the same PR, its branch rewritten, edited.
    api5 = app_commit(world, "api", "print('api v5')\n")
    third = runner.run(world, "repository_dispatch",
                       {"action": "artifact-built", "branch": "main", "client_payload": {"app": "api"},
                        "repository": repository_payload()},
                       ".github/workflows/propose.yml", variables={"PULUMI_BACKEND_URL": ""}, env=local,
                       api_url=github.url)
    assert third.returncode == 0, third.log()
    assert len(github.pulls) == 1 and api5[:12] in github.pulls[0]["title"] + github.pulls[0]["body"]
    assert git(world.origin, "show", f"refs/heads/{branch}:deploys/staging/api").startswith(api5)
    assert any(m == "PATCH" and p == f"/repos/acme/deploys/pulls/{pr['number']}" for m, p, _ in github.requests)
    assert [p for m, p, _ in github.requests if m == "POST" and p.endswith("/pulls")] == ["/repos/acme/deploys/pulls"]


def test_the_drift_and_propose_workflows_init_writes_post_their_issue_and_pr(
        runner: ActRunner, aws_server: AwsServer, github: GitHubApi, tmp_path: Path) -> None:
    world = init_world(tmp_path)
    github.origin = world.origin
    backend = aws_server.backend_url(aws_server.new_bucket("act-init-scheduled"))
    secrets = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    variables = {"PULUMI_BACKEND_URL": backend, "AWS_PREVIEW_ROLE_ARN": PREVIEW_ROLE, "AWS_ROLE_ARN": DEPLOY_ROLE,
                 "AWS_REGION": "us-east-1"}
    deploy = runner.run(world, "workflow_dispatch", dispatch_event("staging"), ".github/workflows/deploy.yml",
                        secrets=secrets, variables=variables)
    assert deploy.returncode == 0, deploy.log()

    # A merged line no `up` ran (drift), then a newer api commit, and staging's policy to propose it.
    api4 = app_commit(world, "api", "print('api v4')\n")
    world.prepend("staging", "api", api4, "api v4")
    config = world.path / "Pulumi.staging.yaml"
    config.write_text(config.read_text().replace("config: {}", "config:\n  deploys:autoDeploy: true"))
    world.commit("api v4 to staging (its deploy never ran); staging proposes its apps' newest commits",
                 push_branch="main")
    api5 = app_commit(world, "api", "print('api v5')\n")

    drift = runner.run(world, "schedule", schedule_event("23 5 * * *"), ".github/workflows/drift.yml",
                       secrets=secrets, variables=variables, api_url=github.url, job="drift")
    assert drift.returncode == 0, drift.log()
    [issue] = github.issues
    assert issue["body"].startswith("<!-- deployctl:drift:staging -->") and "api" in issue["body"]
    assert "pending" in issue["body"]
    # With a GitHub App (its PRs start the checks): its token posts, the app's key stays in its step.
    app_key = "-----BEGIN RSA PRIVATE KEY-----act-standin-----END RSA PRIVATE KEY-----"
    propose = runner.run(world, "workflow_dispatch", env_dispatch_event("staging"), ".github/workflows/propose.yml",
                         secrets={**secrets, "DEPLOYCTL_PROPOSE_APP_KEY": app_key},
                         variables={**variables, "DEPLOYCTL_PROPOSE_APP_ID": "4242"}, api_url=github.url)
    assert propose.returncode == 0, propose.log()
    posting = [e for e in propose.step_envs("propose") if e.get("GITHUB_TOKEN")]
    assert posting and all(e["GITHUB_TOKEN"].startswith("ghs_standin4242") for e in posting)
    assert not any(app_key in v for e in posting for v in e.values())
    [pr] = github.pulls
    assert pr["head"]["ref"] == "deployctl/propose/staging/api"
    pushed = git(world.origin, "show", "refs/heads/deployctl/propose/staging/api:deploys/staging/api")
    assert pushed.splitlines()[0].startswith(api5) and pushed.splitlines()[1].startswith(api4)
