"""An app's health check as a resource after the app's own: a failing check fails the update, and
the engine never deploys what depends on the app (its dependents depend on this resource).

Created or updated (so run) only when the app's commit or its health settings change; deleting it
does nothing. The check's settings and verdicts live in deployctl/core/health/checks.py, its probes in
deployctl/adapters/cloud/probes.py, and what it says back to deployctl in deployctl/core/health/healthmessage.py.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from deployctl.adapters.cloud.probes import run_health, say_progress
from deployctl.components.base import AppComponent
from deployctl.components.spec import AppSpec
from deployctl.core.health.checks import HealthSettings, HealthTarget
from deployctl.core.health.healthmessage import failed_line, failure_line

_RUN_ON = ("commit", "health", "target")


def _run(props: dict[str, Any]) -> dict[str, Any]:
    target = HealthTarget.model_validate(props["target"])
    result = run_health(target, HealthSettings.model_validate(props["health"]))
    if not result.ok:
        line = failure_line(target, result)
        say_progress(failed_line(line))
        raise RuntimeError(line)
    return {**props, "tries": result.tries, "detail": result.detail}


class HealthCheckProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['target']['app']}-health", outs=_run(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in _RUN_ON if olds.get(k) != news.get(k)]
        if not changed:
            return DiffResult(changes=False)
        # The Python SDK's DiffResult cannot name changed keys, and `changes=True` alone reaches the
        # engine as a change of nothing in particular: the PR comment showed `<app>-health` updated with
        # no property. "Unknown" makes the engine diff the inputs itself, so its step events name each
        # changed one (`health.command`, old and new; a secret one as `[secret]`) for the reviewer.
        return DiffResult(changes=None, replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_run(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class HealthCheck(pulumi.dynamic.Resource):
    tries: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(HealthCheckProvider(), name, {**props, "tries": None, "detail": None}, opts)


def health_target(spec: AppSpec, component: AppComponent[Any]) -> dict[str, Any]:
    """Where the check looks: the app, and what its kind says (AppComponent.health_target)."""
    target: dict[str, Any] = {"env": spec.env, "app": spec.app, "kind": spec.kind.value, "commit": spec.commit}
    return {**target, **component.health_target()}


def make_health_check(spec: AppSpec, component: AppComponent[Any]) -> HealthCheck | None:
    """The app's check, run after the component's resources; None when the app sets no health."""
    health = getattr(spec.settings, "health", None)
    if health is None:
        return None
    props: dict[str, Any] = {"commit": spec.commit, "health": health.model_dump(mode="json"),
                             "target": health_target(spec, component)}
    secret = bool(spec.secret_settings)  # a secret setting may sit in the check's url, payload or target
    if secret:
        props = {**props, "health": pulumi.Output.secret(props["health"]),
                 "target": pulumi.Output.secret(props["target"])}
    return HealthCheck(f"{spec.app}-health", props, pulumi.ResourceOptions(
        depends_on=[component], additional_secret_outputs=["health", "target", "detail"] if secret else None))
