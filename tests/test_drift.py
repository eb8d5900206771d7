"""`deployctl drift` and the one classification on the real engine, with the S3 backend on loopback
(moto's server, as tests/test_team.py): an `up` held in its health check while another process reads
(in-progress, never drift), a merged line no `up` ran (pending), a switch-back (switched-back, and no
"behind" between envs that run the same commit)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git
import pytest

from deployctl.adapters.pulumi.engine import Engine
from deployctl.adapters.pulumi.inflight import in_flight
from deployctl.adapters.pulumi.locks import LockInfo
from deployctl.core.trace.appstate import InFlight
from deployctl.core.trace.outcomes import UpdateRecord
from deployctl.core.trace.updatemessage import deploy_message, pr_of
from tests.awsserver import AwsServer
from tests.engine_world import build_world
from tests.test_team import PASSPHRASE, Team, cli

pytestmark = pytest.mark.engine


def _team(tmp_path: Path, aws: AwsServer, monkeypatch: pytest.MonkeyPatch, health: str, production: bool) -> Team:
    """tests/test_team.py's team (S3 state, a passphrase, CI=true), api with a health `command`."""
    bucket = aws.new_bucket("deploy-state")
    monkeypatch.setenv("PULUMI_BACKEND_URL", aws.backend_url(bucket))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    world = build_world(tmp_path / "authoring", production=production)
    world.deploy.catalog({
        "api": {"repo": str(world.api.path), "settings": {"keep_releases": 2, "health": {
            "command": health, "timeout": 300, "retries": 0, "interval": 0}}},
        "web": {"repo": str(world.web.path), "path": "site", "depends_on": ["api"]},
    })
    for env in ("staging", "production") if production else ("staging",):
        Engine(world.root).stack(env)  # each stack's salt, committed once (README: "Secrets for a team")
    world.deploy.commit("api has a health check; the stacks' encryption salts")
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(str(world.root), origin, bare=True)
    return Team(tmp=tmp_path, origin=origin, server=aws, bucket=bucket, world=world)


def _rows(out: str) -> dict[tuple[str, str], dict]:
    return {(r["env"], r["app"]): r for r in json.loads(out)}


