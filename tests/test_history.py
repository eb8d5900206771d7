"""History over real git: merge commits, squash merges, rebased PRs, a renamed and a deleted file."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from deployctl.adapters.git.log import deploy_history, first_parent_order
from deployctl.core.trace.history import DeployResult, HistoryEntry, join, select
from deployctl.core.trace.outcomes import UpdateRecord
from deployctl.report.tables import history_table
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
                        start=t, end=t + timedelta(seconds=30), environment={"git.head": head})


def test_each_line_has_its_own_outcome(tmp_path: Path):
    deploy, s = _repos(tmp_path)
    m1 = _merge_pr(deploy, 1, lambda: deploy.deploy("staging", "api", s[1]), "merge")
    m2 = _merge_pr(deploy, 2, lambda: deploy.deploy("staging", "api", s[2]), "merge")
    m3 = _merge_pr(deploy, 3, lambda: deploy.deploy("staging", "api", s[3]), "merge")
    m4 = _merge_pr(deploy, 4, lambda: deploy.deploy("staging", "api", s[4]), "merge")
    m5 = _merge_pr(deploy, 5, lambda: deploy.deploy("staging", "api", s[5]), "merge")
    first = deploy.repo.commit(f"{m1}^1").hexsha
    entries = deploy_history(deploy.repo, "HEAD")
    # m1's up failed; m2's run deployed; m3's run was skipped (m4 was merged meanwhile, its run deployed
    # both); m5 is merged but no up has run it yet
    updates = {"staging": [_record(1, first, "succeeded", 1), _record(2, m1, "failed", 2),
                           _record(3, m2, "succeeded", 3), _record(4, m4, "succeeded", 4)]}
    joined = {e.commit: e for e in join(entries, updates, first_parent_order(deploy.repo, "HEAD"))}
    outcome = {sha: (e.deploy.result, e.deploy.update, e.deploy.superseded_by_pr) for sha, e in joined.items()}
    assert outcome == {
        first: ("succeeded", 1, None),
        m1: ("failed", 2, 2),  # failed, then replaced by PR #2's line
        m2: ("succeeded", 3, None),
        m3: ("skipped", None, 4),  # never ran: never succeeded, and PR #4 is what superseded it
        m4: ("succeeded", 4, None),
        m5: ("pending", None, None),
    }
    # `time` is when the update ended, `merged` when the PR merged; a line that never ran has no time
    assert joined[m4].time == datetime(2026, 11, 1, 12, 4, 30, tzinfo=UTC)
    assert joined[m4].merged == deploy.repo.commit(m4).committed_datetime
    assert joined[m3].time is None and joined[m5].time is None
    assert joined[m3].when == joined[m3].merged
    # no two lines claim the same successful update
    succeeded = [e.deploy.update for e in joined.values() if e.deploy.result == "succeeded"]
    assert len(succeeded) == len(set(succeeded))


def test_a_retry_at_the_same_head_succeeds_the_line(tmp_path: Path):
    deploy, s = _repos(tmp_path)
    m1 = _merge_pr(deploy, 1, lambda: deploy.deploy("staging", "api", s[1]), "merge")
    entries = deploy_history(deploy.repo, "HEAD")
    updates = {"staging": [_record(1, m1, "failed", 1), _record(2, m1, "succeeded", 2)]}
    joined = {e.commit: e.deploy for e in join(entries, updates, first_parent_order(deploy.repo, "HEAD"))}
    assert (joined[m1].result, joined[m1].update) == ("succeeded", 2)
    first = deploy.repo.commit(f"{m1}^1").hexsha
    assert (joined[first].result, joined[first].superseded_by_pr) == ("skipped", 1)


def test_history_command_json_without_engine(tmp_path: Path):
    deploy, s = _repos(tmp_path)
    _merge_pr(deploy, 9, lambda: deploy.deploy("staging", "api", s[1], "ship"), "merge")
    code, out, err = run_cli(deploy.path, "history", "staging", "api", "--no-engine", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["from"], r["to"], r["pr"], r["comment"]) for r in rows] == [
        (s[0], s[1], 9, "ship"), (None, s[0], None, "first")]
    assert set(rows[0]) == {"time", "merged", "env", "app", "from", "to", "comment", "commit", "author", "pr",
                            "deploy", "approved_by"}
    assert rows[0]["deploy"]["result"] == "unknown"  # Pulumi was not asked: not guessed
    assert rows[0]["time"] is None and rows[0]["approved_by"] is None


def test_approvals_come_from_the_prs_reviews_on_github(tmp_path: Path, httpserver: HTTPServer):
    deploy, s = _repos(tmp_path)
    _merge_pr(deploy, 9, lambda: deploy.deploy("staging", "api", s[1], "ship"), "merge")
    _merge_pr(deploy, 10, lambda: deploy.deploy("staging", "api", s[2], "again"), "merge")
    review = lambda login, state: {"id": 1, "user": {"login": login}, "state": state,  # noqa: E731
                                   "submitted_at": "2026-03-02T10:20:00Z", "commit_id": "a" * 40}
    httpserver.expect_request("/repos/acme/deploys/pulls/9/reviews").respond_with_json(
        [review("rita", "APPROVED"), review("sam", "CHANGES_REQUESTED"), review("rita", "COMMENTED")])
    httpserver.expect_request("/repos/acme/deploys/pulls/10/reviews").respond_with_json(
        [review("sam", "APPROVED"), review("sam", "DISMISSED")])
    env = {**os.environ, "GITHUB_TOKEN": "ghs_test", "GITHUB_REPOSITORY": "acme/deploys",
           "GITHUB_API_URL": httpserver.url_for("").rstrip("/")}
    code, out, err = run_cli(deploy.path, "history", "staging", "api", "--no-engine", "--json", env=env)
    assert code == 0, err
    assert [(r["pr"], r["approved_by"]) for r in json.loads(out)] == [(10, []), (9, ["rita"]), (None, None)]
    code, out, _ = run_cli(deploy.path, "history", "staging", "api", "--no-engine", env=env)
    assert "rita" in out
    # without a token nothing is asked and nothing guessed
    code, out, _ = run_cli(deploy.path, "history", "staging", "api", "--no-engine", "--json",
                           env={**os.environ, "GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert {r["approved_by"] is None for r in json.loads(out)} == {True}


def test_history_table_columns_align_across_env_names():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [HistoryEntry(merged=t, env=env, app=app, from_=None, to="a" * 40, commit="c" * 40, author="x",
                         pr=pr, deploy=DeployResult(result=result, superseded_by="d" * 40, superseded_by_pr=4)
                         if result == "skipped" else DeployResult(result=result))
            for env, app, pr, result in [("production", "api", 3, "skipped"), ("qa", "web-frontend", None, "pending")]]
    lines = history_table(rows)
    assert lines[0].index("outcome") == lines[1].index("skipped") == lines[2].index("pending")
    column = lines[0].index("PR")
    assert [line[column:column + 2].strip() for line in lines[1:]] == ["#3", "-"]
    assert "skipped (then #4)" in lines[1]


def test_entry_json_uses_from_key():
    e = HistoryEntry(merged=datetime(2026, 1, 1, tzinfo=UTC), env="a", app="b", from_="1" * 40, to=None,
                     commit="c" * 40, author="x")
    assert e.to_json()["from"] == "1" * 40


@pytest.mark.parametrize("author", ["Dana", "Zoë 😀 \u2028", "bad \udcff bytes"])  # the last: invalid UTF-8 from git
@pytest.mark.parametrize("indent", [None, 2])
def test_history_json_is_the_document_of_each_entrys_json(author: str, indent: int | None):
    """--json serializes every entry in one call; the document is the same as entry by entry, and
    text git gave as invalid UTF-8 still serializes (escaped) rather than failing."""
    from deployctl.core.trace.history import history_json

    entries = [HistoryEntry(merged=datetime(2026, 1, 1, tzinfo=UTC), env="a", app="b", from_="1" * 40,
                            to="2" * 40, commit="c" * 40, author=author, comment=f"{author} (#3)", pr=3),
               HistoryEntry(merged=datetime(2026, 1, 2, tzinfo=UTC), env="a", app="b", to=None, commit="d" * 40,
                            author="x", deploy=DeployResult(result="skipped", superseded_by="e" * 40))]
    assert json.loads(history_json(entries, indent)) == [e.to_json() for e in entries]


def test_json_text_is_ascii_like_json_dumps():
    import io

    from deployctl import console

    out, err = io.StringIO(), io.StringIO()
    document = json.dumps({"a": "é 😀 \u2028 \x1b"}, ensure_ascii=False)
    with console.use(out, err):
        console.json_text(document)
    assert out.getvalue() == json.dumps({"a": "é 😀 \u2028 \x1b"}) + "\n"


def test_an_update_ran_from_pulumis_git_head_else_the_merge_its_message_names():
    """`git.head` is the structured record; the message's `merge <sha>` is read back only for records
    without it (older ones), and it is exactly what `up` writes."""
    from deployctl.core.trace.updatemessage import deploy_message

    merge, other = "a" * 40, "b" * 40
    t = datetime(2026, 11, 1, 12, tzinfo=UTC)

    def record(message: str, environment: dict[str, str]) -> UpdateRecord:
        return UpdateRecord(env="staging", version=1, kind="update", result="succeeded", message=message,
                            start=t, end=t, environment=environment)

    written = deploy_message("staging", [], 7, merge)
    assert record(written, {"git.head": other}).head == other
    assert record(written, {}).head == merge[:12]
    assert record("deployctl: staging: api 1234567", {}).head is None


def test_history_of_a_repo_without_commits_says_what_to_do(tmp_path: Path):
    """A git failure is a message naming git's own words and the fix (exit 2), never 'internal error'."""
    from git import Repo

    Repo.init(tmp_path)
    (tmp_path / "deploys").mkdir()
    code, _, err = run_cli(tmp_path, "history", "--no-engine")
    assert code == 2, err
    assert "git log failed" in err and "bad revision 'HEAD'" in err and "commit the deploy files first" in err
    assert "internal error" not in err
