"""What the AWS kinds register, checked against AWS's own API models: each resource's inputs under
Pulumi's mocks turned into the parameters the AWS provider sends (RegisterTaskDefinition, CreateService,
CreateFunction, CreateAlias, CreateDistribution, CreateOriginAccessControl; field names as the Terraform
AWS provider maps them), validated with botocore's parameter validator against the operation's input shape."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from deployctl.core.repo.catalog import EcsServiceSettings, Kind, LambdaSettings, StaticSiteSettings
from tests.awsserver import AwsServer
from tests.test_components_aws import (
    ALIAS,
    C1,
    CDN,
    ECS,
    FUNCTION,
    IMAGE,
    OAC,
    SERVICE,
    SITE,
    TASK,
    ZIP,
    Deploy,
    deploy,
    spec,
)

pytestmark = pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning")
__all__ = ["deploy"]  # the fixture, building a component under Pulumi's mocks


def problems(service: str, operation: str, params: dict[str, Any]) -> str:
    """botocore's report on `params` for `operation` ("" when AWS's model takes them)."""
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def _int(value: Any) -> int | None:
    """An integer field of the provider's schema: Pulumi's wire format (protobuf Struct) carries every
    number as a float, and the provider sends it as the integer it must be."""
    if value is None:
        return None
    assert float(value).is_integer(), value
    return int(value)


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def register_task_definition(inputs: dict[str, Any]) -> dict[str, Any]:
    return _present({
        "family": inputs["family"], "containerDefinitions": json.loads(inputs["containerDefinitions"]),
        "requiresCompatibilities": inputs.get("requiresCompatibilities"), "networkMode": inputs.get("networkMode"),
        "cpu": inputs.get("cpu"), "memory": inputs.get("memory"), "executionRoleArn": inputs.get("executionRoleArn"),
    })


def create_service(inputs: dict[str, Any]) -> dict[str, Any]:
    network = inputs.get("networkConfiguration")
    breaker = inputs.get("deploymentCircuitBreaker")
    return _present({
        "serviceName": inputs["name"], "cluster": inputs.get("cluster"), "taskDefinition": inputs["taskDefinition"],
        "desiredCount": _int(inputs.get("desiredCount")), "launchType": inputs.get("launchType"),
        "networkConfiguration": None if network is None else {"awsvpcConfiguration": _present({
            "subnets": network["subnets"], "securityGroups": network.get("securityGroups"),
            "assignPublicIp": "ENABLED" if network.get("assignPublicIp") else "DISABLED"})},
        "deploymentConfiguration": None if breaker is None else {"deploymentCircuitBreaker": breaker},
    })


def create_function(inputs: dict[str, Any]) -> dict[str, Any]:
    code = ({"ImageUri": inputs["imageUri"]} if inputs.get("packageType") == "Image"
            else {"S3Bucket": inputs["s3Bucket"], "S3Key": inputs["s3Key"]})
    storage = inputs.get("ephemeralStorage")
    return _present({
        "FunctionName": inputs["name"], "Role": inputs["role"], "Code": code, "PackageType": inputs.get("packageType"),
        "Handler": inputs.get("handler"), "Runtime": inputs.get("runtime"),
        "MemorySize": _int(inputs.get("memorySize")), "Timeout": _int(inputs.get("timeout")),
        "Publish": inputs.get("publish"),
        "Environment": {"Variables": inputs["environment"]["variables"]} if inputs.get("environment") else None,
        "EphemeralStorage": None if storage is None else {"Size": _int(storage["size"])},
    })


def create_alias(inputs: dict[str, Any], version: str) -> dict[str, Any]:
    return {"FunctionName": inputs["functionName"], "Name": inputs["name"], "FunctionVersion": version}


@pytest.mark.parametrize("settings", [ECS, EcsServiceSettings(image_repository="r", cluster="c", subnets=["s-1"],
                                                           execution_role_arn="arn:aws:iam::1:role/x")],
                         ids=["full", "least"])
def test_the_ecs_task_definition_and_service_are_what_aws_models_take(deploy: Deploy,
                                                                      settings: EcsServiceSettings) -> None:
    run = deploy(spec(Kind.ECS_SERVICE, C1, settings))
    task = register_task_definition(run.one(TASK).inputs)
    assert problems("ecs", "RegisterTaskDefinition", task) == ""
    assert task["containerDefinitions"][0]["image"].endswith(f":{C1}")
    service = create_service(run.one(SERVICE).inputs)
    assert problems("ecs", "CreateService", service) == ""
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == settings.subnets


@pytest.mark.parametrize("settings", [ZIP, IMAGE, ZIP.model_copy(update={"ephemeral_storage": 10240})],
                         ids=["zip", "image", "storage"])
def test_the_lambda_function_and_alias_are_what_aws_models_take(deploy: Deploy, settings: LambdaSettings) -> None:
    run = deploy(spec(Kind.LAMBDA, C1, settings))
    function = create_function(run.one(FUNCTION).inputs)
    assert problems("lambda", "CreateFunction", function) == ""
    alias = create_alias(run.one(ALIAS).inputs, run.one(FUNCTION).state["version"])
    assert problems("lambda", "CreateAlias", alias) == ""


def test_the_validator_refuses_what_aws_would(deploy: Deploy) -> None:
    """The check can fail: the same parameters with a value of the wrong type, or one missing, are refused."""
    task = register_task_definition(deploy(spec(Kind.ECS_SERVICE, C1, ECS)).one(TASK).inputs)
    assert "Invalid type for parameter cpu" in problems("ecs", "RegisterTaskDefinition", {**task, "cpu": 512})
    function = create_function(deploy(spec(Kind.LAMBDA, C1, ZIP)).one(FUNCTION).inputs)
    assert "Missing required parameter" in problems("lambda", "CreateFunction",
                                                    {k: v for k, v in function.items() if k != "Role"})


def _items(values: list[Any] | None) -> dict[str, Any]:
    """CloudFront's list shape: a quantity beside the items."""
    return {"Quantity": len(values or []), **({"Items": list(values)} if values else {})}


