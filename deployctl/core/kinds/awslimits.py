"""What AWS accepts for the settings of the AWS kinds, so `deployctl check` refuses at file:line what
`pulumi preview` or `up` would otherwise only learn from an API error.

Each function returns the problem in words that say what AWS accepts, or None; the settings models
(core/repo/catalog.py) call them from their validators. Pure data: the core imports no AWS SDK.
"""

from __future__ import annotations

import re

LAMBDA_MEMORY_MB = (128, 10240)
LAMBDA_TIMEOUT_S = (1, 900)
LAMBDA_EPHEMERAL_STORAGE_MB = (512, 10240)

LAMBDA_RUNTIMES = frozenset({
    "custom",
    "dotnet8", "dotnet10",
    "java8.al2", "java8.al2023", "java11", "java11.al2023", "java17", "java17.al2023", "java21", "java25",
    "nodejs20.x", "nodejs22.x", "nodejs24.x", "nodejs26.x",
    "provided.al2", "provided.al2023",
    "python3.10", "python3.11", "python3.12", "python3.13", "python3.14", "python3.15",
    "ruby3.3", "ruby3.4", "ruby4.0",
})
"""The Lambda runtimes a function may be created with: pinned here (the core reads no SDK at check
time), as botocore's service model for lambda lists them (`shape_for("Runtime").enum`) minus
LAMBDA_DEPRECATED_RUNTIMES; tests/test_aws_settings.py keeps the two equal, so a botocore upgrade
that adds a runtime fails that test until the runtime is added here."""

LAMBDA_DEPRECATED_RUNTIMES = frozenset({
    "dotnet6", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
    "go1.x", "java8",
    "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
    "nodejs16.x", "nodejs18.x",
    "provided",
    "python2.7", "python3.6", "python3.7", "python3.8", "python3.9",
    "ruby2.5", "ruby2.7", "ruby3.2",
})
"""Runtimes botocore still names but AWS's runtime deprecation table lists as deprecated, past the
date from which Lambda refuses to create a function with them."""

FARGATE_MEMORY_MB: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
"""The task sizes Fargate offers: CPU units -> the memory (MiB) it may be paired with (AWS's
"Task CPU and memory" table for Fargate)."""

_FARGATE_STEPS = {256: "512, 1024 or 2048", 512: "1024 to 4096 in steps of 1024", 1024: "2048 to 8192 in steps of 1024",
                  2048: "4096 to 16384 in steps of 1024", 4096: "8192 to 30720 in steps of 1024",
                  8192: "16384 to 61440 in steps of 4096", 16384: "32768 to 122880 in steps of 8192"}

PORT_RANGE = (1, 65535)
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
_ACM_ARN = re.compile(r"arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[A-Za-z0-9-]+")


def in_range(value: int, limits: tuple[int, int], what: str, unit: str) -> str | None:
    low, high = limits
    if low <= value <= high:
        return None
    return f"{value} is outside what AWS accepts for {what}: {low} to {high}{unit}"


def lambda_runtime_problem(runtime: str) -> str | None:
    if runtime in LAMBDA_RUNTIMES:
        return None
    why = "a deprecated runtime AWS no longer creates functions with" if runtime in LAMBDA_DEPRECATED_RUNTIMES else (
        "not a Lambda runtime")
    return f"{runtime!r} is {why}; AWS accepts: {', '.join(sorted(LAMBDA_RUNTIMES))}"


def fargate_cpu_problem(cpu: int) -> str | None:
    if cpu in FARGATE_MEMORY_MB:
        return None
    return f"{cpu} CPU units is not a Fargate task size; AWS offers {', '.join(map(str, FARGATE_MEMORY_MB))}"


def fargate_memory_problem(cpu: int, memory: int) -> str | None:
    """None also for a cpu Fargate does not offer: that is the cpu's own problem."""
    if cpu not in FARGATE_MEMORY_MB or memory in FARGATE_MEMORY_MB[cpu]:
        return None
    return (f"{memory} MiB with cpu {cpu} is not a task size Fargate offers; with cpu {cpu} AWS accepts memory "
            f"{_FARGATE_STEPS[cpu]} (MiB)")


AWSVPC_WITHOUT_SUBNETS = ("is empty: a Fargate service runs in network mode awsvpc, for which ECS requires a network "
                          "configuration with at least one subnet; list the subnets its tasks run in")


def cloudfront_certificate_problem(arn: str) -> str | None:
    match = _ACM_ARN.fullmatch(arn)
    if match is None:
        return (f"{arn!r} is not an ACM certificate ARN; CloudFront takes "
                f"arn:aws:acm:{CLOUDFRONT_CERTIFICATE_REGION}:<account>:certificate/<id>")
    if match["region"] != CLOUDFRONT_CERTIFICATE_REGION:
        return (f"the certificate is in {match['region']}, and CloudFront only uses ACM certificates in "
                f"{CLOUDFRONT_CERTIFICATE_REGION}; request or import it in {CLOUDFRONT_CERTIFICATE_REGION}")
    return None
