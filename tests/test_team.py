"""Team mode on a real S3-compatible backend (moto on loopback): two clones of the deploy repo in
different folders stand for two CI runners sharing one state, one lock and one deploy trace.

Every test here runs as CI does (CI=true, no DEPLOYCTL_ALLOW_LOCAL_BACKEND): the backend is the
bucket and secrets use a real passphrase, so the CI policy is satisfied by real settings.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git
import pytest

from deployctl.adapters.pulumi.engine import Engine
from deployctl.adapters.pulumi.locks import UNLOCK_TAG
from tests.awsserver import AwsServer
from tests.builders import PROJECT_ROOT, DeployRepo
from tests.engine_world import World, build_world
from tests.scenario import run_cli

pytestmark = pytest.mark.engine

PASSPHRASE = "correct horse battery staple"
LOCKS = "state/.pulumi/locks/organization/deploys/staging/"


@dataclass
class Team:
    tmp: Path
    origin: Path
    server: AwsServer
    bucket: str
    world: World

    def clone(self, where: str, at: str | None = None) -> DeployRepo:
        """A fresh runner: a new clone in its own folder, no local state, no releases."""
        path = self.tmp / where / "deploy"
        git.Repo.clone_from(str(self.origin), path)
        os.symlink(PROJECT_ROOT / ".venv", path / ".venv")
        runner = DeployRepo(path)
        if at:
            runner.repo.git.checkout("--quiet", at)
        return runner

    def merge(self, runner: DeployRepo, pr: int, edit: Callable[[DeployRepo], object]) -> tuple[str, str]:
        """A PR merged on main and pushed; returns (before, merge)."""
        repo = runner.repo
        repo.git.checkout("--quiet", "main")
        repo.git.pull("--quiet", "--ff-only", "origin", "main")
        before = repo.head.commit.hexsha
        repo.git.checkout("--quiet", "-b", f"pr-{pr}")
        edit(runner)
        runner.repo.git.add("--", "deploys")
        runner.repo.index.commit(f"change {pr}")
        repo.git.checkout("--quiet", "main")
        repo.git.merge("--no-ff", "-m", f"Merge pull request #{pr} from acme/change-{pr}", f"pr-{pr}")
        repo.git.push("--quiet", "origin", "main")
        return before, repo.head.commit.hexsha

    def bump(self, app: str, commit: str) -> Callable[[DeployRepo], object]:
        return lambda runner: runner.deploy("staging", app, commit)

    def locks(self) -> list[str]:
        listed = self.server.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=LOCKS)
        return [o["Key"] for o in listed.get("Contents", [])]

    def export(self, runner: DeployRepo) -> dict:
        """`pulumi stack export`, parsed: the state is intact."""
        exported = Engine(runner.path).stack("staging").export_stack()
        return exported.deployment


def cli(runner: DeployRepo, *args: str) -> tuple[int, str, str]:
    code, out, err = run_cli(runner.path, *args)
    assert "Traceback" not in err, err
    return code, out, err


@pytest.fixture
def team(tmp_path: Path, aws_env: AwsServer, monkeypatch: pytest.MonkeyPatch) -> Team:
    bucket = aws_env.new_bucket("deploy-state")
    monkeypatch.setenv("PULUMI_BACKEND_URL", aws_env.backend_url(bucket))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)  # the passphrase route, as from a CI secret
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    world = build_world(tmp_path / "authoring", production=False)
    # A team creates each stack once with its passphrase and commits the salt Pulumi writes
    # (README: "Secrets for a team"), so no runner's checkout is changed by a run.
    Engine(world.root).stack("staging")
    world.deploy.commit("staging: the stack's encryption salt")
    origin = tmp_path / "origin.git"
    git.Repo.clone_from(str(world.root), origin, bare=True)
    return Team(tmp=tmp_path, origin=origin, server=aws_env, bucket=bucket, world=world)


def deployed_commit(runner: DeployRepo, app: str) -> str:
    return Engine(runner.path).outputs("staging")["deployed"][app]["commit"]


def test_two_runners_share_state_and_trace(team: Team):
    api = team.world.shas["api"]
    a = team.clone("runner-a")
    before, m1 = team.merge(a, 1, team.bump("api", api[1]))
    code, out, err = cli(a, "up", "--base", before, "--head", m1, "--branch", "origin/main")
    assert code == 0, err
    assert "staging: ok (create 5)" in out
    assert team.locks() == []  # released

    # Runner B: another folder, a fresh clone, no local state: the same commit previews as no change
    b = team.clone("elsewhere/runner-b")
    assert b.path.parent.parent != a.path.parent.parent and not (b.path / ".pulumi-state").exists()
    comment = team.tmp / "comment.md"
    code, _, err = cli(b, "preview", "--base", before, "--comment-file", str(comment))
    assert code == 0, err
    assert "**Pulumi:** no changes, 5 unchanged" in comment.read_text()
    resources = {r["urn"].rsplit("::", 1)[-1]: r for r in team.export(b)["resources"]}
    assert resources["api-release"]["inputs"]["deploy_root"] == ".deployments/staging"  # not a runner's path
    assert str(a.path) not in json.dumps(team.export(b))

    # B deploys the next merge
    _, m2 = team.merge(b, 2, team.bump("api", api[2]))
    code, out, err = cli(b, "up", "--base", m1, "--head", m2, "--branch", "origin/main")
    assert code == 0, err
    # api, and web too: the `local` kind runs on the runner's own disk, where web never ran; api's
    # release made the env's deploy root here, so web's empty folder is seen and web is installed
    # (web depends on api, so this is always the order). A runner without the deploy root keeps the record.
    assert "staging: ok (same 3, update 2)" in out

    # the trace from either clone: both updates, their PRs and results
    a.repo.git.pull("--quiet", "--ff-only", "origin", "main")
    for runner in (a, b):
        code, out, err = cli(runner, "history", "staging", "api", "--json")
        assert code == 0, err
        trace = {e["commit"]: (e["to"], e["pr"], e["deploy"]["result"]) for e in json.loads(out)}
        assert trace[m1] == (api[1], 1, "succeeded")
        assert trace[m2] == (api[2], 2, "succeeded")
        code, out, err = cli(runner, "status", "--json")
        assert code == 0, err
        rows = [r for r in json.loads(out) if r["env"] == "staging" and r["app"] == "api"]
        assert rows and rows[0]["commit"] == rows[0]["running"] == api[2], rows
        assert rows[0]["pr"] == 2 and rows[0]["result"] == "succeeded" and not rows[0]["drift"], rows


def test_the_stale_run_guard_reads_the_backend_on_any_runner(team: Team):
    api = team.world.shas["api"]
    a = team.clone("runner-a")
    _, m1 = team.merge(a, 1, team.bump("api", api[1]))
    _, m2 = team.merge(a, 2, team.bump("api", api[2]))
    assert cli(a, "up", "--stack", "staging", "--head", m2)[0] == 0

    # another runner, on the older merge, without --base: refused, nothing deployed
    old = team.clone("runner-old", at=m1)
    code, _, err = cli(old, "up", "--stack", "staging")
    assert code == 1
    last = Engine(a.path).history("staging")[0]  # numbered as `history` numbers it: one reader of the history
    assert last.version and f"update (v{last.version}, {datetime.now(UTC):%Y-%m-%d}" in err
    assert f"made from deploy-repo commit {m2[:12]}, which is not an ancestor of {m1[:12]}" in err
    assert "--force --reason" in err
    assert deployed_commit(old, "api") == api[2]

    assert cli(old, "up", "--stack", "staging", "--force")[0] == 2  # --force needs a reason
    code, out, err = cli(old, "up", "--stack", "staging", "--force", "--reason", "back to api 1: incident 77")
    assert code == 0, err
    assert "stale-run guard overridden by --force (back to api 1: incident 77)" in err
    assert deployed_commit(old, "api") == api[1]

    # the reason is in the update message and in `history`
    record = Engine(old.path).history("staging")[0]
    assert record.message.endswith("[forced: back to api 1: incident 77]")
    code, out, _ = cli(a, "history", "staging", "api")
    assert "[forced: back to api 1: incident 77]" in out
    code, out, _ = cli(a, "history", "staging", "api", "--json")
    forced = {e["commit"]: e["deploy"]["forced"] for e in json.loads(out)}
    assert forced[m1] == "back to api 1: incident 77" and forced[m2] is None


def test_concurrent_ups_one_runs_the_other_waits_then_rejudges(team: Team):
    api = team.world.shas["api"]
    a = team.clone("runner-a")
    _, m1 = team.merge(a, 1, team.bump("api", api[1]))
    assert cli(a, "up", "--stack", "staging", "--head", m1)[0] == 0
    _, m2 = team.merge(a, 2, team.bump("api", api[2]))
    _, m3 = team.merge(a, 3, team.bump("api", api[3]))
    x, y = team.clone("runner-x", at=m2), team.clone("runner-y", at=m3)

    cmd = [sys.executable, "-m", "deployctl", "up", "--stack", "staging", "--lock-timeout", "120"]
    procs = {name: subprocess.Popen(cmd, cwd=r.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, r in (("x", x), ("y", y))}
    results = {name: (p.wait(timeout=300), *p.communicate()) for name, p in procs.items()}
    for _code, _, err in results.values():
        assert "Traceback" not in err
    assert any("staging: waiting for the lock held by" in err for _, _, err in results.values()), results
    (x_code, _, x_err), (y_code, _, y_err) = results["x"], results["y"]
    assert y_code == 0, y_err  # the newest commit always lands
    # x (older) either ran first, or waited, judged again, and found itself stale
    assert x_code == 0 or (x_code == 1 and "stale run" in x_err), x_err

    # updates never overlapped, and the state is intact
    updates = sorted(Engine(y.path).history("staging"), key=lambda r: r.start)  # type: ignore[arg-type, return-value]
    for earlier, later in itertools.pairwise(updates):
        assert earlier.end is not None and later.start is not None and earlier.end <= later.start
    state = team.export(y)
    assert len(state["resources"]) == 6 and not state.get("pending_operations")
    assert deployed_commit(y, "api") == api[3]
    assert team.locks() == []


def test_a_held_lock_times_out_naming_the_holder_and_unlock_clears_it(team: Team):
    a = team.clone("runner-a")
    assert cli(a, "up", "--stack", "staging")[0] == 0
    stamp = "2026-11-27T01:02:03Z"
    team.server.client("s3").put_object(Bucket=team.bucket, Key=LOCKS + "0a1b2c.json", Body=json.dumps(
        {"pid": 4242, "username": "runner", "hostname": "gha-runner-7", "timestamp": stamp}).encode())
    team.merge(a, 1, team.bump("api", team.world.shas["api"][1]))

    started = time.monotonic()
    code, _, err = cli(a, "up", "--stack", "staging", "--lock-timeout", "3")
    assert code == 1
    assert time.monotonic() - started < 60
    assert "staging is locked by runner@gha-runner-7 (pid 4242) since 2026-11-27 01:02:03 UTC" in err
    assert "(--lock-timeout 3). If that run has ended" in err and "deployctl unlock staging" in err
    assert "waiting for the lock held by runner@gha-runner-7" in err

    code, _, err = cli(a, "unlock", "staging")  # another machine's lock: only once you checked
    assert code == 1 and "on another machine" in err and "--force" in err
    assert team.locks() == [LOCKS + "0a1b2c.json"]
    code, out, err = cli(a, "unlock", "staging", "--force")
    assert code == 0, err
    assert "removed 1 lock(s): runner@gha-runner-7 (pid 4242)" in out
    assert team.locks() == []
    assert "1 lock(s), 0 pending op(s)" in (Engine(a.path).stack("staging").get_tag(UNLOCK_TAG))
    assert cli(a, "up", "--stack", "staging")[0] == 0
    assert deployed_commit(a, "api") == team.world.shas["api"][1]


def test_a_run_killed_mid_up_leaves_a_lock_that_unlock_recovers(team: Team):
    api = team.world.shas["api"]
    a = team.clone("runner-a")
    assert cli(a, "up", "--stack", "staging")[0] == 0
    web = team.world.shas["web"]
    team.merge(a, 1, lambda r: (r.deploy("staging", "api", api[1]), r.deploy("staging", "web", web[1])))
    proc = subprocess.Popen([sys.executable, "-m", "deployctl", "up", "--stack", "staging"], cwd=a.path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not team.locks() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert team.locks(), "the update never took the lock"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner dies: deployctl, pulumi, the program, the provider
    proc.wait(timeout=30)
    time.sleep(0.5)
    assert team.locks(), "SIGKILL leaves Pulumi's lock behind"

    started = time.monotonic()
    code, _, err = cli(a, "up", "--stack", "staging", "--lock-timeout", "120")
    assert code == 1 and time.monotonic() - started < 60  # no waiting for a dead process
    assert f"staging is locked by {os.environ.get('USER') or ''}" in err or "staging is locked by" in err
    assert f"@{socket.gethostname()} (pid " in err
    assert "a process that no longer runs: an update was killed mid-way" in err
    assert "Run `deployctl unlock staging`" in err

    code, out, err = cli(a, "unlock", "staging")
    assert code == 0, err
    assert "removed 1 lock(s)" in out and "recorded as stack tag deployctl:unlocked" in out
    assert team.locks() == []
    assert not team.export(a).get("pending_operations")
    tag = Engine(a.path).stack("staging").get_tag(UNLOCK_TAG)
    assert tag.startswith(datetime.now(UTC).strftime("%Y-%m-%d")) and "1 lock(s)" in tag

    code, _, err = cli(a, "up", "--stack", "staging")  # nothing lost: the deploy completes
    assert code == 0, err
    assert deployed_commit(a, "api") == api[1]
    assert (a.path / ".deployments/staging/api/current").resolve().name == api[1]
    assert len(team.export(a)["resources"]) == 6


def test_the_passphrase_route_on_the_s3_backend(team: Team, monkeypatch: pytest.MonkeyPatch):
    """Secrets under the team's passphrase (a CI secret): encrypted in the repo and in the bucket,
    readable by any runner that has the passphrase, by none that has another."""
    from deployctl.adapters.pulumi.cli import find_pulumi
    from deployctl.adapters.pulumi.engine import engine_env

    token = "tok-5ecret-value-91"
    a = team.clone("runner-a")
    pulumi = find_pulumi()
    assert pulumi is not None
    subprocess.run([str(pulumi), "config", "set", "--secret", "notify:token", token, "--stack", "staging"],
                   cwd=a.path, check=True, capture_output=True, env={**os.environ, **engine_env(a.path, pulumi)})
    assert token not in (a.path / "Pulumi.staging.yaml").read_text()
    a.repo.git.commit("-qam", "staging: a secret")
    a.repo.git.push("--quiet", "origin", "main")
    assert cli(a, "up", "--stack", "staging")[0] == 0

    b = team.clone("elsewhere/runner-b")
    engine = Engine(b.path)
    assert engine.preview("staging").ok
    assert token in engine.secret_values("staging")  # the passphrase from the environment decrypts it
    s3 = team.server.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=team.bucket)["Contents"]]
    stored = b"".join(s3.get_object(Bucket=team.bucket, Key=k)["Body"].read() for k in keys)
    assert token.encode() not in stored
    assert re.search(rb'"type":\s*"passphrase"', stored)  # the state's secrets too, under the same passphrase

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not the team's passphrase")
    code, out, err = cli(b, "up", "--stack", "staging")
    assert code != 0 and "passphrase" in (out + err).lower()
    assert token not in out + err
