"""`check` refuses what AWS would refuse (core/kinds/awslimits.py), as `invalid-settings` at the line that
writes it, with what AWS accepts: one case per limit, judged on the deploy repo's files as `check`
reads them, and once through `deployctl check` on a real deploy repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from deployctl.core.kinds import awslimits
from deployctl.core.repo.catalog import Kind, LambdaSettings
from deployctl.core.repo.snapshot import RepoFiles, build_snapshot
from deployctl.core.repo.tree import Entry, EntryKind
from tests.builders import AppRepo, DeployRepo
from tests.scenario import run_cli
from tests.test_components_aws import C1, FUNCTION, Deploy, deploy, spec

pytestmark = pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning")
__all__ = ["deploy"]  # the fixture, building a component under Pulumi's mocks

ECS = {"image_repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api", "cluster": "prod",
       "execution_role_arn": "arn:aws:iam::123456789012:role/ecs-exec", "subnets": ["subnet-1"]}
LAMBDA = {"role_arn": "arn:aws:iam::123456789012:role/fn", "bucket": "artifacts", "handler": "app.handler",
          "runtime": "python3.12"}
SITE = {"bucket": "sites"}
BASE = {"ecs-service": ECS, "lambda": LAMBDA, "static-site": SITE}
CERT = "arn:aws:acm:{region}:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"


def invalid(kind: str, settings: dict[str, Any], staging: dict[str, Any] | None = None) -> list[str]:
    """The `invalid-settings` messages on deploys/staging/api: the catalog writes one setting a line
    (line 6 onwards, in the order given), the env's override one a line (line 4 onwards)."""
    lines = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in settings.items())
    catalog = f"apps:\n  api:\n    kind: {kind}\n    repo: r\n    settings:\n{lines}"
    stack = "config: {}\n" if staging is None else "config:\n  deploys:settings:\n    api:\n" + "".join(
        f"      {k}: {json.dumps(v)}\n" for k, v in staging.items())
    entries = [Entry(path="deploys/staging", kind=EntryKind.DIR),
               Entry(path="deploys/staging/api", kind=EntryKind.FILE, data=b"abc1234\n")]
    found = build_snapshot(RepoFiles(catalog=catalog, stack_configs={"staging": stack}, entries=entries))
    return [v.message for v in [*found.config_errors, *found.violations] if v.rule == "invalid-settings"]


def one(kind: str, **bad: Any) -> str:
    """The one message for the kind's valid settings with `bad` written last (the catalog's last lines)."""
    settings = {k: v for k, v in BASE[kind].items() if k not in bad} | bad
    [message] = invalid(kind, settings)
    return message


def test_valid_settings_of_each_kind_pass() -> None:
    for kind, settings in BASE.items():
        assert invalid(kind, settings) == [], kind
    assert invalid("static-site", {**SITE, "certificate_arn": CERT.format(region="us-east-1")}) == []
    assert invalid("lambda", {**LAMBDA, "memory_size": 10240, "timeout": 900}) == []
    assert invalid("lambda", {**LAMBDA, "memory_size": 128, "timeout": 1}) == []
    assert invalid("ecs-service", {**ECS, "cpu": 16384, "memory": 122880, "container_port": 65535}) == []


@pytest.mark.parametrize("value", [127, 10241, 20000])
def test_lambda_memory_outside_128_to_10240_mb(value: int) -> None:
    assert one("lambda", memory_size=value).endswith(
        f"memory_size: {value} is outside what AWS accepts for a function's memory_size: 128 to 10240 MB "
        "(apps.yaml:10); fix apps.yaml or the 'deploys:settings' override in Pulumi.staging.yaml")


@pytest.mark.parametrize("value", [0, 901, 3600])
def test_lambda_timeout_outside_1_to_900_seconds(value: int) -> None:
    assert f"timeout: {value} is outside what AWS accepts for a function's timeout: 1 to 900 seconds (apps.yaml:10)" \
        in one("lambda", timeout=value)


def test_lambda_runtime_aws_does_not_have_says_which_it_has() -> None:
    message = one("lambda", runtime="python9.9")
    assert "runtime: 'python9.9' is not a Lambda runtime; AWS accepts: " in message and "(apps.yaml:9)" in message
    assert "python3.12" in message and "nodejs22.x" in message
    assert "is a deprecated runtime AWS no longer creates functions with" in one("lambda", runtime="python2.7")


def test_lambda_limits_in_the_env_override_are_located_there() -> None:
    [message] = invalid("lambda", LAMBDA, staging={"memory_size": 20000})
    assert "memory_size: 20000 is outside" in message and "(Pulumi.staging.yaml:4)" in message


@pytest.mark.parametrize("value", [511, 10241])
def test_lambda_ephemeral_storage_outside_512_to_10240_mb(value: int) -> None:
    assert f"ephemeral_storage: {value} is outside what AWS accepts for a function's ephemeral_storage (/tmp): " \
           "512 to 10240 MB (apps.yaml:10)" in one("lambda", ephemeral_storage=value)


def test_lambda_ephemeral_storage_reaches_the_function_only_when_set(deploy: Deploy) -> None:
    settings = LambdaSettings.model_validate({**LAMBDA, "ephemeral_storage": 10240})
    assert deploy(spec(Kind.LAMBDA, C1, settings)).one(FUNCTION).inputs["ephemeralStorage"] == {"size": 10240}
    assert "ephemeralStorage" not in deploy(spec(Kind.LAMBDA, C1, LambdaSettings.model_validate(LAMBDA))).one(
        FUNCTION).inputs  # AWS's default, 512 MB