def test_an_up_held_in_its_health_check_reads_as_deploying_on_another_runner_then_pending_without_an_up(
        tmp_path: Path, aws_env: AwsServer, monkeypatch: pytest.MonkeyPatch):
    gate = tmp_path / "gate"  # the health check waits until the test opens it
    team = _team(tmp_path, aws_env, monkeypatch, f"while [ ! -e '{gate}' ]; do sleep 0.1; done", production=False)
    api = team.world.shas["api"]
    a = team.clone("runner-a")
    gate.touch()
    code, _, err = cli(a, "up", "--stack", "staging")
    assert code == 0, err
    gate.unlink()
    _, m1 = team.merge(a, 1, team.bump("api", api[1]))

    up = subprocess.Popen([sys.executable, "-m", "deployctl", "up", "--stack", "staging"], cwd=a.path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        release = a.path / ".deployments/staging/api/releases" / api[1]
        deadline = time.monotonic() + 240
        while not (team.locks() and release.exists()) and time.monotonic() < deadline and up.poll() is None:
            time.sleep(0.1)
        assert team.locks() and release.exists(), "the up never reached its health check"

        b = team.clone("runner-b")  # another runner: what it knows comes from the backend alone
        code, out, err = cli(b, "status", "--json")
        assert code == 0, err
        cell = _rows(out)["staging", "api"]
        assert (cell["state"], cell["drift"], cell["commit"], cell["running"]) == ("in-progress", None, api[1], api[0])
        flight = cell["in_flight"]
        assert flight["by"].endswith(f"@{socket.gethostname()}") and flight["pr"] == 1 and flight["since"]
        assert _rows(out)["staging", "web"]["state"] == "in-progress"  # its stack is being updated
        code, out, err = cli(b, "status")
        assert code == 0, err
        assert "… deploying" in out and "Deploying now:" in out and "Drift:" not in out
        assert f"staging/api: an update of staging is running by {flight['by']}" in out and "(PR #1)" in out

        code, out, err = cli(b, "drift", "--json")  # a stack being updated is not refreshed: no drift to look for
        assert code == 0, err
        states = _rows(out)
        assert states["staging", "api"]["state"] == "in-progress"
        assert states["staging", "api"]["in_flight"]["pr"] == 1
        assert set(states["staging", "api"]) >= {"env", "app", "state", "file", "running", "detail", "fix", "since"}
        code, out, err = cli(b, "history", "staging", "api", "--json")
        assert code == 0, err
        assert {e["commit"]: e["deploy"]["result"] for e in json.loads(out)}[m1] == "in-progress"
        assert up.poll() is None, "the up ended while it was being read: the reads proved nothing"
    finally:
        gate.touch()
        up_code = up.wait(timeout=300)
    _, up_err = up.communicate()
    assert up_code == 0, up_err

    b.repo.git.pull("--quiet", "--ff-only", "origin", "main")
    code, out, err = cli(b, "drift", "--no-refresh")
    assert code == 0, err
    assert "no drift (2 apps)" in out
    code, out, err = cli(b, "drift")  # the engine's refresh, asked of a deployed stack no update changes
    assert code == 0, err
    code, out, err = cli(b, "history", "staging", "api", "--json")
    assert {e["commit"]: e["deploy"]["result"] for e in json.loads(out)}[m1] == "succeeded"

    # a merged line that no up ran: pending, exit 1, and the retry named
    team.merge(b, 2, team.bump("api", api[2]))
    code, out, err = cli(b, "drift", "--json", "--no-refresh")
    assert code == 1, err
    pending = _rows(out)["staging", "api"]
    assert (pending["state"], pending["file"], pending["running"]) == ("pending", api[2], api[1])
    assert pending["detail"].endswith("merged, no update has run it yet")
    assert "workflow_dispatch" in pending["fix"] and "deployctl up --stack staging" in pending["fix"]
    assert _rows(out)["staging", "web"]["state"] == "in-sync"
    code, out, err = cli(b, "drift", "--no-refresh")
    assert code == 1
    header = out.splitlines()[0].split()
    assert header == ["env", "app", "state", "file", "running"]
    assert f"staging  api  pending  {api[2][:12]}  {api[1][:12]}" in out
    assert "staging/api: pending (since " in out and "fix: re-run the deploy workflow" in out
    code, out, err = cli(b, "status", "--json")
    assert _rows(out)["staging", "api"]["state"] == "pending" and _rows(out)["staging", "api"]["drift"]


def test_in_flight_is_read_from_a_live_lock_or_an_in_progress_update_never_from_a_dead_lock():
    stamp = datetime(2026, 12, 1, 9, tzinfo=UTC)
    elsewhere = LockInfo(key="k1", pid=4242, username="runner", hostname="gha-runner-7", timestamp=stamp)
    assert in_flight([elsewhere], []) == InFlight(since=stamp, by="runner@gha-runner-7")
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed = LockInfo(key="k2", pid=dead.pid, username="me", hostname=socket.gethostname(), timestamp=stamp)
    assert in_flight([killed], []) is None  # a killed run's leftover here: `unlock` recovers it, no deploy runs
    message = deploy_message("staging", [("api", "a" * 40, "b" * 40)], 12, "c" * 40)
    running = UpdateRecord(env="staging", version=None, kind="update", result="in-progress", message=message,
                           start=stamp + timedelta(seconds=5), end=None, environment={"git.author": "Ann"})
    assert pr_of(message) == 12 and pr_of("deployctl: staging: program or config change") is None
    assert in_flight([], [running]) == InFlight(since=running.start, by="Ann", pr=12, message=message)
    assert in_flight([elsewhere], [running]).by == "runner@gha-runner-7"  # type: ignore[union-attr]
    done = running.model_copy(update={"result": "succeeded", "end": stamp + timedelta(minutes=1)})
    assert in_flight([], [done]) is None


def test_drift_cannot_judge_an_unknown_env_nor_post_without_a_token_and_repository(tmp_path: Path, aws_env: AwsServer,
                                                                         monkeypatch: pytest.MonkeyPatch):
    team = _team(tmp_path, aws_env, monkeypatch, "true", production=False)
    a = team.clone("runner-a")
    code, out, err = cli(a, "drift", "stagign", "--no-refresh")
    assert code == 2 and out == ""
    assert "no env 'stagign'" in err and "did you mean 'staging'" in err
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    code, out, err = cli(a, "drift", "--post", "--no-refresh")  # nothing is read before posting can work
    assert code == 2 and out == "" and "GITHUB_TOKEN is not set" in err
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    monkeypatch.setenv("GITHUB_REPOSITORY", "not a repo")
    code, out, err = cli(a, "drift", "--post", "--no-refresh")
    assert code == 2 and out == "" and "GITHUB_REPOSITORY is 'not a repo', not 'owner/name'" in err


def test_a_switch_back_reads_switched_back_and_envs_running_one_commit_are_not_behind(
        tmp_path: Path, aws_env: AwsServer, monkeypatch: pytest.MonkeyPatch):
    team = _team(tmp_path, aws_env, monkeypatch, "! grep -q 'api 1' app.py || exit 3", production=True)
    api = team.world.shas["api"]
    a = team.clone("runner-a")
    code, _, err = cli(a, "up")  # both envs run api 0
    assert code == 0, err
    before, m1 = team.merge(a, 1, team.bump("api", api[1]))
    code, out, err = cli(a, "up", "--base", before, "--head", m1, "--branch", "origin/main")
    assert code == 1, out + err
    assert f"failed, switched back: api to {api[0][:12]}" in err

    code, out, err = cli(a, "drift", "--json", "--no-refresh")
    assert code == 1, err
    back = _rows(out)["staging", "api"]
    assert (back["state"], back["file"], back["running"]) == ("switched-back", api[1], api[0])
    assert back["fix"] == f"merge the [rollback] pull request (`deployctl rollback staging api --to {api[0]}`)"
    assert _rows(out)["production", "api"]["state"] == "in-sync"

    code, out, err = cli(a, "status", "--json")
    assert code == 0, err
    cells = _rows(out)
    assert cells["staging", "api"]["state"] == "switched-back"
    assert cells["production", "api"]["running"] == cells["staging", "api"]["running"] == api[0]
    assert cells["production", "api"]["behind_upstream"] == 0  # the file says api 1 upstream; api 0 runs there
    code, out, err = cli(a, "status")
    production_col = out.splitlines()[2].index("production")
    api_row = next(line for line in out.splitlines() if line.startswith("api "))
    assert "↓" not in api_row[production_col:]
    assert "⚠ switched-back" in api_row and "[rollback] pull request" in out
