"""History over real git: merge commits, squash merges, rebased PRs, a renamed and a deleted file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from deployctl.gitaccess import deploy_history, first_parent_order
from deployctl.history import HistoryEntry, join, select
from deployctl.outcomes import UpdateRecord
from tests.builders import AppRepo, DeployRepo
from tests.scenario import run_cli


def _repos(tmp_path: Path) -> tuple[DeployRepo, list[str]]:
    app = AppRepo(tmp_path / "app")
    shas = [app.commit(f"c{i}") for i in range(6)]
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({"api": {"repo": str(app.path)}, "web": {"repo": str(app.path)}}).env("staging")
    deploy.deploy("staging", "api", shas[0], "first")
    deploy.commit("first deploy")
    return deploy, shas


def _merge_pr(deploy: DeployRepo, number: int, edit, how: str) -> str:
    repo = deploy.repo
    repo.git.checkout("-b", f"pr-{number}")
    edit()
    deploy.commit(f"pr {number} work")
    repo.git.checkout("main")
    if how == "merge":
        repo.git.merge("--no-ff", "-m", f"Merge pull request #{number} from acme/pr-{number}", f"pr-{number}")
    elif how == "squash":
        repo.git.merge("--squash", f"pr-{number}")
        deploy.commit(f"Deploy things (#{number})")
    else:  # rebase: the PR's commit lands as it is
        repo.git.rebase(f"pr-{number}")
    return repo.head.commit.hexsha


def test_history_through_merges_squashes_rebases_renames_and_deletes(tmp_path: Path):
    deploy, s = _repos(tmp_path)
    m1 = _merge_pr(deploy, 1, lambda: deploy.deploy("staging", "api", s[1], "second"), "merge")
    m2 = _merge_pr(deploy, 2, lambda: deploy.deploy("staging", "api", s[2], "third [hotfix]"), "squash")
    m3 = _merge_pr(deploy, 3, lambda: deploy.deploy("staging", "web", s[3], "web first"), "rebase")
    (deploy.path / "deploys/staging/web").rename(deploy.path / "deploys/staging/site")
    m4 = deploy.commit("rename web to site")
    deploy.remove("deploys/staging/api")
    m5 = deploy.commit("retire api")

    entries = deploy_history(deploy.repo, "HEAD")
    rows = [(e.commit, e.app, e.from_, e.to, e.pr) for e in entries]
    assert rows == [
        (m5, "api", s[2], None, None),
        (m4, "site", None, s[3], None),
        (m4, "web", s[3], None, None),
        (m3, "web", None, s[3], None),
        (m2, "api", s[1], s[2], 2),
        (m1, "api", s[0], s[1], 1),
        (deploy.repo.commit(f"{m1}^1").hexsha, "api", None, s[0], None),
    ]
    by_commit = {e.commit: e for e in entries}
    assert by_commit[m2].comment == "third [hotfix]"
    assert by_commit[m1].author == "Dana Dev"
    # the deleted api file keeps its past
    assert [e.to for e in select(entries, "staging", "api", None)] == [None, s[2], s[1], s[0]]
    assert len(select(entries, None, None, 2)) == 2


def test_appending_a_comment_at_the_end_is_not_a_deploy(tmp_path: Path):
    deploy, _s = _repos(tmp_path)
    path = deploy.path / "deploys/staging/api"
    path.write_text(path.read_text() + "note: nothing deployed here\n")
    deploy.commit("just a note")
    entries = deploy_history(deploy.repo, "HEAD")
    assert len(entries) == 1


def _record(version: int, head: str, result: str, minute: int) -> UpdateRecord:
    t = datetime(2026, 11, 1, 12, minute, tzinfo=UTC)
    return UpdateRecord(env="staging", version=version, kind="update", result=result, message="m",
                        start=t, end=t, environment={"git.head": head})


def test_join_gives_each_deploy_the_update_that_carried_it_out(tmp_path: Path):
    deploy, s = _repos(tmp_path)
    m1 = _merge_pr(deploy, 1, lambda: deploy.deploy("staging", "api", s[1]), "merge")
    m2 = _merge_pr(deploy, 2, lambda: deploy.deploy("staging", "api", s[2]), "merge")
    m3 = _merge_pr(deploy, 3, lambda: deploy.deploy("staging", "api", s[3]), "merge")
    first = deploy.repo.commit(f"{m1}^1").hexsha
    entries = deploy_history(deploy.repo, "HEAD")
    updates = {"staging": [_record(1, first, "succeeded", 1), _record(2, m1, "failed", 2),
                           _record(3, m2, "succeeded", 3)]}
    joined = {e.commit: e.deploy for e in join(entries, updates, first_parent_order(deploy.repo, "HEAD"))}
    assert joined[first].result == "succeeded" and joined[first].update == 1
    assert joined[m1].result == "succeeded" and joined[m1].update == 3  # failed at 2, carried by 3
    assert joined[m2].result == "succeeded" and joined[m2].update == 3
    assert joined[m3].result == "not-deployed"


def test_history_command_json_without_engine(tmp_path: Path):
    deploy, s = _repos(tmp_path)
    _merge_pr(deploy, 9, lambda: deploy.deploy("staging", "api", s[1], "ship"), "merge")
    code, out, err = run_cli(deploy.path, "history", "staging", "api", "--no-engine", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["from"], r["to"], r["pr"], r["comment"]) for r in rows] == [
        (s[0], s[1], 9, "ship"), (None, s[0], None, "first")]
    assert set(rows[0]) == {"time", "env", "app", "from", "to", "comment", "commit", "author", "pr", "deploy"}
    assert rows[0]["deploy"]["result"] == "not-deployed"


def test_entry_json_uses_from_key():
    e = HistoryEntry(time=datetime(2026, 1, 1, tzinfo=UTC), env="a", app="b", from_="1" * 40, to=None,
                     commit="c" * 40, author="x")
    assert e.to_json()["from"] == "1" * 40
