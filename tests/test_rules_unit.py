"""Each commit-graph safeguard on its own, over an in-memory graph (tests/fakes.py FakeCommits): fast
unit tests of the pure rules. test_rules.py proves the same rules against real git repositories."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deployctl.core.change import rules
from deployctl.core.change.authoring import group_still_needed
from deployctl.core.change.changes import change_shape, file_changes
from deployctl.core.change.rules import change
from deployctl.core.change.rules.registry import RULES, Family
from deployctl.core.repo.model import short
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


# -- the change family, one rule at a time (core/change/rules/change.py) ----------------------------------


def change_facts(commits: FakeCommits, production: str | None, at: datetime = NOW,
                 apps: dict | None = None) -> change.ChangeFacts:
    """The change of a PR that writes `production` as production's whole deploy file (None: deletes it),
    with the new commit resolved as the commit family resolves it."""
    before = dict(BASE)
    after = {k: v for k, v in before.items() if k != "production/api"}
    if production is not None:
        after["production/api"] = production
    base, head = snapshot(APPS, ENVS, before), snapshot(apps or APPS, ENVS, after)
    [c] = [c for c in file_changes(base, head) if c.path == "deploys/production/api"]
    matches = commits.resolve(REPO, c.new) if c.new else []
    return change.ChangeFacts(base=base, head=head, change=c, new_full=matches[0] if len(matches) == 1 else None,
                              commits=commits, at=at)


def fired(rule: change.ChangeRule, facts: change.ChangeFacts) -> str | None:
    found = rule(facts)
    assert found is None or found.rule == rule.__name__.replace("_", "-")  # each rule says only its own id
    return found.severity.value if found else None


def test_each_change_rule_is_a_registered_change_rule_named_after_its_id() -> None:
    stated = {r.id for r in RULES.values() if r.family is Family.CHANGE} - {"group-incomplete"}  # group.py
    assert [f.__name__.replace("_", "-") for f in change.CHANGE_RULES] == [
        "app-removed", "freeze-window", "history-rewritten", "multiple-new-lines", "no-op", "not-on-release-branch",
        "backward-deploy", "promotion-order"]
    assert {f.__name__.replace("_", "-") for f in change.CHANGE_RULES} == stated


def test_app_removed_warns_on_a_deleted_file_only(commits: FakeCommits) -> None:
    removed = change_facts(commits, None)
    assert fired(change.app_removed, removed) == "warning"
    assert "will be destroyed in 'production'" in str(change.app_removed(removed))
    assert fired(change.app_removed, change_facts(commits, f"{sha(3)}\n{sha(2)}\n")) is None
    # a removal is judged by no rule that needs the new line
    assert [v.rule for v in change.check_change(removed.base, removed.head, removed.change, None, commits, NOW)] == [
        "app-removed"]


def test_freeze_window_skips_a_no_op_and_a_hotfix(commits: FakeCommits) -> None:
    in_freeze = datetime(2026, 12, 24, tzinfo=UTC)
    assert fired(change.freeze_window, change_facts(commits, f"{sha(3)}\n{sha(2)}\n", at=in_freeze)) == "error"
    assert fired(change.freeze_window, change_facts(commits, f"{sha(3)}\n{sha(2)}\n")) is None  # not frozen now
    assert fired(change.freeze_window, change_facts(commits, f"{sha(3)} x [hotfix]\n{sha(2)}\n", at=in_freeze)) is None
    assert fired(change.freeze_window, change_facts(commits, f"{sha(2)} again\n{sha(2)}\n", at=in_freeze)) is None
    assert fired(change.freeze_window, change_facts(commits, None, at=in_freeze)) == "error"  # a removal deploys too


def test_history_rewritten_on_an_edited_line_even_of_a_no_op(commits: FakeCommits) -> None:
    assert fired(change.history_rewritten, change_facts(commits, f"{sha(3)}\n")) == "error"  # replaced, not prepended
    assert fired(change.history_rewritten, change_facts(commits, f"{sha(2)} now with a comment\n")) == "error"
    assert fired(change.history_rewritten, change_facts(commits, f"{sha(3)}\n{sha(2)}\n")) is None
    unknown = {"other": APPS["api"]}  # the app left the catalog: unknown-app says why, not this rule
    assert fired(change.history_rewritten, change_facts(commits, f"{sha(3)}\n", apps=unknown)) is None


def test_history_rewritten_allows_cutting_old_lines_from_the_bottom_only(commits: FakeCommits) -> None:
    base = f"{sha(2)} runs\n{sha(1)} before\n# a note\n{sha(1)} first\n"
    for kept, ok in ((f"{sha(2)} runs\n{sha(1)} before\n", True), (f"{sha(2)} runs\n", True),
                     (f"{sha(2)} runs\n# a note\n", False), ("", False), (f"{sha(1)} before\n", False)):
        for top in ("", f"{sha(3)} promote\n"):
            shape = change_shape(base.encode(), (top + kept).encode())
            assert (shape is not None) is ok, (top, kept)
            if shape is not None:
                assert shape.prepended == top.encode() and base.encode().endswith(shape.trimmed)
    assert change_shape(base.encode(), (f"{sha(3)}\n" + base).encode()) == (f"{sha(3)}\n".encode(), b"")
    assert fired(change.history_rewritten, change_facts(commits, f"{sha(3)}\n{sha(2)}\n")) is None


def test_multiple_new_lines_on_an_update_a_no_op_and_a_new_file(commits: FakeCommits) -> None:
    assert fired(change.multiple_new_lines, change_facts(commits, f"{sha(3)} one\n\n{sha(2)}\n")) is None
    two = change_facts(commits, f"{sha(3)} reviewed\n{sha(1)} slipped in\n{sha(2)}\n")
    assert fired(change.multiple_new_lines, two) == "error"
    assert "adds 2 lines on top" in (change.multiple_new_lines(two) or pytest.fail()).message
    noop = change_facts(commits, f"{sha(2)} again\n{sha(5)} never ran\n{sha(2)}\n")  # same commit on top
    assert fired(change.multiple_new_lines, noop) == "error"
    base, head = (snapshot(APPS, ENVS, {}), snapshot(APPS, ENVS, {"staging/api": f"{sha(3)} new\n{sha(1)} old\n"}))
    found = {v.rule: v for v in rules.check(head, commits, base, NOW)}
    assert found["multiple-new-lines"].message.startswith("the new file has 2 lines")
    assert found["multiple-new-lines"].line == 1


def test_an_oversized_file_is_trimmed_and_deployed_in_one_change(commits: FakeCommits) -> None:
    from deployctl.core.repo.model import MAX_BYTES

    old_line = f"{sha(1)} an old deploy with a comment\n"
    history = old_line * (MAX_BYTES // len(old_line) + 1)
    before = {**BASE, "production/api": f"{sha(2)} runs\n" + history}
    assert len(before["production/api"]) > MAX_BYTES
    base = snapshot(APPS, ENVS, before)
    assert "syntax" in {v.rule for v in base.all_violations()}  # it can never deploy as it is

    def judged(production: str) -> set[str]:
        head = snapshot(APPS, ENVS, {**before, "production/api": production})
        return {v.rule for v in rules.check(head, commits, base, NOW) if v.severity is Severity.ERROR}

    kept = f"{sha(2)} runs\n" + old_line * 1000
    assert judged(kept) == set()  # only cut
    assert judged(f"{sha(3)} promote\n" + kept) == set()  # cut, and the next deploy on top
    assert judged(f"{sha(1)} back\n" + kept) == {"backward-deploy"}  # judged against what ran
    assert judged(f"{sha(3)} promote\n{sha(3)} twice\n" + kept) == {"multiple-new-lines"}
    assert judged(f"{sha(3)} promote\n" + old_line * 1000) == {"history-rewritten"}  # the running line went


def test_a_file_with_crlf_line_ends_is_repaired_and_deployed_in_one_change(commits: FakeCommits) -> None:
    # a file merged before control characters were refused
    before = {**BASE, "production/api": f"{sha(2)} runs\r\n{sha(1)} before\x1b[8m\r\n"}
    base = snapshot(APPS, ENVS, before)

    def judged(production: str) -> set[str]:
        head = snapshot(APPS, ENVS, {**before, "production/api": production})
        return {v.rule for v in rules.check(head, commits, base, NOW) if v.severity is Severity.ERROR}

    assert judged(f"{sha(2)} runs\n{sha(1)} before[8m\n") == set()  # only repaired
    assert judged(f"{sha(3)} promote\n{sha(2)} runs\n{sha(1)} before[8m\n") == set()  # repaired, next deploy on top
    assert judged(f"{sha(1)} back\n{sha(2)} runs\n{sha(1)} before[8m\n") == {"backward-deploy"}  # against what ran
    assert judged(f"{sha(3)} promote\n{sha(2)} runs\n") == set()  # repaired and trimmed
    assert judged(f"{sha(3)} promote\n{sha(2)} edited\n{sha(1)} before[8m\n") == {"history-rewritten"}
    assert judged(f"{sha(3)} promote\n" + before["production/api"]) == {"syntax"}  # the CRs must go


def test_no_op_warns_and_the_deploying_rules_skip_it(commits: FakeCommits) -> None:
    noop = change_facts(commits, f"{sha(2)} again\n{sha(2)}\n", at=datetime(2026, 12, 24, tzinfo=UTC))
    assert fired(change.no_op, noop) == "warning"
    assert [v.rule for v in change.check_change(noop.base, noop.head, noop.change, noop.new_full, commits, noop.at)] \
        == ["no-op"]
    assert fired(change.no_op, change_facts(commits, f"{sha(3)}\n{sha(2)}\n")) is None


def test_not_on_release_branch_and_its_hotfix_exception(commits: FakeCommits) -> None:
    assert fired(change.not_on_release_branch, change_facts(commits, f"{sha(5)} old\n{sha(2)}\n")) == "error"
    assert fired(change.not_on_release_branch, change_facts(commits, f"{sha(6)} x [hotfix]\n{sha(2)}\n")) is None
    off = change.not_on_release_branch(change_facts(commits, f"{sha(5)} x [hotfix]\n{sha(2)}\n"))
    assert off is not None and "is not a descendant of" in off.message
    assert fired(change.not_on_release_branch, change_facts(commits, f"{sha(3)}\n{sha(2)}\n")) is None


def test_backward_deploy_older_or_diverged_unless_rollback(commits: FakeCommits) -> None:
    older = change.backward_deploy(change_facts(commits, f"{sha(1)} back\n{sha(2)}\n"))
    assert older is not None and older.rule == "backward-deploy" and "is older than" in older.message
    diverged = change.backward_deploy(change_facts(commits, f"{sha(5)} x [hotfix]\n{sha(2)}\n"))
    assert diverged is not None and "have diverged" in diverged.message
    assert fired(change.backward_deploy, change_facts(commits, f"{sha(1)} back [rollback]\n{sha(2)}\n")) is None
    assert fired(change.backward_deploy, change_facts(commits, f"{sha(3)}\n{sha(2)}\n")) is None


def test_a_deploy_over_a_commit_gone_from_the_app_repository_is_a_backward_deploy() -> None:
    """Production runs 2, but the release branch was force-pushed to 1 - 3: 2 is no longer in the
    repository, so nothing can tell whether 3 is newer. An error, unless a tag accepts it (a warning)."""
    gone = FakeCommits()
    gone.commit(REPO, sha(1), branch="main")
    gone.commit(REPO, sha(3), sha(1), branch="main")
    facts = change_facts(gone, f"{sha(3)} promote\n{sha(2)}\n")
    assert facts.old_gone and facts.old_full is None
    found = change.backward_deploy(facts) or pytest.fail("a gone commit passed silently")
    assert (found.severity, found.file, found.line) == (Severity.ERROR, "deploys/production/api", 1)
    assert f"{short(sha(2))}, which 'production' runs now, is no longer in api's repository" in found.message
    assert "cannot be told" in found.message and "[rollback]" in found.message
    for tag in ("rollback", "hotfix"):
        assert fired(change.backward_deploy, change_facts(gone, f"{sha(3)} x [{tag}]\n{sha(2)}\n")) == "warning"
    # the same graph, where 2 is still found (an old cache holds it): an answer, judged as ever
    assert not change_facts(FakeCommits(parents={REPO: {**gone.parents[REPO], sha(2): (sha(1),)}},
                                        branches=gone.branches), f"{sha(3)}\n{sha(2)}\n").old_gone
    # through check(): protected production, and an unprotected env alike
    assert "backward-deploy" in errors_of(gone, f"{sha(3)} promote\n")
    head = snapshot(APPS, ENVS, {**BASE, "staging/api": f"{sha(3)} [rollback]\n{sha(2)}\n"})
    before = snapshot(APPS, ENVS, {**BASE, "staging/api": f"{sha(2)}\n"})
    assert {(v.rule, v.severity) for v in rules.check(head, gone, before, NOW) if v.app == "api"
            and v.env == "staging"} == {("backward-deploy", Severity.WARNING)}
    head = snapshot(APPS, ENVS, {**BASE, "staging/api": f"{sha(3)}\n{sha(2)}\n"})
    assert ("backward-deploy", Severity.ERROR) in {(v.rule, v.severity) for v in rules.check(head, gone, before, NOW)}


def test_promotion_order_reads_the_upstream_file_at_the_base(commits: FakeCommits) -> None:
    assert fired(change.promotion_order, change_facts(commits, f"{sha(4)} skip\n{sha(2)}\n")) == "error"
    assert fired(change.promotion_order, change_facts(commits, f"{sha(3)} promote\n{sha(2)}\n")) is None
    assert fired(change.promotion_order, change_facts(commits, f"{sha(4)} x [hotfix]\n{sha(2)}\n")) is None


def test_the_commit_rules_need_the_new_commit_resolved(commits: FakeCommits) -> None:
    unresolved = change_facts(commits, f"{'b' * 40} typo\n{sha(2)}\n")  # commit-not-found says why
    assert unresolved.new_full is None
    for rule in (change.not_on_release_branch, change.backward_deploy, change.promotion_order):
        assert fired(rule, unresolved) is None


def test_group_incomplete_and_the_bump_note_are_one_judgement(commits: FakeCommits) -> None:
    apps = {"api": {"kind": "local", "repo": REPO, "group": "core"},
            "worker": {"kind": "local", "repo": REPO, "group": "core"}, "web": {"kind": "local", "repo": REPO}}
    files = {"staging/api": f"{sha(2)}\n", "staging/worker": f"{sha(2)}\n", "staging/web": f"{sha(2)}\n"}
    base = snapshot(apps, {"staging": {}}, files)
    half = snapshot(apps, {"staging": {}}, {**files, "staging/api": f"{sha(3)}\n{sha(2)}\n"})
    whole = snapshot(apps, {"staging": {}}, {**files, "staging/api": f"{sha(3)}\n{sha(2)}\n",
                                             "staging/worker": f"{sha(3)}\n{sha(2)}\n"})
    [v] = [v for v in rules.check(half, commits, base, NOW) if v.rule == "group-incomplete"]
    assert v.app == "api" and "deploys/staging/worker" in v.message
    assert group_still_needed(base, half, "staging", "api") == ("core", ["worker"])
    assert "group-incomplete" not in {v.rule for v in rules.check(whole, commits, base, NOW)}
    assert group_still_needed(base, whole, "staging", "api") == ("core", [])
    assert group_still_needed(base, half, "staging", "web") == (None, [])
    assert group_still_needed(base, half, "staging", "worker") == ("core", [])  # not written by this PR
