"""`pulumi preview` run as the CLI with its event log (adapters/pulumi/eventlog.py), with real processes: stand-in
`pulumi` scripts write events the way the CLI does; the real engine proves the preview path imports no
Pulumi and gives what the Automation API gave."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from deployctl.adapters.pulumi.engine import Engine
from deployctl.adapters.pulumi.eventlog import run_preview, run_up
from deployctl.core.violations import CannotJudge, ExitStatus
from tests.engine_world import build_world
from tests.scenario import build, run_cli
from tests.test_pulumicli import runs, stand_in

EVENT_LOG = 'log=""; prev=""; for a in "$@"; do [ "$prev" = "--event-log" ] && log="$a"; prev="$a"; done\n'
"""Shell that finds the event log's path in the CLI's arguments, as `$log`."""

SUMMARY = {"sequence": 9, "summaryEvent": {"resourceChanges": {"same": 1, "update": 1}}}


def event_line(event: dict) -> str:
    return "printf '%s\\n' '" + json.dumps(event) + "' >> \"$log\"\n"


def test_each_event_reaches_the_sink_while_the_cli_still_runs(tmp_path: Path):
    """Live progress: the stand-in writes one event, then waits for the sink to have seen it before
    it writes the summary and exits; a reader that only read at the end would never acknowledge."""
    ack = tmp_path / "ack"
    pulumi = stand_in(tmp_path, EVENT_LOG + event_line({"sequence": 1, "diagnosticEvent": {"message": "hi"}}) + f"""
