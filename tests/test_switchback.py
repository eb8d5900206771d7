"""The pure parts of health and switch-back, and the AWS kinds' checks under Pulumi's mocks."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pytest
from pulumi.runtime import set_mocks
from pulumi.runtime.settings import reset_options

from deployctl.components import make_component
from deployctl.components.health import make_health_check
from deployctl.core.health.checks import (
    HealthSettings,
    TryResult,
    ecs_verdict,
    lambda_verdict,
    run_tries,
    status_verdict,
)
from deployctl.core.health.healthmessage import progress_of
from deployctl.core.health.switchback import (
    dependents,
    failed_apps,
    plan_pins,
    stuck_reason,
)
from deployctl.core.repo.catalog import (
    App,
    Catalog,
    EcsServiceSettings,
    Kind,
    LambdaSettings,
    LocalSettings,
    StaticSiteSettings,
)
from deployctl.core.repo.catalog import settings_violations as catalog_violations
from deployctl.core.trace.history import HistoryEntry, join
from deployctl.core.trace.outcomes import UpdateRecord
from deployctl.core.trace.updatemessage import switch_marks, switched_message
from tests.test_components_aws import ECS, RecordingMocks, spec

C0, C1, W0, W1 = "0" * 40, "1" * 40, "a" * 40, "b" * 40
pytestmark = pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning")


# -- settings ---------------------------------------------------------------------------------------


def test_health_settings_are_validated_per_kind_and_overridable_per_env():
    local = App(kind=Kind.LOCAL, repo="r", settings={"health": {"command": "true", "retries": 1}})
    assert catalog_violations("api", local, None, "staging", "apps.yaml") == []
    # an env override merges into the app's health block key by key, and is validated the same way
    assert catalog_violations("api", local, {"health": {"retries": 2}}, "production", "Pulumi.production.yaml") == []
    found = catalog_violations("api", local, {"health": {"url": "ftp://x"}}, "production", "Pulumi.production.yaml")
    assert [v.rule for v in found] == ["invalid-settings"]
    assert "url must start with http" in found[0].message
    overridden = LocalSettings.model_validate({**local.settings, "health": {"url": "http://127.0.0.1:1/"}})
    assert overridden.health == HealthSettings(url="http://127.0.0.1:1/")
    with pytest.raises(ValueError, match="runs only for local apps"):
        EcsServiceSettings.model_validate({**ECS.model_dump(), "health": {"command": "true"}})
    with pytest.raises(ValueError, match="url must start with http"):
        HealthSettings(url="file:///etc/passwd")
    assert HealthSettings(command="x").tries == 4  # retries: 3 more after the first


# -- verdicts -----------------------------------------------------------------------------------------


def test_verdicts_on_each_answer():
    assert status_verdict(200, 200) == TryResult(ok=True, detail="HTTP 200")
    assert status_verdict(503, 200) == TryResult(ok=False, detail="HTTP 503, expected 200")
    rollout = {"services": [{"deployments": [
        {"status": "PRIMARY", "rolloutState": "IN_PROGRESS", "runningCount": 1, "desiredCount": 2},
        {"status": "ACTIVE", "rolloutState": "COMPLETED"}]}]}
    assert ecs_verdict(rollout, "api") == TryResult(ok=False, detail="rollout IN_PROGRESS (1/2 tasks running)")
    rollout["services"][0]["deployments"][0].update(rolloutState="COMPLETED", runningCount=2)
    assert ecs_verdict(rollout, "api").ok
    failed = {"services": [{"deployments": [{"status": "PRIMARY", "rolloutState": "FAILED", "runningCount": 0,
                                             "desiredCount": 2, "rolloutStateReason": "tasks failed to start"}]}]}
    assert ecs_verdict(failed, "api").detail.endswith("tasks failed to start")
    assert not ecs_verdict({"services": [], "failures": [{"reason": "MISSING"}]}, "api").ok
    assert lambda_verdict({"StatusCode": 200}).ok
    bad = lambda_verdict({"StatusCode": 200, "FunctionError": "Unhandled",
                          "Payload": b'{"errorMessage": "boom"}'})
    assert not bad.ok and "boom" in bad.detail


def test_tries_retry_with_a_line_each_and_stop_at_the_first_pass():
    answers = iter([TryResult(ok=False, detail="HTTP 502, expected 200"), TryResult(ok=True, detail="HTTP 200")])
    lines: list[str] = []
    sleeps: list[float] = []
    result = run_tries(HealthSettings(url="http://x/", retries=3, interval=2), lambda: next(answers), lines.append,
                       "staging/api", sleeps.append)
    assert result.ok and result.tries == 2
    assert lines == ["staging/api: health try 1/4: failed: HTTP 502, expected 200",
                     "staging/api: health try 2/4: ok: HTTP 200"]
    assert sleeps == [2]
    failing = run_tries(HealthSettings(url="http://x/", retries=1, interval=0),
                        lambda: TryResult(ok=False, detail="no"), lines.append, "a", sleeps.append)
    assert not failing.ok and failing.tries == 2
    assert progress_of("deployctl-health: a: health try 1/2: failed: no\n\n") == "a: health try 1/2: failed: no"
    assert progress_of("some other provider output") is None


# -- switch-back decisions ----------------------------------------------------------------------------


def test_who_goes_back_who_is_held_and_who_is_stuck():
    catalog = Catalog(apps={"api": App(repo="r"), "web": App(repo="r", depends_on=["api"]),
                            "edge": App(repo="r", depends_on=["web"]), "cron": App(repo="r")})
    assert dependents(catalog, ["api"], {"api", "web", "edge", "cron"}) == ["edge", "web"]
    assert dependents(catalog, ["api"], {"api", "cron"}) == []
    assert failed_apps(["staging/api x: health try 1/1: failed: no", "FAILED staging/api: health check ...",
                        "FAILED staging/api: again"]) == ["api"]
    pins, stuck = plan_pins(["api"], ["web", "edge"], before={"api": C0, "web": W0},
                            now={"api": C1, "web": W1, "edge": W1})
    assert pins == {"api": C0, "web": W0, "edge": None} and stuck == []
    pins, stuck = plan_pins(["api"], [], before={}, now={"api": C1})  # first deploy: nothing to go back to
    assert pins == {"api": C1} and stuck == ["api"]
    assert "api failed on its first deploy to staging" in stuck_reason("staging", "api", {}, {"api": C1})
    # the check itself changed and fails on what already ran: going "back" would change nothing
    pins, stuck = plan_pins(["api"], [], before={"api": C1}, now={"api": C1})
    assert stuck == ["api"]
    again = stuck_reason("staging", "api", {"api": C1}, {"api": C1})
    assert f"fails its check on {C1[:12]}, which already ran" in again


def test_the_update_message_round_trips_and_history_says_switched_back():
    message = switched_message(f"deployctl: staging: api {C0[:12]}->{C1[:12]} (PR #4 merge {'m' * 12})", {"api": C0},
                               ["web"])
    assert message.endswith(f"-- failed, switched back: api to {C0[:12]}; held back: web")
    assert switch_marks(message) == ({"api"}, {"web"})
    assert switch_marks("deployctl: staging: api a->b") == (set(), set())

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    entries = [HistoryEntry(merged=t0, env="staging", app=a, from_=old, to=new, commit="m" * 40, author="Dana")
               for a, old, new in (("api", C0, C1), ("web", W0, W1))]
    records = [UpdateRecord(env="staging", version=1, kind="update", result="failed", message="x", start=t0,
                            end=t0 + timedelta(seconds=5), environment={"git.head": "m" * 40}),
               UpdateRecord(env="staging", version=2, kind="update", result="succeeded", message=message,
                            start=t0 + timedelta(seconds=6), end=t0 + timedelta(seconds=9),
                            environment={"git.head": "m" * 40})]
    joined = {e.app: e.deploy.result for e in join(entries, {"staging": records}, ["m" * 40])}
    assert joined == {"api": "failed, switched back", "web": "held back"}


# -- the AWS kinds' checks under Pulumi's mocks --------------------------------------------------------

HEALTH = {"url": "https://status.example/ping", "retries": 2}


def registered_check(kind: Kind, settings: Any) -> dict[str, Any]:
    """Build the component and its health check against fresh mocks; the check's registered target."""
    mocks = RecordingMocks()
    reset_options()
    set_mocks(mocks, preview=False)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        app_spec = spec(kind, C1, settings)
        check = make_health_check(app_spec, make_component(app_spec))
        assert check is not None
        return check.id  # resolves once the check is registered, after the component's resources

    try:
        program()
    finally:
        reset_options()
    (found,) = [r for r in mocks.registered if r.name == "api-health"]
    assert found.inputs["commit"] == C1 and found.inputs["health"]["retries"] == 2
    return found.inputs["target"]


