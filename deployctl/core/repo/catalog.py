"""The app catalog `apps.yaml`: what each app is, where its code lives, how it deploys.

Kind-specific settings are validated here, in the pure core, so `deployctl check` refuses a bad
setting before the Pulumi program ever runs.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from deployctl.core.health.checks import HealthSettings, health_problem
from deployctl.core.kinds import awslimits
from deployctl.core.kinds.artifactnames import ssm_parameter
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.envconfig import ALL_SETTINGS, SECRET_STAND_IN, is_secret_setting, is_secure
from deployctl.core.repo.model import NAME_RE
from deployctl.core.repo.owners import Owner
from deployctl.core.repo.safegit import branch_problem, path_problem, repo_problem
from deployctl.core.repo.yamlfile import YamlError, error_text, load_yaml, validate
from deployctl.core.violations import Severity, Violation

CATALOG_FILE = "apps.yaml"
Name = Annotated[str, StringConstraints(pattern=NAME_RE.pattern)]


class Kind(StrEnum):
    LOCAL = "local"
    ECS_SERVICE = "ecs-service"
    LAMBDA = "lambda"
    STATIC_SITE = "static-site"


class _Settings(LazyModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str] = "local"

    health: HealthSettings | None = None
    """Checked after each update (deployctl/core/health/checks.py, probed by adapters/cloud/probes.py); a failure
    switches the app back."""

    @model_validator(mode="after")
    def _health_fits_kind(self) -> _Settings:
        if problem := health_problem(self.kind, self.health):
            raise ValueError(problem)
        return self

    def secret_problems(self, secret: tuple[str, ...], env: str, app: str) -> list[tuple[str, str]]:
        """(setting, what to do) for what this kind cannot do with these settings stored encrypted."""
        return []


AppSettings = _Settings
"""Every kind's settings derive from it: what a component is given (components/spec.py)."""


class LocalSettings(_Settings):
    keep_releases: int = Field(5, ge=1, le=1000)


LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                           2922, 3288, 3653]
"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy)."""


class EcsServiceSettings(_Settings):
    kind: ClassVar[str] = "ecs-service"

    def secret_variables(self, secret: tuple[str, ...]) -> list[str]:
        """The environment variables stored encrypted: each becomes an SSM parameter the task names."""
        return sorted(k for k in self.environment if is_secret_setting(secret, f"environment.{k}"))

    def secret_problems(self, secret: tuple[str, ...], env: str, app: str) -> list[tuple[str, str]]:
        # `secret` names them also where `check` sees the settings with the encrypted values left out
        named = {p.split(".")[1] for p in secret if p.startswith("environment.")}
        whole = any(p in ("environment", "*") for p in secret)
        names = sorted(named | set(self.secret_variables(secret)))
        if self.execution_role_arn or is_secret_setting(secret, "execution_role_arn") or not (names or whole):
            return self.execution_role_problems(secret)
        return [("execution_role_arn", f"app '{app}' has secret environment variables ({', '.join(names or ['all'])}), "
                 "which ECS reads from SSM with the task's execution role: set its execution_role_arn (allowed "
                 f"ssm:GetParameters on {ssm_parameter(env, app, '*')}) with kms:Decrypt on their key")]
    image_repository: str
    cluster: str
    cpu: int = 256
    memory: int = 512
    desired_count: int = Field(1, ge=0)
    container_port: int | None = None
    subnets: list[str] = []
    security_groups: list[str] = []
    assign_public_ip: bool = False
    execution_role_arn: str | None = None
    environment: dict[str, str] = {}
    logs: bool = True
    """Container output to CloudWatch (`awslogs`), in a log group the component creates per env and app."""
    log_retention_days: LogRetentionDays = 30
    circuit_breaker: bool = True
    """ECS's deployment circuit breaker, with rollback: a release whose tasks never get healthy is undone."""
    health_check_grace_period: int | None = Field(None, ge=0, le=2147483647)
    """Seconds ECS ignores failing load-balancer and container health checks after a task starts."""

    def execution_role_problems(self, secret: tuple[str, ...]) -> list[tuple[str, str]]:
        """Fargate refuses a task definition with awslogs or a private ECR image and no execution role."""
        if self.execution_role_arn or is_secret_setting(secret, "execution_role_arn"):
            return []
        needs = [why for why, needed in (("logs to CloudWatch (awslogs; or set logs: false)", self.logs),
                                         ("a private ECR image", ".dkr.ecr." in self.image_repository)) if needed]
        if not needs:
            return []
        return [("execution_role_arn", f"Fargate needs the task's execution role for {' and '.join(needs)}: set "
                 "execution_role_arn to a role with AmazonECSTaskExecutionRolePolicy")]

    # What AWS accepts (core/kinds/awslimits.py): refused here, so `check` names the line.
    @field_validator("cpu")
    @classmethod
    def _fargate_cpu(cls, cpu: int) -> int:
        return _refused(cpu, awslimits.fargate_cpu_problem(cpu))

    @field_validator("memory")
    @classmethod
    def _fargate_memory(cls, memory: int, info: ValidationInfo) -> int:
        if "cpu" in info.data and (problem := awslimits.fargate_memory_problem(info.data["cpu"], memory)):
            # judged with the cpu: unknown here when the cpu is stored encrypted (settings_violations)
            raise PydanticCustomError("value_error", "{error}", {"error": problem, "with": "cpu"})
        return memory

    @field_validator("container_port")
    @classmethod
    def _port(cls, port: int | None) -> int | None:
        return port if port is None else _refused(port, awslimits.in_range(port, awslimits.PORT_RANGE,
                                                                           "a container port", ""))

    @model_validator(mode="after")
    def _awsvpc_needs_subnets(self) -> EcsServiceSettings:
        if not self.subnets:  # located at `subnets`, which a default never is otherwise
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type=PydanticCustomError("value_error", "{error}", {"error": awslimits.AWSVPC_WITHOUT_SUBNETS}),
                loc=("subnets",), input=self.subnets)])
        return self


