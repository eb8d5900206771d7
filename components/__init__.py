"""One ComponentResource per app kind. Kinds import lazily: a local-only stack never loads pulumi-aws.

Every component sets `version` (the commit the deploy file names) and `running`, an Output that
resolves to that commit only once the app's resources were created or updated.
"""

from __future__ import annotations

import importlib
from typing import Any

import pulumi

from components.base import AppComponent
from components.spec import AppSpec
from deployctl.core.catalog import Kind

_KINDS = {
    Kind.LOCAL: "components.local:LocalApp",
    Kind.ECS_SERVICE: "components.ecs_service:EcsServiceApp",
    Kind.LAMBDA: "components.lambda_function:LambdaApp",
    Kind.STATIC_SITE: "components.static_site:StaticSiteApp",
}


def component_class(kind: Kind) -> type[AppComponent[Any]]:
    module, _, name = _KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def make_component(spec: AppSpec, opts: pulumi.ResourceOptions | None = None) -> AppComponent[Any]:
    return component_class(spec.kind)(spec.app, spec, opts)


__all__ = ["AppComponent", "AppSpec", "component_class", "make_component"]
