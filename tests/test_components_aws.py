"""The AWS kinds under Pulumi's mocks: what the engine would be asked to register, per commit.

A release must be an in-place update: the commit may only reach the inputs that carry the artifact
version, never a logical or physical name, or Pulumi would replace the service, function or
distribution instead of updating it. Each test builds the component once per commit, each time with
fresh mocks, and compares what was registered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.settings import reset_options
from pydantic import ValidationError

from deployctl.components import make_component
from deployctl.components.cdn_invalidation import CacheInvalidationProvider, invalidate
from deployctl.components.spec import AppSpec
from deployctl.core.repo.catalog import EcsServiceSettings, Kind, LambdaSettings, StaticSiteSettings
from tests.awsserver import AwsServer

C1, C2 = "a1" * 20, "b2" * 20
TASK, SERVICE = "aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/service:Service"
FUNCTION, ALIAS = "aws:lambda/function:Function", "aws:lambda/alias:Alias"
CDN, OAC = "aws:cloudfront/distribution:Distribution", "aws:cloudfront/originAccessControl:OriginAccessControl"
DYNAMIC = "pulumi-python:dynamic:Resource"
REGION = "eu-west-1"
# pulumi_aws.lambda_ warns about one of its own deprecated modules when first imported.
pytestmark = [pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning"),
              # and pulumi_aws.s3 (the static site reads its bucket) about its V2 resources
              pytest.mark.filterwarnings("ignore:.*deprecated in favor of:DeprecationWarning")]


def _digest(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]


class RecordingMocks(Mocks):
    """Records every registration; an arn derived from the inputs, like a new task definition revision,
    and a new version per Lambda publish, counted per function over the test's runs, as AWS numbers them."""

    def __init__(self, published: dict[str, int] | None = None) -> None:
        self.registered: list[Registered] = []
        self.published = {} if published is None else published

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = {**args.inputs, "arn": f"arn:aws:mock:{args.typ}:{args.name}:{_digest(args.inputs)}"}
        if args.typ == FUNCTION:
            self.published[args.name] = self.published.get(args.name, 0) + 1
            state["version"] = str(self.published[args.name])
        if args.typ == CDN:
            state["domainName"] = "d111111abcdef8.cloudfront.net"
        if args.typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:{REGION}:123456789012:log-group:{args.inputs['name']}"
        self.registered.append(Registered(args.typ, args.name, args.inputs, state))
        return f"{args.name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:s3/getBucket:getBucket":  # the bucket, as in REGION
            bucket = args.args["bucket"]
            return {"id": bucket, "bucket": bucket, "region": REGION,
                    "bucketRegionalDomainName": f"{bucket}.s3.{REGION}.amazonaws.com"}, []
        return {}, []


@dataclass
class Run:
    component: pulumi.ComponentResource
    registered: list[Registered]
    checked: list[Any] = field(default_factory=list)

    def one(self, typ: str) -> Registered:
        (found,) = [r for r in self.registered if r.typ == typ]
        return found

    def logical_names(self) -> set[tuple[str, str]]:
        return {(r.typ, r.name) for r in self.registered}


Deploy = Callable[..., Run]


@pytest.fixture
def deploy() -> Iterator[Deploy]:
    """Build one component against its own fresh mocks; `set_mocks` is process-global, so reset around it."""

    published: dict[str, int] = {}  # the account: Lambda versions count on across the test's deploys

    def run(spec: AppSpec, check: Callable[[pulumi.ComponentResource], pulumi.Output[Any]] | None = None) -> Run:
        mocks = RecordingMocks(published)
        reset_options()
        set_mocks(mocks, preview=False)
        built: list[pulumi.ComponentResource] = []
        checked: list[Any] = []

        @pulumi.runtime.test
        def program() -> pulumi.Output[Any] | None:
            component = make_component(spec)
            built.append(component)
            return check(component).apply(checked.append) if check else None

        program()
        return Run(built[0], list(mocks.registered), checked)

    yield run
    reset_options()


