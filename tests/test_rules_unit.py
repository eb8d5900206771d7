"""Each commit-graph safeguard on its own, over an in-memory graph (tests/fakes.py FakeCommits): fast
unit tests of the pure rules. test_rules.py proves the same rules against real git repositories."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deployctl.core import rules
from deployctl.core.violations import Severity
from tests.fakes import FakeCommits, snapshot

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
REPO = "../apps/api"


def sha(n: int) -> str:
    return f"{n:x}" + "0" * 39


@pytest.fixture
def commits() -> FakeCommits:
    """main: 1 - 2 - 3 - 4; release/1.x: 1 - 5; hotfix/urgent: 2 - 6 (on what production runs)."""
    g = FakeCommits()
    g.commit(REPO, sha(1), branch="main")
    g.commit(REPO, sha(5), sha(1), branch="release/1.x")
    g.commit(REPO, sha(2), sha(1), branch="main")
    g.commit(REPO, sha(6), sha(2), branch="hotfix/urgent")
    g.commit(REPO, sha(3), sha(2), branch="main")
    g.commit(REPO, sha(4), sha(3), branch="main")
    return g


APPS = {"api": {"kind": "local", "repo": REPO}}
ENVS = {"staging": {}, "production": {"protected": True, "promoteFrom": "staging", "reviewers": ["@acme/release"],
                                      "freeze": [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z",
                                                  "reason": "year-end"}]}}
BASE = {"staging/api": f"{sha(3)}\n{sha(1)}\n", "production/api": f"{sha(2)}\n"}


def errors_of(commits: FakeCommits, production: str, at: datetime = NOW, ran_upstream: str = "") -> set[str]:
    """The errors of a PR that prepends `production` to production's file, on a base where staging
    also ran `ran_upstream`."""
    before = {**BASE, "staging/api": ran_upstream + BASE["staging/api"]}
    base = snapshot(APPS, ENVS, before)
    head = snapshot(APPS, ENVS, {**before, "production/api": production + BASE["production/api"]})
    return {v.rule for v in rules.check(head, commits, base, at) if v.severity is Severity.ERROR}


def test_a_promotion_of_what_ran_upstream_passes(commits: FakeCommits) -> None:
    assert errors_of(commits, f"{sha(3)} promote\n") == set()


def test_a_commit_of_an_old_branch(commits: FakeCommits) -> None:
    assert errors_of(commits, f"{sha(5)} oops\n") >= {"not-on-release-branch"}


def test_hotfix_allows_a_descendant_of_what_runs_and_only_that(commits: FakeCommits) -> None:
    assert errors_of(commits, f"{sha(6)} urgent [hotfix]\n") == set()
    assert "not-on-release-branch" in errors_of(commits, f"{sha(5)} urgent [hotfix]\n")


def test_backward_and_diverged_deploys_and_the_rollback_tag(commits: FakeCommits) -> None:
    assert "backward-deploy" in errors_of(commits, f"{sha(1)} back\n")
    assert errors_of(commits, f"{sha(1)} back [rollback]\n") == set()
    assert "backward-deploy" in errors_of(commits, f"{sha(5)} diverged [hotfix]\n")


def test_promotion_order(commits: FakeCommits) -> None:
    assert "promotion-order" in errors_of(commits, f"{sha(4)} skip staging\n")
    assert errors_of(commits, f"{sha(4)} promote\n", ran_upstream=f"{sha(4)}\n") == set()


def test_unknown_and_ambiguous_commits(commits: FakeCommits) -> None:
    assert "commit-not-found" in errors_of(commits, f"{'b' * 40} typo\n")
    commits.commit(REPO, "abcdef1" + "0" * 33, sha(4))
    commits.commit(REPO, "abcdef1" + "1" * 33, sha(4))
    assert "ambiguous-commit" in errors_of(commits, "abcdef1 short\n")


def test_freeze_window(commits: FakeCommits) -> None:
    in_freeze = datetime(2026, 12, 24, tzinfo=UTC)
    assert "freeze-window" in errors_of(commits, f"{sha(3)} promote\n", at=in_freeze)
    assert "freeze-window" not in errors_of(commits, f"{sha(3)} promote [hotfix]\n", at=in_freeze)


def test_path_not_found_asks_the_oracle_and_an_oracle_that_cannot_answer_judges_nothing(commits: FakeCommits) -> None:
    apps = {"api": {"kind": "local", "repo": REPO, "path": "services/api"}}
    head = snapshot(apps, {"staging": {}}, {"staging/api": f"{sha(3)}\n"})
    assert "path-not-found" not in {v.rule for v in rules.check(head, commits)}
    commits.paths[(REPO, sha(3))] = {"README.md"}
    assert "path-not-found" in {v.rule for v in rules.check(head, commits)}
    commits.paths[(REPO, sha(3))] = {"services/api"}
    assert "path-not-found" not in {v.rule for v in rules.check(head, commits)}


def test_the_fake_is_a_commit_graph(commits: FakeCommits) -> None:
    assert commits.is_ancestor(REPO, sha(1), sha(4)) and not commits.is_ancestor(REPO, sha(4), sha(1))
    assert commits.on_branch(REPO, sha(2), "main") and not commits.on_branch(REPO, sha(5), "main")
    assert commits.resolve(REPO, sha(3)[:10]) == [sha(3)] and commits.resolve("elsewhere", "a") == []
