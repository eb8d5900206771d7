"""An environment's settings, as written under the project's namespace in `Pulumi.<env>.yaml`.

The same model serves deployctl (reading the YAML file) and the Pulumi program (reading
`pulumi.Config`), so both agree on what an env is.
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from deployctl.core.lazymodel import LazyModel
from deployctl.core.model import NAME_RE
from deployctl.core.owners import Owner
from deployctl.core.violations import Severity, Violation
from deployctl.core.yamlfile import YamlError, line_of, load_yaml, validate

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


class EnvSettings(LazyModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    protected: bool = False
    promote_from: str | None = Field(None, alias="promoteFrom", pattern=NAME_RE.pattern)
    reviewers: list[Owner] = []
    freeze: list[FreezeWindow] = []
    allow_external_root: bool = Field(False, alias="allowExternalRoot")
    deploy_root: str | None = Field(None, alias="deployRoot")
    settings: dict[str, dict[str, Any]] = {}
    auto_rollback: bool = Field(True, alias="autoRollback")
    """Switch an app back when its health check fails after up (deployctl/adapters/switchback.py)."""

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


def is_secret_setting(paths: tuple[str, ...] | list[str], path: str) -> bool:
    """Is the setting at dotted `path` (or anything around it) secret?"""
    return any(p == ALL_SETTINGS or path == p or path.startswith(p + ".") or p.startswith(path + ".")
               for p in paths)


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
    data = data or {}
    if not isinstance(data, dict):
        data = {"config": data}
    config = data.get("config") or {}
    ours: dict[str, Any] = {}
    if isinstance(config, dict):
        for key, value in config.items():
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


_OBJECT_KEYS = ("reviewers", "freeze", "settings", "allowExternalRoot")


def env_settings_from_pulumi(config: Any) -> EnvSettings:
    """Build EnvSettings inside the Pulumi program from `pulumi.Config(PROJECT)`.

    Plain strings are read with `get`, structured values with `get_object`, so every value means
    what it means in the YAML file (and secrets are decrypted by Pulumi itself).
    """
    values: dict[str, Any] = {}
    for key in ("protected", "promoteFrom", "deployRoot", *_OBJECT_KEYS):
        value = config.get_object(key) if key in _OBJECT_KEYS or key == "protected" else config.get(key)
        if value is not None:
            values[key] = value
    return EnvSettings.model_validate(values)
