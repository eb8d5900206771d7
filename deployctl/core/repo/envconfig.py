"""An environment's settings, as written under the project's namespace in `Pulumi.<env>.yaml`.

The same model and the same parse serve deployctl and the Pulumi program (which takes from
`pulumi.Config` only the decrypted values of encrypted settings), so both agree on what an env is.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import NAME_RE
from deployctl.core.repo.owners import Owner
from deployctl.core.repo.yamlfile import YamlError, line_of, load_yaml, validate
from deployctl.core.violations import Severity, Violation

PROJECT = "deploys"
"""The Pulumi project name, and so the config namespace: `deploys:protected`."""
DEPLOYMENTS_DIR = ".deployments"
"""Where every env's deployRoot lives, inside the deploy repo, unless the env allows another place."""
ALL_SETTINGS = "*"
"""In `secret_settings`: every setting of the app is secret (the whole override was set --secret)."""
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def stack_config_file(env: str) -> str:
    return f"Pulumi.{env}.yaml"


class FreezeWindow(LazyModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> FreezeWindow:
        if self.end <= self.start:
            raise ValueError("a freeze window must end after it starts")
        return self

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def deploy_root_problem(value: str, allow_external: bool) -> str | None:
    """Why a deployRoot may not be used, judged on the text alone (the program also resolves links).

    Components delete what sits under `<deployRoot>/<app>`; anywhere but `.deployments/<...>`, an
    app named `stacks` or `deploys` would be the repository's own source.
    """
    if not value or _CONTROL_RE.search(value):
        return "is empty or contains a control character"
    if allow_external:
        return None
    norm = posixpath.normpath(value.replace("\\", "/"))
    if posixpath.isabs(norm) or not norm.startswith(DEPLOYMENTS_DIR + "/"):
        return (f"is outside the deploy repo's {DEPLOYMENTS_DIR}/ folder; use {DEPLOYMENTS_DIR}/<env>, "
                "or set deploys:allowExternalRoot: true if this env really deploys elsewhere")
    return None


def deploy_root_of(env: str, settings: EnvSettings) -> str:
    """The env's deploy root as written (its default when unset), normalised: `.`, `..`, doubled and
    trailing slashes gone, so two ways of writing one folder compare equal."""
    return posixpath.normpath((settings.deploy_root or f"{DEPLOYMENTS_DIR}/{env}").replace("\\", "/"))


def roots_overlap(one: str, other: str) -> bool:
    """Equal, or one inside the other (both normalised by deploy_root_of)."""
    def inside(inner: str, outer: str) -> bool:
        if outer == ".":
            return not posixpath.isabs(inner) and inner != ".." and not inner.startswith("../")
        return inner.startswith(outer.rstrip("/") + "/")
    return one == other or inside(one, other) or inside(other, one)


def resolve_deploy_root(root: Path, env: str, settings: EnvSettings) -> Path:
    """The env's deploy root as an absolute path, links resolved; ValueError when it leaves
    `<root>/.deployments/` (through `..` or a symlink) and the env does not allow that."""
    value = settings.deploy_root or f"{DEPLOYMENTS_DIR}/{env}"
    if (problem := deploy_root_problem(value, settings.allow_external_root)) is not None:
        raise ValueError(f"env '{env}': deploys:deployRoot '{value}' {problem}")
    path = (root / value).resolve()
    base = (root / DEPLOYMENTS_DIR).resolve()
    if not settings.allow_external_root and (path == base or not path.is_relative_to(base)):
        raise ValueError(f"env '{env}': deploys:deployRoot '{value}' resolves to {path}, outside {base} "
                         "(a symbolic link?); point it inside, or set deploys:allowExternalRoot: true")
    return path


def _config_bool(value: Any) -> Any:
    """A yes-or-no setting: `true`/`false`, or the strings `pulumi config set` writes ("true"). Any
    other text ("yes", "1") would mean one thing to pydantic and another to Pulumi: refused."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise PydanticCustomError("value_error", "{error}", {
        "error": f"{value!r} is not true or false; write true or false (pulumi config set writes \"true\")"})


ConfigBool = Annotated[bool, BeforeValidator(_config_bool)]

_DURATION_RE = re.compile(r"^(?:(?P<d>\d{1,4})d)?(?:(?P<h>\d{1,5})h)?(?:(?P<m>\d{1,6})m)?(?:(?P<s>\d{1,7})s)?$")


def parse_duration(value: Any) -> timedelta:
    """`2h`, `30m`, `0s`, `1h30m`, `1d`: a number with its unit, so `2` (hours? minutes?) is never
    guessed. ValueError saying what to write."""
    text = value.strip() if isinstance(value, str) else None
    match = _DURATION_RE.match(text) if text else None
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"{value!r} is not a duration; write a number with its unit: 30m, 2h, 1h30m, 1d or 0s")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0),
                     seconds=parts.get("s", 0))


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("value_error", "{error}", {"error": str(exc)}) from None


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for people: `2h`, `1h30m`, `0s`."""
    seconds = int(value.total_seconds())
    out = "".join(f"{n}{unit}" for n, unit in ((seconds // 86400, "d"), (seconds % 86400 // 3600, "h"),
                                                (seconds % 3600 // 60, "m"), (seconds % 60, "s")) if n)
    return out or "0s"


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _auto_deploy(value: Any) -> Any:
    """`true`/`false` (every app the env deploys, or none), or a list of app names: anything else
    (a lone name, a mapping) is refused rather than read one way or another."""
    if isinstance(value, bool) or value in ("true", "false"):
        return _config_bool(value)
    if isinstance(value, list):
        bad = [v for v in value if not isinstance(v, str) or not NAME_RE.match(v)]
        if bad:
            raise PydanticCustomError("value_error", "{error}", {
                "error": f"{bad[0]!r} is not an app name; list apps by their names in apps.yaml"})
        if len(set(value)) != len(value):
            twice = next(v for v in value if value.count(v) > 1)
            raise PydanticCustomError("value_error", "{error}", {
                "error": f"'{twice}' is listed twice; list each app once"})
        if not value:
            raise PydanticCustomError("value_error", "{error}", {
                "error": "the list of apps is empty; list the apps to deploy automatically, or write false"})
        return value
    raise PydanticCustomError("value_error", "{error}", {
        "error": f"{value!r} is neither true, false nor a list of apps; write true (every app this env deploys) "
                 "or a list such as [api, web]"})


class AutoPromote(LazyModel):
    """`deploys:autoPromote: {soak: 2h}`: propose what the upstream env has run, healthy, this long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    soak: Duration
    """How long the commit must have run upstream after its update succeeded (its health check passed)."""


def _policy_error(loc: str, value: Any, message: str) -> ValidationError:
    return ValidationError.from_exception_data("EnvSettings", [InitErrorDetails(
        type=PydanticCustomError("value_error", "{error}", {"error": message}), loc=(loc,), input=value)])


class EnvSettings(LazyModel):
    """The one validation of an env's settings: `check` (parse_stack_config) and the program
    (program_settings, over the same parse) judge the same values with it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    protected: ConfigBool = False
    promote_from: str | None = Field(None, alias="promoteFrom", pattern=NAME_RE.pattern)
    reviewers: list[Owner] = []
    freeze: list[FreezeWindow] = []
    allow_external_root: ConfigBool = Field(False, alias="allowExternalRoot")
    deploy_root: str | None = Field(None, alias="deployRoot")
    settings: dict[str, dict[str, Any]] = {}
    auto_rollback: ConfigBool = Field(True, alias="autoRollback")
    """Switch an app back when its health check fails after up (deployctl/adapters/pulumi/switchback.py)."""
    auto_deploy: Annotated[bool | list[str], BeforeValidator(_auto_deploy)] = Field(False, alias="autoDeploy")
    """`deployctl propose`: each app's newest release-branch commit that passes every safeguard here
    (True: every app the env deploys; a list: those apps). core/deliver/propose.py."""
    auto_promote: AutoPromote | None = Field(None, alias="autoPromote")
    """`deployctl propose`: what `promoteFrom` has run, healthy, for at least `soak`."""
    auto_merge: ConfigBool = Field(False, alias="autoMerge")
    """A proposed PR merges itself once its required checks pass (GitHub's auto-merge): unprotected envs only."""

    @model_validator(mode="after")
    def _policy_fits_the_env(self) -> EnvSettings:
        """autoPromote needs an env to promote from; autoMerge would merge a protected env's deploy
        without the review its protection requires."""
        if self.auto_promote is not None and not self.promote_from:
            raise _policy_error("autoPromote", self.auto_promote, (
                f"this env has no {PROJECT}:promoteFrom, so there is nothing to promote from; set "
                f"{PROJECT}:promoteFrom, or use {PROJECT}:autoDeploy"))
        if self.auto_promote is not None and self.auto_deploy:
            raise _policy_error("autoDeploy", self.auto_deploy, (
                f"this env has {PROJECT}:autoPromote, and one PR per app cannot be both the branch's newest commit "
                f"and what the upstream env ran; keep one of {PROJECT}:autoDeploy and {PROJECT}:autoPromote"))
        if self.auto_merge and self.protected:
            raise _policy_error("autoMerge", self.auto_merge, (
                "a protected env's deploys wait for its reviewers' approval, never merge themselves; remove "
                f"{PROJECT}:autoMerge (proposals are still opened), or {PROJECT}:protected"))
        return self

    def auto_deploys(self, app: str) -> bool:
        """Is `app` in this env's autoDeploy policy?"""
        return self.auto_deploy is True or (isinstance(self.auto_deploy, list) and app in self.auto_deploy)

    @model_validator(mode="after")
    def _protected_has_reviewers(self) -> EnvSettings:
        """A protected env without reviewers would have no one to approve its deploys: CODEOWNERS
        would fall back to the app owners. Located at `reviewers` when written, else at `protected`."""
        if self.protected and not self.reviewers:
            where = "reviewers" if "reviewers" in self.model_fields_set else "protected"
            raise ValidationError.from_exception_data("EnvSettings", [InitErrorDetails(
                type=PydanticCustomError("value_error", "{error}", {"error": (
                    "a protected env needs reviewers, who alone approve its deploys; add "
                    f"{PROJECT}:reviewers (@user, @org/team or an email), or remove {PROJECT}:protected")}),
                loc=(where,), input=self.reviewers if where == "reviewers" else self.protected)])
        return self

    @field_validator("deploy_root")
    @classmethod
    def _inside_deployments(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (problem := deploy_root_problem(value, bool(info.data.get("allow_external_root")))):
            raise ValueError(f"'{value}' {problem}")
        return value

    def freeze_at(self, moment: datetime) -> FreezeWindow | None:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return next((w for w in self.freeze if w.contains(moment)), None)


class StackConfig(LazyModel):
    """What deployctl needs from a stack config: our settings, and which of them are stored encrypted."""

    model_config = ConfigDict(frozen=True)

    env: str
    settings: EnvSettings
    secret_settings: dict[str, tuple[str, ...]] = {}
    """Per app, the dotted paths of its `deploys:settings` values stored encrypted (`secure:`)."""
    promote_from_line: int | None = None


def is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _secure_paths(value: Any, prefix: str = "") -> list[str]:
    if is_secure(value):
        return [prefix or ALL_SETTINGS]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _secure_paths(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secure_paths(v, f"{prefix}.{i}" if prefix else str(i))]
    return []


def secret_settings_of(settings: Any) -> dict[str, tuple[str, ...]]:
    """Which settings are secret, per app: `{api: ("environment.TOKEN",)}`; an app's whole override
    set as one secret makes all its settings secret (`*`). (`deploys:settings` encrypted as a whole is
    refused by parse_stack_config.)"""
    if not isinstance(settings, dict):
        return {}
    out = {str(app): tuple(_secure_paths(value)) for app, value in settings.items()}
    return {app: paths for app, paths in out.items() if paths}


def strip_secure(value: Any) -> Any:
    """The value without its encrypted leaves, which only the program (decrypting them) can judge."""
    if isinstance(value, dict):
        return {k: strip_secure(v) for k, v in value.items() if not is_secure(v)}
    if isinstance(value, list):
        return [strip_secure(v) for v in value if not is_secure(v)]
    return value


SECRET_STAND_IN = "https://secret.invalid/"
"""What `check` puts where a setting is stored encrypted: a value known to be present, which it
cannot decrypt. A text that passes what a text or a URL must pass, so the kind rules see the setting
as set; a problem with it alone (not a number, say) only the program, which decrypts it, can judge."""


def stand_in_secure(value: Any) -> Any:
    """The value with each encrypted leaf replaced by SECRET_STAND_IN."""
    if is_secure(value):
        return SECRET_STAND_IN
    if isinstance(value, dict):
        return {k: stand_in_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stand_in_secure(v) for v in value]
    return value


def is_secret_setting(paths: tuple[str, ...] | list[str], path: str) -> bool:
    """Is the setting at dotted `path` (or anything around it) secret?"""
    return any(p == ALL_SETTINGS or path == p or path.startswith(p + ".") or p.startswith(path + ".")
               for p in paths)


def unknown_policy_apps(stack: StackConfig, text: str | None, apps: Collection[str]) -> list[Violation]:
    """`stack-config` for each app `deploys:autoDeploy` lists that the catalog lacks (a misspelt
    `apii` would silently never be proposed), at its line, with the closest app's name."""
    listed = stack.settings.auto_deploy if isinstance(stack.settings.auto_deploy, list) else []
    if all(app in apps for app in listed):
        return []
    # only for the message's hint, and only on this error path: the program never imports it otherwise
    # (core/repo/programpaths.py lists what the program imports)
    from deployctl.core.repo.names import did_you_mean

    return [Violation(
        rule="stack-config", severity=Severity.ERROR, file=stack_config_file(stack.env), env=stack.env,
        line=line_of(text, ("config", f"{PROJECT}:autoDeploy", i)) if text else None,
        message=f"{PROJECT}:autoDeploy lists app '{app}', which is not in apps.yaml, so it would never be proposed; "
        "fix the name, or remove it from the list" + did_you_mean(app, apps),
    ) for i, app in enumerate(listed) if app not in apps]


def promotion_cycle(upstream: dict[str, str | None]) -> list[str] | None:
    """The first `promoteFrom` cycle (e.g. staging -> production -> staging), or None."""
    for start in sorted(upstream):
        path, env = [start], upstream.get(start)
        while env is not None and env in upstream:
            if env in path:
                return [*path[path.index(env):], env]
            path.append(env)
            env = upstream.get(env)
    return None


@lru_cache(maxsize=256)
def parse_stack_config(env: str, text: str) -> StackConfig:
    """Parse `Pulumi.<env>.yaml`; raise YamlError (rule `stack-config`) with file:line."""
    file = stack_config_file(env)
    data, source = load_yaml(text, file, "stack-config")
    data = {} if data is None else data
    config = data.get("config") if isinstance(data, dict) else data
    if not isinstance(data, dict) or not isinstance(config, dict | None):
        raise YamlError([Violation(  # Pulumi would refuse it, or read none of it: never silently nothing
            rule="stack-config", severity=Severity.ERROR, file=file,
            line=line_of(source, ("config",)) if isinstance(data, dict) else 1,
            message=("'config:' is not a mapping" if isinstance(data, dict) else "the file is not a mapping")
            + f"; write it as 'config:' holding '{PROJECT}:<setting>: <value>' lines (see the README)",
        )])
    ours: dict[str, Any] = {}
    for key, value in (config or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace == PROJECT and name:
            ours[name] = value
    if is_secure(ours.get("settings")):
        raise YamlError([Violation(
            rule="stack-config", severity=Severity.ERROR, file=file,
            line=line_of(source, ("config", f"{PROJECT}:settings")),
            message=f"{PROJECT}:settings is encrypted as a whole, so nothing can tell which app a setting is for; "
                    f"encrypt each value instead: pulumi config set --secret --path "
                    f"'{PROJECT}:settings.<app>.<setting>' <value>",
        )])
    settings = validate(
        EnvSettings, ours, source, file, "stack-config",
        lambda loc: ("config", f"{PROJECT}:{loc[0]}", *loc[1:]) if loc else ("config",),
    )
    line = line_of(source, ("config", f"{PROJECT}:promoteFrom")) if settings.promote_from else None
    return StackConfig(env=env, settings=settings, secret_settings=secret_settings_of(ours.get("settings")),
                       promote_from_line=line)


def _with_decrypted(written: Any, decrypted: Any, path: str) -> Any:
    """`written` (as the file holds it) with each encrypted leaf replaced by Pulumi's decrypted value
    at the same place; every other value stays the file's own, as `check` judged it."""
    if is_secure(written):
        if decrypted is None:
            raise ValueError(f"{path} is encrypted in the file, but Pulumi's config holds no value there")
        return decrypted
    if not _secure_paths(written):
        return written
    if isinstance(written, dict) and isinstance(decrypted, dict):
        return {k: _with_decrypted(v, decrypted.get(k), f"{path}.{k}") for k, v in written.items()}
    if isinstance(written, list) and isinstance(decrypted, list) and len(written) == len(decrypted):
        return [_with_decrypted(v, d, f"{path}.{i}") for i, (v, d) in enumerate(zip(written, decrypted, strict=True))]
    raise ValueError(f"{path} holds encrypted values, but Pulumi's config does not hold the same shape there")


def program_settings(stack: StackConfig, decrypted: Any) -> EnvSettings:
    """The env's settings inside the Pulumi program: the very values `check` validated (the same
    parse of `Pulumi.<env>.yaml` and the same model, so what check accepts the program accepts), with
    each encrypted app setting as Pulumi decrypted it (`decrypted`: `pulumi.Config(PROJECT)
    .get_object("settings")`). ValueError naming settings, never a value, when they do not fit."""
    if not stack.secret_settings:
        return stack.settings
    merged = _with_decrypted(stack.settings.settings, decrypted, f"{PROJECT}:settings")
    try:
        typed = EnvSettings.model_validate({"settings": merged}).settings
    except ValidationError as exc:  # pydantic's own text would show the decrypted input
        raise ValueError("; ".join(f"{PROJECT}:{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                   for e in exc.errors())) from None
    return stack.settings.model_copy(update={"settings": typed})
