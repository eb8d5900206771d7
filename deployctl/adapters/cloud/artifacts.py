"""The edge of the rule `artifact-missing` (deployctl/core/change/rules/artifact.py): `AwsArtifacts` asks S3 and
ECR through boto3 with the standard credential chain; it answers present or missing, and raises
CannotJudge (exit 2) when it cannot tell: access denied (naming the permission to grant), no
credentials, or an endpoint that does not answer in time.
"""

from __future__ import annotations

import os
from typing import Any

from deployctl.core.change.rules.artifact import RULE, ArtifactRef, Artifacts, artifact_ref, image_ref
from deployctl.core.violations import CannotJudge

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
MAX_ATTEMPTS = 2
"""boto3's total attempts per call (the first and one retry): a dead endpoint costs at most
MAX_ATTEMPTS x the timeout, plus up to 1 s of backoff. DEPLOYCTL_AWS_TIMEOUT (seconds) overrides both."""

PARALLEL = 8
"""Artifact questions in flight at once."""



_MISSING = {"ImageNotFoundException", "RepositoryNotFoundException", "NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "Forbidden",
           "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException",
           "InvalidClientTokenId"}
_PERMISSION = {"image": "ecr:DescribeImages", "object": "s3:GetObject", "prefix": "s3:ListBucket"}
_SKIP = "or run with --offline to skip the artifact check"


def _resource(ref: ArtifactRef) -> str:
    if ref.kind == "image":
        return f"arn:aws:ecr:{ref.region or '<region>'}:{ref.registry_id or '<account>'}:repository/{ref.repository}"
    if ref.kind == "object":
        return f"arn:aws:s3:::{ref.bucket}/{ref.key}"
    return f"arn:aws:s3:::{ref.bucket}"


class AwsArtifacts:
    """Asks AWS (or AWS_ENDPOINT_URL) whether artifacts exist; one client per service and region."""

    def __init__(self, timeout: float | None = None, session: Any = None):
        env_timeout = os.environ.get("DEPLOYCTL_AWS_TIMEOUT")
        connect, read = CONNECT_TIMEOUT, READ_TIMEOUT
        if timeout is not None or env_timeout:
            try:
                connect = read = float(timeout if timeout is not None else env_timeout)  # type: ignore[arg-type]  # one is set (the if)
            except ValueError:
                raise CannotJudge(f"DEPLOYCTL_AWS_TIMEOUT={env_timeout!r} is not a number of seconds") from None
        self.connect_timeout, self.read_timeout = connect, read
        self.timeout = max(connect, read)
        self._session = session
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._seen: dict[ArtifactRef, bool] = {}

    def _client(self, service: str, region: str | None) -> Any:
        """boto3 loads on the first question only: a repo of `local` apps never pays for it."""
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session()
        key = (service, region)
        if key not in self._clients:
            config = Config(connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"})
            self._clients[key] = self._session.client(
                service, region_name=region or self._session.region_name or "us-east-1", config=config)
        return self._clients[key]

    def exists(self, ref: ArtifactRef) -> bool:
        if ref not in self._seen:
            self._seen[ref] = self._ask(ref)
        return self._seen[ref]

    def prefetch(self, refs: list[ArtifactRef]) -> None:
        """Ask side by side (boto3 clients are thread-safe); the first CannotJudge is raised."""
        todo = sorted({r for r in refs if r not in self._seen}, key=lambda r: r.describe())
        if len(todo) < 2:
            return
        for ref in todo:  # create the clients here: boto3's client creation is not thread-safe
            self._client("ecr" if ref.kind == "image" else "s3", ref.region)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(todo))) as pool:
            for ref, answer in zip(todo, pool.map(self._ask, todo), strict=True):
                self._seen[ref] = answer

    def _ask(self, ref: ArtifactRef) -> bool:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        client = self._client("ecr" if ref.kind == "image" else "s3", ref.region)
        endpoint = client.meta.endpoint_url
        what = f"cannot confirm that {ref.describe()} exists"
        try:
            if ref.kind == "image":
                kwargs: dict[str, Any] = {"repositoryName": ref.repository, "imageIds": [{"imageTag": ref.tag}]}
                if ref.registry_id:
                    kwargs["registryId"] = ref.registry_id
                client.describe_images(**kwargs)
                return True
            if ref.kind == "object":
                client.head_object(Bucket=ref.bucket, Key=ref.key)
                return True
            answer = client.list_objects_v2(Bucket=ref.bucket, Prefix=ref.key, MaxKeys=1)
            return int(answer.get("KeyCount", 0)) > 0
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _MISSING:
                return False
            if code in _DENIED or status == 403:
                raise CannotJudge(
                    f"{what}: {endpoint} answered {code or status} (access denied); grant "
                    f"{_PERMISSION[ref.kind]} on {_resource(ref)} to the identity deployctl runs as "
                    f"(the standard AWS credential chain), {_SKIP}") from None
            raise CannotJudge(f"{what}: {endpoint} answered {code or status} {error.get('Message', '')}".rstrip()
                              + f"; {_SKIP}") from None
        except NoCredentialsError:
            raise CannotJudge(f"{what}: no AWS credentials (environment, shared config, SSO or instance "
                              f"role); provide them, {_SKIP}") from None
        except (ConnectionError, ReadTimeoutError) as exc:
            raise CannotJudge(
                f"{what}: {endpoint} did not answer within {self.timeout:g} s ({MAX_ATTEMPTS} attempts, "
                f"{type(exc).__name__}); check the network or AWS_ENDPOINT_URL, {_SKIP}") from None
        except BotoCoreError as exc:
            raise CannotJudge(f"{what}: {type(exc).__name__} talking to {endpoint}; {_SKIP}") from None


def artifact_oracle(offline: bool, skip: bool = False) -> Artifacts | None:
    """The oracle for `check` and `preview`; None (with a warning) when --offline or --no-artifacts skips
    the AWS calls."""
    if offline or skip:
        from deployctl import console

        flag = "--offline" if offline else "--no-artifacts"
        console.info(f"warning: {flag}: the {RULE} rule is skipped (S3 and ECR are not asked whether each "
                     "artifact was built)")
        return None
    return AwsArtifacts()


__all__ = ["RULE", "ArtifactRef", "Artifacts", "AwsArtifacts", "artifact_oracle", "artifact_ref", "image_ref"]