def spec(kind: Kind, commit: str, settings: Any, app: str = "api") -> AppSpec:
    return AppSpec(env="prod", app=app, kind=kind, commit=commit, repo_url="https://git.example/app.git",
                   settings=settings)


def changed_inputs(first: Run, second: Run) -> dict[tuple[str, str], set[str]]:
    """Per logical resource, the top-level inputs that differ between two runs."""
    before = {(r.typ, r.name): r.inputs for r in first.registered}
    after = {(r.typ, r.name): r.inputs for r in second.registered}
    assert before.keys() == after.keys()
    return {key: {k for k in before[key].keys() | after[key].keys() if before[key].get(k) != after[key].get(k)}
            for key in before}


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


# ecs-service

ECS = EcsServiceSettings(
    image_repository="123456789012.dkr.ecr.eu-west-1.amazonaws.com/api", cluster="prod-cluster", cpu=512,
    memory=1024, desired_count=2, container_port=8080, subnets=["subnet-1", "subnet-2"], security_groups=["sg-1"],
    execution_role_arn="arn:aws:iam::123456789012:role/ecs-exec", environment={"LOG_LEVEL": "info"},
)


def container(run: Run) -> dict[str, Any]:
    (only,) = json.loads(run.one(TASK).inputs["containerDefinitions"])
    return only


def test_ecs_image_is_tagged_with_the_commit(deploy: Deploy) -> None:
    run = deploy(spec(Kind.ECS_SERVICE, C1, ECS))
    task, service = run.one(TASK), run.one(SERVICE)
    assert run.component.version == C1
    assert container(run)["image"] == f"{ECS.image_repository}:{C1}"
    assert container(run)["name"] == "api"
    assert container(run)["portMappings"][0]["containerPort"] == 8080
    assert {e["name"]: e["value"] for e in container(run)["environment"]} == {"LOG_LEVEL": "info", "DEPLOY_COMMIT": C1}
    assert without(task.inputs, "containerDefinitions") == {
        "family": "prod-api", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "512",
        "memory": "1024", "executionRoleArn": ECS.execution_role_arn, "skipDestroy": True,
    }
    assert service.inputs["taskDefinition"] == task.state["arn"]
    assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service.inputs["networkConfiguration"] == {
        "subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"], "assignPublicIp": False,
    }
    assert (service.inputs["name"], service.inputs["cluster"], service.inputs["launchType"]) == (
        "prod-api", "prod-cluster", "FARGATE")
    assert service.inputs["desiredCount"] == 2


def test_ecs_without_port_or_role_leaves_them_out_and_always_sends_its_network(deploy: Deploy) -> None:
    """awsvpc needs a network configuration: settings without subnets are refused (tests/test_aws_settings.py),
    so the service never goes out without one."""
    with pytest.raises(ValidationError, match="awsvpc"):
        EcsServiceSettings(image_repository="repo", cluster="c")
    run = deploy(spec(Kind.ECS_SERVICE, C1, EcsServiceSettings(image_repository="repo", cluster="c", subnets=["s-1"],
                                                                logs=False)))
    assert run.one(SERVICE).inputs["networkConfiguration"] == {"subnets": ["s-1"], "assignPublicIp": False}
    assert "portMappings" not in container(run)
    assert "executionRoleArn" not in run.one(TASK).inputs


PARAMETER = "aws:ssm/parameter:Parameter"


def test_ecs_secret_variable_is_a_parameter_the_task_definition_names(deploy: Deploy) -> None:
    settings = ECS.model_copy(update={"environment": {"LOG_LEVEL": "info", "TOKEN": "hunter2"}})
    secret = spec(Kind.ECS_SERVICE, C1, settings).model_copy(update={"secret_settings": ("environment.TOKEN",)})
    run = deploy(secret)
    parameter = run.one(PARAMETER)
    assert (parameter.inputs["name"], parameter.inputs["type"]) == ("/deployctl/prod/api/TOKEN", "SecureString")
    assert container(run)["secrets"] == [{"name": "TOKEN", "valueFrom": parameter.state["arn"]}]
    assert {e["name"] for e in container(run)["environment"]} == {"LOG_LEVEL", "DEPLOY_COMMIT"}
    assert "hunter2" not in run.one(TASK).inputs["containerDefinitions"]
    assert not [r for r in deploy(spec(Kind.ECS_SERVICE, C1, settings)).registered if r.typ == PARAMETER]


