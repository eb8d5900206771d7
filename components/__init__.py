"""One ComponentResource per app kind. Kinds import lazily: a local-only stack never loads pulumi-aws,
and this package's import costs nothing (a dynamic provider's process imports its module through it).

Every component sets `version` (the commit the deploy file names) and `running`, an Output that
resolves to that commit only once the app's resources were created or updated.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pulumi

    from deployctl.components.base import AppComponent
    from deployctl.components.spec import AppSpec
    from deployctl.core.repo.catalog import Kind

_KINDS = {  # by Kind's value: deployctl.core.repo.catalog.Kind loads only with a kind
    "local": "deployctl.components.local_app:LocalApp",
    "ecs-service": "deployctl.components.ecs_service:EcsServiceApp",
    "lambda": "deployctl.components.lambda_function:LambdaApp",
    "static-site": "deployctl.components.static_site:StaticSiteApp",
}


@cache
def component_class(kind: Kind) -> type[AppComponent[Any]]:
    module, _, name = _KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def make_component(spec: AppSpec, opts: pulumi.ResourceOptions | None = None) -> AppComponent[Any]:
    return component_class(spec.kind)(spec.app, spec, opts)


__all__ = ["component_class", "make_component"]
