"""The health probes: one try of an app's check, at the edge (a shell, HTTP, ECS and Lambda through
boto3), judged by the pure verdicts of core/health/checks.py; and the run of every try inside the engine.

Each probe turns a failure to answer (a timeout, a refused connection, a boto3 error) into a failed
try, never an exception: the retry loop decides.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from deployctl.core.health.checks import (
    OUTPUT_TAIL,
    HealthResult,
    HealthSettings,
    HealthTarget,
    TryResult,
    ecs_verdict,
    exit_verdict,
    lambda_verdict,
    run_tries,
    site_verdict,
    status_verdict,
)
from deployctl.core.health.healthmessage import progress_line
from deployctl.core.repo.model import short


def _get(url: str, health: HealthSettings) -> TryResult:
    import httpx

    try:
        resp = httpx.get(url, timeout=health.timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return TryResult(ok=False, detail=f"GET {url}: {type(exc).__name__}")
    return status_verdict(resp.status_code, health.expect_status)


def _shell(command: str, workdir: str, health: HealthSettings) -> TryResult:
    """The command in its own process group, so a timeout also ends whatever it started."""
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


def _invoke(target: HealthTarget, health: HealthSettings) -> dict[str, Any]:
    """The alias invoked with the payload; its answer with the `Payload` stream read into bytes."""
    answer = dict(_boto("lambda", health).invoke(FunctionName=target.function, Qualifier=target.alias,
                                                 Payload=json.dumps(health.payload or {}).encode()))
    payload = answer.get("Payload")
    if payload is not None and hasattr(payload, "read"):
        answer["Payload"] = payload.read()
    return answer


def check_once(target: HealthTarget, health: HealthSettings) -> TryResult:
    """One try of the kind's check (every part must pass)."""
    results: list[TryResult] = []
    try:
        if target.kind == "local" and health.command:
            results.append(_shell(health.command, target.workdir or ".", health))
        elif target.kind == "ecs-service":
            answer = _boto("ecs", health).describe_services(cluster=target.cluster, services=[target.service])
            results.append(ecs_verdict(answer, target.service or "", target.task_definition))
        elif target.kind == "lambda":
            results.append(lambda_verdict(_invoke(target, health), target.function_version))
        elif target.kind == "static-site" and target.distribution and target.origin_path:
            answer = _boto("cloudfront", health).get_distribution(Id=target.distribution)
            results.append(site_verdict(answer, target.origin_path))
    except Exception as exc:  # boto3 errors and network failures are a failed try, not a crash
        results.append(TryResult(ok=False, detail=f"{type(exc).__name__}: {str(exc)[:OUTPUT_TAIL]}"))
    url = health.url or target.url
    if url and all(r.ok for r in results):
        results.append(_get(url, health))
    if not results:
        return TryResult(ok=False, detail="nothing to check")
    return TryResult(ok=all(r.ok for r in results), detail="; ".join(r.detail for r in results))


def say_progress(line: str) -> None:
    """The provider's stderr reaches deployctl as an engine event; progress_line marks the line as ours."""
    print(progress_line(line), file=sys.stderr, flush=True)


PROGRESS_EVERY = 5.0
"""Seconds between the lines that say a check still waits (a try that runs, or the pause before the
next): a 25-second try said nothing until it ended, and a silent deploy looks frozen."""


@contextlib.contextmanager
def ticking(say: Callable[[str], None], text: Callable[[float], str],
            every: float = PROGRESS_EVERY) -> Iterator[None]:
    """Say `text(seconds so far)` every `every` seconds while the block runs (from a daemon thread,
    stopped and joined before the block's own result is said)."""
    stop = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not stop.wait(every):
            say(text(time.monotonic() - started))

    thread = threading.Thread(target=tick, name="health-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_health(target: HealthTarget, health: HealthSettings, every: float = PROGRESS_EVERY) -> HealthResult:
    """Every try of the app's check, a progress line each, `interval` apart; while a try runs or the
    pause before the next lasts, a line every `every` seconds says so."""
    label = f"{target.env}/{target.app} {short(target.commit)}"
    count = 0

    def once() -> TryResult:
        nonlocal count
        count += 1
        n = count
        with ticking(say_progress, lambda s: f"{label}: health try {n}/{health.tries}: still running after "
                     f"{s:.0f} s (timeout {health.timeout:g} s)", every):
            return check_once(target, health)

    def pause(seconds: float) -> None:
        with ticking(say_progress, lambda s: f"{label}: health try {count + 1}/{health.tries} in "
                     f"{max(seconds - s, 0):.0f} s", every):
            time.sleep(seconds)

    return run_tries(health, once, say_progress, label, pause)


__all__ = ["PROGRESS_EVERY", "check_once", "run_health", "say_progress", "ticking"]