class LambdaSettings(_Settings):
    kind: ClassVar[str] = "lambda"
    role_arn: str
    bucket: str | None = None
    prefix: str = ""
    image_repository: str | None = None
    handler: str | None = None
    runtime: str | None = None
    memory_size: int = 128
    timeout: int = 30
    environment: dict[str, str] = {}
    ephemeral_storage: int | None = None
    """/tmp in MB; None leaves AWS's default (512)."""

    @model_validator(mode="after")
    def _one_source(self) -> LambdaSettings:
        if (self.bucket is None) == (self.image_repository is None):
            raise ValueError("set exactly one of 'bucket' (zip code) or 'image_repository' (image)")
        if self.bucket is not None and not (self.handler and self.runtime):
            raise ValueError("zip code needs 'handler' and 'runtime'")
        return self

    # What AWS accepts (core/kinds/awslimits.py): refused here, so `check` names the line.
    @field_validator("memory_size")
    @classmethod
    def _lambda_memory(cls, mb: int) -> int:
        return _refused(mb, awslimits.in_range(mb, awslimits.LAMBDA_MEMORY_MB, "a function's memory_size", " MB"))

    @field_validator("timeout")
    @classmethod
    def _lambda_timeout(cls, seconds: int) -> int:
        return _refused(seconds, awslimits.in_range(seconds, awslimits.LAMBDA_TIMEOUT_S, "a function's timeout",
                                                    " seconds"))

    @field_validator("runtime")
    @classmethod
    def _lambda_runtime(cls, runtime: str | None) -> str | None:
        return runtime if runtime is None else _refused(runtime, awslimits.lambda_runtime_problem(runtime))

    @field_validator("ephemeral_storage")
    @classmethod
    def _lambda_ephemeral_storage(cls, mb: int | None) -> int | None:
        return mb if mb is None else _refused(mb, awslimits.in_range(
            mb, awslimits.LAMBDA_EPHEMERAL_STORAGE_MB, "a function's ephemeral_storage (/tmp)", " MB"))


