"""Health after up and the automatic switch-back, on the real Pulumi engine with `local` apps."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import git
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.builders import AppRepo, DeployRepo
from tests.engine_world import World, merge

pytestmark = pytest.mark.engine

GOOD = "echo ok\n"
BAD = "echo 'database unreachable' >&2\nexit 3\n"
# fails on its first try, passes on the next: the marker sits beside the releases, outside them
FLAKY = "m=../../.tried\nif [ -f $m ]; then exit 0; fi\ntouch $m\necho 'warming up' >&2\nexit 1\n"
HEALTH = {"command": "sh check.sh", "retries": 1, "interval": 0.2, "timeout": 10}


def build(tmp: Path, api_checks: list[str], first: int = 0, auto_rollback: bool | None = None) -> World:
    api = AppRepo(tmp / "apps" / "api")
    api_shas = [api.commit(f"api {i}", {"check.sh": text, "app.py": f"print({i})\n"})
                for i, text in enumerate(api_checks)]
    web = AppRepo(tmp / "apps" / "web")
    web_shas = [web.commit(f"web {i}", {"site/index.html": f"<h1>{i}</h1>\n"}) for i in range(2)]
    deploy = DeployRepo(tmp / "deploy", with_program=True)
    deploy.catalog({
        "api": {"repo": str(api.path), "settings": {"health": HEALTH}},
        "web": {"repo": str(web.path), "path": "site", "depends_on": ["api"]},
    })
    settings: dict = {"deployRoot": ".deployments/staging"}
    if auto_rollback is not None:
        settings["autoRollback"] = auto_rollback
    deploy.env("staging", **settings)
    deploy.deploy("staging", "api", api_shas[first], "first api")
    deploy.deploy("staging", "web", web_shas[0], "first web")
    deploy.commit("initial deploys")
    return World(deploy=deploy, api=api, web=web, shas={"api": api_shas, "web": web_shas})


def deployed(w: World) -> World:
    code, out, err = w.cli("up")
    assert code == 0, out + err
    w.deploy.commit("stack configs as Pulumi writes them")  # stack init adds the salt
    return w


def test_a_healthy_deploy_and_a_check_that_passes_on_its_second_try(tmp_path: Path):
    w = deployed(build(tmp_path, [GOOD, FLAKY]))
    api = w.shas["api"]
    w.deploy.deploy("staging", "api", api[1], "flaky start")
    code, out, err = w.cli("up", "--stack", "staging")
    assert code == 0, out + err
    assert f"staging/api {api[1][:12]}: health try 1/2: failed: exit 1: warming up" in out
    assert f"staging/api {api[1][:12]}: health try 2/2: ok: exit 0" in out
    assert out.index("health try 1/2") < out.index("health try 2/2") < out.index("staging: ok")
    assert w.current("staging", "api") == api[1]
    # an up that changes nothing runs no check
    code, out, _ = w.cli("up", "--stack", "staging")
    assert code == 0 and "health try" not in out


def test_a_failing_check_switches_back_holds_the_dependent_and_says_so(tmp_path: Path, httpserver: HTTPServer):
    w = deployed(build(tmp_path, [GOOD, BAD]))
    api, web = w.shas["api"], w.shas["web"]
    origin = tmp_path / "origin.git"
    git.Repo.init(origin, bare=True)
    w.deploy.repo.create_remote("origin", str(origin))
    w.deploy.repo.git.push("origin", "main")
    posted: list[dict] = []
    pulls: list[dict] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (posted.append(r.get_json()), Response("ok"))[1])

    def open_pull(request: Request) -> Response:
        pulls.append(request.get_json())
        return Response(json.dumps({"number": 77, "html_url": "https://github.example/acme/deploys/pull/77"}),
                        status=201, content_type="application/json")

    httpserver.expect_request("/repos/acme/deploys/pulls", method="POST").respond_with_handler(open_pull)
    before, merged = merge(w, "Merge pull request #12 from acme/api-2", lambda: (
        w.deploy.deploy("staging", "api", api[1], "new api"), w.deploy.deploy("staging", "web", web[1], "new web")))
    env = {**os.environ, "DEPLOYCTL_SLACK_WEBHOOK": httpserver.url_for("/hook"), "GITHUB_REPOSITORY": "acme/deploys",
           "GITHUB_API_URL": httpserver.url_for("").rstrip("/"), "GITHUB_TOKEN": "ghs_test_token"}
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--branch", "main", "--post", env=env)

    assert code == 1, out + err
    assert "Traceback" not in err
    assert "health try 2/2: failed: exit 3: database unreachable" in out
    assert f"staging: switching back api to {api[0][:12]} (holding back web)" in out
    assert f"failed, switched back: api to {api[0][:12]}" in err
    assert w.current("staging", "api") == api[0]  # `current` points at the previous release again
    assert w.current("staging", "web") == web[0]  # the dependent never deployed
    assert w.engine().outputs("staging")["deployed"]["api"]["commit"] == api[0]

    record = w.engine().history("staging")[0]
    assert record.result == "succeeded" and "failed, switched back: api to" in record.message
    assert "held back: web" in record.message

    code, out, _ = w.cli("history", "staging", "--json")
    assert code == 0
    results = {(e["app"], e["to"]): e["deploy"]["result"] for e in json.loads(out)}
    assert results[("api", api[1])] == "failed, switched back"
    assert results[("web", web[1])] == "held back"
    page = tmp_path / "status.html"
    code, out, _ = w.cli("status", "--json", "--html", str(page))
    assert code == 0
    assert '<span class="badge result failed">failed, switched back</span>' in page.read_text()
    cells = {(c["env"], c["app"]): c for c in json.loads(out)}
    assert cells[("staging", "api")]["result"] == "failed, switched back"
    drift = cells[("staging", "api")]["drift"]
    assert drift == (f"the file says {api[1][:12]}, Pulumi runs {api[0][:12]}: its health check failed and the "
                     "previous commit runs again")
    assert cells[("staging", "api")]["state"] == "switched-back" and "[rollback]" in cells[("staging", "api")]["fix"]
    assert cells[("staging", "web")]["result"] == "held back"
    assert "held back while an app it depends on was switched back" in cells[("staging", "web")]["drift"]

    assert len(posted) == 1 and "failed, switched back" in json.dumps(posted[0])
    assert len(pulls) == 1 and pulls[0]["base"] == "main" and pulls[0]["title"].startswith("[rollback] staging: api")
    pushed = git.Repo(origin).git.show(f"{pulls[0]['head']}:deploys/staging/api").splitlines()
    assert pushed[0].startswith(f"{api[0]} ") and "[rollback]" in pushed[0] and api[1][:12] in pushed[0]
    assert pushed[1:] == (w.root / "deploys/staging/api").read_text().splitlines()
    assert "rollback pull request: https://github.example/acme/deploys/pull/77" in err
    assert not w.deploy.repo.is_dirty(untracked_files=False)  # the checkout was never touched

    # merging the [rollback] pull request: git says what runs again, and the held-back app deploys
    w.deploy.repo.git.fetch("origin", pulls[0]["head"])
    before = w.deploy.repo.head.commit.hexsha
    w.deploy.repo.git.merge("--no-ff", "-m", "Merge pull request #77 from acme/rollback", "FETCH_HEAD")
    code, out, err = w.cli("up", "--base", before, "--head", w.deploy.repo.head.commit.hexsha, "--branch", "main")
    assert code == 0, out + err
    assert f"staging/api {api[0][:12]}: health try 1/2: ok" in out
    assert (w.current("staging", "api"), w.current("staging", "web")) == (api[0], web[1])
    code, out, _ = w.cli("status", "--json")
    assert code == 0 and not any(c["drift"] for c in json.loads(out))


def test_a_failing_check_on_the_first_deploy_is_left_failed(tmp_path: Path):
    w = build(tmp_path, [BAD])
    api = w.shas["api"]
    code, _out, err = w.cli("up", "--stack", "staging")
    assert code == 1
    assert (f"api failed on its first deploy to staging: nothing to switch back to, left failed on "
            f"{api[0][:12]}") in err
    assert "held back (not deployed): web" in err
    assert w.current("staging", "api") == api[0]
    assert not (w.root / ".deployments/staging/web").exists()


def test_auto_rollback_false_leaves_the_failed_deploy(tmp_path: Path):
    w = deployed(build(tmp_path, [GOOD, BAD], auto_rollback=False))
    api = w.shas["api"]
    w.deploy.deploy("staging", "api", api[1])
    code, out, err = w.cli("up", "--stack", "staging")
    assert code == 1
    assert "deploys:autoRollback is false, so nothing was switched back" in err
    assert "switching back" not in out
    assert w.current("staging", "api") == api[1]


def test_a_health_command_changed_by_a_stack_config_override_is_named_in_the_preview_comment(tmp_path: Path):
    """`up` runs a health command through a shell on the deploy runner: a reviewer must see it change."""
    import yaml

    w = deployed(build(tmp_path, [GOOD]))
    config = yaml.safe_load((w.root / "Pulumi.staging.yaml").read_text())
    config["config"]["deploys:settings"] = {"api": {"health": {**HEALTH, "command": "curl -fsS http://10.0.0.1/x"}}}
    (w.root / "Pulumi.staging.yaml").write_text(yaml.safe_dump(config))
    comment = tmp_path / "comment.md"
    code, out, err = w.cli("preview", "--base", "HEAD", "--comment-file", str(comment))
    assert code == 0, out + err
    body = comment.read_text()
    row = next(line for line in body.splitlines() if "`api-health`" in line)
    assert row.startswith("| update |")
    assert "`health.command`: `sh check.sh` → `curl -fsS http://10.0.0.1/x`" in row, row


def test_a_secret_health_command_is_named_but_never_shown(tmp_path: Path):
    from pulumi import automation as auto

    w = deployed(build(tmp_path, [GOOD]))
    stack = w.engine().stack("staging")
    stack.set_config("deploys:settings.api.health.url", auto.ConfigValue(value="http://127.0.0.1:9/"), path=True)
    stack.set_config("deploys:settings.api.health.command", auto.ConfigValue(value="sh check.sh --token s3cr3t-value",
                                                                              secret=True), path=True)
    comment = tmp_path / "comment.md"
    code, out, err = w.cli("preview", "--base", "HEAD", "--comment-file", str(comment))
    assert code == 0, out + err
    body = comment.read_text()
    assert "s3cr3t-value" not in body + out + err
    row = next(line for line in body.splitlines() if "`api-health`" in line)
    assert row.startswith("| update |") and "`health" in row and "[secret]" in row, row


# -- the check judges the revision just deployed (ECS, Lambda) -----------------------------------------
# describe-services as AWS documents it: deployments[].status PRIMARY/ACTIVE/INACTIVE, taskDefinition,
# rolloutState IN_PROGRESS/COMPLETED/FAILED, rolloutStateReason.

OLD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/prod-api:6"
NEW = "arn:aws:ecs:eu-west-1:123456789012:task-definition/prod-api:7"


def described(*deployments: dict) -> dict:
    return {"services": [{"serviceName": "prod-api", "deployments": list(deployments)}]}


def deployment(status: str, task: str, state: str, running: int = 2, reason: str | None = None) -> dict:
    out = {"status": status, "taskDefinition": task, "rolloutState": state, "runningCount": running,
           "desiredCount": 2}
    return {**out, "rolloutStateReason": reason} if reason else out


def test_ecs_is_healthy_only_once_the_revision_this_update_registered_is_primary_and_completed():
    from deployctl.core.health.checks import TryResult, ecs_verdict

    rolling = described(deployment("PRIMARY", NEW, "IN_PROGRESS", 1), deployment("ACTIVE", OLD, "COMPLETED"))
    assert ecs_verdict(rolling, "prod-api", NEW) == TryResult(ok=False,
                                                          detail="rollout IN_PROGRESS (1/2 tasks running)")
    done = described(deployment("PRIMARY", NEW, "COMPLETED", reason="ECS deployment ecs-svc/1 completed."))
    assert ecs_verdict(done, "prod-api", NEW) == TryResult(ok=True, detail="rollout COMPLETED (2/2 tasks running)")


def test_ecs_circuit_breaker_rollback_is_a_failed_check_that_says_what_ecs_did():
    from deployctl.core.health.checks import ecs_verdict

    reason = "ECS deployment circuit breaker: tasks failed to start."
    rolled_back = described(deployment("PRIMARY", OLD, "COMPLETED"),
                            deployment("ACTIVE", NEW, "FAILED", 0, reason))
    verdict = ecs_verdict(rolled_back, "prod-api", NEW)
    assert not verdict.ok  # the old revision PRIMARY and COMPLETED is not this deploy being healthy
    assert verdict.detail == ("ECS rolled back: the deployment of prod-api:7 (this update's) FAILED: "
                              f"{reason}; prod-api:6 is PRIMARY (rollout COMPLETED)")
    rolling_back = described(deployment("PRIMARY", OLD, "IN_PROGRESS", 1),
                             deployment("ACTIVE", NEW, "FAILED", 0, reason))
    assert ecs_verdict(rolling_back, "prod-api", NEW).detail.startswith("ECS rolled back")


def test_ecs_old_revision_still_primary_is_a_failed_check():
    from deployctl.core.health.checks import ecs_verdict

    gone = ecs_verdict(described(deployment("PRIMARY", OLD, "COMPLETED")), "prod-api", NEW)
    assert not gone.ok and gone.detail.startswith("prod-api:6 is PRIMARY (rollout COMPLETED), not prod-api:7")
    assert "no longer among the service's deployments" in gone.detail
    later = ecs_verdict(described(deployment("PRIMARY", OLD, "IN_PROGRESS", 1), deployment("ACTIVE", NEW, "COMPLETED")),
                        "prod-api", NEW)
    assert not later.ok and later.detail.endswith("not prod-api:7 (this update's, ACTIVE COMPLETED)")


def test_lambda_is_healthy_only_when_the_alias_runs_the_version_just_published():
    from deployctl.core.health.checks import TryResult, lambda_verdict

    assert lambda_verdict({"StatusCode": 200, "ExecutedVersion": "8"}, "8") == TryResult(ok=True,
                                                                                          detail="invoke status 200")
    old = lambda_verdict({"StatusCode": 200, "ExecutedVersion": "7"}, "8")
    assert old == TryResult(ok=False, detail="the alias ran version 7, not 8 (this update's)")


def test_the_ecs_and_lambda_checks_are_given_what_this_update_registered():
    import pulumi
    from pulumi.runtime import set_mocks
    from pulumi.runtime.settings import reset_options

    from deployctl.components import make_component
    from deployctl.components.health import make_health_check
    from deployctl.core.repo.catalog import EcsServiceSettings, Kind, LambdaSettings
    from tests.test_components_aws import C1, ECS, FUNCTION, TASK, RecordingMocks, spec

    def registered(kind: Kind, settings: object) -> tuple[RecordingMocks, dict]:
        mocks = RecordingMocks()
        reset_options()
        set_mocks(mocks, preview=False)

        @pulumi.runtime.test
        def program() -> pulumi.Output:
            app_spec = spec(kind, C1, settings)
            check = make_health_check(app_spec, make_component(app_spec))
            assert check is not None
            return check.id

        try:
            program()
        finally:
            reset_options()
        (check,) = [r for r in mocks.registered if r.name == "api-health"]
        return mocks, check.inputs["target"]

    health = {"health": {"retries": 1}}
    mocks, ecs = registered(Kind.ECS_SERVICE, EcsServiceSettings.model_validate({**ECS.model_dump(), **health}))
    (task,) = [r for r in mocks.registered if r.typ == TASK]
    assert (ecs["service"], ecs["task_definition"]) == ("prod-api", task.state["arn"])
    mocks, fn = registered(Kind.LAMBDA, LambdaSettings(role_arn="arn:aws:iam::1:role/x", bucket="b", handler="h",
                                                       runtime="python3.12", **health))
    (function,) = [r for r in mocks.registered if r.typ == FUNCTION]
    assert fn["function_version"] == function.state["version"]


def test_ecs_runner_fails_while_the_old_revision_is_still_primary(aws_env):
    """On moto's ECS: this update registered revision 2, the service's PRIMARY deployment runs 1."""
    from deployctl.adapters.cloud.probes import check_once
    from deployctl.core.health.checks import HealthSettings, HealthTarget

    ecs = aws_env.client("ecs")
    cluster = f"health-{uuid.uuid4().hex[:8]}"  # the server is shared by the session's tests: names of its own
    ecs.create_cluster(clusterName=cluster)
    container = {"name": "api", "image": "x:1", "memory": 128}
    old, new = (ecs.register_task_definition(family=f"{cluster}-api", containerDefinitions=[container])
                    ["taskDefinition"]["taskDefinitionArn"] for _ in range(2))
    ecs.create_service(cluster=cluster, serviceName="prod-api", taskDefinition=old, desiredCount=0)

    def target(task_definition: str) -> HealthTarget:
        return HealthTarget(env="prod", app="api", kind="ecs-service", commit="a1" * 20, cluster=cluster,
                            service="prod-api", task_definition=task_definition)

    assert check_once(target(old), HealthSettings(timeout=5)).ok
    result = check_once(target(new), HealthSettings(timeout=5))
    assert not result.ok
    assert result.detail.startswith(f"{cluster}-api:1 is PRIMARY (rollout COMPLETED), not {cluster}-api:2 "
                                    "(this update's")


def test_a_site_is_healthy_only_once_its_distribution_serves_this_updates_folder_deployed():
    from deployctl.core.health.checks import TryResult, site_verdict

    def answer(path: str, status: str = "Deployed") -> dict:
        return {"Distribution": {"Status": status, "DistributionConfig": {"Origins": {
            "Quantity": 1, "Items": [{"Id": "site", "DomainName": "b.s3.eu-west-1.amazonaws.com",
                                      "OriginPath": path}]}}}}

    assert site_verdict(answer("/www/2222"), "/www/2222") == TryResult(
        ok=True, detail="the distribution serves /www/2222 (Deployed)")
    assert site_verdict(answer("/www/1111"), "/www/2222") == TryResult(
        ok=False, detail="the distribution serves /www/1111, not /www/2222 (this update's)")
    assert site_verdict(answer("/www/2222", "InProgress"), "/www/2222") == TryResult(
        ok=False, detail="the distribution is InProgress, not yet Deployed to the edge")


def test_the_site_check_reads_the_distribution_on_clouds_api(aws_env):
    """CloudFront's API (moto's server on loopback): the probe asks for the distribution this update set."""
    from deployctl.adapters.cloud.probes import check_once
    from deployctl.core.health.checks import HealthSettings, HealthTarget

    cloudfront = aws_env.client("cloudfront")
    made = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": uuid.uuid4().hex, "Comment": "staging-www", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "site", "DomainName": "b.s3.us-east-1.amazonaws.com", "OriginPath": "/www/1111",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})
    target = HealthTarget(env="staging", app="www", kind="static-site", commit="2" * 40,
                          distribution=made["Distribution"]["Id"], origin_path="/www/2222")
    result = check_once(target, HealthSettings(retries=0, interval=0, timeout=5))
    assert not result.ok and "the distribution serves /www/1111, not /www/2222 (this update's)" in result.detail
