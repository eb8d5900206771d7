"""Live progress lines from real engine event streams (recorded by scripts/record-engine-events)."""

from __future__ import annotations

import json

import pytest

from deployctl.adapters.pulumi.progress import ResourceProgress, step_line
from tests.builders import FIXTURES


def stream(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "engine-events" / f"{name}.jsonl").read_text().splitlines()]


def lines(name: str, preview: bool = False) -> list[str]:
    started: dict[str, int] = {}
    return [line for e in stream(name) if (line := step_line("staging", e, started, preview)) is not None]


def test_an_up_says_each_step_as_it_starts_and_ends():
    got = lines("up-update")
    assert "staging: update api-release (pulumi-python:dynamic:Resource): commit, keep_releases ..." in got
    done = [line for line in got if line.startswith("staging: updated api-release")]
    assert len(done) == 1 and done[0].endswith("s")  # with its duration
    assert got.index(done[0]) > got.index(
        "staging: update api-release (pulumi-python:dynamic:Resource): commit, keep_releases ...")
    assert not any("web-release" in line for line in got)  # unchanged resources stay quiet


def test_a_preview_says_what_would_change_once():
    assert [line for line in lines("preview-replace", preview=True) if "release" in line] == [
        "staging: would replace api-release (pulumi-python:dynamic:Resource): deploy_root",
        "staging: would replace web-release (pulumi-python:dynamic:Resource): deploy_root",
    ]


def test_a_failed_step_is_named():
    failed = [line for line in lines("up-failed") if "FAILED" in line]
    assert failed and failed[0].startswith("staging: FAILED to create-replacement api-release")


def test_the_sink_prints_lines_and_keeps_warnings(capsys: pytest.CaptureFixture[str]):
    sink = ResourceProgress("staging")
    for event in stream("up-update"):
        sink(event)
    sink({"diagnosticEvent": {"message": "slow disk\n", "severity": "warning", "urn": ""}})
    err = capsys.readouterr().err
    assert "staging: updated api-release" in err
    assert sink.warnings == ("slow disk",)
