"""deployctl preview before and after the engine: what its options need is refused before any work, a
failed preview says why on stderr, and a clean checkout is named by its commit."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployctl.commands.preview import build_preview
from tests.builders import FIXTURES
from tests.scenario import Scenario, build, run_cli


@pytest.fixture
def sc(tmp_path: Path) -> Scenario:
    sc = build(tmp_path)
    sc.deploy.deploy("staging", "api", sc.commits["c4"], "fourth")
    sc.deploy.commit("api four to staging")
    return sc


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_"))}
    return {**env, **extra}


def _no_work_done(sc: Scenario, err: str) -> None:
    assert "running the safeguards" not in err and "pulumi preview" not in err
    assert not (sc.root / ".pulumi-state").exists()  # the engine never started


def test_post_outside_a_pull_request_is_refused_before_any_work(sc: Scenario):
    code, out, err = run_cli(sc.root, "preview", "--base", "HEAD~1", "--post", env=_env())
    assert code == 2 and out == ""
    assert "--post comments on a pull request" in err and "GITHUB_EVENT_PATH is not set" in err
    _no_work_done(sc, err)


def test_post_without_a_token_is_refused_before_any_work(sc: Scenario):
    event = str(FIXTURES / "github-events" / "pull_request.opened.json")
    code, _, err = run_cli(sc.root, "preview", "--base", "HEAD~1", "--post",
                           env=_env(GITHUB_EVENT_PATH=event, GITHUB_EVENT_NAME="pull_request",
                                    GITHUB_REPOSITORY="acme/deploys"))
    assert code == 2 and "GITHUB_TOKEN is not set" in err
    _no_work_done(sc, err)


@pytest.mark.parametrize("where", ["missing/comment.md", "."])
def test_a_comment_file_that_cannot_be_written_is_refused_before_any_work(sc: Scenario, where: str):
    code, _, err = run_cli(sc.root, "preview", "--base", "HEAD~1", "--comment-file", where, env=_env())
    assert code == 2 and f"cannot write {where}" in err and "choose a writable path" in err
    _no_work_done(sc, err)


def test_a_status_page_that_cannot_be_written_is_refused_before_status_reads_anything(sc: Scenario):
    code, _, err = run_cli(sc.root, "status", "--html", "missing/status.html", env=_env())
    assert code == 2 and "cannot write missing/status.html: No such file or directory" in err


def test_a_clean_checkout_is_named_by_its_commit_and_a_changed_one_is_the_working_tree(sc: Scenario,
                                                                                        monkeypatch):
    for name in ("GITHUB_EVENT_PATH", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    now = datetime.now(UTC)
    head = sc.deploy.repo.head.commit.hexsha
    report, _ = build_preview(sc.root, "HEAD~1", None, now, run_engine=False)
    assert report.head == head
    (sc.root / "deploys" / "staging" / "web").write_text(sc.commits["w2"] + " not committed\n" +
                                                         (sc.root / "deploys" / "staging" / "web").read_text())
    report, _ = build_preview(sc.root, "HEAD~1", None, now, run_engine=False)
    assert report.head is None  # what the engine would preview is not a commit anyone can name
