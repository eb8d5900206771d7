"""The backend policy's pure core (CI refusals, the stale-run verdict, locks, waiting) and the CI
refusal end to end through the CLI (no engine: it refuses before Pulumi starts)."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployctl.adapters.pulumi.backend import (
    BackendStalled,
    S3Store,
    Store,
    in_repo_file_backend,
    open_store,
    s3_client_args,
)
from deployctl.adapters.pulumi.cipolicy import ci_refusals
from deployctl.adapters.pulumi.locks import (
    LockInfo,
    parse_lock,
    read_locks,
    stack_lock_keys,
    unlock_refusal,
    up_when_unlocked,
)
from deployctl.adapters.pulumi.s3objects import BotoObjects, SignedObjects
from deployctl.core.change.deployguard import clear_pending, stale_refusal
from deployctl.core.trace.outcomes import Outcome, UpdateRecord
from deployctl.core.trace.updatemessage import forced_message, forced_reason
from deployctl.core.violations import CannotJudge
from tests.awsserver import AwsServer
from tests.engine_world import build_world
from tests.loopback import MODES, Mode, elapsed, stalling_server

ROOT = Path("/srv/deploy")
IN_REPO = (ROOT / ".pulumi-state").as_uri()
S3 = "s3://acme-state/deploys?region=eu-west-1"


@pytest.mark.parametrize(("url", "protected", "environ", "expected"), [
    (IN_REPO, {"staging": False}, {}, []),  # locally nothing changes
    (IN_REPO, {"production": True}, {"CI": "false"}, []),
    (IN_REPO, {"staging": False}, {"CI": "true"}, ["PULUMI_BACKEND_URL"]),
    (IN_REPO, {"staging": False}, {"GITHUB_ACTIONS": "true"}, ["PULUMI_BACKEND_URL"]),
    (IN_REPO, {"production": True}, {"CI": "1", "DEPLOYCTL_ALLOW_LOCAL_BACKEND": "1"}, []),
    ("file:///var/lib/pulumi", {"staging": False}, {"CI": "true"}, ["PULUMI_BACKEND_URL"]),  # a runner's folder too
    ("file:///var/lib/pulumi", {"staging": False}, {"GITHUB_ACTIONS": "true", "DEPLOYCTL_ALLOW_LOCAL_BACKEND": "1"},
     []),  # the opt-in stays
    ("file:///var/lib/pulumi", {"staging": False}, {}, []),  # locally a folder of one's own is fine
    (S3, {"staging": False}, {"CI": "true"}, []),  # the empty passphrase is fine for an unprotected env
    (S3, {"production": True}, {"CI": "true"}, ["PULUMI_CONFIG_PASSPHRASE"]),
    (S3, {"production": True}, {"CI": "true", "PULUMI_CONFIG_PASSPHRASE": ""}, ["PULUMI_CONFIG_PASSPHRASE"]),
    (S3, {"production": True}, {"CI": "true", "PULUMI_CONFIG_PASSPHRASE": "s3cret"}, []),
    (IN_REPO, {"production": True}, {"CI": "true"}, ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"]),
])
def test_ci_refusals_name_the_variable(url: str, protected: dict[str, bool], environ: dict[str, str],
                                       expected: list[str]):
    found = ci_refusals(url, ROOT, protected, {}, environ)
    assert [m.split(" ", 1)[0] for m in found] == expected
    assert all("vars." in m or "secrets." in m for m in found)


def test_a_cloud_secrets_provider_needs_no_passphrase():
    found = ci_refusals(S3, ROOT, {"production": True}, {"production": "awskms://alias/deploys"}, {"CI": "true"})
    assert found == []


def test_in_repo_file_backend():
    assert in_repo_file_backend(IN_REPO, ROOT)
    assert not in_repo_file_backend("file:///srv/other", ROOT)
    assert not in_repo_file_backend(S3, ROOT)


def record(head: str | None, result: str = "succeeded", version: int | None = 3) -> UpdateRecord:
    moment = datetime(2026, 11, 27, 1, 2, tzinfo=UTC)
    return UpdateRecord(env="staging", version=version, kind="update", result=result, message="deployctl: x",
                        start=moment, end=moment, environment={"git.head": head} if head else {})


def test_stale_refusal_verdicts():
    assert stale_refusal("staging", None, "b" * 40, True, False) is None  # never deployed
    assert stale_refusal("staging", record(None), "b" * 40, True, False) is None  # made outside git
    assert stale_refusal("staging", record("a" * 40), "b" * 40, True, True) is None  # ours is newer
    refused = stale_refusal("staging", record("a" * 40), "b" * 40, True, False)
    assert refused and "(v3, 2026-11-27 01:02 UTC)" in refused and "not an ancestor of bbbbbbbbbbbb" in refused
    assert "--force --reason" in refused
    unknown = stale_refusal("staging", record("a" * 40), "b" * 40, False, False)
    assert unknown and "which this clone does not have" in unknown


def test_forced_reason_round_trip_and_one_line():
    message = forced_message("deployctl: staging: api 1->2", "incident\n42:  restore")
    assert message == "deployctl: staging: api 1->2 [forced: incident 42: restore]"
    assert forced_reason(message) == "incident 42: restore"
    assert forced_reason("deployctl: staging: api 1->2") is None


def test_stack_lock_keys_project_and_legacy_layouts():
    keys = [".pulumi/locks/organization/deploys/staging/a.json", ".pulumi/locks/organization/deploys/production/b.json",
            ".pulumi/locks/organization/other/staging/c.json", ".pulumi/locks/staging/d.json",
            ".pulumi/locks/.deployctl-doctor/e.json", ".pulumi/locks/organization/deploys/staging/notes.txt"]
    assert stack_lock_keys(keys, "deploys", "staging") == [keys[0], keys[3]]


def test_parse_lock_as_pulumi_writes_it_and_garbage():
    lock = parse_lock("k", json.dumps({"pid": 7, "username": "ci", "hostname": "runner-3",
                                       "timestamp": "2026-11-27T01:02:03.123456789Z"}).encode())
    assert lock.describe() == "ci@runner-3 (pid 7) since 2026-11-27 01:02:03 UTC"
    assert parse_lock("k", b"not json") == LockInfo(key="k")


def test_unlock_refuses_a_live_local_run_and_a_remote_one_without_force(tmp_path: Path):
    import os

    here = socket.gethostname()
    alive = LockInfo(key="a", pid=os.getpid(), hostname=here, username="me")
    remote = LockInfo(key="b", pid=1, hostname="elsewhere-7", username="ci")
    dead = LockInfo(key="c", pid=2**22 + 12345, hostname=here, username="me")
    assert "still runs on this machine" in (unlock_refusal("staging", [alive], force=True) or "")
    assert "--force" in (unlock_refusal("staging", [remote], force=False) or "")
    assert unlock_refusal("staging", [remote], force=True) is None
    assert unlock_refusal("staging", [dead], force=False) is None
    assert dead.dead_here() and not alive.dead_here() and not remote.dead_here()


def test_clear_pending_keeps_everything_else():
    state = {"version": 3, "deployment": {"resources": [{"urn": "u1"}], "pending_operations": [
        {"type": "creating", "resource": {"urn": "urn:pulumi:staging::deploys::x::api-release"}}]}}
    cleaned, pending = clear_pending(state)
    assert cleaned == {"version": 3, "deployment": {"resources": [{"urn": "u1"}], "pending_operations": []}}
    assert pending == ["creating urn:pulumi:staging::deploys::x::api-release"]
    assert clear_pending(cleaned) == (cleaned, [])


class FakeClock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waiting_is_bounded_with_progress_then_names_the_holder():
    clock, said = FakeClock(), []
    holder = LockInfo(key="k", pid=9, username="ci", hostname="runner-9",
                      timestamp=datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    attempts: list[int] = []
    outcome = up_when_unlocked("staging", lambda: attempts.append(1) or Outcome(env="staging", ok=True),
                               lambda: None, lambda: [holder], timeout=60, say=said.append, clock=clock,
                               sleep=clock.sleep)
    assert not outcome.ok and attempts == []
    assert "staging is locked by ci@runner-9 (pid 9) since 2026-11-27 01:00:00 UTC" in (outcome.error or "")
    assert "deployctl unlock staging" in (outcome.error or "")
    assert 60 <= clock.now < 62
    assert said and all(s.startswith("staging: waiting for the lock held by ci@runner-9") for s in said)
    assert 3 <= len(said) <= 5  # one line every 15 s, not one per poll


def test_after_the_lock_is_released_the_run_is_judged_again():
    clock, events = FakeClock(), []
    holder = LockInfo(key="k", pid=9, hostname="runner-9")
    held = [[], [holder], [holder], []]  # free, then taken by another run, then free again

    def attempt() -> Outcome:
        events.append("attempt")
        if len(events) == 2:  # the other run took the lock between our look and our try
            return Outcome(env="staging", ok=False, error="the stack is currently locked by 1 lock(s)")
        return Outcome(env="staging", ok=True)

    def judge() -> str | None:
        events.append("judge")
        return "stale run: someone deployed newer" if len(events) > 2 else None

    outcome = up_when_unlocked("staging", attempt, judge, lambda: held.pop(0) if held else [], timeout=60,
                               say=lambda _: None, clock=clock, sleep=clock.sleep)
    assert events == ["judge", "attempt", "judge"]
    assert not outcome.ok and outcome.error == "stale run: someone deployed newer"


def test_a_lost_race_is_retried_and_a_dead_local_holder_fails_at_once():
    clock = FakeClock()
    results = [Outcome(env="s", ok=False, error="error: the stack is currently locked by 1 lock(s)"),
               Outcome(env="s", ok=True)]
    outcome = up_when_unlocked("s", lambda: results.pop(0), lambda: None, lambda: [], timeout=60,
                               say=lambda _: None, clock=clock, sleep=clock.sleep)
    assert outcome.ok and results == []
    dead = LockInfo(key="k", pid=2**22 + 12345, hostname=socket.gethostname(), username="me")
    outcome = up_when_unlocked("s", lambda: Outcome(env="s", ok=True), lambda: None, lambda: [dead], timeout=60,
                               say=lambda _: None, clock=clock, sleep=clock.sleep)
    assert not outcome.ok and "killed mid-way" in (outcome.error or "") and "deployctl unlock s" in outcome.error


def test_s3_url_parameters_reach_the_client(aws_env: AwsServer):
    bucket = aws_env.new_bucket("params")
    name, prefix, args = s3_client_args(aws_env.backend_url(bucket, "team/state"))
    assert (name, prefix, args["endpoint_url"], args["region_name"]) == (
        bucket, "team/state", aws_env.endpoint, "us-east-1")
    assert args["config"].s3 == {"addressing_style": "path"}
    import boto3

    store = S3Store(BotoObjects(boto3.client("s3", **args)), name, prefix)
    store.write(".pulumi/locks/x/y.json", b"{}")
    assert store.list(".pulumi/locks/") == [".pulumi/locks/x/y.json"]
    assert store.read(".pulumi/locks/x/y.json") == b"{}"
    listed = aws_env.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["team/state/.pulumi/locks/x/y.json"]
    store.delete(".pulumi/locks/x/y.json")
    assert store.list(".pulumi/") == []


@pytest.mark.parametrize("command", [["up", "--stack", "staging"], ["preview", "--base", "HEAD"]])
def test_in_ci_up_and_preview_refuse_the_in_repo_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         command: list[str]):
    world = build_world(tmp_path)
    world.deploy.deploy("staging", "api", world.shas["api"][1])  # something for preview to judge
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    code, out, err = world.cli(*command)
    assert code == 2, out + err
    assert "PULUMI_BACKEND_URL is not set" in err and "vars.PULUMI_BACKEND_URL" in err
    assert "DEPLOYCTL_ALLOW_LOCAL_BACKEND=1" in err and "Traceback" not in err
    assert not (world.root / ".pulumi-state").exists() and not (world.root / ".deployments").exists()


def test_in_ci_a_protected_env_refuses_the_empty_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            aws_env: AwsServer):
    world = build_world(tmp_path)
    monkeypatch.delenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", aws_env.backend_url(aws_env.new_bucket("nopass")))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, _, err = world.cli("up", "--stack", "production")
    assert code == 2
    assert "PULUMI_CONFIG_PASSPHRASE is not set" in err and "protected env(s) production" in err
    assert "secrets.PULUMI_CONFIG_PASSPHRASE" in err
    assert not (world.root / ".deployments").exists()


def test_what_a_local_release_records_does_not_depend_on_the_checkout(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch):
    """Runners check out to different folders: inputs inside the checkout are recorded relative to it."""
    from deployctl.components.local import LocalReleaseProvider, portable_source
    from deployctl.stacks.program import portable_path

    checkout = tmp_path / "runner-1" / "deploy"
    (checkout / ".demo" / "repos" / "api").mkdir(parents=True)
    monkeypatch.chdir(checkout)  # the program and its provider run in the checkout
    assert portable_path(checkout, ".deployments/staging") == ".deployments/staging"
    assert portable_path(checkout, "./x/../.deployments/staging") == ".deployments/staging"
    assert portable_path(checkout, "/srv/apps") == "/srv/apps"  # outside: absolute, as configured
    assert portable_source((checkout / ".demo/repos/api").as_uri()) == ".demo/repos/api"
    assert portable_source("file:///srv/git/api.git") == "file:///srv/git/api.git"
    assert portable_source("git@github.com:acme/api.git") == "git@github.com:acme/api.git"

    provider = LocalReleaseProvider()
    props = {"app": "api", "commit": "a" * 40, "path": None, "keep_releases": 5, "source": "x"}
    older = {**props, "deploy_root": str(checkout / ".deployments/staging")}  # as recorded before
    assert not provider.diff("api", older, {**props, "deploy_root": ".deployments/staging"}).changes
    assert provider.diff("api", older, {**props, "deploy_root": ".deployments/prod"}).replaces == ["deploy_root"]
    assert not provider.diff("api", {**props, "source": "file:///a"}, {**props, "source": "b"}).changes


def test_the_guard_opens_the_backend_store_once_for_every_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Stacks deploy side by side through one DeployGuard: one store (an S3 client) for all of them."""
    import threading

    from deployctl.adapters.pulumi import stalerun
    from deployctl.adapters.pulumi.backend import FileStore

    opened: list[str] = []
    monkeypatch.setattr(stalerun, "open_store", lambda url: opened.append(url) or FileStore(tmp_path))
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "state").as_uri())
    guard = stalerun.DeployGuard(tmp_path, None, None, "a" * 40)  # type: ignore[arg-type]  # neither is asked
    stores = []
    threads = [threading.Thread(target=lambda: stores.append(guard.store())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 1 and len({id(s) for s in stores}) == 1


# -- deadlines: deployctl's own reads of an S3 backend that never answers, or dribbles a header -----------


def stalling_s3_url(port: int) -> str:
    return (f"s3://state/team?region=us-east-1&endpoint=127.0.0.1:{port}&disable_https=true&use_path_style=true"
            "&X-Amz-Security-Token=t0ps3cr3t")


@pytest.mark.parametrize("mode", MODES)
def test_an_s3_backend_that_stalls_fails_every_read_within_its_deadline(mode: Mode,
                                                                        monkeypatch: pytest.MonkeyPatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "DEPLOYCTL_BACKEND_TIMEOUT": "1.5"}.items():
        monkeypatch.setenv(key, value)
    with stalling_server(mode) as port:
        store = open_store(stalling_s3_url(port))
        assert isinstance(store, S3Store)
        started = time.monotonic()
        with pytest.raises(BackendStalled) as info:
            store.list(".pulumi/locks/")
        assert elapsed(started) < 1.5 + 1.0
        message = str(info.value)
        assert f"127.0.0.1:{port}" in message and "within 1.5 s (DEPLOYCTL_BACKEND_TIMEOUT)" in message
        assert "t0ps3cr3t" not in message and "X-Amz-Security-Token=****" in message
        started = time.monotonic()
        with pytest.raises(BackendStalled):  # stalled once: not asked again in this run
            store.read(".pulumi/meta.yaml")
        assert elapsed(started) < 0.5
        assert read_locks_or_none(store) is None


def read_locks_or_none(store: Store) -> list[LockInfo] | None:
    try:
        return read_locks(store, "deploys", "staging")
    except CannotJudge:
        return None


def test_a_bad_backend_timeout_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DEPLOYCTL_BACKEND_TIMEOUT", "0")
    with pytest.raises(CannotJudge, match="DEPLOYCTL_BACKEND_TIMEOUT is '0', not a positive number of seconds"):
        open_store("s3://state/team?region=us-east-1")


# -- what `up` reads before and after an update, in place ------------------------------------------


def _real_pulumi_logged(tmp_path: Path) -> tuple[Path, Path]:
    """A `pulumi` that logs its arguments and runs the pinned CLI (DEPLOYCTL_PULUMI takes it)."""
    from deployctl.adapters.pulumi.cli import find_pulumi

    real = find_pulumi()
    assert real is not None
    wrapper, log = tmp_path / "logged" / "pulumi", tmp_path / "cli-runs"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real.resolve()} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_the_guard_and_outputs_read_in_place_say_what_the_cli_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    aws_env: AwsServer, backend: str):
    """The newest successful update and a stack's outputs, read from the backend's own files (a file
    or S3 backend), equal what `pulumi stack history` and `pulumi stack output` say; a stack never
    created has none (None), as the CLI's reader says."""
    from deployctl.adapters.pulumi.backend import backend_url
    from deployctl.adapters.pulumi.statereads import StateReads, latest_success

    if backend == "s3":
        monkeypatch.setenv("PULUMI_BACKEND_URL", aws_env.backend_url(aws_env.new_bucket("in-place")))
    world = build_world(tmp_path)
    api = world.shas["api"]
    for commit in api[1:3]:
        world.deploy.deploy("staging", "api", commit)
        world.deploy.commit(f"deploy api {commit}")
        code, _, err = world.cli("up", "--stack", "staging")
        assert code == 0, err
    engine = world.engine()
    store = open_store(backend_url(world.root))
    assert store is not None
    reads = StateReads(engine, store)
    newest = reads.latest_success("staging")
    assert newest is not None and newest == latest_success(engine, "staging")
    assert newest.version == 2 and newest.head == world.deploy.repo.head.commit.hexsha
    outputs = reads.existing_outputs("staging")
    assert outputs == engine.existing_outputs("staging")
    assert outputs is not None and outputs["deployed"]["api"]["commit"] == api[2]
    assert reads.existing_outputs("production") is None and engine.existing_outputs("production") is None
    assert reads.latest_success("production") is None


