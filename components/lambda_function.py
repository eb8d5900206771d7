"""The `lambda` kind: one function whose code is the commit's artifact, served through alias `live`.

The commit names the artifact (`<prefix>/<commit>.zip` in S3, or the image tagged with it), never
the function, so a new commit updates the same function; `publish` freezes each release as a
numbered version and `live` moves to it, which keeps the previous version around to point back at.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from deployctl.components.base import AppComponent
from deployctl.components.spec import AppSpec
from deployctl.core.kinds.artifactnames import image_uri, zip_key
from deployctl.core.kinds.awsnames import lambda_function_name
from deployctl.core.repo.catalog import LambdaSettings

ALIAS = "live"


class LambdaApp(AppComponent[LambdaSettings]):
    """An app running as a Lambda function; `version` is the commit, callers invoke alias `live`."""

    type_name = "deploys:apps:LambdaApp"
    settings_type = LambdaSettings

    def __init__(self, name: str, spec: AppSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, spec, opts)
        settings = self.settings
        child = pulumi.ResourceOptions(parent=self)

        uri = image_uri(settings.image_repository, spec.commit) if settings.image_repository is not None else None
        image = uri is not None
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=lambda_function_name(spec.env, spec.app),
            role=spec.setting("role_arn", settings.role_arn),
            memory_size=spec.setting("memory_size", settings.memory_size),
            timeout=spec.setting("timeout", settings.timeout),
            ephemeral_storage=None if settings.ephemeral_storage is None else aws.lambda_.FunctionEphemeralStorageArgs(
                size=spec.setting("ephemeral_storage", settings.ephemeral_storage)),
            publish=True,
            package_type="Image" if image else "Zip",
            image_uri=uri,
            s3_bucket=None if image else spec.setting("bucket", settings.bucket),
            s3_key=None if image else zip_key(settings.prefix, spec.commit),
            handler=None if image else spec.setting("handler", settings.handler),
            runtime=None if image else spec.setting("runtime", settings.runtime),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={**{k: spec.setting(f"environment.{k}", v) for k, v in settings.environment.items()},
                           "DEPLOY_COMMIT": spec.commit},
            ),
            opts=child,
        )
        self.alias = aws.lambda_.Alias(
            f"{name}-{ALIAS}",
            name=ALIAS,
            function_name=self.function.name,
            function_version=self.function.version,
            opts=child,
        )
        self.running = self.alias.id.apply(lambda _: spec.commit)
        self.register_outputs(
            {"version": spec.commit, "function_version": self.function.version, "alias": self.alias.arn}
        )

    def health_target(self) -> dict[str, Any]:
        return {"function": self.function.name, "alias": self.alias.name,
                "function_version": self.alias.function_version}  # the version that must run