def test_the_aws_kinds_check_what_their_components_created():
    ecs = registered_check(Kind.ECS_SERVICE, EcsServiceSettings.model_validate({**ECS.model_dump(), "health": HEALTH}))
    assert (ecs["kind"], ecs["cluster"], ecs["service"]) == ("ecs-service", "prod-cluster", "prod-api")
    fn = registered_check(Kind.LAMBDA, LambdaSettings(role_arn="arn:aws:iam::1:role/x", bucket="b", handler="h",
                                                      runtime="python3.12",
                                                      health={"retries": 2, "payload": {"ping": 1}}))
    assert (fn["function"], fn["alias"]) == ("prod-api", "live")
    site = registered_check(Kind.STATIC_SITE, StaticSiteSettings(bucket="b", health={"retries": 2}))
    assert site["url"] == "https://d111111abcdef8.cloudfront.net/"


def test_no_health_settings_no_check():
    assert make_health_check(spec(Kind.LOCAL, C1, LocalSettings()), None) is None  # type: ignore[arg-type]


# -- the runners at the edge: a shell, HTTP on loopback, ECS on the moto server ----------------------


def test_local_runner_command_and_url(tmp_path, httpserver):
    from deployctl.adapters.cloud.probes import check_once
    from deployctl.core.health.checks import HealthTarget

    (tmp_path / "ready").write_text("")
    target = HealthTarget(env="staging", app="api", kind="local", commit=C1, workdir=str(tmp_path))
    httpserver.expect_ordered_request("/health").respond_with_data("starting", status=503)
    httpserver.expect_ordered_request("/health").respond_with_data("ok", status=200)
    both = HealthSettings(command="test -f ready", url=httpserver.url_for("/health"), timeout=5)
    assert check_once(target, both) == TryResult(ok=False, detail="exit 0; HTTP 503, expected 200")
    assert check_once(target, both) == TryResult(ok=True, detail="exit 0; HTTP 200")
    slow = check_once(target, HealthSettings(command="sleep 5", timeout=0.3))
    assert slow == TryResult(ok=False, detail="command timed out after 0.3 s")
    refused = check_once(target, HealthSettings(url="http://127.0.0.1:9/", timeout=2))
    assert not refused.ok and refused.detail == "GET http://127.0.0.1:9/: ConnectError"


