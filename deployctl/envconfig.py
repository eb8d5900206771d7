"""An environment's settings, as written under the project's namespace in `Pulumi.<env>.yaml`.

The same model serves deployctl (reading the YAML file) and the Pulumi program (reading
`pulumi.Config`), so both agree on what an env is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from deployctl.model import NAME_RE
from deployctl.yamlfile import load_yaml, validate

PROJECT = "deploys"
"""The Pulumi project name, and so the config namespace: `deploys:protected`."""


def stack_config_file(env: str) -> str:
    return f"Pulumi.{env}.yaml"


class FreezeWindow(BaseModel):
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


class EnvSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    protected: bool = False
    promote_from: str | None = Field(None, alias="promoteFrom", pattern=NAME_RE.pattern)
    reviewers: list[str] = []
    freeze: list[FreezeWindow] = []
    deploy_root: str | None = Field(None, alias="deployRoot")
    settings: dict[str, dict[str, Any]] = {}
    auto_rollback: bool = Field(True, alias="autoRollback")
    """Switch an app back when its health check fails after up (deployctl/switchback.py)."""

    def freeze_at(self, moment: datetime) -> FreezeWindow | None:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return next((w for w in self.freeze if w.contains(moment)), None)


class StackConfig(BaseModel):
    """What deployctl needs from a stack config: our settings and whether it has secrets."""

    model_config = ConfigDict(frozen=True)

    env: str
    settings: EnvSettings
    secret_keys: tuple[str, ...] = ()


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
    secret_keys = []
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(value, dict) and set(value) == {"secure"}:
                secret_keys.append(str(key))
            namespace, _, name = str(key).partition(":")
            if namespace == PROJECT and name:
                ours[name] = value
    settings = validate(
        EnvSettings, ours, source, file, "stack-config",
        lambda loc: ("config", f"{PROJECT}:{loc[0]}", *loc[1:]) if loc else ("config",),
    )
    return StackConfig(env=env, settings=settings, secret_keys=tuple(secret_keys))


_OBJECT_KEYS = ("reviewers", "freeze", "settings")


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