def test_state_not_laid_out_as_read_in_place_is_read_through_the_engine(tmp_path: Path):
    """A legacy layout (no meta.yaml `version: 1`) or a gzipped checkpoint is the CLI's to read."""
    from deployctl.adapters.pulumi.backend import FileStore
    from deployctl.adapters.pulumi.statereads import StateReads

    class Engine:
        def existing_outputs(self, env: str) -> dict[str, str]:
            return {"from": "the engine"}

        def history(self, env: str, page_size: int, enough: object) -> list[UpdateRecord]:
            return [UpdateRecord(env=env, version=7, kind="update", result="succeeded", message="", start=None,
                                 end=None)]

    store = FileStore(tmp_path)
    store.write(".pulumi/stacks/deploys/staging.json", b'{"checkpoint": {"latest": {"resources": []}}}')
    reads = StateReads(Engine(), store)
    assert reads.existing_outputs("staging") == {"from": "the engine"}  # legacy: no meta.yaml
    assert reads.latest_success("staging").version == 7  # type: ignore[union-attr]  # the engine's record
    store.write(".pulumi/meta.yaml", b"version: 1\n")
    assert reads.existing_outputs("staging") == {}
    store.write(".pulumi/stacks/deploys/staging.json.gz", b"\x1f\x8b")
    assert reads.existing_outputs("staging") == {"from": "the engine"}  # gzipped: Pulumi picks the current one