def test_lambda_runner_reads_the_payload_stream_for_the_verdict(monkeypatch):
    from deployctl.adapters.cloud import probes
    from deployctl.core.health.checks import HealthTarget

    calls: list[dict[str, Any]] = []

    class FakeLambda:  # boto3's answer carries the payload as a stream; the pure verdict gets its bytes
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "boom"}')}

    monkeypatch.setattr(probes, "_boto", lambda service, health: FakeLambda())
    target = HealthTarget(env="prod", app="fn", kind="lambda", commit=C1, function="fn", alias="live")
    result = probes.check_once(target, HealthSettings(payload={"ping": 1}))
    assert result == TryResult(ok=False, detail='function error Unhandled: {"errorMessage": "boom"}')
    assert calls == [{"FunctionName": "fn", "Qualifier": "live", "Payload": b'{"ping": 1}'}]


def test_ecs_runner_reads_the_rollout_state(aws_env):
    from deployctl.adapters.cloud.probes import check_once
    from deployctl.core.health.checks import HealthTarget

    ecs = aws_env.client("ecs")
    cluster = f"c-{C1[:6]}"
    ecs.create_cluster(clusterName=cluster)
    container = {"name": "api", "image": "x:1", "memory": 128}
    task = ecs.register_task_definition(family="api", containerDefinitions=[container])
    arn = task["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="idle", taskDefinition=arn, desiredCount=0)
    ecs.create_service(cluster=cluster, serviceName="busy", taskDefinition=arn, desiredCount=2)
    health = HealthSettings(timeout=5)

    def target(service: str) -> HealthTarget:
        return HealthTarget(env="prod", app="api", kind="ecs-service", commit=C1, cluster=cluster, service=service)

    assert check_once(target("idle"), health) == TryResult(ok=True, detail="rollout COMPLETED (0/0 tasks running)")
    assert check_once(target("busy"), health) == TryResult(ok=False, detail="rollout IN_PROGRESS (0/2 tasks running)")
    assert check_once(target("gone"), health).detail.startswith("service gone not found")


def test_a_rollback_pr_that_cannot_be_opened_says_what_to_run(tmp_path, httpserver, monkeypatch):
    import git

    from deployctl.adapters.pulumi.switchback import rollback_opener
    from tests.builders import DeployRepo

    deploy = DeployRepo(tmp_path / "deploy")
    deploy.deploy("staging", "api", C0, "good")
    deploy.deploy("staging", "api", C1, "bad")
    deploy.commit("deploys")
    origin = tmp_path / "origin.git"
    git.Repo.init(origin, bare=True)
    deploy.repo.create_remote("origin", str(origin))
    httpserver.expect_request("/repos/acme/deploys/pulls", method="POST").respond_with_json(
        {"message": "Resource not accessible by integration"}, status=403)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/deploys")
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("").rstrip("/"))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test_token")
    said: list[str] = []
    opener = rollback_opener(deploy.path, "staging", "origin/main", said.append)
    assert opener({"api": (C1, C0)}) is None
    assert len(said) == 1 and "HTTP 403" in said[0] and f"deployctl rollback staging api --to {C0}" in said[0]
    # the branch was pushed before GitHub refused the pull request; the checkout is untouched
    pushed = git.Repo(origin).git.show(f"deployctl/rollback-staging-api-{C1[:12]}:deploys/staging/api")
    assert pushed.splitlines()[0].startswith(f"{C0} ") and "[rollback]" in pushed.splitlines()[0]
    assert (deploy.path / "deploys/staging/api").read_text().splitlines()[0].startswith(C1)


