"""The `ecs-service` kind: a Fargate service running the app's image tagged with the commit.

The image tag is the only place the commit lives, so a new commit registers a new revision of the
same task definition family and updates the same service in place; ECS then rolls the tasks, and
the deployment circuit breaker rolls back a release whose tasks never become healthy. The container
logs to CloudWatch (`awslogs`) in a log group per env and app that the component creates; Fargate
writes it, and pulls a private ECR image, with the task's execution role (settings say when one is
missing, before anything registers).

A secret environment variable (`pulumi config set --secret --path
'deploys:settings.<app>.environment.<NAME>'`) never enters the task definition, which anyone allowed
to describe it can read: its value is an SSM SecureString parameter, `/deployctl/<env>/<app>/<NAME>`,
which ECS reads with the task's execution role when a task starts (the container's `secrets`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from deployctl.components.base import AppComponent
from deployctl.components.spec import AppSpec
from deployctl.core.kinds.artifactnames import image_uri, ssm_parameter
from deployctl.core.kinds.awsnames import ecs_service_name, task_family
from deployctl.core.repo.catalog import EcsServiceSettings

FARGATE = "FARGATE"
_IN_CONTAINER = ("image_repository", "container_port")
"""Settings written as they are into the container definitions document (a secret environment
variable is not: it is a parameter the document names)."""


def log_group(spec: AppSpec) -> str:
    """The CloudWatch log group of one env's app: envs sharing an account or a cluster never share one."""
    return f"/ecs/deployctl/{spec.env}/{spec.app}"


def arn_region(arn: str) -> str | None:
    """`arn:partition:service:region:account:resource` -> region."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 else None


def container_definitions(spec: AppSpec, settings: EcsServiceSettings, secrets: Mapping[str, str] | None = None,
                          region: str | None = None) -> str:
    """The one container, as the JSON document ECS wants; sorted so unchanged settings never diff.
    `secrets`: environment variable -> the ARN of the parameter holding its value (never the value);
    `region`: where the log group is (awslogs needs it named)."""
    secrets = secrets or {}
    environment = {k: v for k, v in {**settings.environment, "DEPLOY_COMMIT": spec.commit}.items() if k not in secrets}
    container: dict[str, Any] = {
        "name": spec.app,
        "image": image_uri(settings.image_repository, spec.commit),
        "essential": True,
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
    }
    if secrets:
        container["secrets"] = [{"name": k, "valueFrom": arn} for k, arn in sorted(secrets.items())]
    if settings.container_port is not None:
        container["portMappings"] = [
            {"containerPort": settings.container_port, "hostPort": settings.container_port, "protocol": "tcp"}
        ]
    if settings.logs:
        container["logConfiguration"] = {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group(spec), "awslogs-region": region, "awslogs-stream-prefix": spec.app}}
    return json.dumps([container], sort_keys=True)


class EcsServiceApp(AppComponent[EcsServiceSettings]):
    """An app running on ECS Fargate; `version` is the commit, which is the image tag."""

    type_name = "deploys:apps:EcsServiceApp"
    settings_type = EcsServiceSettings

    def __init__(self, name: str, spec: AppSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, spec, opts)
        settings = self.settings
        if problems := settings.secret_problems(spec.secret_settings, spec.env, spec.app):  # `check` says it first
            raise ValueError("; ".join(problem for _setting, problem in problems))
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=log_group(spec), retention_in_days=settings.log_retention_days, opts=child,
        ) if settings.logs else None
        # awslogs names the log group's region: the one its ARN says the provider created it in
        region: pulumi.Output[str | None] = (self.log_group.arn.apply(arn_region) if self.log_group
                                             else pulumi.Output.from_input(None))
        self.parameters = {
            variable: aws.ssm.Parameter(
                f"{name}-env-{variable}",
                name=ssm_parameter(spec.env, spec.app, variable),
                type="SecureString",
                value=pulumi.Output.secret(settings.environment[variable]),
                opts=child,
            )
            for variable in settings.secret_variables(spec.secret_settings)
        }
        document = pulumi.Output.all(region, pulumi.Output.all(**{k: p.arn for k, p in self.parameters.items()})).apply(
            lambda found: container_definitions(spec, settings, found[1], found[0]))

        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=task_family(spec.env, spec.app),
            requires_compatibilities=[FARGATE],
            network_mode="awsvpc",
            cpu=spec.setting("cpu", str(settings.cpu)),
            memory=spec.setting("memory", str(settings.memory)),
            execution_role_arn=spec.setting("execution_role_arn", settings.execution_role_arn),
            # One JSON document: secret as a whole when a setting written in it is (the image, the port).
            container_definitions=(document.apply(pulumi.Output.secret) if any(spec.is_secret(k) for k in _IN_CONTAINER)
                                   else document),
            # Keep old revisions registered: the circuit breaker may roll the service back to one.
            skip_destroy=True,
            opts=child,
        )
        network = None
        if settings.subnets:
            network = aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=spec.setting("subnets", settings.subnets),
                security_groups=spec.setting("security_groups", settings.security_groups or None),
                assign_public_ip=spec.setting("assign_public_ip", settings.assign_public_ip),
            )
        self.service = aws.ecs.Service(
            f"{name}-service",
            name=ecs_service_name(spec.env, spec.app),  # unique per cluster: envs may share one
            cluster=spec.setting("cluster", settings.cluster),
            task_definition=self.task_definition.arn,
            desired_count=spec.setting("desired_count", settings.desired_count),
            launch_type=FARGATE,
            network_configuration=network,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=settings.circuit_breaker, rollback=settings.circuit_breaker),
            health_check_grace_period_seconds=settings.health_check_grace_period,
            opts=child,
        )
        self.running = self.service.id.apply(lambda _: spec.commit)
        self.register_outputs(
            {"version": spec.commit, "task_definition": self.task_definition.arn, "service": self.service.name}
        )

    def health_target(self) -> dict[str, Any]:
        return {"cluster": self.settings.cluster, "service": self.service.name,
                "task_definition": self.task_definition.arn}  # the revision that must run
