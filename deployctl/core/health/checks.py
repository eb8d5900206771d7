"""Health after up: each app proves it runs before its dependents deploy.

`settings.health` in apps.yaml (overridable per env under `deploys:settings`) says how. The check
runs inside the engine, as a resource after the app's own resources (components/health.py), so a
failing check fails the update and the engine never deploys what depends on the app. Each try
prints one progress line, which reaches deployctl as an engine diagnostic event.

Pure: the settings model, the verdicts on each answer (HTTP status, ECS rollout state, Lambda
invoke) and the retry loop over an injected `once`, `say` and `sleep`. The probes that run the shell
command, GET the URL, or ask ECS and Lambda through boto3 are an edge: deployctl/adapters/cloud/probes.py.
What the check writes to the engine, and deployctl reads back, is core/health/healthmessage.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from deployctl.core.lazymodel import LazyModel

OUTPUT_TAIL = 300
"""The most of a command's output or an error a try's detail keeps."""


class HealthSettings(LazyModel):
    """How to tell an app is healthy after its update. Times in seconds; `retries` more tries after
    the first fails, `interval` apart; `timeout` bounds each try."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = Field(None, min_length=1)
    """local: run through the shell in the new release folder; passes on exit 0."""
    url: str | None = None
    """passes when a GET answers `expect_status`; static-site: default https://<distribution>/."""
    expect_status: int = Field(200, ge=100, le=599)
    timeout: float = Field(30, gt=0, le=3600)
    retries: int = Field(3, ge=0, le=100)
    interval: float = Field(5, ge=0, le=3600)
    payload: dict[str, Any] | None = None
    """lambda: the event the alias is invoked with (default {})."""

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return url

    @property
    def tries(self) -> int:
        return 1 + self.retries


def health_problem(kind: str, health: HealthSettings | None) -> str | None:
    """What a kind cannot do with these settings (the catalog turns it into `invalid-settings`)."""
    if health is None:
        return None
    if kind == "local" and not (health.command or health.url):
        return "health needs a 'command' or a 'url' (or both) for a local app"
    if kind != "local" and health.command:
        return f"health 'command' runs only for local apps, not {kind}"
    if kind != "lambda" and health.payload is not None:
        return "health 'payload' is for lambda apps only"
    return None


class HealthTarget(LazyModel):
    """What one check looks at, as the program knows it after the app's update."""

    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    kind: str
    commit: str
    workdir: str | None = None
    """local: the app's `current` link, which points at the new release."""
    cluster: str | None = None
    service: str | None = None
    task_definition: str | None = None
    """ecs-service: the task definition (its ARN) this update registered, which must be what runs."""
    function: str | None = None
    alias: str | None = None
    function_version: str | None = None
    """lambda: the version this update published, which the alias must run."""
    url: str | None = None
    distribution: str | None = None
    origin_path: str | None = None
    """static-site: the distribution (its id) and the origin path this update set, which it must serve."""


