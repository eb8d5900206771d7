"""The foundation on the real Pulumi engine (local file backend): deploy files to stacks to releases."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from deployctl.adapters.pulumi.engine import Engine
from tests.engine_world import World, build_world
from tests.test_pulumicli import runs

pytestmark = pytest.mark.engine


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path, production=False)


def test_up_creates_releases_and_current_then_updates_one_app_only(world: World):
    api, web = world.shas["api"], world.shas["web"]
    code, _out, err = world.cli("up", "--stack", "staging")
    assert code == 0, err
    assert world.current("staging", "api") == api[0]
    assert world.current("staging", "web") == web[0]
    # `path: site` deploys only that folder of the web repo
    assert (world.root / ".deployments/staging/web/current/index.html").read_text() == "<h1>0</h1>\n"
    assert (world.root / ".deployments/staging/api/current/app.py").exists()

    engine = world.engine()
    deployed = engine.outputs("staging")["deployed"]
    assert deployed == {
        "api": {"commit": api[0], "comment": "first api", "kind": "local"},
        "web": {"commit": web[0], "comment": "first web", "kind": "local"},
    }

    # a prepended commit previews as an update of that one app only
    world.deploy.deploy("staging", "api", api[1], "second api")
    preview = engine.preview("staging")
    assert preview.ok, preview.error
    steps = {c.name: c.op for c in preview.changes if c.op != "same"}
    assert steps == {"api-release": "update"}
    assert preview.counts.get("update") == 1 and "replace" not in preview.counts

    # up switches `current` atomically; the old release stays until pruned
    outcome = engine.up("staging", "api to second")
    assert outcome.ok, outcome.error
    assert world.current("staging", "api") == api[1]
    assert world.releases("staging", "api") == {api[0], api[1]}

    # a second up changes nothing
    again = engine.up("staging", "no change")
    assert again.ok and set(again.counts) == {"same"}

    # keep_releases: 2 prunes the oldest, never the current
    world.deploy.deploy("staging", "api", api[2])
    assert engine.up("staging", "third").ok
    assert world.releases("staging", "api") == {api[1], api[2]}

    # stack history holds each update, newest first, with our messages
    history = engine.history("staging")
    assert [h.message for h in history] == [
        "third", "no change", "api to second", f"deployctl: staging: api {api[0][:12]}, web {web[0][:12]}"]
    assert all(h.result == "succeeded" for h in history)


def test_deleting_a_deploy_file_previews_and_applies_a_delete(world: World):
    assert world.cli("up", "--stack", "staging")[0] == 0
    world.deploy.remove("deploys/staging/web")
    engine = world.engine()
    preview = engine.preview("staging")
    assert {c.name: c.op for c in preview.changes if c.op != "same"} == {"web": "delete", "web-release": "delete"}
    assert engine.up("staging", "remove web").ok
    assert not (world.root / ".deployments/staging/web").exists()
    assert set(engine.outputs("staging")["deployed"]) == {"api"}


def test_deployed_output_is_what_runs_where(world: World):
    assert world.cli("up")[0] == 0
    code, out, _ = world.cli("deployed", "--json")
    assert code == 0
    assert json.loads(out)["staging"]["api"]["commit"] == world.shas["api"][0]


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        (lambda w: w.deploy.remove("Pulumi.staging.yaml"), "unknown-env"),
        (lambda w: w.deploy.deploy("staging", "billing", w.shas["api"][0]), "unknown-app"),
        (lambda w: w.deploy.write("deploys/staging/api", "not-a-commit\n"), "syntax"),
    ],
    ids=["missing stack config", "unknown app", "broken file"],
)
def test_bad_input_fails_before_anything_is_deployed(world: World, breakage, words: str):
    breakage(world)
    code, out, err = world.cli("up")
    assert code in (1, 2)
    assert words in out + err
    assert "Traceback" not in out + err
    assert not (world.root / ".deployments").exists()
    assert not (world.root / ".pulumi-state" / ".pulumi" / "stacks").exists()


def test_the_program_itself_refuses_a_broken_file(world: World):
    """Even run by pulumi directly (not through deployctl), a broken file deploys nothing."""
    world.deploy.write("deploys/staging/api", "zzz\n")
    outcome = world.engine().preview("staging")
    assert not outcome.ok
    assert "deploys/staging/api:1: error syntax" in (outcome.error or "")
    assert not (world.root / ".deployments").exists()


def test_update_history_pages_stop_once_the_caller_has_enough(world: World):
    """Every page is read (and a file backend's updates numbered) unless the caller has enough: the
    stale-run guard stops at the first page holding a success, however long the stack's history."""
    from deployctl.adapters.pulumi.statereads import latest_success
    from deployctl.core.change.deployguard import last_success

    api = world.shas["api"]
    for i in range(3):
        if i:
            world.deploy.deploy("staging", "api", api[i], f"api {i}")
        code, _, err = world.cli("up", "--stack", "staging")
        assert code == 0, err
    engine = world.engine()
    every = engine.history("staging", page_size=1)
    assert [r.version for r in every] == [3, 2, 1]
    first = engine.history("staging", page_size=1, enough=lambda records: last_success(records) is not None)
    assert len(first) == 1 and first[0].start == every[0].start
    newest = latest_success(engine, "staging")
    assert newest is not None and newest.start == every[0].start


def test_reading_outputs_never_creates_a_stack(world: World):
    """`deployed` (and every reader of outputs) on an env never deployed shows nothing and leaves the
    backend without that stack."""
    code, out, err = world.cli("deployed", "--json")
    assert code == 0, err
    assert json.loads(out) == {"staging": {}}
    assert world.engine().existing("staging") is None


def test_outputs_are_read_once_masked_and_secret_ones_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """One `pulumi stack output --json` per stack, never `--show-secrets` (the Automation API's own
    reader runs both, decrypting every secret output to tell which are secret); outputs and history
    name their stack (no `stack select`), and a stack never created stays so."""
    engine = stand_in_engine(tmp_path, monkeypatch, """
  *"--stack staging"*) echo '{"deployed": {"api": {"commit": "abc1234"}}, "token": "[secret]"}' ;;
  *) echo "error: no stack named 'production' found" >&2; exit 255 ;;""")
    assert engine.existing_outputs("staging") == {"deployed": {"api": {"commit": "abc1234"}}}
    assert engine.existing_outputs("production") is None
    assert engine.history("production") == []  # never created: its history is empty, and stays uncreated
    reads = [r for r in runs(tmp_path) if r != "version"]
    assert reads[:2] == ["--non-interactive stack output --json --stack staging",
                         "--non-interactive stack output --json --stack production"]
    assert len(reads) == 3 and "history" in reads[2] and "--stack production" in reads[2]
    assert not any("--show-secrets" in r or "select" in r or "init" in r for r in runs(tmp_path))


def test_an_unreadable_backend_is_a_cannot_judge_naming_the_read_and_what_to_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Outputs, history and a stack's selection fail alike when the backend cannot be read: one line
    with the CLI's own error and what to check, never the Automation API's multi-line CommandError."""
    from deployctl.core.violations import CannotJudge

    engine = stand_in_engine(tmp_path, monkeypatch, """
  *) echo "error: could not read the state: access denied" >&2; exit 255 ;;""")
    for read, what in ((engine.existing_outputs, "outputs"), (engine.history, "update history"),
                       (engine.existing, "stack")):
        with pytest.raises(CannotJudge) as caught:
            read("staging")
        said = str(caught.value)
        assert said == (f"cannot read staging's {what}: could not read the state: access denied; check the Pulumi "
                        "backend (PULUMI_BACKEND_URL) and the passphrase (`deployctl doctor` checks both)")


def stand_in_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cases: str) -> Engine:
    """An Engine on a stand-in `pulumi` (tests/test_pulumicli.stand_in) answering `version`, then `cases`
    (shell `case` arms on the whole argument line)."""
    from tests.test_pulumicli import stand_in

    pulumi = stand_in(tmp_path, f'case "$*" in\n  version) echo v3.274.1 ;;{cases}\nesac')
    monkeypatch.setenv("DEPLOYCTL_PULUMI", str(pulumi))
    monkeypatch.setenv("DEPLOYCTL_CACHE", str(tmp_path / "cache"))
    return Engine(tmp_path)


STALL = """trap 'echo cancelled; exit 130' INT
i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done ;;"""
DEAF = """trap '' INT
i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done ;;"""
"""A CLI that ignores Ctrl-C: killed once the grace has passed."""


def test_a_stalled_up_is_ended_at_its_deadline_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DEPLOYCTL_ENGINE_TIMEOUT", "1.5")
    engine = stand_in_engine(tmp_path, monkeypatch, f"""
  *" up "*) {STALL}""")
    started = time.monotonic()
    outcome = engine.up("staging", "a deploy")
    assert time.monotonic() - started < 1.5 + 3
    assert not outcome.ok
    assert outcome.error is not None and outcome.error.startswith(
        "`pulumi up` did not end within 1.5 s (DEPLOYCTL_ENGINE_TIMEOUT) and was stopped: the engine stalled")
    assert "`deployctl unlock staging`" in outcome.error and "cancelled" in (outcome.log or "")


def test_a_stalled_read_deaf_to_ctrl_c_is_killed_and_a_cannot_judge(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    from deployctl.adapters.pulumi import automation
    from deployctl.core.violations import CannotJudge

    monkeypatch.setenv("DEPLOYCTL_ENGINE_READ_TIMEOUT", "1")
    monkeypatch.setattr(automation, "STOP_GRACE", 0.5)
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://state/team?region=eu-west-1&X-Amz-Signature=abc123sig")
    engine = stand_in_engine(tmp_path, monkeypatch, f"""
  *"stack output"*) {DEAF}""")
    started = time.monotonic()
    with pytest.raises(CannotJudge) as info:
        engine.existing_outputs("staging")
    assert time.monotonic() - started < 1 + 0.5 + 3
    said = str(info.value)
    assert said.startswith("cannot read staging's outputs: `pulumi stack output` did not end within 1 s "
                           "(DEPLOYCTL_ENGINE_READ_TIMEOUT)")
    assert "s3://state/team?region=eu-west-1&X-Amz-Signature=****" in said and "abc123sig" not in said


def test_a_bad_engine_deadline_is_an_error_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from deployctl.core.violations import CannotJudge

    monkeypatch.setenv("DEPLOYCTL_ENGINE_READ_TIMEOUT", "abc")
    engine = stand_in_engine(tmp_path, monkeypatch, """
  *) echo '{}' ;;""")
    with pytest.raises(CannotJudge, match="DEPLOYCTL_ENGINE_READ_TIMEOUT is 'abc', not a positive number"):
        engine.existing_outputs("staging")


UP_EVENTS = 'log=""; prev=""; for a in "$@"; do [ "$prev" = "--event-log" ] && log="$a"; prev="$a"; done\n'
"""Shell that finds the event log's path in the CLI's arguments, as `$log` (tests/test_eventlog.EVENT_LOG)."""


def _event(event: dict) -> str:
    return "printf '%s\\n' '" + json.dumps(event) + "' >> \"$log\""


def test_up_is_one_cli_run_with_its_event_log_and_its_counts_from_the_summary(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch):
    """With the outputs read where the backend keeps them, the update is the only CLI run: no Automation
    API (no `stack output`, no `stack history`), the message one word however it starts, and each
    event reaches the sink as the CLI writes it."""
    pre = {"sequence": 1, "resourcePreEvent": {"metadata": {"op": "update", "urn": "urn:x::api", "type": "t"}}}
    summary = {"sequence": 2, "summaryEvent": {"resourceChanges": {"same": 3, "update": 1}}}
    engine = stand_in_engine(tmp_path, monkeypatch, f"""
  *" up "*) {UP_EVENTS}{_event(pre)}; {_event(summary)} ;;""")
    seen: list[dict] = []
    outcome = engine.up("staging", "--deploy api", sink=seen.append,
                        outputs=lambda env: {"deployed": {"api": {"commit": "abc1234"}}})
    assert outcome.ok and outcome.counts == {"same": 3, "update": 1} and outcome.update == 0
    assert outcome.outputs == {"deployed": {"api": {"commit": "abc1234"}}}
    assert [e["sequence"] for e in seen] == [1, 2]
    (up,) = [r for r in runs(tmp_path) if r != "version"]  # `version` only when the cache folder is new
    assert up.startswith("--non-interactive up --yes --skip-preview --message=--deploy api --color never ")
    assert "--exec-kind auto.local --stack staging --event-log " in up


def test_a_locked_stack_is_a_failed_up_said_once_never_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A run the engine never started (another update holds the lock) is not retried here: the stale-run
    guard judges again once the lock is free (backend.up_when_unlocked), so a second `pulumi up` right
    away could overwrite what that update deployed."""
    from deployctl.core.change.deployguard import looks_locked

    engine = stand_in_engine(tmp_path, monkeypatch, """
  *" up "*) echo "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to \
end or delete the lock file with \\`pulumi cancel\\`." >&2; exit 255 ;;""")
    outcome = engine.up("staging", "a deploy", outputs=lambda env: {})
    assert not outcome.ok and looks_locked(outcome)
    assert outcome.log is not None and outcome.log.startswith("code: 255\n stdout: \n stderr: error: the stack is")
    assert len([r for r in runs(tmp_path) if " up " in f" {r} "]) == 1