def test_ecs_secret_variable_without_an_execution_role_says_what_to_set(deploy: Deploy) -> None:
    settings = EcsServiceSettings(image_repository="repo", cluster="c", subnets=["s-1"],
                                  environment={"TOKEN": "hunter2"})
    with pytest.raises(ValueError, match=r"execution_role_arn \(allowed ssm:GetParameters on /deployctl/prod/api/\*\)"):
        deploy(spec(Kind.ECS_SERVICE, C1, settings).model_copy(update={"secret_settings": ("environment",)}))


def test_ecs_new_commit_is_a_new_revision_and_an_update_of_the_same_service(deploy: Deploy) -> None:
    first, second = deploy(spec(Kind.ECS_SERVICE, C1, ECS)), deploy(spec(Kind.ECS_SERVICE, C2, ECS))
    assert first.logical_names() == second.logical_names()
    for run in (first, second):
        assert all(C1 not in name and C2 not in name for _, name in run.logical_names())
    assert first.one(TASK).inputs["family"] == second.one(TASK).inputs["family"] == "prod-api"
    assert first.one(SERVICE).inputs["name"] == second.one(SERVICE).inputs["name"] == "prod-api"
    assert changed_inputs(first, second) == {
        ("deploys:apps:EcsServiceApp", "api"): set(),
        (TASK, "api-task"): {"containerDefinitions"},
        (SERVICE, "api-service"): {"taskDefinition"},
        ("aws:cloudwatch/logGroup:LogGroup", "api-logs"): set(),
    }
    old, new = container(first), container(second)
    assert without(old, "image", "environment") == without(new, "image", "environment")
    assert new["image"] == f"{ECS.image_repository}:{C2}"
    assert second.one(SERVICE).inputs["taskDefinition"] == second.one(TASK).state["arn"]


# lambda

ZIP = LambdaSettings(role_arn="arn:aws:iam::123456789012:role/fn", bucket="artifacts", prefix="/builds/api/",
                     handler="app.handler", runtime="python3.12", memory_size=256, timeout=10,
                     environment={"STAGE": "prod"})
IMAGE = LambdaSettings(role_arn="arn:aws:iam::123456789012:role/fn",
                       image_repository="123456789012.dkr.ecr.eu-west-1.amazonaws.com/api")


@pytest.mark.parametrize(("prefix", "key"), [("builds/api", f"builds/api/{C1}.zip"),
                                             ("/builds/api/", f"builds/api/{C1}.zip"),
                                             ("", f"{C1}.zip")], ids=["plain", "slashes", "none"])
def test_lambda_zip_key_is_prefix_slash_commit(deploy: Deploy, prefix: str, key: str) -> None:
    settings = ZIP.model_copy(update={"prefix": prefix})
    function = deploy(spec(Kind.LAMBDA, C1, settings)).one(FUNCTION).inputs
    assert (function["s3Bucket"], function["s3Key"]) == ("artifacts", key)
    assert (function["handler"], function["runtime"], function["packageType"]) == ("app.handler", "python3.12", "Zip")
    assert "imageUri" not in function


def test_lambda_function_inputs(deploy: Deploy) -> None:
    run = deploy(spec(Kind.LAMBDA, C1, ZIP))
    function = run.one(FUNCTION).inputs
    assert run.component.version == C1
    assert function["name"] == "prod-api"
    assert function["publish"] is True
    assert (function["role"], function["memorySize"], function["timeout"]) == (ZIP.role_arn, 256, 10)
    assert function["environment"] == {"variables": {"STAGE": "prod", "DEPLOY_COMMIT": C1}}


