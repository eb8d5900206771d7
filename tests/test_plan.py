"""`deployctl plan` over real git histories: envs, renames, deletes, merges, squashes, program changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployctl.core.repo.model import pr_number
from tests.scenario import Scenario, build, run_cli


@pytest.fixture
def sc(tmp_path: Path) -> Scenario:
    return build(tmp_path)


def plan(sc: Scenario, *args: str) -> dict:
    code, out, err = run_cli(sc.root, "plan", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_prepend_is_an_update_with_old_and_new(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "api", c["c4"], "fourth [hotfix]")
    result = plan(sc, "--base", "main")
    assert result["base"] == sc.base and result["head"] is None
    assert result["changes"] == [{
        "env": "staging", "app": "api", "op": "update", "old": c["c3"], "new": c["c4"],
        "comment": "fourth [hotfix]", "tags": ["hotfix"],
    }]
    assert result["stacks"] == ["staging"]


def test_stacks_in_deploy_order_upstream_first(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("production", "web", c["w2"])
    sc.deploy.deploy("staging", "web", c["w2"])
    assert plan(sc, "--base", "main")["stacks"] == ["staging", "production"]


def test_create_remove_and_rename_between_commits(sc: Scenario):
    c = sc.commits
    sc.deploy.deploy("staging", "billing", c["w1"])  # create
    sc.deploy.remove("deploys/production/web")  # remove
    (sc.root / "deploys/staging/worker").rename(sc.root / "deploys/staging/jobs")  # rename
    head = sc.deploy.commit("rename and remove")
    result = plan(sc, "--base", sc.base, "--head", head)
    ops = {(ch["env"], ch["app"]): (ch["op"], ch["old"], ch["new"]) for ch in result["changes"]}
    assert ops == {
        ("staging", "billing"): ("create", None, c["w1"]),
        ("production", "web"): ("remove", c["w1"], None),
        ("staging", "worker"): ("remove", c["c3"], None),
        ("staging", "jobs"): ("create", None, c["c3"]),
    }
    assert result["head"] == head
    assert result["stacks"] == ["staging", "production"]


def test_merge_commit_and_squash_merge(sc: Scenario):
    c = sc.commits
    repo = sc.deploy.repo
    repo.git.checkout("-b", "pr-7")
    sc.deploy.deploy("staging", "web", c["w2"])
    sc.deploy.commit("web two")
    repo.git.checkout("main")
    repo.git.merge("--no-ff", "-m", "Merge pull request #7 from acme/pr-7", "pr-7")
    merge = repo.head.commit.hexsha
    result = plan(sc, "--base", f"{merge}^1", "--head", merge)
    assert [(ch["app"], ch["op"]) for ch in result["changes"]] == [("web", "update")]
    repo.git.checkout("-b", "pr-8")
    sc.deploy.deploy("staging", "api", c["c4"])
    sc.deploy.commit("api four")
    repo.git.checkout("main")
    repo.git.merge("--squash", "pr-8")
    squash = sc.deploy.commit("Deploy api c4 to staging (#8)")
    result = plan(sc, "--base", f"{squash}~1", "--head", squash)
    assert [(ch["app"], ch["new"]) for ch in result["changes"]] == [("api", c["c4"])]
    assert pr_number(repo.commit(merge).message) == 7
    assert pr_number(repo.commit(squash).message) == 8


def test_stack_config_change_affects_that_stack_only(sc: Scenario):
    path = sc.root / "Pulumi.production.yaml"
    path.write_text(path.read_text() + "  aws:region: eu-west-1\n")
    result = plan(sc, "--base", "main")
    assert result["changes"] == [] and result["stacks"] == ["production"]


@pytest.mark.parametrize("program_file", ["apps.yaml", "__main__.py", "components/local.py", "Pulumi.yaml"])
def test_program_change_affects_every_stack(sc: Scenario, program_file: str):
    target = sc.root / program_file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + "\n# touched\n")
    result = plan(sc, "--base", "main")
    assert result["stacks"] == ["staging", "production"]
    assert result["program_changed"] is True


def test_text_output_for_people(sc: Scenario):
    sc.deploy.deploy("staging", "api", sc.commits["c4"], "ship it")
    code, out, _ = run_cli(sc.root, "plan", "--base", "main")
    assert code == 0
    assert "staging/api" in out and "update" in out and "ship it" in out
    assert "stacks in deploy order: staging" in out


def test_unknown_base_exits_2(sc: Scenario):
    code, _, err = run_cli(sc.root, "plan", "--base", "nope")
    assert code == 2 and "cannot resolve 'nope'" in err


def test_pr_number_patterns():
    assert pr_number("Merge pull request #12 from acme/x\n\nbody") == 12
    assert pr_number("Deploy api (#345)") == 345
    assert pr_number("Deploy api\n\n(#345) in the body only") is None
    assert pr_number("") is None


def test_deploy_waves_run_independent_envs_together_and_downstream_after():
    from deployctl.commands.up import deploy_waves

    envs = ["dev", "qa", "staging", "production", "eu"]
    upstream = {"dev": None, "qa": None, "staging": "dev", "production": "staging", "eu": "staging"}
    assert deploy_waves(envs, upstream) == [["dev", "qa"], ["staging"], ["production", "eu"]]
    assert deploy_waves(["production"], {"production": "staging"}) == [["production"]]  # upstream unaffected
    assert deploy_waves([], {}) == []