class TryResult(LazyModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    detail: str


class HealthResult(LazyModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    tries: int
    detail: str


# -- pure verdicts --------------------------------------------------------------------------------


def status_verdict(status: int, expect: int) -> TryResult:
    ok = status == expect
    return TryResult(ok=ok, detail=f"HTTP {status}" + ("" if ok else f", expected {expect}"))


def exit_verdict(code: int, output: str) -> TryResult:
    tail = output.strip()[-OUTPUT_TAIL:]
    return TryResult(ok=code == 0, detail=f"exit {code}" + (f": {tail}" if tail and code != 0 else ""))


def revision(task_definition: str) -> str:
    """`family:revision`, as ECS shows a task definition ARN to people."""
    return task_definition.rsplit("/", 1)[-1]


def _rolled_back(deployments: list[dict[str, Any]], primary: dict[str, Any], ours: str) -> str:
    """What ECS did instead of running `ours`, from describe-services' deployments."""
    running = f"{revision(primary.get('taskDefinition', '?'))} is PRIMARY (rollout {primary.get('rolloutState', '?')})"
    mine = next((d for d in deployments if d.get("taskDefinition") == ours), None)
    if mine is not None and mine.get("rolloutState") == "FAILED":
        reason = mine.get("rolloutStateReason")
        return (f"ECS rolled back: the deployment of {revision(ours)} (this update's) FAILED"
                + (f": {reason}" if reason else "") + f"; {running}")
    if mine is not None:
        state = f"{mine.get('status', '?')} {mine.get('rolloutState', '?')}"
        return f"{running}, not {revision(ours)} (this update's, {state})"
    return (f"{running}, not {revision(ours)} (this update's, no longer among the service's deployments: "
            "rolled back, or replaced by another deploy)")


def ecs_verdict(answer: dict[str, Any], service: str, task_definition: str | None = None) -> TryResult:
    """ECS `describe_services`: healthy once the PRIMARY deployment runs `task_definition` (the
    revision this update registered) and its rollout COMPLETED. The deployment circuit breaker
    rolling back leaves the old revision PRIMARY and COMPLETED: that is a failed check."""
    services = answer.get("services") or []
    if not services:
        failures = "; ".join(f.get("reason", "") for f in answer.get("failures") or [])
        return TryResult(ok=False, detail=f"service {service} not found" + (f" ({failures})" if failures else ""))
    deployments = services[0].get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return TryResult(ok=False, detail="no primary deployment yet")
    if task_definition is not None and primary.get("taskDefinition") != task_definition:
        return TryResult(ok=False, detail=_rolled_back(deployments, primary, task_definition))
    state = primary.get("rolloutState", "")
    running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
    detail = f"rollout {state or 'unknown'} ({running}/{desired} tasks running)"
    if state == "FAILED" and primary.get("rolloutStateReason"):
        detail += f": {primary['rolloutStateReason']}"
    return TryResult(ok=state == "COMPLETED", detail=detail)


def lambda_verdict(answer: dict[str, Any], version: str | None = None) -> TryResult:
    """Lambda `invoke` of the alias: healthy when it answered 2xx without a FunctionError, run by
    `version` (the one this update published; Lambda names the version the alias resolved to as
    `ExecutedVersion`). The `Payload` as bytes: the probe reads boto3's stream (adapters/cloud/probes.py)."""
    status = int(answer.get("StatusCode", 0))
    executed = answer.get("ExecutedVersion")
    if version is not None and executed != version:
        return TryResult(ok=False, detail=f"the alias ran version {executed or 'unknown'}, not {version} "
                         "(this update's)")
    if answer.get("FunctionError"):
        body = answer.get("Payload")
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        return TryResult(ok=False, detail=f"function error {answer['FunctionError']}: {text[-OUTPUT_TAIL:]}")
    return TryResult(ok=200 <= status < 300, detail=f"invoke status {status}")


def site_verdict(answer: dict[str, Any], origin_path: str) -> TryResult:
    """CloudFront `get_distribution`: healthy once every origin serves `origin_path` (this update's
    folder) and the change is Deployed to the edge; a distribution still InProgress is a failed try (the
    retry loop waits), one serving another folder a failed check that names it."""
    distribution = answer.get("Distribution") or {}
    origins = ((distribution.get("DistributionConfig") or {}).get("Origins") or {}).get("Items") or []
    paths = sorted({str(o.get("OriginPath", "")) for o in origins})
    if paths != [origin_path]:
        return TryResult(ok=False, detail=f"the distribution serves {', '.join(paths) or 'no origin'}, not "
                         f"{origin_path} (this update's)")
    status = str(distribution.get("Status", ""))
    if status != "Deployed":
        return TryResult(ok=False, detail=f"the distribution is {status or 'in an unknown state'}, not yet "
                         "Deployed to the edge")
    return TryResult(ok=True, detail=f"the distribution serves {origin_path} (Deployed)")


def run_tries(health: HealthSettings, once: Callable[[], TryResult], say: Callable[[str], None], label: str,
              sleep: Callable[[float], None]) -> HealthResult:
    """Up to `tries` tries, `interval` apart, one progress line each; passes on the first good try."""
    last = TryResult(ok=False, detail="not run")
    for n in range(1, health.tries + 1):
        last = once()
        say(f"{label}: health try {n}/{health.tries}: {'ok' if last.ok else 'failed'}: {last.detail}")
        if last.ok:
            return HealthResult(ok=True, tries=n, detail=last.detail)
        if n < health.tries:
            sleep(health.interval)
    return HealthResult(ok=False, tries=health.tries, detail=last.detail)


__all__ = ["OUTPUT_TAIL", "HealthResult", "HealthSettings", "HealthTarget", "TryResult", "ecs_verdict",
           "exit_verdict", "health_problem", "lambda_verdict", "revision", "run_tries", "status_verdict"]