def test_lambda_image_uri_is_repository_colon_commit(deploy: Deploy) -> None:
    function = deploy(spec(Kind.LAMBDA, C1, IMAGE)).one(FUNCTION).inputs
    assert (function["packageType"], function["imageUri"]) == ("Image", f"{IMAGE.image_repository}:{C1}")
    assert not {"s3Bucket", "s3Key", "handler", "runtime"} & function.keys()


def test_lambda_alias_live_targets_the_published_version(deploy: Deploy) -> None:
    def versions(app: pulumi.ComponentResource) -> pulumi.Output[Any]:
        return pulumi.Output.all(app.function.version, app.alias.function_version, app.alias.function_name)

    run = deploy(spec(Kind.LAMBDA, C1, ZIP), versions)
    alias = run.one(ALIAS)
    assert (alias.name, alias.inputs["name"]) == ("api-live", "live")
    assert alias.inputs["functionVersion"] == run.one(FUNCTION).state["version"] == "1"
    assert alias.inputs["functionName"] == "prod-api"
    assert run.checked == [["1", "1", "prod-api"]]


@pytest.mark.parametrize(("settings", "code_input"), [(ZIP, "s3Key"), (IMAGE, "imageUri")], ids=["zip", "image"])
def test_lambda_new_commit_updates_the_same_function(deploy: Deploy, settings: LambdaSettings,
                                                     code_input: str) -> None:
    first, second = deploy(spec(Kind.LAMBDA, C1, settings)), deploy(spec(Kind.LAMBDA, C2, settings))
    assert first.logical_names() == second.logical_names()
    for run in (first, second):
        assert all(C1 not in name and C2 not in name for _, name in run.logical_names())
    assert first.one(FUNCTION).inputs["name"] == second.one(FUNCTION).inputs["name"] == "prod-api"
    assert changed_inputs(first, second) == {
        ("deploys:apps:LambdaApp", "api"): set(),
        (FUNCTION, "api-function"): {code_input, "environment"},
        (ALIAS, "api-live"): {"functionVersion"},  # the alias moves to the version just published
    }
    assert first.one(ALIAS).inputs["functionVersion"] == "1"
    assert second.one(ALIAS).inputs["functionVersion"] == second.one(FUNCTION).state["version"] == "2"
    assert C2 in second.one(FUNCTION).inputs[code_input]
    assert second.one(FUNCTION).inputs["environment"]["variables"]["DEPLOY_COMMIT"] == C2


