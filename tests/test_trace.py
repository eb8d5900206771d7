"""The trace on the real engine: after a few PRs (one whose up failed), history and status tell the story."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import dump_dom
from tests.engine_world import World, build_world

pytestmark = pytest.mark.engine


def merged_pr(w: World, number: int, env: str, app: str, sha: str, comment: str) -> str:
    repo = w.deploy.repo
    repo.git.checkout("-b", f"pr-{number}")
    w.deploy.deploy(env, app, sha, comment)
    w.deploy.commit(f"deploy {app}")
    repo.git.checkout("main")
    before = repo.head.commit.hexsha
    repo.git.merge("--no-ff", "-m", f"Merge pull request #{number} from acme/pr-{number}", f"pr-{number}")
    merge = repo.head.commit.hexsha
    w.cli("up", "--base", before, "--head", merge, "--branch", "main")
    return merge


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = build_world(tmp_path)
    assert w.cli("up")[0] == 0
    w.deploy.commit("stack configs as Pulumi writes them")
    api, web = w.shas["api"], w.shas["web"]
    merged_pr(w, 11, "staging", "api", api[1], "api two")
    merged_pr(w, 12, "production", "api", api[1], "api two to prod")
    web_broken = w.web.commit("web 3", {"site/index.html": "<h1>3</h1>\n"})
    w.block_release("staging", "web", web_broken, "site")  # its release cannot be installed
    w.shas["web"].append(web_broken)
    merged_pr(w, 13, "staging", "web", web_broken, "oops, no site")
    assert web[0]  # still what staging runs
    return w


def test_history_tells_who_deployed_what_when_through_which_pr_and_whether_it_worked(world: World):
    api = world.shas["api"]
    code, out, err = world.cli("history", "production", "api", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["from"], r["to"], r["pr"], r["deploy"]["result"]) for r in rows] == [
        (api[0], api[1], 12, "succeeded"),
        (None, api[0], None, "succeeded"),
    ]
    assert rows[0]["author"] == "Dana Dev" and rows[0]["comment"] == "api two to prod"
    assert rows[0]["deploy"]["update"] == 2 and rows[1]["deploy"]["update"] == 1  # production's 2 ups

    code, out, _ = world.cli("history", "staging", "web", "--json")
    failed = json.loads(out)[0]
    assert (failed["to"], failed["pr"], failed["deploy"]["result"]) == (world.shas["web"][-1], 13, "failed")

    code, text, _ = world.cli("history", "production", "api")
    assert "succeeded" in text and "#12" in text


def test_status_shows_lag_and_drift_and_the_page_renders(world: World, tmp_path: Path):
    page = tmp_path / "status.html"
    code, out, err = world.cli("status", "--json", "--html", str(page))
    assert code == 0, err
    cells = {(c["env"], c["app"]): c for c in json.loads(out)}
    web = cells[("staging", "web")]
    assert web["drift"] and world.shas["web"][0][:12] in web["drift"]  # Pulumi still runs the old site
    assert cells[("production", "api")]["drift"] is None
    assert cells[("production", "api")]["behind_upstream"] == 0  # promoted: same commit as staging
    assert cells[("production", "web")]["behind_upstream"] == 0  # staging's file is ahead, but runs web 0 too
    assert cells[("staging", "api")]["behind_branch"] == 2  # api 2 and 3 are on main, not deployed
    dom = dump_dom(page)
    assert 'data-env="staging"' in dom and 'data-app="web"' in dom
    assert "badge drift" in dom
