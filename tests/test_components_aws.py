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
from deployctl.core.catalog import EcsServiceSettings, Kind, LambdaSettings, StaticSiteSettings
from tests.awsserver import AwsServer

C1, C2 = "a1" * 20, "b2" * 20
TASK, SERVICE = "aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/service:Service"
FUNCTION, ALIAS = "aws:lambda/function:Function", "aws:lambda/alias:Alias"
CDN, OAC = "aws:cloudfront/distribution:Distribution", "aws:cloudfront/originAccessControl:OriginAccessControl"
DYNAMIC = "pulumi-python:dynamic:Resource"
# pulumi_aws.lambda_ warns about one of its own deprecated modules when first imported.
pytestmark = pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning")


def _digest(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]


class RecordingMocks(Mocks):
    """Records every registration; an arn derived from the inputs, like a new task definition revision."""

    def __init__(self) -> None:
        self.registered: list[Registered] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = {**args.inputs, "arn": f"arn:aws:mock:{args.typ}:{args.name}:{_digest(args.inputs)}"}
        if args.typ == FUNCTION:
            state["version"] = "1"
        if args.typ == CDN:
            state["domainName"] = "d111111abcdef8.cloudfront.net"
        self.registered.append(Registered(args.typ, args.name, args.inputs, state))
        return f"{args.name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


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

    def run(spec: AppSpec, check: Callable[[pulumi.ComponentResource], pulumi.Output[Any]] | None = None) -> Run:
        mocks = RecordingMocks()
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
        "api", "prod-cluster", "FARGATE")
    assert service.inputs["desiredCount"] == 2


def test_ecs_without_port_or_role_leaves_them_out_and_always_sends_its_network(deploy: Deploy) -> None:
    """awsvpc needs a network configuration: settings without subnets are refused (tests/test_aws_settings.py),
    so the service never goes out without one."""
    with pytest.raises(ValidationError, match="awsvpc"):
        EcsServiceSettings(image_repository="repo", cluster="c")
    run = deploy(spec(Kind.ECS_SERVICE, C1, EcsServiceSettings(image_repository="repo", cluster="c", subnets=["s-1"])))
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
    assert first.one(SERVICE).inputs["name"] == second.one(SERVICE).inputs["name"] == "api"
    assert changed_inputs(first, second) == {
        ("deploys:apps:EcsServiceApp", "api"): set(),
        (TASK, "api-task"): {"containerDefinitions"},
        (SERVICE, "api-service"): {"taskDefinition"},
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
        (ALIAS, "api-live"): set(),
    }
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
    assert origin == {"originId": "site", "domainName": "sites.s3.amazonaws.com", "originPath": f"/web/{C1}",
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