def test_a_secret_output_is_left_out_and_a_nested_one_masked_as_the_cli_does(tmp_path: Path):
    from deployctl.adapters.pulumi.backend import FileStore
    from deployctl.adapters.pulumi.statereads import SECRET_SIG, StateReads

    secret = {SECRET_SIG[0]: SECRET_SIG[1], "ciphertext": "v1:abc"}
    stack = {"type": "pulumi:pulumi:Stack", "outputs": {"token": secret, "deployed": {"api": {"commit": "a" * 40,
                                                                                               "note": secret}}}}
    store = FileStore(tmp_path)
    store.write(".pulumi/meta.yaml", b"version: 1\n")
    store.write(".pulumi/stacks/deploys/staging.json",
                json.dumps({"version": 3, "checkpoint": {"latest": {"resources": [stack]}}}).encode())
    assert StateReads(None, store).existing_outputs("staging") == {
        "deployed": {"api": {"commit": "a" * 40, "note": "[secret]"}}}


def test_the_guard_reads_each_update_record_once_per_run_and_stops_at_the_newest_success(tmp_path: Path):
    """Update records are written once and never change: a run reads each at most once (its memo), stops
    at the newest success, and lists the history anew for every verdict, so a record written since
    (another runner's update) is seen by the next one."""
    from deployctl.adapters.pulumi.backend import FileStore
    from deployctl.adapters.pulumi.statereads import StateReads

    class Counting(FileStore):
        def __init__(self, root: Path):
            super().__init__(root)
            self.reads: list[str] = []
            self.lists = 0

        def read(self, key: str) -> bytes:
            self.reads.append(key)
            return super().read(key)

        def list(self, prefix: str) -> list[str]:
            self.lists += 1
            return super().list(prefix)

    def write_record(ns: int, result: str, head: str) -> str:
        key = f".pulumi/history/deploys/staging/staging-{10**18 + ns}.history.json"  # as Pulumi names them
        store.write(key, json.dumps({"kind": "update", "result": result, "message": "", "startTime": ns,
                                     "endTime": ns + 1, "environment": {"git.head": head}}).encode())
        return key

    store = Counting(tmp_path)
    store.write(".pulumi/meta.yaml", b"version: 1\n")
    for ns in range(1, 13):
        write_record(ns, "succeeded", "a" * 40)
    failed = write_record(13, "failed", "c" * 40)
    newest_ok = write_record(12, "succeeded", "b" * 40)  # rewrites record 12 before any read
    reads = StateReads(None, store)
    found = reads.latest_success("staging")
    assert found is not None and found.head == "b" * 40 and found.version == 12
    assert store.reads == [".pulumi/meta.yaml", failed, newest_ok]  # not a page of 10
    assert reads.latest_success("staging") == found
    assert store.reads == [".pulumi/meta.yaml", failed, newest_ok] and store.lists == 2  # listed anew, read once
    newer = write_record(14, "succeeded", "d" * 40)  # another runner's update since
    after = StateReads(None, store, reads.memo).latest_success("staging")
    assert after is not None and after.head == "d" * 40 and after.version == 14
    assert store.reads[3:] == [newer]
    assert StateReads(None, store).latest_success("staging") == after  # a new run's memo reads again
    assert store.reads[4:] == [".pulumi/meta.yaml", newer]


