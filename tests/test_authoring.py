"""bump, promote and rollback: one correct line prepended, every existing byte kept, safeguards first."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployctl.core.change.authoring import prepend, previous_commit
from deployctl.core.repo.model import Tag, parse_deploy_file
from tests.scenario import Scenario, build, run_cli


@pytest.fixture
def sc(tmp_path: Path) -> Scenario:
    return build(tmp_path)


def read(sc: Scenario, env: str, app: str) -> bytes:
    return (sc.root / "deploys" / env / app).read_bytes()


def checks_clean(sc: Scenario) -> None:
    code, out, err = sc.cli("check", "--base", "main", "--at", "2026-12-01T00:00:00Z")
    assert code == 0, out + err


def test_bump_resolves_short_hash_and_prepends(sc: Scenario):
    c = sc.commits
    old = read(sc, "staging", "web")
    code, out, err = sc.cli("bump", "staging", "web", c["w2"][:8], "-m", "new landing page")
    assert code == 0, err
    new = read(sc, "staging", "web")
    assert new == f"{c['w2']} new landing page\n".encode() + old
    assert c["w2"] in out
    checks_clean(sc)


def test_bump_creates_the_file_on_a_first_deploy(sc: Scenario):
    sc.deploy.catalog({**_catalog(sc), "docs": {"repo": str(sc.web.path)}})
    sc.deploy.commit("add docs app")
    assert sc.cli("bump", "staging", "docs", sc.commits["w1"])[0] == 0
    assert read(sc, "staging", "docs") == f"{sc.commits['w1']}\n".encode()
    checks_clean(sc)


def test_a_new_apps_first_bump_writes_its_codeowners_rule_so_the_first_pr_passes_its_checks(sc: Scenario):
    sc.deploy.catalog({**_catalog(sc), "docs": {"repo": str(sc.web.path), "owners": ["@acme/docs"]}})
    assert sc.cli("codeowners")[0] == 0
    sc.deploy.commit("add docs app")
    code, _, err = sc.cli("bump", "staging", "docs", sc.commits["w1"], "--branch", "deploy/docs")
    assert code == 0, err
    assert ".github/CODEOWNERS updated: deploys/staging/docs is new" in err
    assert "/deploys/staging/docs @acme/docs" in (sc.root / ".github" / "CODEOWNERS").read_text()
    # both in the branch's one commit: the PR's checks job (check --base, codeowners --check) passes
    assert set(sc.deploy.repo.head.commit.stats.files) == {"deploys/staging/docs", ".github/CODEOWNERS"}
    assert sc.deploy.repo.is_dirty(untracked_files=True) is False
    assert sc.cli("codeowners", "--check")[0] == 0
    checks_clean(sc)


def test_a_stale_codeowners_is_said_and_left_for_deployctl_codeowners(sc: Scenario):
    sc.deploy.catalog({**_catalog(sc), "docs": {"repo": str(sc.web.path), "owners": ["@acme/docs"]}})
    sc.deploy.write(".github/CODEOWNERS", "* @someone\n")
    sc.deploy.commit("add docs app")
    code, _, err = sc.cli("bump", "staging", "docs", sc.commits["w1"])
    assert code == 0, err
    assert "CODEOWNERS is out of date already; run `deployctl codeowners`" in err
    assert (sc.root / ".github" / "CODEOWNERS").read_text() == "* @someone\n"


def _catalog(sc: Scenario) -> dict:
    import yaml

    return yaml.safe_load((sc.root / "apps.yaml").read_text())["apps"]


def test_bump_refuses_a_backward_deploy_and_names_the_tag(sc: Scenario):
    before = read(sc, "staging", "web")
    sc.cli("bump", "staging", "web", sc.commits["w2"])
    sc.deploy.commit("web two")
    code, _out, err = sc.cli("bump", "staging", "web", sc.commits["w1"])
    assert code == 1
    assert "backward-deploy" in err and "[rollback]" in err
    assert read(sc, "staging", "web") == f"{sc.commits['w2']}\n".encode() + before  # nothing written
    assert sc.cli("bump", "staging", "web", sc.commits["w1"], "--rollback", "-m", "bad page")[0] == 0
    assert read(sc, "staging", "web").startswith(f"{sc.commits['w1']} bad page [rollback]\n".encode())


def test_bump_refuses_an_old_branch_commit_to_production(sc: Scenario):
    code, _, err = sc.cli("bump", "production", "api", sc.commits["old"])
    assert code == 1 and "not-on-release-branch" in err and "[hotfix]" in err


def test_unknown_commit_is_a_violation_not_a_traceback(sc: Scenario):
    code, _, err = sc.cli("bump", "staging", "web", "deadbeefdeadbeef")
    assert code == 1 and "commit-not-found" in err and "Traceback" not in err


def test_promote_takes_the_upstream_commit(sc: Scenario):
    c = sc.commits
    assert sc.cli("promote", "api", "--from", "staging", "--to", "production")[0] == 0
    assert sc.cli("promote", "worker", "--from", "staging", "--to", "production")[0] == 0
    f = parse_deploy_file("production", "api", read(sc, "production", "api"))
    assert f.commit == c["c3"] and f.current.comment == "promoted from staging"
    checks_clean(sc)


def test_promote_of_half_a_group_notes_what_the_pr_still_needs(sc: Scenario):
    code, _out, err = sc.cli("promote", "api", "--from", "staging", "--to", "production")
    assert code == 0
    assert "note: co-deploy group 'core' in production: this pull request still needs deploys/production/worker" \
        in err
    assert "group-incomplete" not in err


def on_a_branch(sc: Scenario, name: str = "deploy/x") -> None:
    sc.deploy.repo.git.checkout("-b", name)


def test_bump_judges_against_the_base_ci_uses_not_the_working_tree(sc: Scenario):
    on_a_branch(sc)
    c = sc.commits
    assert sc.cli("bump", "staging", "web", c["w2"])[0] == 0
    before = read(sc, "production", "web")
    code, _, err = sc.cli("bump", "production", "web", c["w2"])  # w2 has not run in staging on main yet
    assert code == 1 and "promotion-order" in err
    assert read(sc, "production", "web") == before  # refused: nothing written
    checks_clean(sc)  # what was written is what CI accepts


def test_a_group_written_one_app_at_a_time_notes_only_the_missing_members(sc: Scenario):
    on_a_branch(sc)
    c = sc.commits
    code, _, err = sc.cli("bump", "staging", "worker", c["c4"])
    assert code == 0 and "still needs deploys/staging/api " in err and "worker (" not in err
    code, _, err = sc.cli("bump", "staging", "api", c["c4"])
    assert code == 0, err
    assert "note:" not in err and "group-incomplete" not in err  # the group is whole now
    checks_clean(sc)


def test_a_second_bump_of_the_same_commit_is_refused_and_writes_nothing(sc: Scenario):
    on_a_branch(sc)
    assert sc.cli("bump", "staging", "web", sc.commits["w2"])[0] == 0
    before = read(sc, "staging", "web")
    code, _, err = sc.cli("bump", "staging", "web", sc.commits["w2"][:10])
    assert code == 1 and "no-op" in err and "nothing written" in err
    assert read(sc, "staging", "web") == before


def test_promote_takes_what_the_base_says_upstream_runs_not_a_line_just_written(sc: Scenario):
    on_a_branch(sc)
    c = sc.commits
    assert sc.cli("bump", "staging", "web", c["w2"])[0] == 0  # only bumped in this branch: not running
    code, _, err = sc.cli("promote", "web", "--from", "staging", "--to", "production")
    assert code == 1 and "no-op" in err  # production already runs w1, which is what staging runs
    assert f"promoting web {c['w1'][:12]}: deploys/staging/web on the base" in err


def test_rollback_prepends_the_previous_commit_tagged(sc: Scenario):
    c = sc.commits
    code, _, err = sc.cli("rollback", "staging", "api")  # c1 was written below c3 in one commit: never a deploy
    assert code == 2 and "no earlier deploy of another commit that was once its top line" in err
    sc.deploy.write("deploys/staging/api", f"{c['c1']}\n")
    sc.deploy.commit("c1 on its own")
    sc.deploy.deploy("staging", "api", c["c3"], "third on staging")
    sc.deploy.commit("then c3")
    assert sc.cli("rollback", "staging", "api", "-m", "login broke")[0] == 0
    assert sc.cli("rollback", "staging", "worker")[0] == 2  # no earlier deploy: nothing to go back to
    f = parse_deploy_file("staging", "api", read(sc, "staging", "api"))
    assert f.commit == c["c1"] and f.current.tags == (Tag.ROLLBACK,)
    assert f.history[0].commit == c["c3"]


def test_branch_option_creates_a_commit_ready_for_a_pr(sc: Scenario):
    code, out, err = sc.cli("bump", "staging", "web", sc.commits["w2"], "--branch", "deploy/web-two")
    assert code == 0, err
    repo = sc.deploy.repo
    assert repo.active_branch.name == "deploy/web-two"
    assert repo.head.commit.message.startswith(f"Deploy web {sc.commits['w2'][:12]} to staging")
    assert not repo.is_dirty()
    assert "on branch deploy/web-two" in out


def test_prepend_keeps_every_byte():
    old = b"abc1234 first\r\nno newline at end"
    assert prepend(old, "f" * 40, "m", (Tag.HOTFIX,)).endswith(old)
    assert previous_commit(parse_deploy_file("e", "a", b"1111111\n1111111\n2222222\n")) == "2222222"


@pytest.mark.parametrize("args, says", [
    (("--from", "stagin", "--to", "production"), "no env 'stagin'"),
    (("--from", "staging", "--to", "prodution"), "no env 'prodution'"),
])
def test_promote_names_a_misspelt_env_before_asking_pulumi(tmp_path: Path, args: tuple[str, ...], says: str):
    sc = build(tmp_path)
    code, out, err = run_cli(sc.root, "promote", "api", *args)
    assert code == 2, out + err
    assert says in err and "envs are production, staging" in err
    assert "deploy it to" not in err and not (sc.root / ".pulumi-state").exists()
