"""Health after up: each app proves it runs before its dependents deploy.

`settings.health` in apps.yaml (overridable per env under `deploys:settings`) says how. The check
runs inside the engine, as a resource after the app's own resources (components/health.py), so a
failing check fails the update and the engine never deploys what depends on the app. Each try
prints one progress line, which reaches deployctl as an engine diagnostic event.

Pure: the settings model, the verdicts on each answer (HTTP status, ECS rollout state, Lambda
invoke) and the retry loop over an injected `once`. Edge: the runners that run the shell command,
GET the URL, or ask ECS and Lambda through boto3.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

PROGRESS = "deployctl-health:"
"""Prefix of the provider's progress lines, so deployctl can tell them from other engine output."""
_OUTPUT_TAIL = 300


class HealthSettings(BaseModel):
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


class HealthTarget(BaseModel):
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
    function: str | None = None
    alias: str | None = None
    url: str | None = None


class TryResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    detail: str


class HealthResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    tries: int
    detail: str


# -- pure verdicts --------------------------------------------------------------------------------


def status_verdict(status: int, expect: int) -> TryResult:
    ok = status == expect
    return TryResult(ok=ok, detail=f"HTTP {status}" + ("" if ok else f", expected {expect}"))


def exit_verdict(code: int, output: str) -> TryResult:
    tail = output.strip()[-_OUTPUT_TAIL:]
    return TryResult(ok=code == 0, detail=f"exit {code}" + (f": {tail}" if tail and code != 0 else ""))


def ecs_verdict(answer: dict[str, Any], service: str) -> TryResult:
    """ECS `describe_services`: healthy once the PRIMARY deployment's rollout COMPLETED."""
    services = answer.get("services") or []
    if not services:
        failures = "; ".join(f.get("reason", "") for f in answer.get("failures") or [])
        return TryResult(ok=False, detail=f"service {service} not found" + (f" ({failures})" if failures else ""))
    primary = next((d for d in services[0].get("deployments") or [] if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return TryResult(ok=False, detail="no primary deployment yet")
    state = primary.get("rolloutState", "")
    running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
    detail = f"rollout {state or 'unknown'} ({running}/{desired} tasks running)"
    if state == "FAILED" and primary.get("rolloutStateReason"):
        detail += f": {primary['rolloutStateReason']}"
    return TryResult(ok=state == "COMPLETED", detail=detail)


def lambda_verdict(answer: dict[str, Any]) -> TryResult:
    """Lambda `invoke` of the alias: healthy when it answered 2xx without a FunctionError."""
    status = int(answer.get("StatusCode", 0))
    if answer.get("FunctionError"):
        body = answer.get("Payload")
        text = body.read().decode("utf-8", "replace") if body is not None and hasattr(body, "read") else str(body or "")
        return TryResult(ok=False, detail=f"function error {answer['FunctionError']}: {text[-_OUTPUT_TAIL:]}")
    return TryResult(ok=200 <= status < 300, detail=f"invoke status {status}")


def run_tries(health: HealthSettings, once: Callable[[], TryResult], say: Callable[[str], None], label: str,
              sleep: Callable[[float], None] = time.sleep) -> HealthResult:
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


# -- the edge: each kind's runner ------------------------------------------------------------------


def _get(url: str, health: HealthSettings) -> TryResult:
    import httpx

    try:
        resp = httpx.get(url, timeout=health.timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return TryResult(ok=False, detail=f"GET {url}: {type(exc).__name__}")
    return status_verdict(resp.status_code, health.expect_status)


def _shell(command: str, workdir: str, health: HealthSettings) -> TryResult:
    """The command in its own process group, so a timeout also ends whatever it started."""
    import os
    import signal

    try:
        proc = subprocess.Popen(command, shell=True, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    except OSError as exc:
        return TryResult(ok=False, detail=f"command cannot run in {workdir}: {exc.strerror}")
    try:
        out, err = proc.communicate(timeout=health.timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return TryResult(ok=False, detail=f"command timed out after {health.timeout:g} s")
    return exit_verdict(proc.returncode, err or out)


def _boto(service: str, health: HealthSettings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(connect_timeout=min(health.timeout, 10), read_timeout=health.timeout,
                                               retries={"total_max_attempts": 2, "mode": "standard"}))


def check_once(target: HealthTarget, health: HealthSettings) -> TryResult:
    """One try of the kind's check (every part must pass)."""
    results: list[TryResult] = []
    try:
        if target.kind == "local" and health.command:
            results.append(_shell(health.command, target.workdir or ".", health))
        elif target.kind == "ecs-service":
            answer = _boto("ecs", health).describe_services(cluster=target.cluster, services=[target.service])
            results.append(ecs_verdict(answer, target.service or ""))
        elif target.kind == "lambda":
            import json

            answer = _boto("lambda", health).invoke(FunctionName=target.function, Qualifier=target.alias,
                                                    Payload=json.dumps(health.payload or {}).encode())
            results.append(lambda_verdict(answer))
    except Exception as exc:  # boto3 errors and network failures are a failed try, not a crash
        results.append(TryResult(ok=False, detail=f"{type(exc).__name__}: {str(exc)[:_OUTPUT_TAIL]}"))
    url = health.url or target.url
    if url and all(r.ok for r in results):
        results.append(_get(url, health))
    if not results:
        return TryResult(ok=False, detail="nothing to check")
    return TryResult(ok=all(r.ok for r in results), detail="; ".join(r.detail for r in results))


def say_progress(line: str) -> None:
    """The provider's stderr reaches deployctl as an engine event; PROGRESS marks the line as ours."""
    print(f"{PROGRESS} {line}", file=sys.stderr, flush=True)


def run_health(target: HealthTarget, health: HealthSettings) -> HealthResult:
    label = f"{target.env}/{target.app} {target.commit[:12]}"
    return run_tries(health, lambda: check_once(target, health), say_progress, label)


def failure_line(target: HealthTarget, result: HealthResult) -> str:
    return (f"{target.env}/{target.app}: health check of {target.commit[:12]} failed after {result.tries} "
            f"tr{'y' if result.tries == 1 else 'ies'}: {result.detail}")


def progress_of(message: str) -> str | None:
    """Our progress line inside an engine diagnostic message, or None."""
    for line in message.splitlines():
        if line.startswith(PROGRESS):
            return line[len(PROGRESS):].strip()
    return None


__all__ = ["PROGRESS", "HealthResult", "HealthSettings", "HealthTarget", "TryResult", "check_once", "ecs_verdict",
           "exit_verdict", "failure_line", "health_problem", "lambda_verdict", "progress_of", "run_health",
           "run_tries", "status_verdict"]
