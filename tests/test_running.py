"""One judgement from what runs to what will run (core/change/running.py): the change rules judge each app whose
running commit (Pulumi's record) differs from its deploy file, with or without a base; over an
in-memory commit graph (tests/fakes.py). The real engine's side is in tests/test_adversarial.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deployctl.core.change import rules
from deployctl.core.change.plan import runs_that_start, skips_ci
from deployctl.core.change.running import Running, deployed_commits, running_base
from deployctl.core.violations import Severity
from tests.fakes import FakeCommits, snapshot

FROZEN = datetime(2026, 12, 24, 12, tzinfo=UTC)
OPEN = datetime(2026, 12, 1, 12, tzinfo=UTC)
API, WEB = "../apps/api", "../apps/web"


def sha(n: int) -> str:
    return f"{n:x}" + "0" * 39


@pytest.fixture
def commits() -> FakeCommits:
    """api and web: main 1 - 2 - 3 each."""
    g = FakeCommits()
    for repo in (API, WEB):
        g.commit(repo, sha(1), branch="main")
        g.commit(repo, sha(2), sha(1), branch="main")
        g.commit(repo, sha(3), sha(2), branch="main")
    return g


APPS = {"api": {"kind": "local", "repo": API, "group": "shop"}, "web": {"kind": "local", "repo": WEB, "group": "shop"}}
ENVS = {"staging": {}, "production": {"promoteFrom": "staging",
                                      "freeze": [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z",
                                                  "reason": "year-end"}]}}


def errors(head_files: dict[str, str], deployed: dict[str, dict[str, str]], envs: set[str], commits: FakeCommits,
           base_files: dict[str, str] | None = None, at: datetime = FROZEN) -> set[str]:
    head = snapshot(APPS, ENVS, head_files)
    base = snapshot(APPS, ENVS, base_files) if base_files is not None else None
    found = rules.check(head, commits, base, at, running=Running(deployed=deployed, envs=frozenset(envs)))
    return {v.rule for v in found if v.severity is Severity.ERROR}


# The merge wrote production's lines before the freeze; its `up` was refused, so production still runs 1.
MERGED = {"staging/api": f"{sha(2)}\n{sha(1)}\n", "staging/web": f"{sha(2)}\n{sha(1)}\n",
          "production/api": f"{sha(2)} promote\n{sha(1)}\n", "production/web": f"{sha(2)} promote\n{sha(1)}\n"}
RUNS = {"staging": {"api": sha(2), "web": sha(2)}, "production": {"api": sha(1), "web": sha(1)}}


def test_without_a_base_a_retry_is_judged_from_what_runs_by_every_change_rule(commits: FakeCommits) -> None:
    assert errors(MERGED, RUNS, {"production"}, commits) == {"freeze-window"}
    assert errors(MERGED, RUNS, {"production"}, commits, at=OPEN) == set()
    assert errors(MERGED, {**RUNS, "production": {"api": sha(2), "web": sha(2)}}, {"production"}, commits) == set()


def test_half_a_group_against_what_runs_is_group_incomplete(commits: FakeCommits) -> None:
    runs = {**RUNS, "production": {"api": sha(2), "web": sha(1)}}  # web's line merged alone; api already ran 2
    head = {**MERGED, "production/web": f"{sha(3)}\n{sha(1)}\n", "staging/web": f"{sha(3)}\n{sha(2)}\n{sha(1)}\n"}
    runs["staging"] = {"api": sha(2), "web": sha(3)}
    assert errors(head, runs, {"production"}, commits, at=OPEN) == {"group-incomplete"}


def test_promotion_order_asks_what_ran_upstream_not_what_its_file_says(commits: FakeCommits) -> None:
    # staging's file names 2 (merged with production's line), but staging still runs 1
    runs = {"staging": {"api": sha(1), "web": sha(1)}, "production": {"api": sha(1), "web": sha(1)}}
    assert errors(MERGED, runs, {"production"}, commits, at=OPEN) == {"promotion-order"}
    # staging itself is not judged when only production deploys: its pending change is its own run's
    assert errors(MERGED, runs, {"staging", "production"}, commits, at=OPEN) == {"promotion-order"}


def test_a_backward_deploy_is_judged_against_what_runs_not_the_files_top(commits: FakeCommits) -> None:
    # production's file says 2 on top of 1, but a switch-back left it running 3 (a hand deploy, say)
    runs = {**RUNS, "production": {"api": sha(3), "web": sha(2)}}
    head = {**MERGED, "production/api": f"{sha(2)}\n{sha(3)}\n{sha(1)}\n", "staging/api": f"{sha(3)}\n{sha(2)}\n"}
    runs["staging"] = {"api": sha(3), "web": sha(2)}
    assert "backward-deploy" in errors(head, runs, {"production"}, commits, at=OPEN)
    assert "backward-deploy" not in errors(head, {}, {"production"}, commits, at=OPEN)  # git alone sees no change


def test_a_commit_that_runs_but_is_gone_from_the_app_repository_is_a_backward_deploy() -> None:
    """Production runs 2 (Pulumi's record); the release branch was force-pushed to 1 - 3, so 2 is no
    longer in the repository: a deploy of 3 judged from what runs, with or without a base, cannot be
    told newer and is refused as a bump or a check --base refuses it."""
    gone = FakeCommits()
    for repo in (API, WEB):
        gone.commit(repo, sha(1), branch="main")
        gone.commit(repo, sha(3), sha(1), branch="main")
    runs = {"staging": {"api": sha(3), "web": sha(3)}, "production": {"api": sha(2), "web": sha(2)}}
    head = {"staging/api": f"{sha(3)}\n", "staging/web": f"{sha(3)}\n",
            "production/api": f"{sha(3)} promote\n{sha(2)}\n{sha(1)}\n",
            "production/web": f"{sha(3)} promote\n{sha(2)}\n{sha(1)}\n"}
    assert errors(head, runs, {"production"}, gone, at=OPEN) == {"backward-deploy"}
    base = {**head, "production/api": f"{sha(2)}\n{sha(1)}\n", "production/web": f"{sha(2)}\n{sha(1)}\n"}
    assert errors(head, runs, {"production"}, gone, base_files=base, at=OPEN) == {"backward-deploy"}
    assert errors(head, {}, {"production"}, gone, base_files=base, at=OPEN) == {"backward-deploy"}  # as git says
    found = rules.check(snapshot(APPS, ENVS, head), gone, None, OPEN,
                        running=Running(deployed=runs, envs=frozenset({"production"})))
    assert {(v.file, v.line) for v in found if v.rule == "backward-deploy"} == {
        ("deploys/production/api", 1), ("deploys/production/web", 1)}
    assert errors(head, {**runs, "production": {"api": sha(1), "web": sha(1)}}, {"production"}, gone, at=OPEN) \
        == set()  # what runs is found: judged as ever (1 is below 3)


def test_with_a_base_history_is_judged_on_the_reviewed_bytes(commits: FakeCommits) -> None:
    base = dict(MERGED)
    edited = {**MERGED, "production/api": f"{sha(2)} promote\n{sha(1)} edited\n"}  # the PR edited the line that ran
    assert "history-rewritten" in errors(edited, RUNS, {"production"}, commits, base_files=base, at=OPEN)
    # without a base, a head whose file lost the line that runs is history rewritten too
    rewritten = {**MERGED, "production/api": f"{sha(2)} promote\n"}
    assert "history-rewritten" in errors(rewritten, RUNS, {"production"}, commits, at=OPEN)


def test_an_env_pulumi_has_no_record_of_is_judged_as_git_says(commits: FakeCommits) -> None:
    assert errors(MERGED, {}, {"production"}, commits) == set()  # first deploy of a new env, no base
    base = {**MERGED, "production/api": f"{sha(1)}\n", "production/web": f"{sha(1)}\n"}
    assert errors(MERGED, {}, {"production"}, commits, base_files=base) == {"freeze-window"}


def test_the_running_base_keeps_the_file_as_it_ran() -> None:
    head = snapshot(APPS, ENVS, MERGED)
    base = running_base(head, head, RUNS)
    assert base.tree.get("production", "api").commits() == [sha(1)]  # type: ignore[union-attr]
    assert base.tree.raw["deploys/staging/api"] == head.tree.raw["deploys/staging/api"]  # what runs: no change
    assert running_base(head, head, {"production": {}}).tree.get("production", "api") is None  # runs nothing


def test_the_deployed_output_read_as_app_commits() -> None:
    outputs = {"deployed": {"api": {"commit": sha(1), "kind": "local"}, "web": {"commit": "not a hash"},
                            "odd": "x"}}
    assert deployed_commits(outputs) == {"api": sha(1)}
    assert deployed_commits({}) is None and deployed_commits(None) is None


@pytest.mark.parametrize("message", ["Merge pull request #2 [skip ci]", "x\n\n[CI SKIP]", "[no ci] y", "[skip actions]",
                                     "[actions skip]", "***NO_CI***", "subject\n\n\nskip-checks: true"])
def test_a_ci_skip_marker_in_a_commit_message(message: str) -> None:
    assert skips_ci(message)


def test_a_run_starts_only_when_no_commit_up_to_it_skips_ci() -> None:
    log = [("d", ("c",), "fourth"), ("c", ("b",), "third [skip ci]"), ("b", ("a",), "second"), ("a", ("z",), "first")]
    assert runs_that_start(log) == {"a", "b"}
    assert not skips_ci("Merge pull request #3: skip the CI cache")