def test_the_pinned_runtimes_are_botocores_minus_the_deprecated_ones() -> None:
    """A botocore upgrade that adds (or drops) a runtime fails here until awslimits says so."""
    enum = set(botocore.session.get_session().get_service_model("lambda").shape_for("Runtime").enum)
    assert enum - awslimits.LAMBDA_DEPRECATED_RUNTIMES == awslimits.LAMBDA_RUNTIMES
    assert enum >= awslimits.LAMBDA_DEPRECATED_RUNTIMES


@pytest.mark.parametrize(("cpu", "memory"), [(256, 4096), (256, 256), (512, 512), (1024, 9216), (2048, 4500),
                                             (4096, 31744), (8192, 18432), (16384, 36864)])
def test_fargate_cpu_memory_pairs_aws_does_not_offer(cpu: int, memory: int) -> None:
    message = one("ecs-service", cpu=cpu, memory=memory)
    assert f"memory: {memory} MiB with cpu {cpu} is not a task size Fargate offers; with cpu {cpu} AWS accepts " \
           f"memory {awslimits._FARGATE_STEPS[cpu]} (MiB) (apps.yaml:11)" in message


def test_every_fargate_pair_aws_offers_passes() -> None:
    offered = [(cpu, memory) for cpu, memories in awslimits.FARGATE_MEMORY_MB.items() for memory in memories]
    assert len(offered) == 3 + 4 + 7 + 13 + 23 + 12 + 12
    assert (256, 512) in offered and (8192, 61440) in offered and (16384, 122880) in offered
    for cpu, memory in offered:
        assert awslimits.fargate_memory_problem(cpu, memory) is None


def test_fargate_cpu_it_does_not_offer() -> None:
    message = one("ecs-service", cpu=300)
    assert "cpu: 300 CPU units is not a Fargate task size; AWS offers 256, 512, 1024, 2048, 4096, 8192, 16384 " \
           "(apps.yaml:10)" in message
    assert "memory" not in message.partition("(apps.yaml:10)")[2].partition(";")[0]


def test_fargate_memory_with_a_cpu_stored_encrypted_is_left_to_the_program() -> None:
    """Only the program reads an encrypted cpu: the default cpu it falls back to is no ground for an error."""
    settings = {**ECS, "memory": 8192}
    assert "with cpu 256" in invalid("ecs-service", settings)[0]
    assert invalid("ecs-service", settings, staging={"cpu": {"secure": "v1:CPU"}}) == []


def test_ecs_without_subnets_is_awsvpc_without_a_network_configuration() -> None:
    [message] = invalid("ecs-service", {k: v for k, v in ECS.items() if k != "subnets"})
    assert "subnets: is empty: a Fargate service runs in network mode awsvpc, for which ECS requires a network " \
           "configuration with at least one subnet" in message
    [message] = invalid("ecs-service", {**ECS, "subnets": []})
    assert "subnets: is empty" in message and "(apps.yaml:9)" in message
    assert invalid("ecs-service", {k: v for k, v in ECS.items() if k != "subnets"},
                   staging={"subnets": {"secure": "v1:NET"}}) == []  # set, as a secret


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_container_port_outside_1_to_65535(port: int) -> None:
    assert f"container_port: {port} is outside what AWS accepts for a container port: 1 to 65535 (apps.yaml:10)" \
        in one("ecs-service", container_port=port)


def test_cloudfront_certificate_outside_us_east_1() -> None:
    message = one("static-site", certificate_arn=CERT.format(region="eu-west-1"))
    assert "certificate_arn: the certificate is in eu-west-1, and CloudFront only uses ACM certificates in " \
           "us-east-1; request or import it in us-east-1 (apps.yaml:7)" in message
    assert "is not an ACM certificate ARN" in one("static-site", certificate_arn="arn:aws:iam::1:server-certificate/x")


def test_deployctl_check_refuses_what_aws_refuses_at_the_line(tmp_path: Path) -> None:
    app = AppRepo(tmp_path / "apps" / "fn")
    commit = app.commit("first")
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.write("apps.yaml", "apps:\n  fn:\n    kind: lambda\n    repo: " + str(app.path) + "\n    settings:\n"
                 "      role_arn: arn:aws:iam::123456789012:role/fn\n      bucket: artifacts\n"
                 "      handler: app.handler\n      runtime: python9.9\n      memory_size: 20000\n")
    deploy.env("staging", settings={"fn": {"timeout": 3600}})
    deploy.deploy("staging", "fn", commit)
    deploy.commit("fn")
    code, out, err = run_cli(deploy.path, "check", "--no-artifacts", "--no-deployed")
    assert code == 1, out + err
    assert "Traceback" not in err
    assert "runtime: 'python9.9' is not a Lambda runtime" in out and "(apps.yaml:9)" in out
    assert "memory_size: 20000 is outside what AWS accepts for a function's memory_size: 128 to 10240 MB " \
           "(apps.yaml:10)" in out
    assert "timeout: 3600 is outside what AWS accepts for a function's timeout: 1 to 900 seconds " \
           "(Pulumi.staging.yaml:4)" in out