class StaticSiteSettings(_Settings):
    kind: ClassVar[str] = "static-site"
    bucket: str
    aliases: list[str] = []
    price_class: Literal["PriceClass_All", "PriceClass_200", "PriceClass_100"] = "PriceClass_100"
    default_root_object: str = "index.html"
    certificate_arn: str | None = None
    error_page: str | None = Field("/404.html", pattern=r"^/[^?#]*$")
    """Served with status 404 for a missing page (S3 behind origin access control answers 403 for a
    missing key, so both map to it); none: CloudFront passes S3's 403 on."""
    error_caching_seconds: int = Field(10, ge=0, le=31536000)
    """How long CloudFront caches that error answer: short, so a page added in the next deploy shows."""

    @field_validator("certificate_arn")
    @classmethod
    def _cloudfront_certificate(cls, arn: str | None) -> str | None:
        return arn if arn is None else _refused(arn, awslimits.cloudfront_certificate_problem(arn))


_T = TypeVar("_T")


def _refused(value: _T, problem: str | None) -> _T:
    """`value`, or the ValueError a validator raises to say `problem` at the setting's line."""
    if problem is not None:
        raise ValueError(problem)
    return value


SETTINGS: dict[Kind, type[_Settings]] = {
    Kind.LOCAL: LocalSettings,
    Kind.ECS_SERVICE: EcsServiceSettings,
    Kind.LAMBDA: LambdaSettings,
    Kind.STATIC_SITE: StaticSiteSettings,
}


_GIT_CHECKS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "repo": ("repository", repo_problem), "path": ("path", path_problem), "branch": ("branch", branch_problem)}
"""The catalog fields that reach git, the word an error names each by, and what checks it."""


