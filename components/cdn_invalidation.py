"""A CloudFront cache invalidation on every origin switch of a `static-site` (deploy or rollback).

CloudFront caches by the viewer's path (`/index.html`), not by the origin path, so switching the
origin to `/<app>/<commit>` alone lets edges serve the old site until their TTLs run out (a day by
default). pulumi-aws has no invalidation resource; this dynamic resource calls CloudFront's
CreateInvalidation through boto3 (already a dependency; no extra plugin or CLI on the runner) with
the runner's AWS credentials, whenever the origin path or the distribution changes.
"""

from __future__ import annotations

import uuid
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

ALL_PATHS = ["/*"]
"""One wildcard path: CloudFront counts it as one path of the monthly free 1,000."""
_SWITCHED_BY = ("distribution_id", "origin_path")


def invalidate(distribution_id: str, paths: list[str], client: Any = None) -> dict[str, Any]:
    """Ask CloudFront to drop the cached copies of `paths`; returns the invalidation's id and status.

    A fresh caller reference every time: a rollback to a commit served before must invalidate again.
    """
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client("cloudfront", config=Config(connect_timeout=10, read_timeout=30,
                                                          retries={"max_attempts": 5, "mode": "standard"}))
    answer = client.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": list(paths)},
                           "CallerReference": f"deployctl-{uuid.uuid4().hex}"},
    )
    found = answer["Invalidation"]
    return {"invalidation_id": found["Id"], "status": found["Status"]}


class CacheInvalidationProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = invalidate(props["distribution_id"], list(props.get("paths") or ALL_PATHS))
        return CreateResult(id_=f"{props['distribution_id']}-invalidation", outs={**props, **outs})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(str(olds.get(k)) != str(news.get(k)) for k in _SWITCHED_BY)
        # "unknown" when it changed: the engine then names the changed inputs in its diff
        return DiffResult(changes=None if changed else False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, **invalidate(news["distribution_id"], list(news.get("paths") or ALL_PATHS))})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: an invalidation is a one-off request."""


class CacheInvalidation(pulumi.dynamic.Resource):
    invalidation_id: pulumi.Output[str]

    def __init__(self, name: str, distribution_id: pulumi.Input[str], origin_path: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            CacheInvalidationProvider(), name,
            {"distribution_id": distribution_id, "origin_path": origin_path, "paths": ALL_PATHS,
             "invalidation_id": None, "status": None},
            opts,
        )