def test_up_of_a_stack_never_created_creates_it_then_updates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    created = tmp_path / "created"
    summary = {"sequence": 1, "summaryEvent": {"resourceChanges": {"create": 2}}}
    engine = stand_in_engine(tmp_path, monkeypatch, f"""
  *"stack select"*) echo "error: no stack named 'staging' found" >&2; exit 255 ;;
  *"stack init"*) touch {created} ;;
  *" up "*) [ -f {created} ] || {{ echo "error: no stack named 'staging' found" >&2; exit 255; }}
     {UP_EVENTS}{_event(summary)} ;;""")
    outcome = engine.up("staging", "first deploy", outputs=lambda env: {"deployed": {}})
    assert outcome.ok and outcome.counts == {"create": 2}, outcome
    kinds = [r.split()[1] + " " + r.split()[2] for r in runs(tmp_path) if r != "version"]
    assert kinds == ["up --yes", "stack select", "stack init", "up --yes"]


def test_a_failed_up_keeps_its_events_cause_and_whole_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    urn = "urn:pulumi:staging::deploys::deploys:apps:LocalApp"
    app = {"sequence": 1, "resourcePreEvent": {"metadata": {"op": "update", "urn": f"{urn}::api",
                                                            "type": "deploys:apps:LocalApp"}}}
    error = {"sequence": 2, "diagnosticEvent": {"severity": "error", "urn": f"{urn}$x::api-release",
                                                "message": "OSError: disk full\n"}}
    engine = stand_in_engine(tmp_path, monkeypatch, f"""
  *" up "*) {UP_EVENTS}{_event(app)}; {_event(error)}; echo "Updating (staging)"; echo "error: update failed" >&2
     exit 255 ;;""")
    outcome = engine.up("staging", "a deploy", outputs=lambda env: {})
    assert not outcome.ok and outcome.failed_app == "api" and "disk full" in (outcome.error or "")
    assert outcome.log == "code: 255\n stdout: Updating (staging)\n\n stderr: error: update failed"


def test_up_imports_no_pulumi_and_reads_its_result_as_the_automation_api_did(world: World):
    """On the real engine: `deployctl up` of a stack that exists never imports Pulumi (`-X importtime`
    lists every import), and an update run without the backend's reader (Pulumi Cloud's path) reads
    its result through the Automation API."""
    import os
    import subprocess
    import sys

    code, _, err = world.cli("up", "--stack", "staging")  # creates the stack (the Automation API's stack init)
    assert code == 0, err
    world.deploy.deploy("staging", "api", world.shas["api"][1], "second api")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "deployctl", "up", "--stack", "staging"],
                          cwd=world.root, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "deployctl.adapters.pulumi.eventlog" in imported  # the listing is whole
    assert not {m for m in imported if m == "pulumi" or m.startswith(("pulumi.", "grpc"))}
    assert "staging: ok (same " in proc.stdout and "update 1" in proc.stdout
    world.deploy.deploy("staging", "api", world.shas["api"][2], "third api")
    outcome = world.engine().up("staging", "through the CLI, its result read as the Automation API reads it")
    assert outcome.ok and outcome.counts.get("update") == 1, outcome
    assert outcome.outputs["deployed"]["api"]["commit"] == world.shas["api"][2]
