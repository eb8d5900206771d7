"""adapters/gitrepo.DeployRepo on real repositories: the questions the commands ask the deploy repo,
its two writes, and the bounded fetch of a commit the clone lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployctl.adapters.git.repo import DeployRepo, open_git
from deployctl.core.repo.safegit import CONNECT_TIMEOUT, DEFAULT_GIT_TIMEOUT, GitLimits, network_env
from deployctl.core.violations import CannotJudge
from tests.builders import AppRepo


def test_a_repository_without_commits_has_no_head_and_a_folder_without_git_is_refused(tmp_path: Path):
    AppRepo(tmp_path / "empty")
    assert open_git(tmp_path / "empty").head_sha() is None
    (tmp_path / "plain").mkdir()
    with pytest.raises(CannotJudge, match="is not a git repository"):
        open_git(tmp_path / "plain")


def test_ancestry_merge_base_and_messages_answer_as_git_does(tmp_path: Path):
    built = AppRepo(tmp_path / "r")
    first = built.commit("first")
    built.branch("side")
    side = built.commit("side work\n\nMerge pull request #12 from acme/side")
    built.checkout("main")
    main = built.commit("main work")
    repo = open_git(tmp_path / "r")
    assert repo.head_sha() == main
    assert repo.is_ancestor(first, main) and not repo.is_ancestor(side, main)
    assert repo.merge_base(side, main) == first
    assert repo.resolve("side") == side
    assert repo.message(side) == built.repo.commit(side).message  # the message as stored, as GitPython read it
    assert repo.has_commit(first) and not repo.has_commit("f" * 40)
    with pytest.raises(CannotJudge, match="merge-base"):
        repo.is_ancestor("f" * 40, main)  # not a "no": git cannot tell


def test_what_never_changes_for_a_commit_id_is_asked_of_git_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stale-run guard asks in `prepare` and again before the update: a commit the clone has and
    one commit id's ancestry are asked once; a ref (it may move) and a commit not found are asked again."""
    from deployctl.adapters.git import repo as module

    built = AppRepo(tmp_path / "r")
    first = built.commit("first")
    second = built.commit("second")
    repo = open_git(tmp_path / "r")
    asked: list[str] = []
    real = module._git
    monkeypatch.setattr(module, "_git", lambda r, *args: asked.append(args[0]) or real(r, *args))
    for _ in range(3):
        assert repo.is_ancestor(first, second) and not repo.is_ancestor(second, first)
        assert repo.has_commit(first) and not repo.has_commit("f" * 40)
        assert repo.is_ancestor(first, "main")
    assert asked.count("merge-base") == 2 + 3 and asked.count("cat-file") == 1 + 3
    built.commit("third")
    assert open_git(tmp_path / "r").is_ancestor(second, "main")


def test_an_option_like_value_reaches_git_as_a_revision_never_as_an_option(tmp_path: Path):
    built = AppRepo(tmp_path / "r")
    built.commit()
    repo = open_git(tmp_path / "r")
    with pytest.raises(CannotJudge, match="bad revision"):
        repo.message("--output=pwned")  # as an option, `git log` would write its output into that file
    assert not repo.has_commit("--output=pwned")
    assert not (tmp_path / "r" / "pwned").exists()


def test_dirty_means_a_tracked_change_and_commit_paths_commits_only_those(tmp_path: Path):
    built = AppRepo(tmp_path / "r")
    built.commit(files={"a": "1\n", "b": "1\n"})
    repo = open_git(tmp_path / "r")
    (tmp_path / "r" / "untracked").write_text("x\n")
    assert not repo.is_dirty()
    (tmp_path / "r" / "a").write_text("2\n")
    (tmp_path / "r" / "b").write_text("2\n")
    assert repo.is_dirty()
    repo.new_branch("deploy/a")
    repo.commit_paths(["a"], "Deploy a")
    assert built.repo.active_branch.name == "deploy/a"
    assert built.repo.head.commit.message == "Deploy a\n"
    assert set(built.repo.head.commit.stats.files) == {"a"} and repo.is_dirty()  # b is still changed


def test_knows_fetches_a_missing_commit_from_origin_once(tmp_path: Path):
    origin = AppRepo(tmp_path / "origin")
    origin.commit()
    clone_path = tmp_path / "clone"
    origin.repo.clone(clone_path)
    later = origin.commit("later")
    clone = DeployRepo(clone_path)
    assert not clone.has_commit(later)
    assert clone.knows(later) and clone.has_commit(later)
    assert not clone.knows("f" * 40)  # origin lacks it too
    lonely = AppRepo(tmp_path / "lonely")
    lonely.commit()
    assert not DeployRepo(tmp_path / "lonely").knows(later)  # no origin: nothing is asked


def test_a_fetch_from_a_remote_that_is_gone_says_why_without_credentials(tmp_path: Path):
    built = AppRepo(tmp_path / "r")
    built.commit()
    built.repo.create_remote("origin", "https://bot:s3cret@127.0.0.1:9/acme/deploy.git")  # nothing listens
    why = open_git(tmp_path / "r").fetch("origin", "main", GitLimits(timeout=20, connect=2))
    assert why is not None and "s3cret" not in why


def test_git_limits_come_from_the_environment_given_and_fall_back_on_bad_values():
    assert GitLimits.from_environ({}) == GitLimits(timeout=DEFAULT_GIT_TIMEOUT, connect=CONNECT_TIMEOUT)
    limits = GitLimits.from_environ({"DEPLOYCTL_GIT_TIMEOUT": "30", "DEPLOYCTL_GIT_CONNECT_TIMEOUT": "4",
                                     "HTTPS_PROXY": "http://proxy:3128", "GIT_SSH_COMMAND": "ssh -i key"})
    assert limits == GitLimits(timeout=30.0, connect=4, proxied=True, own_ssh=True)
    bad = GitLimits.from_environ({"DEPLOYCTL_GIT_TIMEOUT": "-1", "DEPLOYCTL_GIT_CONNECT_TIMEOUT": "soon"})
    assert (bad.timeout, bad.connect) == (DEFAULT_GIT_TIMEOUT, CONNECT_TIMEOUT)
    assert "ConnectTimeout=4" in network_env(GitLimits(connect=4))["GIT_SSH_COMMAND"]
    assert "GIT_SSH_COMMAND" not in network_env(limits)  # the user's own ssh is left as configured