def test_an_s3_client_is_made_once_per_process_for_one_backend_and_its_credentials(monkeypatch: pytest.MonkeyPatch):
    """Each run's store is its own (a stall lasts one run), its client the process's for that URL,
    timeout and AWS settings: other credentials or another backend get a client of their own."""
    from deployctl.adapters.pulumi.backend import preload_s3_client, s3_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    url = stalling_s3_url(9)  # no request is made: a client is made, not used
    preload_s3_client(url)
    first, second = open_store(url), open_store(url)
    assert isinstance(first, S3Store) and isinstance(second, S3Store) and first is not second
    assert first.client is second.client is s3_client(url, first.deadline)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "other")
    other = open_store(url)
    assert isinstance(other, S3Store) and other.client is not first.client
    assert isinstance(other.client, SignedObjects) and other.client.settings.access_key == "other"
    elsewhere = open_store(url.replace("s3://state/", "s3://other-state/"))
    assert isinstance(elsewhere, S3Store) and elsewhere.client is not other.client
    preload_s3_client("s3://state/team?region=us-east-1&endpoint=[::1")  # a bad URL is left for open_store to say


def test_up_of_a_stack_runs_the_cli_for_the_update_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """On a file backend, `up --base --head` of a merge runs one CLI command for the stack it deploys:
    `pulumi up`. The stale-run guard's history (before the lock and again right before the update)
    and the outputs (what runs, and the update's own) are read from the backend's files."""
    world = build_world(tmp_path)
    api = world.shas["api"]
    world.deploy.deploy("staging", "api", api[1])
    world.deploy.commit("deploy api 1")
    assert world.cli("up", "--stack", "staging")[0] == 0
    wrapper, log = _real_pulumi_logged(tmp_path)
    monkeypatch.setenv("DEPLOYCTL_PULUMI", str(wrapper))
    before = world.deploy.repo.head.commit.hexsha
    world.deploy.deploy("staging", "api", api[2])
    world.deploy.commit("deploy api 2")
    merged = world.deploy.repo.head.commit.hexsha
    code, out, err = world.cli("up", "--base", before, "--head", merged, "--branch", "main")
    assert code == 0, err
    assert "staging: ok (" in out and "update 1" in out
    ran = [line for line in log.read_text().splitlines() if line != "version"]
    assert len(ran) == 1 and " up " in f" {ran[0]} " and "--stack staging" in ran[0], ran
    assert world.current("staging", "api") == api[2]


def test_a_file_store_lists_every_file_under_a_prefix_as_keys(tmp_path: Path):
    """What S3 lists for a prefix: every object below it (folders are not objects), keys sorted."""
    from deployctl.adapters.pulumi.backend import FileStore

    files = [".pulumi/meta.yaml", ".pulumi/history/p/staging/staging-1.history.json",
             ".pulumi/history/p/staging/staging-1.checkpoint.json", ".pulumi/history/p/prod/prod-2.history.json",
             ".pulumi/stacks/p/staging.json", ".pulumi/locks/p/staging/a b.json"]
    for key in files:
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_text("{}")
    (tmp_path / ".pulumi/locks/p/empty").mkdir(parents=True)
    store = FileStore(tmp_path)
    assert store.list(".pulumi/") == sorted(files)
    assert store.list(".pulumi/history/p/staging/") == sorted(f for f in files if "/staging/staging-" in f)
    assert store.list(".pulumi/locks/") == [".pulumi/locks/p/staging/a b.json"]
    assert store.list(".pulumi/nothing/") == []
