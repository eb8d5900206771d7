"""Rule `artifact-missing` against a real S3/ECR-compatible API on loopback (moto's server mode)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deployctl.adapters.cloud.artifacts import MAX_ATTEMPTS, ArtifactRef, AwsArtifacts, artifact_ref, image_ref
from deployctl.core.repo.catalog import Kind, LambdaSettings
from deployctl.core.violations import CannotJudge
from tests.awsserver import AwsServer
from tests.builders import AppRepo, DeployRepo
from tests.scenario import rules_of, run_cli

ACCOUNT = "123456789012"


@dataclass
class Shop:
    root: Path
    deploy: DeployRepo
    server: AwsServer
    bucket: str
    repository: str
    c1: str
    c2: str

    def check(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
        code, out, err = run_cli(self.root, "check", "--base", "main", "--json", *args, env=env)
        assert "Traceback" not in err, err
        return code, (json.loads(out) if out.strip() else {}), err

    def prepend_all(self, commit: str, comment: str = "") -> None:
        for app in ("checkout", "thumbs", "www"):
            self.deploy.deploy("staging", app, commit, comment)

    def build_all(self, commit: str) -> None:
        """What CI does for a commit: push the image, upload the zip and the site folder."""
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"digest": f"sha256:{uuid.uuid4().hex * 2}", "size": 1,
                                          "mediaType": "application/vnd.docker.container.image.v1+json"},
                               "layers": []})
        self.server.client("ecr").put_image(repositoryName=self.repository, imageManifest=manifest, imageTag=commit)
        s3 = self.server.client("s3")
        s3.put_object(Bucket=self.bucket, Key=f"thumbs/{commit}.zip", Body=b"PK")
        s3.put_object(Bucket=self.bucket, Key=f"www/{commit}/index.html", Body=b"<h1>hi</h1>")


@pytest.fixture
def shop(tmp_path: Path, aws_env: AwsServer) -> Shop:
    app = AppRepo(tmp_path / "apps" / "shop")
    c1, c2 = app.commit("one"), app.commit("two")
    bucket = aws_env.new_bucket("artifacts")
    repository = f"checkout-{uuid.uuid4().hex[:8]}"
    aws_env.client("ecr").create_repository(repositoryName=repository)
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({
        "checkout": {"kind": "ecs-service", "repo": str(app.path), "settings": {
            "image_repository": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{repository}", "cluster": "prod",
            "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ecs-exec",
            "subnets": ["subnet-1"]}},
        "thumbs": {"kind": "lambda", "repo": str(app.path), "settings": {
            "bucket": bucket, "prefix": "thumbs", "handler": "app.handler", "runtime": "python3.12",
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/thumbs"}},
        "www": {"kind": "static-site", "repo": str(app.path), "settings": {"bucket": bucket}},
    })
    deploy.env("staging")
    shop = Shop(tmp_path / "deploy", deploy, aws_env, bucket, repository, c1, c2)
    shop.prepend_all(c1, "first")
    deploy.commit("initial deploys")
    return shop


def test_where_each_kind_keeps_its_artifact():
    sha = "a" * 40
    ecr = image_ref(f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team/checkout", sha)
    assert (ecr.repository, ecr.registry_id, ecr.region, ecr.tag) == ("team/checkout", ACCOUNT, "eu-west-1", sha)
    assert image_ref("checkout", sha).repository == "checkout"
    zipped = LambdaSettings(role_arn="r", bucket="b", prefix="/fn/", handler="h", runtime="python3.12")
    assert artifact_ref("fn", Kind.LAMBDA, zipped, sha) == ArtifactRef(kind="object", bucket="b", key=f"fn/{sha}.zip")
    image = LambdaSettings(role_arn="r", image_repository=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/fn")
    assert artifact_ref("fn", Kind.LAMBDA, image, sha).kind == "image"  # type: ignore[union-attr]
    assert artifact_ref("api", Kind.LOCAL, None, sha) is None  # path-not-found covers local apps


def test_built_artifacts_pass(shop: Shop):
    shop.build_all(shop.c2)
    shop.prepend_all(shop.c2, "second")
    code, report, err = shop.check()
    assert code == 0, (report, err)
    assert "artifact-missing" not in rules_of(report)


def test_missing_artifacts_are_refused_even_as_hotfix(shop: Shop):
    shop.prepend_all(shop.c2, "never built [hotfix]")
    code, report, _ = shop.check()
    assert code == 1
    missing = {v["app"]: v for v in report["violations"] if v["rule"] == "artifact-missing"}
    assert set(missing) == {"checkout", "thumbs", "www"}
    assert all(v["severity"] == "error" and v["line"] == 1 for v in missing.values())
    assert f"image {shop.repository}:{shop.c2}" in missing["checkout"]["message"]
    assert f"s3://{shop.bucket}/thumbs/{shop.c2}.zip" in missing["thumbs"]["message"]
    assert f"any object under s3://{shop.bucket}/www/{shop.c2}/" in missing["www"]["message"]
    # one app built, the others not: only the others are refused
    shop.server.client("s3").put_object(Bucket=shop.bucket, Key=f"www/{shop.c2}/app.js", Body=b"")
    _, report, _ = shop.check()
    assert {v["app"] for v in report["violations"] if v["rule"] == "artifact-missing"} == {"checkout", "thumbs"}


def test_offline_skips_the_artifact_check_with_a_warning(shop: Shop):
    shop.prepend_all(shop.c2)
    assert shop.check()[0] == 1  # fills the app-repository cache, too
    code, report, err = shop.check("--offline")
    assert code == 0, report
    assert "--offline: the artifact-missing rule is skipped" in err


def test_no_artifacts_skips_only_that_rule_for_a_job_without_cloud_credentials(shop: Shop):
    shop.prepend_all(shop.c2)
    code, report, err = shop.check("--no-artifacts")
    assert code == 0, report
    assert "--no-artifacts: the artifact-missing rule is skipped" in err


def _set_auth(server: AwsServer, count: str) -> None:
    """moto enforces IAM after `count` more requests ("inf": never, its default)."""
    httpx.post(f"{server.endpoint}/moto-api/reset-auth", content=count, timeout=5).raise_for_status()


@pytest.fixture
def enforced_iam(aws_env: AwsServer) -> Iterator[dict[str, str]]:
    """Credentials of a user allowed nothing, on a server that enforces IAM for this test only."""
    iam = aws_env.client("iam")
    user = f"reviewer-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="nothing", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity",
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _set_auth(aws_env, "0")
    try:
        yield {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    finally:
        _set_auth(aws_env, "inf")


@pytest.mark.parametrize(("app", "permission"), [("checkout", "ecr:DescribeImages"), ("thumbs", "s3:GetObject"),
                                                 ("www", "s3:ListBucket")])
def test_access_denied_names_the_permission_to_grant(shop: Shop, enforced_iam: dict[str, str], app: str,
                                                     permission: str):
    import os

    shop.deploy.deploy("staging", app, shop.c2)  # only this app changes
    code, _report, err = shop.check(env={**os.environ, **enforced_iam})
    assert code == 2, err
    assert "access denied" in err and f"grant {permission} on arn:aws:" in err
    assert shop.server.endpoint in err


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP server on loopback that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("ref", [ArtifactRef(kind="object", bucket="b", key="k.zip"),
                                 ArtifactRef(kind="image", repository="checkout", tag="a" * 40)], ids=["s3", "ecr"])
def test_an_endpoint_that_never_answers_fails_within_the_timeout(aws_env: AwsServer, silent_endpoint: str,
                                                                 monkeypatch: pytest.MonkeyPatch, ref: ArtifactRef):
    monkeypatch.setenv("AWS_ENDPOINT_URL", silent_endpoint)
    started = time.monotonic()
    with pytest.raises(CannotJudge) as caught:
        AwsArtifacts(timeout=1).exists(ref)
    elapsed = time.monotonic() - started
    # attempts x timeout, <= 1 s backoff, and slack for a loaded 2-core CI machine: far below the defaults' 30 s
    assert elapsed < MAX_ATTEMPTS * 1 + 1 + 6, elapsed
    assert f"{silent_endpoint} did not answer within 1 s" in str(caught.value)


def test_check_against_a_silent_endpoint_cannot_judge(shop: Shop, silent_endpoint: str):
    import os

    shop.deploy.deploy("staging", "thumbs", shop.c2)
    started = time.monotonic()
    code, _, err = shop.check(env={**os.environ, "AWS_ENDPOINT_URL": silent_endpoint, "DEPLOYCTL_AWS_TIMEOUT": "1"})
    assert code == 2
    assert time.monotonic() - started < 20
    assert f"cannot judge: cannot confirm that s3://{shop.bucket}/thumbs/{shop.c2}.zip exists: {silent_endpoint}" in err


def test_preview_reports_the_missing_artifact(shop: Shop):
    from datetime import UTC, datetime

    from deployctl.commands.preview import build_preview

    shop.deploy.deploy("staging", "www", shop.c2)
    report, _ = build_preview(shop.root, "main", None, datetime.now(UTC), run_engine=False)
    assert [(v.rule, v.app) for v in report.violations] == [("artifact-missing", "www")]
    assert not report.ok
    offline, _ = build_preview(shop.root, "main", None, datetime.now(UTC), run_engine=False, offline=True)
    assert offline.violations == []


def test_each_kind_deploys_the_artifact_the_rule_looks_for():
    """One naming (core/kinds/artifactnames.py) for what a component deploys and what the rule asks about."""
    from deployctl.core.change.rules.artifact import artifact_ref
    from deployctl.core.kinds.artifactnames import image_uri, site_folder, zip_key
    from deployctl.core.repo.catalog import Kind, LambdaSettings, StaticSiteSettings

    commit = "a" * 40
    zipped = LambdaSettings(role_arn="arn:r", bucket="b", prefix="/fns/", handler="h", runtime="python3.12")
    assert artifact_ref("fn", Kind.LAMBDA, zipped, commit).key == zip_key("/fns/", commit) == f"fns/{commit}.zip"
    site = StaticSiteSettings(bucket="sites")
    assert artifact_ref("www", Kind.STATIC_SITE, site, commit).key == site_folder("www", commit) + "/"
    assert image_uri("r", commit) == f"r:{commit}"