# --- a health check that waits says so ---


def test_a_health_try_that_waits_says_so_every_few_seconds_and_so_does_the_pause(tmp_path, capfd):
    """A 25-second try used to print nothing until it ended: while a try runs, and while the pause
    before the next one lasts, a progress line says so (every PROGRESS_EVERY s; here 0.25 s)."""
    from deployctl.adapters.cloud.probes import PROGRESS_EVERY, run_health
    from deployctl.core.health.checks import HealthTarget

    assert PROGRESS_EVERY == 5.0
    (tmp_path / "tried").write_text("")
    target = HealthTarget(env="staging", app="api", kind="local", commit=C1, workdir=str(tmp_path))
    # the first try sleeps 0.9 s and fails; after a 0.6 s pause the second passes at once
    health = HealthSettings(command="if [ -f tried ]; then rm tried; sleep 0.9; exit 3; fi", retries=1,
                            interval=0.6, timeout=5)
    result = run_health(target, health, every=0.25)
    lines = [line for line in (progress_of(x) for x in capfd.readouterr().err.splitlines()) if line]
    assert result.ok and result.tries == 2
    label = f"staging/api {C1[:12]}"
    running = [n for n, line in enumerate(lines) if line.startswith(f"{label}: health try 1/2: still running after ")]
    pausing = [n for n, line in enumerate(lines) if line.startswith(f"{label}: health try 2/2 in ")]
    first = lines.index(f"{label}: health try 1/2: failed: exit 3")
    assert len(running) >= 2 and max(running) < first  # said while the try ran, before its verdict
    assert "(timeout 5 s)" in lines[running[0]]
    second = lines.index(f"{label}: health try 2/2: ok: exit 0")
    assert len(pausing) >= 1 and first < min(pausing) and max(pausing) < second
    assert not any("still running" in line for line in lines[first + 1:])  # the ticker stopped with its try


# --- the [rollback] pull request from the deploy job, its token kept from the engine ---


