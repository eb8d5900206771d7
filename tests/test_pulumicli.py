"""The Pulumi CLI's version, asked once per binary (adapters/pulumi/cli.py), with real processes: a
stand-in `pulumi` script counts its runs; a missing or failing one is a CannotJudge, never a hang."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from deployctl.adapters.pulumi import cli as pulumicli
from deployctl.core.violations import CannotJudge, ExitStatus
from tests.scenario import build, run_cli


def stand_in(tmp_path: Path, body: str) -> Path:
    """A `pulumi` in <tmp>/bin that records each run in <tmp>/runs, then runs `body`."""
    script = tmp_path / "bin" / "pulumi"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'runs'}\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def runs(tmp_path: Path) -> list[str]:
    log = tmp_path / "runs"
    return log.read_text().splitlines() if log.exists() else []


def test_the_version_is_asked_once_per_process(tmp_path: Path):
    pulumi = stand_in(tmp_path, "echo v3.274.1")
    assert pulumicli.version_of(pulumi) == "v3.274.1"
    assert pulumicli.version_of(pulumi) == "v3.274.1"  # known now: not run again
    assert runs(tmp_path) == ["version"]


def test_the_engine_builds_its_command_from_that_version_without_running_it_again(tmp_path: Path):
    from deployctl.adapters.pulumi.automation import command_for

    pulumi = stand_in(tmp_path, "echo v3.274.1")
    pulumicli.version_of(pulumi)
    command = command_for(pulumi)
    assert command.command == str(pulumi.resolve())
    assert str(command.version) == "3.274.1"
    assert runs(tmp_path) == ["version"]
    unpacked = stand_in(tmp_path / "tarball", "echo v3.275.0")  # a release tarball: pulumi/pulumi, no bin/
    target = unpacked.parent.parent / "pulumi" / "pulumi"
    target.parent.mkdir()
    unpacked.rename(target)
    assert command_for(target).command == str(target.resolve())


def test_a_failing_cli_is_a_cannot_judge_naming_its_error(tmp_path: Path):
    pulumi = stand_in(tmp_path, "echo 'broken install' >&2; exit 3")
    with pytest.raises(CannotJudge, match="version` failed: broken install"):
        pulumicli.version_of(pulumi)
    with pytest.raises(CannotJudge):  # not cached: a later call runs it again
        pulumicli.version_of(pulumi)
    assert runs(tmp_path) == ["version", "version"]


def test_a_missing_cli_is_a_cannot_judge(tmp_path: Path):
    with pytest.raises(CannotJudge, match=r"cannot run .*make setup"):
        pulumicli.version_of(tmp_path / "nowhere" / "pulumi")


def test_a_cli_that_never_answers_times_out(tmp_path: Path):
    pulumi = stand_in(tmp_path, "exec sleep 30")
    with pytest.raises(CannotJudge, match="did not answer in 1 s"):
        pulumicli.version_of(pulumi, timeout=1)


def test_preview_without_a_cli_exits_2_with_the_reason_from_the_preview_thread(tmp_path: Path):
    """The previews run in a thread beside the safeguards; what stops them reaches the command's
    caller as the same error and exit status as before, not a traceback from a thread."""
    sc = build(tmp_path)
    sc.deploy.deploy("staging", "api", sc.commits["c3"], "third")
    env = {**os.environ, "DEPLOYCTL_PULUMI": str(tmp_path / "nowhere" / "pulumi")}
    code, out, err = run_cli(sc.root, "preview", "--base", "main", "--offline", env=env)
    assert code == ExitStatus.CANNOT_JUDGE, out + err
    assert "cannot run" in err and "nowhere" in err
    assert "Traceback" not in err


def forget(pulumi: Path) -> None:
    """A new process: nothing known in memory (the cache folder stays)."""
    pulumicli._KNOWN.pop(pulumi, None)


def test_the_version_is_kept_in_the_cache_for_exactly_this_binary(tmp_path: Path):
    pulumi = stand_in(tmp_path, "echo v3.274.1")
    assert pulumicli.version_of(pulumi) == "v3.274.1"
    forget(pulumi)
    assert pulumicli.version_of(pulumi) == "v3.274.1"  # from the cache folder
    assert runs(tmp_path) == ["version"]
    forget(pulumi)
    stand_in(tmp_path, "echo v3.275.0")  # a new build: other size, other mtime
    os.utime(pulumi, ns=(1, 1))
    assert pulumicli.version_of(pulumi) == "v3.275.0"
    assert runs(tmp_path) == ["version", "version"]


def test_a_garbled_or_unwritable_cache_only_costs_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pulumi = stand_in(tmp_path, "echo v3.274.1")
    cache = tmp_path / "cache"
    monkeypatch.setenv("DEPLOYCTL_CACHE", str(cache))
    cache.mkdir()
    (cache / pulumicli.VERSIONS_FILE).write_text('["not", "a", "mapping"]')
    assert pulumicli.version_of(pulumi) == "v3.274.1"
    forget(pulumi)
    (cache / pulumicli.VERSIONS_FILE).write_text(json.dumps({pulumicli._identity(pulumi): "$(rm -rf /)"}))
    assert pulumicli.version_of(pulumi) == "v3.274.1"  # not a version: asked again
    forget(pulumi)
    monkeypatch.setenv("DEPLOYCTL_CACHE", "/proc/no-such-dir")
    assert pulumicli.version_of(pulumi) == "v3.274.1"
    assert runs(tmp_path) == ["version"] * 3
