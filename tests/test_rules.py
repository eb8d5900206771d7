"""Every safeguard, both ways, through the library and through `deployctl check`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployctl.adapters.git.apprepos import AppRepos
from deployctl.adapters.git.reads import commit_snapshot, worktree_snapshot
from deployctl.adapters.git.repo import open_git
from deployctl.core.change import rules
from tests.scenario import Scenario, build, rules_of

BEFORE_FREEZE = "2026-12-01T12:00:00Z"
IN_FREEZE = "2026-12-24T12:00:00Z"


@pytest.fixture
def sc(tmp_path: Path) -> Scenario:
    return build(tmp_path)


def library_rules(sc: Scenario, at: str = BEFORE_FREEZE) -> set[str]:
    head = worktree_snapshot(sc.root)
    base = commit_snapshot(open_git(sc.root), "main")
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC)
    return {v.rule for v in rules.check(head, AppRepos(sc.root), base, moment)
            if v.severity == "error"}


def test_clean_repo_passes(sc: Scenario):
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 0, report
    assert report["ok"] is True
    assert rules_of(report, "error") == set()


def test_ordinary_promotion_of_a_tested_commit_passes(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "api", c["c3"], "promote from staging")
    sc.deploy.deploy("production", "worker", c["c3"], "promote from staging")
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 0, report
    assert report["violations"] == []
    assert library_rules(sc) == set()


def test_old_branch_commit_to_production_is_refused_with_its_own_rule(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "api", c["old"], "oops, wrong plan")
    sc.deploy.deploy("production", "worker", c["c3"])
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 1
    assert "not-on-release-branch" in rules_of(report, "error")
    v = next(v for v in report["violations"] if v["rule"] == "not-on-release-branch")
    assert v["file"] == "deploys/production/api" and v["line"] == 1
    assert "release branch 'main'" in v["message"] and "[hotfix]" in v["message"]
    assert "not-on-release-branch" in library_rules(sc)


def test_unmerged_feature_branch_is_refused_on_staging(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "api", c["feature"])
    sc.deploy.deploy("staging", "worker", c["c4"])
    assert "not-on-release-branch" in library_rules(sc)


def test_hotfix_tag_allows_off_branch_descendant_of_what_runs(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "api", c["hotfix"], "urgent [hotfix]")
    sc.deploy.deploy("production", "worker", c["hotfix"], "urgent [hotfix]")
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 0, report


def test_hotfix_tag_does_not_allow_an_unrelated_old_branch(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "api", c["old"], "[hotfix]")
    sc.deploy.deploy("production", "worker", c["old"], "[hotfix]")
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 1
    v = next(v for v in report["violations"] if v["rule"] == "not-on-release-branch")
    assert "not a descendant" in v["message"]


def test_skipped_staging_is_refused(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "api", c["c4"], "straight to prod")
    sc.deploy.deploy("production", "worker", c["c4"])
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 1
    assert rules_of(report, "error") == {"promotion-order"}
    v = report["violations"][0]
    assert "deployctl promote api --from staging --to production" in v["message"]


def test_promotion_of_an_older_staging_commit_is_allowed(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "api", c["c4"])
    sc.deploy.deploy("staging", "worker", c["c4"])
    sc.deploy.commit("staging gets c4")
    sc.deploy.deploy("production", "api", c["c3"])
    sc.deploy.deploy("production", "worker", c["c3"])
    assert library_rules(sc) == set()


def test_backward_deploy_needs_rollback_tag(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "api", c["c2"], "back to c2")
    sc.deploy.deploy("staging", "worker", c["c2"])
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert rules_of(report, "error") == {"backward-deploy"}
    assert code == 1
    assert "[rollback]" in report["violations"][0]["message"]


def test_rollback_tag_allows_backward_deploy(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "api", c["c2"], "back to c2 [rollback]")
    sc.deploy.deploy("staging", "worker", c["c2"], "[rollback]")
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 0, report


def test_diverged_commit_is_a_backward_deploy(sc: Scenario):
    c = sc.commits
    # staging runs c3; the topic commit (merged later) is neither ancestor nor descendant of c3
    sc.deploy.deploy("staging", "api", c["topic"])
    sc.deploy.deploy("staging", "worker", c["topic"])
    _code, report = sc.check("--at", BEFORE_FREEZE)
    msgs = [v["message"] for v in report["violations"] if v["rule"] == "backward-deploy"]
    assert msgs and "diverged" in msgs[0]


def test_merge_commit_forward_is_fine(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "api", c["merge"])
    sc.deploy.deploy("staging", "worker", c["merge"])
    assert library_rules(sc) == set()


def test_freeze_window_refuses_then_allows_hotfix(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "api", c["c3"])
    sc.deploy.deploy("production", "worker", c["c3"])
    code, report = sc.check("--at", IN_FREEZE)
    assert code == 1
    assert rules_of(report, "error") == {"freeze-window"}
    assert "year-end freeze" in report["violations"][0]["message"]
    assert library_rules(sc, IN_FREEZE) == {"freeze-window"}


def test_freeze_window_allows_hotfix_tag(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "api", c["c3"], "[hotfix] must ship")
    sc.deploy.deploy("production", "worker", c["c3"], "[hotfix]")
    code, report = sc.check("--at", IN_FREEZE)
    assert code == 0, report


def test_staging_has_no_freeze(sc: Scenario):
    sc.deploy.deploy("staging", "api", sc.commits["c4"])
    sc.deploy.deploy("staging", "worker", sc.commits["c4"])
    assert library_rules(sc, IN_FREEZE) == set()


def test_half_a_co_deploy_group_is_refused(sc: Scenario):
    sc.deploy.deploy("staging", "api", sc.commits["c4"])
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 1
    assert rules_of(report, "error") == {"group-incomplete"}
    assert "worker" in report["violations"][0]["message"]


def test_history_rewritten_is_refused(sc: Scenario):
    path = sc.root / "deploys" / "staging" / "web"
    path.write_text(f"{sc.commits['w2']}\n")  # replaced, not prepended
    _code, report = sc.check("--at", BEFORE_FREEZE)
    assert rules_of(report, "error") == {"history-rewritten"}


def test_prepend_keeps_history(sc: Scenario):
    sc.deploy.deploy("staging", "web", sc.commits["w2"], "web two")
    assert library_rules(sc) == set()


def test_short_hash_is_error_in_protected_env_and_warning_elsewhere(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "web", c["w2"][:10])
    sc.deploy.deploy("production", "api", c["c3"][:10])
    sc.deploy.deploy("production", "worker", c["c3"])
    code, report = sc.check("--at", BEFORE_FREEZE)
    by_file = {(v["file"], v["severity"]) for v in report["violations"] if v["rule"] == "short-hash"}
    assert by_file == {("deploys/staging/web", "warning"), ("deploys/production/api", "error")}
    assert code == 1


def test_unknown_commit_is_refused(sc: Scenario):
    sc.deploy.deploy("staging", "web", "0" * 40)
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 1
    assert rules_of(report, "error") == {"commit-not-found"}


def test_ambiguous_short_hash_is_refused_and_the_full_hash_passes(tmp_path: Path):
    from tests.builders import DeployRepo, fast_history
    from tests.scenario import run_cli

    app = tmp_path / "app"
    fast_history(app, 14104)  # commits 13625 and 14104 of this exact history share the prefix a517f94
    matches = AppRepos(tmp_path).resolve(str(app), "a517f94")
    assert len(matches) == 2
    deploy = DeployRepo(tmp_path / "deploy").catalog({"app": {"repo": str(app)}}).env("dev")
    deploy.write("deploys/dev/app", "a517f94 which one?\n")
    code, out, _ = run_cli(deploy.path, "check")
    assert code == 1
    assert "deploys/dev/app:1: error ambiguous-commit: short hash a517f94 matches 2 commits" in out
    assert "write the full 40-character hash" in out
    deploy.write("deploys/dev/app", matches[0] + "\n")
    assert run_cli(deploy.path, "check")[0] == 0


def test_no_op_and_app_removed_are_warnings(sc: Scenario):
    sc.deploy.deploy("staging", "web", sc.commits["w1"], "same again")
    sc.deploy.remove("deploys/production/web")
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 0, report
    assert rules_of(report, "warning") == {"no-op", "app-removed"}


def test_unknown_app_and_env(sc: Scenario):
    sc.deploy.deploy("staging", "billing", sc.commits["c1"])
    sc.deploy.write("deploys/qa/api", sc.commits["c1"] + "\n")
    code, report = sc.check("--at", BEFORE_FREEZE)
    assert code == 1
    assert {"unknown-app", "unknown-env"} <= rules_of(report, "error")


def test_check_without_base_judges_every_file(sc: Scenario):
    sc.deploy.write("deploys/staging/web", "zzz\n")
    code, out, _err = sc.cli("check")
    assert code == 1
    assert "deploys/staging/web:1: error syntax:" in out
    assert "1 error(s)" in out


def test_bad_base_ref_cannot_judge(sc: Scenario):
    code, _out, err = sc.cli("check", "--base", "no-such-branch")
    assert code == 2
    assert "cannot resolve 'no-such-branch'" in err
    assert "Traceback" not in err


def test_bad_at_cannot_judge(sc: Scenario):
    code, _, err = sc.cli("check", "--at", "christmas")
    assert code == 2 and "ISO-8601" in err


def test_unreachable_app_repository_cannot_judge(sc: Scenario):
    sc.deploy.catalog({"api": {"repo": "/nonexistent/repo"}, "worker": {"repo": "/nonexistent/repo"},
                       "web": {"repo": "/nonexistent/web"}})
    code, _, err = sc.cli("check")
    assert code == 2
    assert "cannot clone" in err and "/nonexistent/repo" in err


def test_offline_uses_cache_only(sc: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    code, _, err = sc.cli("check", "--offline")
    assert code == 2 and "--offline" in err
    assert sc.cli("check")[0] == 0  # fills the cache
    assert sc.cli("check", "--offline")[0] == 0


def test_one_fetch_per_repository_per_run(sc: Scenario, monkeypatch: pytest.MonkeyPatch):
    from deployctl.adapters.git import apprepos

    repos = AppRepos(sc.root)
    assert rules.check(worktree_snapshot(sc.root), repos) == []
    assert len(repos._repos) == 2  # api and worker share one repository: one clone
    # commits pushed after the cache was made: the next run fetches once per repository
    new = sc.api.commit("pushed after the cache was made")
    for app in ("api", "worker"):
        sc.deploy.deploy("staging", app, new)
    fetches: list[str] = []
    original = apprepos.AppRepo.fetch

    def counting(self: apprepos.AppRepo) -> bool:
        done = original(self)
        if done:
            fetches.append(self.url)
        return done

    monkeypatch.setattr(apprepos.AppRepo, "fetch", counting)
    found = rules.check(worktree_snapshot(sc.root), AppRepos(sc.root),
                        commit_snapshot(open_git(sc.root), "main"), datetime(2026, 12, 1, tzinfo=UTC))
    assert [v.rule for v in found] == []
    assert fetches == [sc.api.path.resolve().as_uri()]