def create_distribution(inputs: dict[str, Any]) -> dict[str, Any]:
    """As the provider expands it: an S3 origin without a custom origin config gets an empty
    S3OriginConfig (access is the origin access control's), a list is Quantity and Items."""
    behavior, certificate = inputs["defaultCacheBehavior"], inputs["viewerCertificate"]
    origins = [_present({"Id": o["originId"], "DomainName": o["domainName"], "OriginPath": o.get("originPath"),
                         "OriginAccessControlId": o.get("originAccessControlId"),
                         "S3OriginConfig": {"OriginAccessIdentity": ""}}) for o in inputs["origins"]]
    return {"DistributionConfig": _present({
        "CallerReference": "terraform-20261207000000000000000001",
        "Aliases": _items(inputs.get("aliases")),
        "DefaultRootObject": inputs.get("defaultRootObject"),
        "Origins": _items(origins),
        "DefaultCacheBehavior": {
            "TargetOriginId": behavior["targetOriginId"], "ViewerProtocolPolicy": behavior["viewerProtocolPolicy"],
            "AllowedMethods": {**_items(behavior["allowedMethods"]),
                               "CachedMethods": _items(behavior["cachedMethods"])},
            "CachePolicyId": behavior["cachePolicyId"], "Compress": behavior["compress"]},
        "Comment": inputs["comment"], "PriceClass": inputs.get("priceClass"), "Enabled": inputs["enabled"],
        "ViewerCertificate": _present({
            "CloudFrontDefaultCertificate": certificate.get("cloudfrontDefaultCertificate"),
            "ACMCertificateArn": certificate.get("acmCertificateArn"),
            "SSLSupportMethod": certificate.get("sslSupportMethod"),
            "MinimumProtocolVersion": certificate.get("minimumProtocolVersion")}),
        "Restrictions": {"GeoRestriction": {"RestrictionType": inputs["restrictions"]["geoRestriction"][
            "restrictionType"], "Quantity": 0}},
    })}


def create_origin_access_control(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"OriginAccessControlConfig": _present({
        "Name": inputs["name"], "Description": inputs.get("description"),
        "SigningProtocol": inputs["signingProtocol"], "SigningBehavior": inputs["signingBehavior"],
        "OriginAccessControlOriginType": inputs["originAccessControlOriginType"]})}


@pytest.mark.parametrize("settings", [SITE, StaticSiteSettings(bucket="sites")], ids=["certificate", "least"])
def test_the_distribution_and_its_origin_access_control_are_what_aws_models_take(
        deploy: Deploy, settings: StaticSiteSettings) -> None:
    run = deploy(spec(Kind.STATIC_SITE, C1, settings, app="web"))
    distribution = create_distribution(run.one(CDN).inputs)
    assert problems("cloudfront", "CreateDistribution", distribution) == ""
    assert len(distribution["DistributionConfig"]["Comment"]) <= 128  # AWS's limit, which the model leaves out
    assert problems("cloudfront", "CreateOriginAccessControl", create_origin_access_control(run.one(OAC).inputs)) == ""