i=0; while [ ! -f {ack} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
[ -f {ack} ] || {{ echo "never acknowledged" >&2; exit 9; }}
""" + event_line(SUMMARY))
    seen: list[int] = []

    def sink(event: dict) -> None:
        seen.append(event["sequence"])
        ack.touch()

    run = run_preview(pulumi, tmp_path, {"DEPLOYCTL_PROBE": "1"}, "staging", sink)
    assert (run.code, run.output) == (0, "")
    assert seen == [1, 9] and [e["sequence"] for e in run.events] == [1, 9]
    assert run.summary() == SUMMARY["summaryEvent"]
    (args,) = runs(tmp_path)
    assert args.startswith("--non-interactive preview --stack=staging ") and "--event-log " in args


def test_the_exit_code_everything_printed_and_a_last_line_without_newline_are_kept(tmp_path: Path):
    pulumi = stand_in(tmp_path, EVENT_LOG + """printf '{"sequence": 1}' >> "$log"
echo "on stdout: $PULUMI_DEBUG_COMMANDS $DEPLOYCTL_PROBE"; echo "on stderr" >&2; exit 3""")
    run = run_preview(pulumi, tmp_path, {"DEPLOYCTL_PROBE": "given"}, "staging")
    assert run.code == 3 and run.events == [{"sequence": 1}]
    assert run.output.splitlines() == ["on stdout: true given", "on stderr"]  # the flag's switch, the engine's env


def test_an_event_that_is_not_json_is_a_cannot_judge_naming_it(tmp_path: Path):
    pulumi = stand_in(tmp_path, EVENT_LOG + event_line({"sequence": 1}) + "echo 'not json' >> \"$log\"")
    with pytest.raises(CannotJudge, match=r"event 2 of its --event-log\): b?'not json'"):
        run_preview(pulumi, tmp_path, {}, "staging")


def test_an_update_writing_an_event_that_is_not_json_runs_to_its_end_before_it_is_said(tmp_path: Path):
    """A garbled event never cuts an update short (no SIGINT mid-way): the CLI runs to its end, then
    the run is a CannotJudge naming the event."""
    finished = tmp_path / "finished"
    pulumi = stand_in(tmp_path, EVENT_LOG + "echo 'not json' >> \"$log\"\n" + f"""trap 'exit 130' INT
sleep 1; touch {finished}""" + "\n" + event_line(SUMMARY))
    with pytest.raises(CannotJudge, match=r"event 1 of its --event-log\): b?'not json'"):
        run_up(pulumi, tmp_path, {}, "staging", "a deploy")
    assert finished.exists()
    (args,) = runs(tmp_path)
    assert args.startswith("--non-interactive up --yes --skip-preview --message=a deploy ")


def test_a_missing_cli_is_a_cannot_judge(tmp_path: Path):
    with pytest.raises(CannotJudge, match=r"cannot run .*nowhere.*make setup"):
        run_preview(tmp_path / "nowhere" / "pulumi", tmp_path, {}, "staging")


def test_a_stop_cancels_the_cli_as_ctrl_c_would_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The command was interrupted: the CLI gets SIGINT (Pulumi cancels and ends its plugins), the
    events it wrote are still read, and its temp folder is gone when run_preview returns."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    pulumi = stand_in(tmp_path, EVENT_LOG + event_line({"sequence": 1}) + """trap 'echo cancelled; exit 130' INT
i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; exit 9""")
    stop = threading.Event()
    started = time.monotonic()
    run = run_preview(pulumi, tmp_path, {}, "staging", sink=lambda event: stop.set(), stop=stop)
    assert time.monotonic() - started < 10
    assert (run.code, run.output.strip(), run.events) == (130, "cancelled", [{"sequence": 1}])
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize(("body", "words"), [
    ("kill -INT $$", "was stopped before it ended"),  # a signal ended it (Ctrl-C): never run again
    ("exit 0", "wrote no engine event"),  # no event log at all: not a preview to trust
    (event_line({"sequence": 1}) + "echo 'the last words'", "ended without its summary; it printed:\nthe last words"),
], ids=["killed", "no events", "no summary"])
def test_a_run_that_cannot_be_trusted_is_a_cannot_judge_and_is_not_run_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, words: str):
    pulumi = stand_in(tmp_path, EVENT_LOG + body)
    monkeypatch.setenv("DEPLOYCTL_PULUMI", str(pulumi))
    with pytest.raises(CannotJudge, match=words):
        Engine(tmp_path).preview("staging")
    assert len(runs(tmp_path)) == 1


def test_a_failed_preview_is_a_failed_outcome_from_its_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The engine ran and failed: its error diagnostic is the cause; no second run, no Automation API."""
    urn = "urn:pulumi:staging::deploys::deploys:apps:LocalApp"
    app = {"sequence": 1, "resourcePreEvent": {"metadata": {"op": "same", "urn": f"{urn}::api",
                                                            "type": "deploys:apps:LocalApp"}}}
    error = {"sequence": 2, "diagnosticEvent": {"severity": "error", "urn": f"{urn}$x::api-release",
                                                "message": "ValueError: deploys/staging/api:1: error syntax\n"}}
    pulumi = stand_in(tmp_path, EVENT_LOG + event_line(app) + event_line(error) + "exit 1")
    monkeypatch.setenv("DEPLOYCTL_PULUMI", str(pulumi))
    outcome = Engine(tmp_path).preview("staging")
    assert not outcome.ok and "deploys/staging/api:1: error syntax" in (outcome.error or "")
    assert outcome.failed_app == "api"
    assert len(runs(tmp_path)) == 1


def test_a_run_the_engine_never_started_is_told_by_the_automation_api(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    """No event written (an unreadable backend, say): the Automation API runs it again and says why."""
    pulumi = stand_in(tmp_path, """case "$*" in
  version) echo v3.274.1 ;;
  *) echo "error: the backend cannot be read" >&2; exit 1 ;;
esac""")
    monkeypatch.setenv("DEPLOYCTL_PULUMI", str(pulumi))
    monkeypatch.setenv("DEPLOYCTL_CACHE", str(tmp_path / "cache"))
    outcome = Engine(tmp_path).preview("staging")
    assert not outcome.ok and "the backend cannot be read" in (outcome.log or "")
    previews = [r for r in runs(tmp_path) if "preview" in r]
    assert len(previews) == 2 and "tcp://" not in previews[0] and "--exec-kind auto.local" in previews[1]


@pytest.mark.engine
def test_deployctl_preview_imports_no_pulumi_and_matches_the_automation_api(tmp_path: Path):
    """On the real engine: the command's process never imports Pulumi (`-X importtime` lists every
    import), and the event log's outcome equals the Automation API's for the same change."""
    world = build_world(tmp_path, production=False)
    code, _, err = world.cli("up", "--stack", "staging")
    assert code == 0, err
    world.deploy.deploy("staging", "api", world.shas["api"][1], "second api")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "deployctl", "preview", "--base", "main",
                           "--offline", "--comment-file", str(tmp_path / "comment.md")],
                          cwd=world.root, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "deployctl.adapters.pulumi.eventlog" in imported  # the listing is whole
    assert not {m for m in imported if m == "pulumi" or m.startswith(("pulumi.", "grpc"))}
    assert "would update api-release" in proc.stderr
    engine = world.engine()
    direct, through_api = engine.preview("staging"), engine._preview_through_api("staging", None)
    assert direct.ok and direct.counts == through_api.counts and direct.counts["update"] == 1
    assert direct.changes == through_api.changes


def test_what_stops_the_safeguards_cancels_the_preview_under_way(tmp_path: Path):
    """The app repository cannot be read, so the command cannot judge: the preview running beside the
    safeguards is cancelled (SIGINT), not waited for, and the command exits 2 at once."""
    sc = build(tmp_path)
    sc.deploy.deploy("staging", "api", sc.commits["c3"], "third")
    shutil.rmtree(sc.api.path)
    cancelled = tmp_path / "cancelled"
    pulumi = stand_in(tmp_path, EVENT_LOG + event_line({"sequence": 1}) + f"""trap 'touch {cancelled}; exit 130' INT
i=0; while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done""")
    env = {**os.environ, "DEPLOYCTL_PULUMI": str(pulumi), "DEPLOYCTL_CACHE": str(tmp_path / "cache")}
    started = time.monotonic()
    code, out, err = run_cli(sc.root, "preview", "--base", "main", "--offline", env=env)
    assert code == ExitStatus.CANNOT_JUDGE, out + err
    assert time.monotonic() - started < 30 and cancelled.exists()
    assert "Traceback" not in err


def test_a_preview_that_stalls_is_ended_at_its_deadline_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A stalled engine (a backend that never answers): past DEPLOYCTL_ENGINE_TIMEOUT the CLI gets SIGINT
    and the preview is a CannotJudge naming the command, the deadline and the backend, redacted."""
    monkeypatch.setenv("DEPLOYCTL_ENGINE_TIMEOUT", "1.5")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "postgres://deploy:hunter2pw@db/state?password=s3cr3tpw")
    pulumi = stand_in(tmp_path, EVENT_LOG + event_line({"sequence": 1}) + """trap 'exit 130' INT
i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; exit 9""")
    started = time.monotonic()
    with pytest.raises(CannotJudge) as info:
        run_preview(pulumi, tmp_path, {}, "staging")
    assert time.monotonic() - started < 1.5 + 3
    message = str(info.value)
    assert "`pulumi preview --stack staging` did not end within 1.5 s (DEPLOYCTL_ENGINE_TIMEOUT)" in message
    assert "postgres://db/state?password=****" in message and "hunter2pw" not in message


def test_what_the_preview_printed_loses_the_backend_urls_credentials(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    url = "postgres://deploy:hunter2pw@db/state?password=s3cr3tpw&sslmode=disable"
    monkeypatch.setenv("PULUMI_BACKEND_URL", url)
    quoted = url.replace("hunter2pw", "[credential]")  # as the CLI quotes it
    pulumi = stand_in(tmp_path, f"echo 'error: unable to open state database \"{quoted}\"'; exit 255")
    run = run_preview(pulumi, tmp_path, {}, "staging")
    assert "unable to open state database" in run.output and "password=****" in run.output
    assert "s3cr3tpw" not in run.output and "hunter2pw" not in run.output


@pytest.mark.parametrize("pidfd", [True, False])
def test_the_wait_between_reads_wakes_when_the_cli_exits(monkeypatch: pytest.MonkeyPatch, pidfd: bool):
    """The follower waits up to its poll interval between reads; the CLI's exit ends the wait (a pidfd
    where Linux has one, else Popen's own wait), and a CLI still running keeps it the whole interval."""
    from deployctl.adapters.pulumi import eventlog

    if not pidfd:
        monkeypatch.delattr(eventlog.os, "pidfd_open", raising=False)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    watch = eventlog._ExitWatch(proc)
    try:
        assert (watch.fd is not None) == (pidfd and hasattr(os, "pidfd_open"))
        started = time.monotonic()
        watch.wait(0.05)  # still running: the whole interval
        assert proc.poll() is None and time.monotonic() - started >= 0.04
        watch.wait(60)
        assert time.monotonic() - started < 30 and proc.wait(timeout=5) == 0
    finally:
        watch.close()
        proc.kill()
        proc.wait()
