"""The artifact a deploy names must exist before the deploy merges (rule `artifact-missing`).

A right commit whose build never ran (no image tag, no zip, no site folder) passes every other
safeguard and fails only once the merge deploys it. This core is pure: where each kind keeps
its artifact (`artifact_ref`) and the rule over an `Artifacts` oracle, like the rules' `Commits`.
The edge, `AwsArtifacts` (deployctl/adapters/cloud/artifacts.py), asks S3 and ECR through boto3 with
the standard credential chain; it answers present or missing, and raises CannotJudge (exit 2) when
it cannot tell: access denied (naming the permission to grant), no credentials, or an endpoint that
does not answer in time.

`local` apps are left to the rule `path-not-found` (the app's `path` at the commit): their
artifact is the repository tree itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, ValidationError

from deployctl.core.kinds.artifactnames import site_folder, zip_key
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.catalog import Kind
from deployctl.core.repo.model import DeployFile, short
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.violations import Severity, Violation

RULE = "artifact-missing"
_ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class ArtifactRef(LazyModel):
    """Where one deploy's artifact lives: an image tag, an object, or any object under a prefix."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["image", "object", "prefix"]
    repository: str = ""
    registry_id: str | None = None
    region: str | None = None
    tag: str = ""
    bucket: str = ""
    key: str = ""

    def describe(self) -> str:
        if self.kind == "image":
            return f"image {self.repository}:{self.tag}"
        if self.kind == "object":
            return f"s3://{self.bucket}/{self.key}"
        return f"any object under s3://{self.bucket}/{self.key}"


def image_ref(image_repository: str, commit: str) -> ArtifactRef:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<name>` (or a bare repository name) to ECR's terms."""
    host, _, name = image_repository.partition("/")
    match = _ECR_HOST.match(host) if name else None
    if match:
        return ArtifactRef(kind="image", repository=name, registry_id=match["account"], region=match["region"],
                           tag=commit)
    return ArtifactRef(kind="image", repository=name or image_repository, tag=commit)


def artifact_ref(app: str, kind: Kind, settings: Any, commit: str) -> ArtifactRef | None:
    """The artifact each kind deploys for `commit`, as its component names it; None for `local`."""
    if kind is Kind.ECS_SERVICE:
        return image_ref(settings.image_repository, commit)
    if kind is Kind.LAMBDA:
        if settings.image_repository:
            return image_ref(settings.image_repository, commit)
        return ArtifactRef(kind="object", bucket=settings.bucket, key=zip_key(settings.prefix, commit))
    if kind is Kind.STATIC_SITE:
        return ArtifactRef(kind="prefix", bucket=settings.bucket, key=site_folder(app, commit) + "/")
    return None


class Artifacts(Protocol):
    """What the rule needs to know: does this artifact exist? Raises CannotJudge when it cannot tell."""

    def exists(self, ref: ArtifactRef) -> bool: ...

    def prefetch(self, refs: list[ArtifactRef]) -> None:
        """Ask about many at once, so `exists` answers from memory (a hint; may do nothing)."""


def check_artifacts(head: Snapshot, files: Iterable[DeployFile], artifacts: Artifacts) -> list[Violation]:
    """`artifact-missing` for each file whose commit has no built artifact. Not waived by [hotfix]:
    an urgent fix that was never built cannot run either."""
    wanted: list[tuple[DeployFile, Kind, ArtifactRef]] = []
    for f in files:
        app, stack = head.catalog.apps.get(f.app), head.stacks.get(f.env)
        if app is None or stack is None or app.kind is Kind.LOCAL:
            continue
        try:
            settings = head.settings_of(f.env, f.app)
        except ValidationError:
            continue  # invalid-settings says why
        ref = artifact_ref(f.app, app.kind, settings, f.commit)
        if ref is not None:
            wanted.append((f, app.kind, ref))
    if wanted:
        artifacts.prefetch([ref for *_, ref in wanted])
    found: list[Violation] = []
    for f, kind, ref in wanted:
        if artifacts.exists(ref):
            continue
        found.append(Violation(
            rule=RULE, severity=Severity.ERROR, file=f.path, line=f.current.line, env=f.env, app=f.app,
            message=f"the artifact of {short(f.commit)} does not exist: {ref.describe()} ({kind} "
            f"'{f.app}' deploys it); build and publish it for this commit (your CI's build job) "
            "before merging, or the deploy fails",
        ))
    return found


# -- the edge: S3 and ECR through boto3 -----------------------------------------------------------
