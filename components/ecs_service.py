"""The `ecs-service` kind: a Fargate service running the app's image tagged with the commit.

The image tag is the only place the commit lives, so a new commit registers a new revision of the
same task definition family and updates the same service in place; ECS then rolls the tasks, and
the deployment circuit breaker rolls back a release whose tasks never become healthy.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from components.base import AppComponent
from components.spec import AppSpec
from deployctl.core.catalog import EcsServiceSettings

FARGATE = "FARGATE"
_IN_CONTAINER = ("environment", "image_repository", "container_port")
"""Settings written into the container definitions document."""


def container_definitions(spec: AppSpec, settings: EcsServiceSettings) -> str:
    """The one container, as the JSON document ECS wants; sorted so unchanged settings never diff."""
    environment = {**settings.environment, "DEPLOY_COMMIT": spec.commit}
    container: dict[str, Any] = {
        "name": spec.app,
        "image": f"{settings.image_repository}:{spec.commit}",
        "essential": True,
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
    }
    if settings.container_port is not None:
        container["portMappings"] = [
            {"containerPort": settings.container_port, "hostPort": settings.container_port, "protocol": "tcp"}
        ]
    return json.dumps([container], sort_keys=True)


class EcsServiceApp(AppComponent[EcsServiceSettings]):
    """An app running on ECS Fargate; `version` is the commit, which is the image tag."""

    type_name = "deploys:apps:EcsServiceApp"
    settings_type = EcsServiceSettings

    def __init__(self, name: str, spec: AppSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, spec, opts)
        settings = self.settings
        child = pulumi.ResourceOptions(parent=self)

        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"{spec.env}-{spec.app}",
            requires_compatibilities=[FARGATE],
            network_mode="awsvpc",
            cpu=spec.setting("cpu", str(settings.cpu)),
            memory=spec.setting("memory", str(settings.memory)),
            execution_role_arn=spec.setting("execution_role_arn", settings.execution_role_arn),
            # One JSON document: secret as a whole when any setting inside it is (a secret env var).
            container_definitions=(pulumi.Output.secret(container_definitions(spec, settings))
                                   if any(spec.is_secret(k) for k in _IN_CONTAINER) else
                                   container_definitions(spec, settings)),
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
            name=spec.app,
            cluster=spec.setting("cluster", settings.cluster),
            task_definition=self.task_definition.arn,
            desired_count=spec.setting("desired_count", settings.desired_count),
            launch_type=FARGATE,
            network_configuration=network,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            opts=child,
        )
        self.running = self.service.id.apply(lambda _: spec.commit)
        self.register_outputs(
            {"version": spec.commit, "task_definition": self.task_definition.arn, "service": self.service.name}
        )

    def health_target(self) -> dict[str, Any]:
        return {"cluster": self.settings.cluster, "service": self.service.name}