def ecs_in_a_cluster_of_its_own(aws_env: AwsServer) -> EcsServiceSettings:
    """ECS settings whose cluster, subnet and security group exist on moto's server, named for this test alone
    (the server is shared by the session's tests)."""
    cluster = f"shared-{uuid.uuid4().hex[:8]}"
    aws_env.client("ecs").create_cluster(clusterName=cluster)
    ec2 = aws_env.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=cluster, Description="tasks", VpcId=vpc)["GroupId"]
    return ECS.model_copy(update={"cluster": cluster, "subnets": [subnet], "security_groups": [group]})


def test_moto_registers_the_task_definition_and_creates_the_service_from_those_parameters(
        deploy: Deploy, aws_env: AwsServer) -> None:
    """The same parameters as calls on moto's server: the revision registered is the one the service runs."""
    ecs = aws_env.client("ecs")
    settings = ecs_in_a_cluster_of_its_own(aws_env)
    run = deploy(spec(Kind.ECS_SERVICE, C1, settings))
    registered = ecs.register_task_definition(**register_task_definition(run.one(TASK).inputs))["taskDefinition"]
    family = run.one(TASK).inputs["family"]
    assert (registered["family"], registered["cpu"], registered["memory"]) == (family, "512", "1024")
    service = create_service({**run.one(SERVICE).inputs, "taskDefinition": registered["taskDefinitionArn"]})
    created = ecs.create_service(**service)["service"]
    assert created["taskDefinition"] == registered["taskDefinitionArn"]
    assert created["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == settings.subnets


def test_moto_creates_the_function_and_points_live_at_the_version_it_published(
        deploy: Deploy, aws_env: AwsServer) -> None:
    """The same parameters as calls on moto's server: the function publishes a version, and the alias
    the component registers takes it."""
    bucket = aws_env.new_bucket("artifacts")
    name = f"fn-{uuid.uuid4().hex[:8]}"
    role = aws_env.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    settings = ZIP.model_copy(update={"bucket": bucket, "role_arn": role, "ephemeral_storage": 1024})
    run = deploy(spec(Kind.LAMBDA, C1, settings, app=name))
    function = create_function(run.one(FUNCTION).inputs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    aws_env.client("s3").put_object(Bucket=bucket, Key=function["Code"]["S3Key"], Body=buffer.getvalue())
    lambda_ = aws_env.client("lambda")
    created = lambda_.create_function(**function)
    assert (created["MemorySize"], created["Timeout"], created["EphemeralStorage"]) == (256, 10, {"Size": 1024})
    alias = lambda_.create_alias(**create_alias(run.one(ALIAS).inputs, created["Version"]))
    assert alias["FunctionVersion"] == created["Version"] != "$LATEST"


def test_moto_runs_two_envs_of_an_app_as_two_services_in_one_shared_cluster(
        deploy: Deploy, aws_env: AwsServer) -> None:
    """Staging and production in one cluster (a common set-up): each env registers its own family and
    creates its own service, and neither overwrites the other's revision (the service was `<app>` once)."""
    ecs = aws_env.client("ecs")
    settings = ecs_in_a_cluster_of_its_own(aws_env)
    cluster = settings.cluster
    arns = {}
    for env in ("staging", "production"):
        run = deploy(spec(Kind.ECS_SERVICE, C1, settings).model_copy(update={"env": env}))
        registered = ecs.register_task_definition(**register_task_definition(run.one(TASK).inputs))["taskDefinition"]
        service = create_service({**run.one(SERVICE).inputs, "taskDefinition": registered["taskDefinitionArn"]})
        arns[service["serviceName"]] = ecs.create_service(**service)["service"]["taskDefinition"]
    assert set(arns) == {"staging-api", "production-api"}
    running = ecs.describe_services(cluster=cluster, services=sorted(arns))["services"]
    assert {s["serviceName"]: s["taskDefinition"] for s in running} == arns
    assert len(set(arns.values())) == 2  # each runs its own env's revision


def test_moto_creates_the_distribution_from_those_parameters(deploy: Deploy, aws_env: AwsServer) -> None:
    run = deploy(spec(Kind.STATIC_SITE, C1, SITE, app="web"))
    params = create_distribution(run.one(CDN).inputs)
    made = aws_env.client("cloudfront").create_distribution(**params)["Distribution"]
    origins = made["DistributionConfig"]["Origins"]["Items"]
    assert [o["OriginPath"] for o in origins] == [o["OriginPath"] for o in params["DistributionConfig"]["Origins"]
                                                  ["Items"]] == [f"/web/{C1}"]