class App(LazyModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind = Kind.LOCAL
    repo: str = Field(min_length=1)
    branch: str = "main"
    path: str | None = None
    depends_on: list[Name] = []
    group: Name | None = None
    owners: list[Owner] = []
    settings: dict[str, Any] = {}

    # Each value reaches a git command line: refused here, so `check` names apps.yaml:line.
    @field_validator("repo", "path", "branch")
    @classmethod
    def _safe_for_git(cls, value: str | None, info: ValidationInfo) -> str | None:
        word, problem_of = _GIT_CHECKS[info.field_name or ""]
        if value is not None and (problem := problem_of(value)) is not None:
            raise ValueError(f"{word} {value!r} {problem}")
        return value


class Catalog(LazyModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    apps: dict[Name, App] = {}
    platform_team: list[Owner] = []
    """Who owns the deploy repository as a whole: CODEOWNERS' catch-all rule (`*`), so a file nobody
    else owns (a new root `.py`, a `setup.py`) still needs their approval (report/codeowners.py)."""

    @field_validator("apps")
    @classmethod
    def _dependencies(cls, apps: dict[str, App]) -> dict[str, App]:
        """Every `depends_on` names another app, without a cycle; each problem located at the
        `depends_on` that causes it (a ValidationError raised here keeps its locations)."""
        problems = [(name, f"app '{name}' depends on itself; remove '{dep}' from its depends_on" if dep == name else
                     f"app '{name}' depends on unknown app '{dep}'; add '{dep}' to apps.yaml or remove it here")
                    for name, app in apps.items() for dep in app.depends_on if dep == name or dep not in apps]
        if not problems and (cycle := _find_cycle({n: a.depends_on for n, a in apps.items()})):
            problems = [(name, "depends_on has a cycle: " + " -> ".join(cycle)
                         + "; remove one of these dependencies so one app can deploy first") for name in cycle[:-1]]
        if problems:
            raise ValidationError.from_exception_data("Catalog", [
                InitErrorDetails(type=PydanticCustomError("value_error", "{error}", {"error": message}),
                                 loc=(name, "depends_on"), input=apps[name].depends_on)
                for name, message in problems])
        return apps

    def group_members(self, group: str) -> list[str]:
        return sorted(n for n, a in self.apps.items() if a.group == group)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """The first cycle (`[a, b, a]`), depth first in name order; iterative, so a chain as deep as
    the catalog is long never reaches Python's recursion limit."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        state[start] = 1
        path, pending = [start], [iter(graph.get(start, []))]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(graph.get(nxt, [])))
    return None


@lru_cache(maxsize=8)
def parse_catalog(text: str, file: str = CATALOG_FILE) -> Catalog:
    """Parse apps.yaml, or raise YamlError with file:line violations (rule `catalog`)."""
    data, source = load_yaml(text, file, "catalog")
    if data is None:
        data = {}
    return validate(Catalog, data, source, file, "catalog")


def merge_settings(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The env's overrides on top of the catalog's settings, key by key into every mapping both have
    (`environment`, `health`, ...): an env adding one variable keeps the catalog's others. A value
    that is not a mapping on both sides (a list, a text, one encrypted value) replaces the catalog's."""
    merged = dict(base)
    for key, value in overrides.items():
        old = merged.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and not is_secure(value):
            merged[key] = merge_settings(old, value)
        else:
            merged[key] = value
    return merged


def app_settings(app_name: str, app: App, overrides: dict[str, Any] | None) -> _Settings:
    """The app's settings for one env: the catalog's, with the env's overrides merged in deeply."""
    return SETTINGS[app.kind].model_validate(merge_settings(app.settings, overrides or {}))


def _without(value: Any, loc: tuple[Any, ...]) -> Any:
    """`value` without the stand-in for a secret on the way to `loc`."""
    if not loc or not isinstance(value, dict) or loc[0] not in value:
        return value
    if value[loc[0]] == SECRET_STAND_IN:
        return {k: v for k, v in value.items() if k != loc[0]}
    return {**value, loc[0]: _without(value[loc[0]], loc[1:])}


def settings_violations(app_name: str, app: App, overrides: dict[str, Any] | None, env: str, file: str,
                        where: Callable[[str], str | None] = lambda _key: None,
                        secret: tuple[str, ...] = ()) -> list[Violation]:
    """`invalid-settings` on the app's deploy file in `env`. `where(setting)` may say which file and
    line hold a setting (dotted: `health.url`; "" for the settings as a whole), named beside its
    problem; `secret` are the dotted paths stored encrypted, given in `overrides` as SECRET_STAND_IN
    (present, value unknown): the kind rules see them as set, and only the program, which decrypts
    them, can judge their values, so a problem with one of them alone (or a setting missing because
    the whole override is one secret) is not an error here."""
    def located(name: str, problem: str) -> str:  # "" is the settings as a whole
        return f"{name or 'settings'}: {problem}" + (f" ({at})" if (at := where(name)) else "")

    hidden = {p.partition(".")[0] for p in secret}

    def encrypted(e: Any) -> bool:  # a secret's own problem, or missing because its value is stored encrypted
        if e["loc"] and is_secret_setting(secret, ".".join(str(p) for p in e["loc"])):
            return True
        if (judged_with := e.get("ctx", {}).get("with")) and is_secret_setting(secret, judged_with):
            return True  # judged with another setting (Fargate memory with cpu) stored encrypted
        return e["type"] == "missing" and bool(e["loc"]) and (ALL_SETTINGS in hidden or str(e["loc"][0]) in hidden)

    problems: list[str] = []
    for _ in range(2):  # again without the stand-ins the model refused, so the kind rules still run
        try:
            settings = app_settings(app_name, app, overrides)
        except ValidationError as exc:
            errors = exc.errors()
            problems = [located(".".join(str(p) for p in e["loc"]), error_text(e)) for e in errors if not encrypted(e)]
            refused = [e["loc"] for e in errors if encrypted(e) and e["type"] != "missing"]
            if problems or not refused:
                break
            for loc in refused:
                overrides = _without(overrides, loc)
        else:
            problems = [located(name, problem) for name, problem in settings.secret_problems(secret, env, app_name)]
            break
    if not problems:
        return []
    return [Violation(
        rule="invalid-settings", severity=Severity.ERROR, file=file, env=env, app=app_name,
        message=f"settings of '{app_name}' ({app.kind}) in env '{env}' are invalid: {'; '.join(problems)}; "
        f"fix apps.yaml or the 'deploys:settings' override in Pulumi.{env}.yaml",
    )]


__all__ = ["CATALOG_FILE", "App", "Catalog", "Kind", "YamlError", "app_settings", "parse_catalog"]