@pytest.mark.engine
def test_up_post_opens_the_rollback_pr_while_the_token_never_reaches_the_engine(tmp_path, httpserver):
    """The shipped deploy job runs `up --post` with a token that may push a branch and open a pull
    request: after a switch-back on the real engine it opens the [rollback] PR (GitHub's documented
    request: POST /repos/{repo}/pulls with title, head, base, body), while the program and the app's
    own health command never see the token. In Actions, the job summary says what ran where."""
    import json
    import os

    import git
    from werkzeug import Request, Response

    from tests.engine_world import merge
    from tests.test_health import GOOD, build, deployed

    # the new commit's check waits 6 s (a progress line says so), notes the environment it sees, fails
    seen = "../../seen-env"
    slow_bad = f"sleep 6\nenv > {seen}\necho 'database unreachable' >&2\nexit 3\n"
    w = deployed(build(tmp_path, [GOOD, slow_bad]))
    api, web = w.shas["api"], w.shas["web"]
    origin = tmp_path / "origin.git"
    git.Repo.init(origin, bare=True)
    w.deploy.repo.create_remote("origin", str(origin))
    w.deploy.repo.git.push("origin", "main")
    pulls: list[tuple[dict, dict]] = []

    def open_pull(request: Request) -> Response:
        pulls.append((request.get_json(), dict(request.headers)))
        return Response(json.dumps({"number": 78, "html_url": "https://github.example/acme/deploys/pull/78"}),
                        status=201, content_type="application/json")

    httpserver.expect_request("/repos/acme/deploys/pulls", method="POST").respond_with_handler(open_pull)
    before, merged = merge(w, "Merge pull request #13 from acme/api-2", lambda: (
        w.deploy.deploy("staging", "api", api[1], "new api"), w.deploy.deploy("staging", "web", web[1], "new web")))
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {**os.environ, "GITHUB_REPOSITORY": "acme/deploys", "GITHUB_API_URL": httpserver.url_for("").rstrip("/"),
           "GITHUB_TOKEN": "ghs_deployJobToken0123456789", "GITHUB_SERVER_URL": "https://github.example",
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--branch", "main", "--post", env=env)

    assert code == 1, out + err
    label = f"staging/api {api[1][:12]}"
    assert f"{label}: health try 1/2: still running after 5 s (timeout 10 s)" in out  # said while it waited
    assert out.index("still running after 5 s") < out.index(f"{label}: health try 1/2: failed: exit 3")
    assert w.current("staging", "api") == api[0]  # switched back

    # the pull request, as GitHub documents the call, with the token as its bearer
    assert len(pulls) == 1
    body, headers = pulls[0]
    assert set(body) == {"title", "head", "base", "body"}
    assert body["base"] == "main" and body["head"] == f"deployctl/rollback-staging-api-{api[1][:12]}"
    assert body["title"] == f"[rollback] staging: api {api[1][:12]} -> {api[0][:12]} (health check failed)"
    assert headers["Authorization"] == "Bearer ghs_deployJobToken0123456789"
    assert headers["Accept"] == "application/vnd.github+json" and headers["X-Github-Api-Version"] == "2022-11-28"
    pushed = git.Repo(origin).git.show(f"{body['head']}:deploys/staging/api").splitlines()
    assert pushed[0].startswith(f"{api[0]} ") and "[rollback]" in pushed[0]
    assert "rollback pull request: https://github.example/acme/deploys/pull/78" in err

    # the app's health command ran inside the engine without the token
    environment = (w.root / ".deployments/staging/api/seen-env").read_text()  # beside the releases
    assert "PULUMI" in environment  # it is the engine's environment indeed
    assert "GITHUB_TOKEN" not in environment and "ghs_deployJobToken" not in environment

    # the job summary: the stack, its update, the PR and merge, each app's from, to and outcome
    text = summary.read_text()
    assert "PR [#13](https://github.example/acme/deploys/pull/13)" in text
    assert f"merge [`{merged[:12]}`](https://github.example/acme/deploys/commit/{merged})" in text
    updates = [r.version for r in w.engine().history("staging")]
    assert f"### staging: ❌ failed, update {max(updates)}" in text
    assert (f"| `api` | `{api[0][:12]}` | `{api[1][:12]}` | not deployed: `{api[0][:12]}` runs |") in text
    assert f"| `web` | `{web[0][:12]}` | `{web[1][:12]}` | not deployed: `{web[0][:12]}` runs |" in text
    assert not output.exists() or "url=" not in output.read_text()  # no app names a public URL here


def test_the_rollback_push_authenticates_with_the_token_for_the_github_server_only(tmp_path, monkeypatch):
    """The checkout keeps no credential: the [rollback] push sends the token as actions/checkout does (a
    basic `x-access-token` header scoped to the GitHub server's URLs), through that one git command's
    environment: never its arguments (which any process can list), never a config file."""
    import base64
    import subprocess

    from deployctl.adapters.git import apprepos
    from deployctl.adapters.pulumi.switchback import _push, push_credentials
    from tests.builders import DeployRepo

    calls: list[tuple[list[str], dict[str, str] | None]] = []

    def record(args: list[str], url: str, action: str, extra_env: dict[str, str] | None = None):
        calls.append((args, extra_env))
        return subprocess.CompletedProcess(args, 0, b"", b"")

    monkeypatch.setattr(apprepos, "run_network_git", record)
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.deploy("staging", "api", C0)
    sha = deploy.commit("deploys")
    deploy.repo.create_remote("origin", "https://github.example/acme/deploys.git")
    environ = {"GITHUB_TOKEN": "ghs_pushToken0123", "GITHUB_SERVER_URL": "https://github.example/"}
    refspec = f"{sha}:refs/heads/deployctl/rollback-x"
    _push(deploy.path, refspec, environ)
    basic = base64.b64encode(b"x-access-token:ghs_pushToken0123").decode()
    assert calls == [(["-C", str(deploy.path), "push", "--quiet", "--", "origin", refspec],
                      {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.https://github.example/.extraheader",
                       "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"})]
    assert push_credentials({"GH_TOKEN": "t"})["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert push_credentials({}) == {}  # no token: git's own credentials, as before
    assert "extraheader" not in deploy.repo.git.config("--list")  # nothing written to the config