@pytest.mark.parametrize("extra", [{"bucket": "b", "image_repository": "repo"}, {}], ids=["both", "neither"])
def test_lambda_settings_need_exactly_one_code_source(extra: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of 'bucket'"):
        LambdaSettings(role_arn="r", handler="h", runtime="python3.12", **extra)


def test_lambda_zip_settings_need_handler_and_runtime() -> None:
    with pytest.raises(ValidationError, match="needs 'handler' and 'runtime'"):
        LambdaSettings(role_arn="r", bucket="b")


# static-site

SITE = StaticSiteSettings(bucket="sites", aliases=["www.example.com"], price_class="PriceClass_200",
                          certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x")


def test_site_origin_path_is_app_slash_commit(deploy: Deploy) -> None:
    run = deploy(spec(Kind.STATIC_SITE, C1, SITE, app="web"))
    cdn, oac = run.one(CDN).inputs, run.one(OAC)
    assert run.component.version == C1
    (origin,) = cdn["origins"]
    assert origin == {"originId": "site", "domainName": f"sites.s3.{REGION}.amazonaws.com", "originPath": f"/web/{C1}",
                      "originAccessControlId": "web-oac-id"}
    assert without(oac.inputs, "description") == {
        "name": "prod-web", "originAccessControlOriginType": "s3", "signingBehavior": "always",
        "signingProtocol": "sigv4",
    }
    behaviour = cdn["defaultCacheBehavior"]
    assert behaviour["targetOriginId"] == "site"
    assert behaviour["viewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["cachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert cdn["viewerCertificate"] == {"acmCertificateArn": SITE.certificate_arn, "sslSupportMethod": "sni-only",
                                        "minimumProtocolVersion": "TLSv1.2_2021"}
    assert (cdn["aliases"], cdn["priceClass"], cdn["defaultRootObject"]) == (
        ["www.example.com"], "PriceClass_200", "index.html")
    assert cdn["restrictions"] == {"geoRestriction": {"restrictionType": "none"}}
    assert cdn["enabled"] is True
    assert "prod" in cdn["comment"] and "web" in cdn["comment"] and C1 in cdn["comment"]


def test_site_without_certificate_uses_the_cloudfront_default(deploy: Deploy) -> None:
    cdn = deploy(spec(Kind.STATIC_SITE, C1, StaticSiteSettings(bucket="sites"), app="web")).one(CDN).inputs
    assert cdn["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert "aliases" not in cdn


def test_site_new_commit_switches_the_origin_path_of_the_same_distribution(deploy: Deploy) -> None:
    first = deploy(spec(Kind.STATIC_SITE, C1, SITE, app="web"))
    second = deploy(spec(Kind.STATIC_SITE, C2, SITE, app="web"))
    assert first.logical_names() == second.logical_names()
    for run in (first, second):
        assert all(C1 not in name and C2 not in name for _, name in run.logical_names())
        assert "name" not in run.one(CDN).inputs
    assert first.one(OAC).inputs["name"] == second.one(OAC).inputs["name"] == "prod-web"
    assert changed_inputs(first, second) == {
        ("deploys:apps:StaticSiteApp", "web"): set(),
        (OAC, "web-oac"): set(),
        (CDN, "web-cdn"): {"origins", "comment"},
        (DYNAMIC, "web-invalidation"): {"origin_path"},  # the switch is an update: CloudFront is invalidated
    }
    (old,), (new,) = first.one(CDN).inputs["origins"], second.one(CDN).inputs["origins"]
    assert without(old, "originPath") == without(new, "originPath")
    assert new["originPath"] == f"/web/{C2}"


def test_every_origin_switch_invalidates_the_whole_cache_after_the_distribution(deploy: Deploy) -> None:
    run = deploy(spec(Kind.STATIC_SITE, C1, SITE, app="web"), check=lambda c: c.running)
    inv = run.one(DYNAMIC)
    assert inv.name == "web-invalidation"
    assert (inv.inputs["distribution_id"], inv.inputs["origin_path"], inv.inputs["paths"]) == (
        "web-cdn-id", f"/web/{C1}", ["/*"])
    assert run.checked == [C1]  # `running` resolves only once the invalidation was made

    provider = CacheInvalidationProvider()
    same = {"distribution_id": "E1", "origin_path": f"/web/{C1}", "paths": ["/*"]}
    assert provider.diff("x", same, dict(same)).changes is False  # no switch, no invalidation
    assert provider.diff("x", same, {**same, "origin_path": f"/web/{C2}"}).changes is None  # engine names it
    assert provider.diff("x", same, {**same, "distribution_id": "E2"}).changes is None


def test_an_invalidation_reaches_cloudfront(aws_env: AwsServer) -> None:
    """The provider's request against a real CloudFront API (moto's server on loopback)."""
    cloudfront = aws_env.client("cloudfront")
    dist = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "test", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "site", "DomainName": "sites.s3.amazonaws.com",
                                              "OriginPath": f"/web/{C1}",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
    })["Distribution"]["Id"]
    first = invalidate(dist, ["/*"])
    again = invalidate(dist, ["/*"])  # a rollback to a commit served before invalidates again
    assert first["invalidation_id"] != again["invalidation_id"]
    listed = cloudfront.list_invalidations(DistributionId=dist)["InvalidationList"]
    assert {i["Id"] for i in listed["Items"]} == {first["invalidation_id"], again["invalidation_id"]}
    batch = cloudfront.get_invalidation(DistributionId=dist, Id=first["invalidation_id"])
    assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


# --- AWS's documented defaults for a production service and a site ---

LOGS = "aws:cloudwatch/logGroup:LogGroup"


def test_ecs_logs_to_a_cloudwatch_log_group_per_env_and_app_kept_30_days(deploy: Deploy) -> None:
    run = deploy(spec(Kind.ECS_SERVICE, C1, ECS))
    logs = run.one(LOGS)
    assert logs.inputs == {"name": "/ecs/deployctl/prod/api", "retentionInDays": 30}
    assert container(run)["logConfiguration"] == {"logDriver": "awslogs", "options": {
        "awslogs-group": "/ecs/deployctl/prod/api", "awslogs-region": REGION, "awslogs-stream-prefix": "api"}}
    staging = deploy(spec(Kind.ECS_SERVICE, C1, ECS).model_copy(update={"env": "staging"})).one(LOGS)
    assert staging.inputs["name"] == "/ecs/deployctl/staging/api"  # envs sharing an account keep theirs apart
    kept = deploy(spec(Kind.ECS_SERVICE, C1, ECS.model_copy(update={"log_retention_days": 365}))).one(LOGS)
    assert kept.inputs["retentionInDays"] == 365


def test_ecs_log_retention_is_one_cloudwatch_accepts() -> None:
    with pytest.raises(ValidationError, match="log_retention_days"):
        EcsServiceSettings(image_repository="r", cluster="c", subnets=["s-1"], log_retention_days=31)


def test_ecs_without_logs_has_no_log_group_nor_log_configuration(deploy: Deploy) -> None:
    run = deploy(spec(Kind.ECS_SERVICE, C1, ECS.model_copy(update={"logs": False})))
    assert not [r for r in run.registered if r.typ == LOGS]
    assert "logConfiguration" not in container(run)


def test_ecs_circuit_breaker_rolls_back_by_default_and_the_grace_period_is_a_setting(deploy: Deploy) -> None:
    service = deploy(spec(Kind.ECS_SERVICE, C1, ECS)).one(SERVICE).inputs
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert "healthCheckGracePeriodSeconds" not in service  # AWS's 0 unless set
    settings = ECS.model_copy(update={"health_check_grace_period": 90, "circuit_breaker": False})
    service = deploy(spec(Kind.ECS_SERVICE, C1, settings)).one(SERVICE).inputs
    assert service["healthCheckGracePeriodSeconds"] == 90
    assert service["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    with pytest.raises(ValidationError, match="health_check_grace_period"):
        EcsServiceSettings(image_repository="r", cluster="c", subnets=["s-1"], health_check_grace_period=-1)


@pytest.mark.parametrize(("settings", "why"), [
    (EcsServiceSettings(image_repository="repo", cluster="c", subnets=["s-1"]), "logs to CloudWatch"),
    (EcsServiceSettings(image_repository=ECS.image_repository, cluster="c", subnets=["s-1"], logs=False),
     "a private ECR image"),
], ids=["awslogs", "private-ecr"])
def test_ecs_without_the_execution_role_fargate_needs_is_a_settings_error(
        deploy: Deploy, settings: EcsServiceSettings, why: str) -> None:
    [(setting, problem)] = settings.secret_problems((), "prod", "api")  # what `check` reports as invalid-settings
    assert setting == "execution_role_arn" and why in problem and "execution_role_arn" in problem
    with pytest.raises(ValueError, match=f"Fargate needs the task's execution role for {why}"):
        deploy(spec(Kind.ECS_SERVICE, C1, settings))
    assert settings.secret_problems(("execution_role_arn",), "prod", "api") == []  # set, stored encrypted


def test_site_error_page_answers_403_and_404_with_404(deploy: Deploy) -> None:
    cdn = deploy(spec(Kind.STATIC_SITE, C1, SITE, app="web")).one(CDN).inputs
    assert cdn["customErrorResponses"] == [
        {"errorCode": code, "responseCode": 404, "responsePagePath": "/404.html", "errorCachingMinTtl": 10}
        for code in (403, 404)]
    settings = SITE.model_copy(update={"error_page": "/missing.html", "error_caching_seconds": 0})
    cdn = deploy(spec(Kind.STATIC_SITE, C1, settings, app="web")).one(CDN).inputs
    assert {(e["responsePagePath"], e["errorCachingMinTtl"]) for e in cdn["customErrorResponses"]} == {
        ("/missing.html", 0)}
    none = deploy(spec(Kind.STATIC_SITE, C1, SITE.model_copy(update={"error_page": None}), app="web")).one(CDN)
    assert "customErrorResponses" not in none.inputs
    with pytest.raises(ValidationError, match="error_page"):
        StaticSiteSettings(bucket="b", error_page="404.html")  # CloudFront wants a path from the root


def test_site_origin_is_the_buckets_regional_endpoint_with_origin_access_control(deploy: Deploy) -> None:
    run = deploy(spec(Kind.STATIC_SITE, C1, StaticSiteSettings(bucket="other-sites"), app="web"))
    (origin,) = run.one(CDN).inputs["origins"]
    assert origin["domainName"] == f"other-sites.s3.{REGION}.amazonaws.com"
    assert origin["originAccessControlId"] == "web-oac-id"


def test_check_reports_the_missing_execution_role_as_invalid_settings_at_the_catalog_line() -> None:
    """What `deployctl check` says before anything runs: AWS would refuse the task definition at `up`."""
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot
    from deployctl.core.repo.tree import Entry, EntryKind

    def invalid(settings: str) -> list[Any]:
        with_subnets = settings.replace("{", "{subnets: [s-1], ", 1)
        catalog = f"apps:\n  api:\n    kind: ecs-service\n    repo: r\n    settings: {with_subnets}\n"
        entries = [Entry(path="deploys/staging", kind=EntryKind.DIR),
                   Entry(path="deploys/staging/api", kind=EntryKind.FILE, data=b"abc1234\n")]
        found = build_snapshot(RepoFiles(catalog=catalog, stack_configs={"staging": "config: {}\n"}, entries=entries))
        return [v for v in found.violations if v.rule == "invalid-settings"]

    [violation] = invalid("{cluster: c, image_repository: 1.dkr.ecr.eu-west-1.amazonaws.com/api}")
    assert "execution_role_arn: Fargate needs the task's execution role for logs to CloudWatch" in violation.message
    assert "a private ECR image" in violation.message and "(apps.yaml:5)" in violation.message
    assert invalid("{cluster: c, image_repository: 1.dkr.ecr.eu-west-1.amazonaws.com/api, "
                   "execution_role_arn: 'arn:aws:iam::1:role/exec'}") == []
    assert invalid("{cluster: c, image_repository: public.ecr.aws/nginx/nginx, logs: false}") == []


# names: two envs of an app share a cluster, a bucket or an account

def test_two_envs_of_an_app_in_one_cluster_are_two_services(deploy: Deploy) -> None:
    staging, production = (deploy(spec(Kind.ECS_SERVICE, C1, ECS).model_copy(update={"env": env}))
                           for env in ("staging", "production"))
    assert staging.one(SERVICE).inputs["cluster"] == production.one(SERVICE).inputs["cluster"] == "prod-cluster"
    assert (staging.one(SERVICE).inputs["name"], production.one(SERVICE).inputs["name"]) == (
        "staging-api", "production-api")
    assert (staging.one(TASK).inputs["family"], production.one(TASK).inputs["family"]) == (
        "staging-api", "production-api")


def test_every_name_an_aws_kind_chooses_holds_the_env_and_app_within_aws_limits(deploy: Deploy) -> None:
    env, app = "e" * 63, "a" * 63  # the longest names deploy files allow
    long = {"env": env, "app": app}
    ecs = deploy(spec(Kind.ECS_SERVICE, C1, ECS).model_copy(update=long))
    fn = deploy(spec(Kind.LAMBDA, C1, ZIP).model_copy(update=long))
    site = deploy(spec(Kind.STATIC_SITE, C1, SITE).model_copy(update=long))
    service, function = ecs.one(SERVICE).inputs["name"], fn.one(FUNCTION).inputs["name"]
    assert service == ecs.one(TASK).inputs["family"] == f"{env}-{app}"  # ECS allows 255
    assert len(function) == 64 and function.startswith(f"{env[:27]}-{app[:27]}-")
    assert function.replace("-", "").isalnum()
    assert len(site.one(OAC).inputs["name"]) <= 64
    assert len(site.one(CDN).inputs["comment"]) <= 128 and f"{env}/{app}" in site.one(CDN).inputs["comment"]
    other = deploy(spec(Kind.LAMBDA, C1, ZIP).model_copy(update={"env": env, "app": "a" * 62 + "b"}))
    assert other.one(FUNCTION).inputs["name"] != function  # cut names stay one per env and app


# secrets: a secret environment value stays a secret input


def test_a_secret_environment_value_is_a_secret_input_of_ecs_and_lambda_never_in_the_task_definition():
    """Lambda: the function's environment is a secret input. ECS: the value is only in an SSM
    SecureString parameter (a secret input); the task definition names the parameter, never the value."""
    import pulumi
    from pulumi.runtime import Mocks, set_mocks
    from pulumi.runtime.settings import reset_options

    from deployctl.components import make_component
    from deployctl.components.spec import AppSpec
    from deployctl.core.repo.catalog import EcsServiceSettings, Kind, LambdaSettings

    class Recording(Mocks):
        def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", {**args.inputs, "arn": f"arn:{args.name}", "version": "1"}

        def call(self, args: Any) -> tuple[dict[str, Any], None]:
            return {}, None

    results: dict[str, bool] = {}
    specs = {
        "ecs": AppSpec(env="prod", app="api", kind=Kind.ECS_SERVICE, commit="a" * 40, repo_url="https://x/y.git",
                       settings=EcsServiceSettings(image_repository="r", cluster="c", execution_role_arn="arn:x",
                                                   subnets=["s-1"],
                                                   environment={"TOKEN": "hunter2-s3cret", "LOG": "info"}),
                       secret_settings=("environment.TOKEN",)),
        "lambda": AppSpec(env="prod", app="fn", kind=Kind.LAMBDA, commit="a" * 40, repo_url="https://x/y.git",
                          settings=LambdaSettings(role_arn="arn:r", image_repository="r",
                                                  environment={"TOKEN": "hunter2-s3cret", "LOG": "info"}),
                          secret_settings=("environment.TOKEN",)),
    }
    for name, spec in specs.items():
        reset_options()
        set_mocks(Recording(), preview=False)

        @pulumi.runtime.test
        def program(spec: AppSpec = spec, name: str = name) -> pulumi.Output[Any]:
            component = make_component(spec)
            if name == "ecs":
                document = component.task_definition.container_definitions  # type: ignore[attr-defined]
                document.apply(lambda text: results.__setitem__("ecs document", text))
                value = component.parameters["TOKEN"].value  # type: ignore[attr-defined]
            else:
                value = component.function.environment  # type: ignore[attr-defined]
            return pulumi.Output.from_input(value.is_secret()).apply(lambda s: results.__setitem__(name, s))

        program()
    reset_options()
    document = json.loads(results.pop("ecs document"))  # type: ignore[arg-type]
    assert results == {"ecs": True, "lambda": True}
    assert "hunter2-s3cret" not in json.dumps(document)
    assert document[0]["secrets"] == [{"name": "TOKEN", "valueFrom": "arn:api-env-TOKEN"}]
    assert {"name": "LOG", "value": "info"} in document[0]["environment"]
