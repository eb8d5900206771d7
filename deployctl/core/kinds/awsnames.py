"""The AWS names the components choose, and the names two deployments would both claim.

Every name holds the env and the app, so two envs (or two apps) may share an ECS cluster, a bucket
or an account: the components read their names here, and `check` asks `name_collisions` whether two
(env, app) pairs still claim one name (a CloudFront alias written in both, or `a-b`+`c` and
`a`+`b-c`, which join to the same `a-b-c`). Pure: names from settings, nothing looked up in AWS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import NamedTuple

from deployctl.core.repo.catalog import AppSettings, EcsServiceSettings, LambdaSettings, StaticSiteSettings

# AWS's documented limits: ECS service names and task-definition families up to 255 letters, digits,
# '-' and '_'; Lambda function names 64 (of the same); origin access control names 64; a CloudFront
# comment 128 characters. Env and app names are 1-63 of a-z, 0-9 and '-' (core/model.NAME_RE).
ECS_NAME_MAX = 255
LAMBDA_NAME_MAX = 64
OAC_NAME_MAX = 64
COMMENT_MAX = 128
_DIGEST = 8


def aws_name(env: str, app: str, limit: int) -> str:
    """`<env>-<app>`, or when longer than `limit` the head of each and a digest of the whole, so a
    cut name still shows both and stays one per env and app (names that fit keep the name they
    always had)."""
    full = f"{env}-{app}"
    if len(full) <= limit:
        return full
    budget = limit - _DIGEST - 2
    env_len = min(len(env), max(budget // 2, budget - len(app)))
    digest = hashlib.sha256(full.encode()).hexdigest()[:_DIGEST]
    return f"{env[:env_len].rstrip('-')}-{app[: budget - env_len].rstrip('-')}-{digest}"


def ecs_service_name(env: str, app: str) -> str:
    """Unique per cluster, as ECS requires: two envs of an app in one cluster are two services."""
    return aws_name(env, app, ECS_NAME_MAX)


def task_family(env: str, app: str) -> str:
    return aws_name(env, app, ECS_NAME_MAX)


def lambda_function_name(env: str, app: str) -> str:
    return aws_name(env, app, LAMBDA_NAME_MAX)


def origin_access_control_name(env: str, app: str) -> str:
    return aws_name(env, app, OAC_NAME_MAX)


def distribution_comment(env: str, app: str, commit: str) -> str:
    """What the CloudFront console lists: the env, the app and the commit, within CloudFront's 128."""
    text = f"{env}/{app} at {commit}"
    return text if len(text) <= COMMENT_MAX else f"{env}/{app} at {commit[:12]}"[:COMMENT_MAX]


class Claim(NamedTuple):
    """A name one deployment takes, unique within `scope`; `setting` is the setting that writes it
    ("" when the name is the one chosen from the env and app)."""

    what: str
    scope: str
    name: str
    setting: str


def claims(env: str, app: str, settings: AppSettings) -> list[Claim]:
    """The names the app's component takes in `env` (SSM parameters are `/deployctl/<env>/<app>/…`,
    whose slashes keep them apart, so they are not listed)."""
    if isinstance(settings, EcsServiceSettings):
        return [Claim("ECS service", f"cluster '{settings.cluster}'", ecs_service_name(env, app), ""),
                Claim("task-definition family", "the account", task_family(env, app), "")]
    if isinstance(settings, LambdaSettings):
        return [Claim("Lambda function", "the account", lambda_function_name(env, app), "")]
    if isinstance(settings, StaticSiteSettings):
        return [Claim("origin access control", "the account", origin_access_control_name(env, app), ""),
                *(Claim("CloudFront alias", "CloudFront", alias.lower().rstrip("."), "aliases")
                  for alias in settings.aliases)]
    return []


class Collision(NamedTuple):
    """`claim` of (env, app) is also claimed by `others` (each an (env, app))."""

    env: str
    app: str
    claim: Claim
    others: tuple[tuple[str, str], ...]


def name_collisions(settings: Mapping[tuple[str, str], AppSettings]) -> list[Collision]:
    """Each (env, app)'s claim that another (env, app) also claims in the same scope: AWS would
    refuse the second (CNAMEAlreadyExists) or, worse, let one deployment overwrite the other's."""
    holders: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for (env, app), values in sorted(settings.items()):
        for claim in dict.fromkeys(claims(env, app, values)):
            holders.setdefault((claim.what, claim.scope, claim.name), []).append((env, app))
    out: list[Collision] = []
    for (env, app), values in sorted(settings.items()):
        for claim in dict.fromkeys(claims(env, app, values)):
            others = tuple(o for o in holders[(claim.what, claim.scope, claim.name)] if o != (env, app))
            if others:
                out.append(Collision(env, app, claim, others))
    return out
