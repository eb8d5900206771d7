"""`deployctl doctor` against a real S3-compatible backend (moto on loopback), real git repositories
and the real Pulumi CLI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from deployctl.adapters.pulumi.cli import find_pulumi
from deployctl.commands.doctor import PULUMI_VERSION, check_plugins
from tests.awsserver import AwsServer
from tests.awsserver import free_port as closed_port
from tests.builders import PROJECT_ROOT
from tests.engine_world import World, build_world
from tests.loopback import MODES, Mode, elapsed, stalling_server


def doctor(world: World, *args: str) -> tuple[int, dict[str, dict], str]:
    code, out, err = world.cli("doctor", "--json", "--timeout", "15", *args)
    assert "Traceback" not in err, err
    return code, {c["name"]: c for c in json.loads(out)}, err


def test_the_pinned_version_is_the_one_the_installer_pins():
    script = (PROJECT_ROOT / "scripts" / "install-pulumi").read_text()
    assert re.search(r'^PULUMI_VERSION="([0-9.]+)"', script, re.M).group(1) == PULUMI_VERSION  # type: ignore[union-attr]


def test_a_team_setup_on_the_s3_backend_passes(tmp_path: Path, aws_env: AwsServer,
                                               monkeypatch: pytest.MonkeyPatch):
    world = build_world(tmp_path)
    bucket = aws_env.new_bucket("doctor")
    monkeypatch.setenv("PULUMI_BACKEND_URL", aws_env.backend_url(bucket))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "a team secret")
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    code, checks, _ = doctor(world)
    assert code == 0, checks
    assert {n: c["status"] for n, c in checks.items()} == {
        "pulumi CLI": "ok", "backend reachable": "ok", "backend locks": "ok", "backend (pulumi)": "ok",
        "secrets production": "ok", "secrets staging": "ok", "plugins": "ok", "local apps in CI": "warn",
        "app repo api": "ok", "app repo web": "ok"}
    # the world's apps are `local`: in CI they would release onto a runner that vanishes with its job
    assert "production, staging deploy `local` apps" in checks["local apps in CI"]["detail"]
    assert checks["pulumi CLI"]["detail"].startswith(f"v{PULUMI_VERSION}")
    assert "written and removed" in checks["backend locks"]["detail"]
    assert "need no provider plugin" in checks["plugins"]["detail"]
    # the probe is gone: nothing in the bucket that Pulumi could take for a lock (Pulumi wrote its meta.yaml)
    keys = [o["Key"] for o in aws_env.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["state/.pulumi/meta.yaml"]

    code, out, _ = world.cli("doctor")
    assert code == 0 and out.rstrip().endswith("ready")


def test_a_broken_setup_says_what_to_fix(tmp_path: Path, aws_env: AwsServer, monkeypatch: pytest.MonkeyPatch):
    world = build_world(tmp_path)
    world.deploy.catalog({
        "api": {"repo": ".demo/repos/api"},
        "web": {"repo": f"https://127.0.0.1:{closed_port()}/acme/web.git", "path": "site"},
    })
    monkeypatch.setenv("PULUMI_BACKEND_URL", aws_env.backend_url("no-such-bucket"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    code, checks, _ = doctor(world)
    assert code == 1
    assert checks["backend reachable"]["status"] == "fail" and "NoSuchBucket" in checks["backend reachable"]["detail"]
    assert "credentials" in checks["backend reachable"]["fix"]
    assert checks["backend (pulumi)"]["status"] == "fail"
    assert checks["secrets production"]["status"] == "fail"  # protected, in CI, the empty passphrase
    assert "secrets.PULUMI_CONFIG_PASSPHRASE" in checks["secrets production"]["fix"]
    assert checks["secrets staging"]["status"] == "warn"
    assert checks["app repo api"]["status"] == "fail" and "make demo" in checks["app repo api"]["detail"]
    assert checks["app repo web"]["status"] == "fail" and "deploy key" in checks["app repo web"]["fix"]

    code, out, _ = world.cli("doctor")
    assert code == 1 and "fix: " in out and out.rstrip().endswith("problem(s) to fix")


def test_a_wrong_passphrase_is_found_before_the_next_up_says_incorrect_passphrase(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """doctor tries the passphrase on each stack's own check value (its encryptionsalt), as Pulumi does."""
    import os
    import subprocess

    from deployctl.adapters.pulumi.engine import engine_env

    world = build_world(tmp_path, production=False)
    pulumi = find_pulumi()
    assert pulumi is not None
    (world.root / "Pulumi.staging.yaml").write_text(  # a never-deployed stack: no check value yet
        "\n".join(line for line in (world.root / "Pulumi.staging.yaml").read_text().splitlines()
                  if not line.startswith("encryptionsalt")) + "\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "the right one")
    (world.root / ".pulumi-state").mkdir(exist_ok=True)  # the file backend, as deployctl's engine makes it
    made = subprocess.run([str(pulumi), "stack", "init", "staging", "--secrets-provider", "passphrase"],
                          cwd=world.root, capture_output=True, text=True,
                          env={**os.environ, **engine_env(world.root, pulumi)})
    assert made.returncode == 0, made.stderr
    assert "encryptionsalt: v1:" in (world.root / "Pulumi.staging.yaml").read_text()
    code, checks, _ = doctor(world)
    assert checks["secrets staging"]["status"] == "ok", checks["secrets staging"]
    assert "opens staging's secrets" in checks["secrets staging"]["detail"]

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "a wrong one")
    code, checks, _ = doctor(world)
    assert code == 1 and checks["secrets staging"]["status"] == "fail"
    assert "does not open staging's secrets" in checks["secrets staging"]["detail"]
    assert "incorrect passphrase" in checks["secrets staging"]["detail"]
    code, out, err = world.cli("preview", "--base", "HEAD", "--stack", "staging")  # what doctor foresaw
    assert code != 0 and "incorrect passphrase" in (out + err).lower()

    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")  # the file Pulumi reads instead, trimmed as Pulumi trims it
    (tmp_path / "phrase").write_text("the right one\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "phrase"))
    code, checks, _ = doctor(world)
    assert checks["secrets staging"]["status"] == "ok", checks["secrets staging"]


def test_missing_cloud_credentials_are_named_as_such_by_doctor_and_deployed(
        tmp_path: Path, aws_env: AwsServer, monkeypatch: pytest.MonkeyPatch):
    world = build_world(tmp_path, production=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", aws_env.backend_url(aws_env.new_bucket("nocreds")))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254: loopback only
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    code, checks, _ = doctor(world)
    assert code == 1
    pulumi_check = checks["backend (pulumi)"]
    assert pulumi_check["status"] == "fail" and "no cloud credentials" in pulumi_check["detail"], pulumi_check
    assert "IMDSv1" not in pulumi_check["detail"]
    code, _, err = world.cli("deployed")
    assert code == 2 and "no cloud credentials" in err, err
    assert "IMDSv1" not in err and "Traceback" not in err
    world.deploy.deploy("staging", "api", world.shas["api"][1], "second")
    for args in (("up", "--stack", "staging"), ("preview", "--base", "HEAD", "--stack", "staging")):
        code, out, err = world.cli(*args)
        assert code != 0 and "no cloud credentials" in out + err, (args, out, err)
        assert "IMDSv1" not in out + err and "Traceback" not in err


def test_in_ci_the_in_repo_backend_fails_and_locally_it_only_warns(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    world = build_world(tmp_path, production=False)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    for var in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(var, raising=False)
    code, checks, _ = doctor(world)
    assert code == 0 and checks["backend"]["status"] == "warn"
    assert checks["backend locks"]["status"] == "ok"  # the file backend's lock folder is writable
    monkeypatch.setenv("CI", "true")
    code, checks, _ = doctor(world)
    assert code == 1 and checks["backend"]["status"] == "fail"
    assert "PULUMI_BACKEND_URL" in checks["backend"]["fix"]


def test_aws_kinds_need_the_aws_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))  # no plugins installed here
    pulumi = find_pulumi()
    missing = check_plugins({"local", "ecs-service"}, pulumi, 30)
    assert missing.status == "fail" and missing.fix == "pulumi plugin install resource aws v7.51.1"
    assert check_plugins({"local"}, pulumi, 30).status == "ok"


@pytest.mark.parametrize("mode", MODES)
def test_a_backend_that_stalls_fails_its_check_within_the_deadline_redacted(tmp_path: Path, mode: Mode,
                                                                            monkeypatch: pytest.MonkeyPatch):
    from deployctl.commands.doctor import check_backend

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "DEPLOYCTL_BACKEND_TIMEOUT": "1.5"}.items():
        monkeypatch.setenv(key, value)
    with stalling_server(mode) as port:
        monkeypatch.setenv("PULUMI_BACKEND_URL", f"s3://state/team?region=us-east-1&endpoint=127.0.0.1:{port}"
                                                 "&disable_https=true&use_path_style=true&X-Amz-Credential=AKIAx/y")
        started = time.monotonic()
        checks = {c.name: c for c in check_backend(tmp_path, None, 10)}
        assert elapsed(started) < 1.5 + 1.5
    reachable = checks["backend reachable"]
    assert reachable.status == "fail"
    assert "within 1.5 s (DEPLOYCTL_BACKEND_TIMEOUT)" in reachable.detail
    assert "X-Amz-Credential=****" in reachable.detail and "AKIAx" not in reachable.detail


def test_a_file_backend_outside_the_repo_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from deployctl.commands.doctor import check_backend

    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "runner-state").as_uri())
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    backend = {c.name: c for c in check_backend(tmp_path / "repo", None, 10)}["backend"]
    assert backend.status == "fail" and "a file backend outside the repo" in backend.detail
    monkeypatch.setenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND", "1")
    assert {c.name: c for c in check_backend(tmp_path / "repo", None, 10)}["backend"].status == "warn"


@pytest.mark.parametrize("mode", MODES)
def test_an_app_repo_that_stalls_fails_its_check_within_the_deadline_redacted(tmp_path: Path, mode: Mode):
    """doctor's ls-remote is the bounded network git every clone and fetch uses: a server that accepts
    and stalls is a failed check within doctor's --timeout, its credentials never said."""
    from deployctl.commands.doctor import check_repo

    with stalling_server(mode) as port:
        started = time.monotonic()
        check = check_repo("api", f"https://x-access-token:s3cret@127.0.0.1:{port}/acme/api.git", "main",
                           tmp_path, 3)
        assert elapsed(started) < 3 + 3
    assert check.status == "fail" and "deploy key" in check.fix
    assert "127.0.0.1" in check.detail and "s3cret" not in check.detail
