"""The deploy repository as plain git: open it, run git in it, resolve refs. Light on purpose (no
catalog, no snapshot, GitPython only where asked for), so every command can afford it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    import git


def open_repo(root: Path) -> git.Repo:
    import git  # GitPython loads only where commits are read: the Pulumi program never pays for it

    try:
        return git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise CannotJudge(f"{root} is not a git repository; run deployctl at the deploy repo's root") from None


class GitDir:
    """The deploy repository for plain git processes. check, plan and history read it through the
    functions of gitaccess and gitlog, which take this or a GitPython Repo alike: GitPython's import alone costs a
    command more than git's own work there."""

    def __init__(self, root: Path):
        self.working_tree_dir: str | None = str(root)
        self.git_dir = str(root / ".git")


def open_git(root: Path) -> GitDir:
    """The repository at `root` (its top: like open_repo, parents are not searched)."""
    if not (root / ".git").exists():
        raise CannotJudge(f"{root} is not a git repository; run deployctl at the deploy repo's root")
    return GitDir(root)


if TYPE_CHECKING:
    Repo = GitDir | git.Repo


def c_locale_env() -> dict[str, str]:
    """git's messages in the C locale, as GitPython asks for them (they are matched and shown as is)."""
    return {**os.environ, "LANGUAGE": "C", "LC_ALL": "C"}


def git_failed(command: str, repo: Repo, stderr: bytes) -> CannotJudge:
    """A git command that failed on the deploy repo, said as git said it (its last line), with what
    to do for the usual cause: a repo without commits yet."""
    said = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["exit status without a message"]
    no_commits = "bad revision 'HEAD'" in said[0] or "does not have any commits" in said[0]
    hint = "; commit the deploy files first" if no_commits else ""
    return CannotJudge(f"git {command} failed in {repo.working_tree_dir or repo.git_dir}: {said[0]}{hint}")


def run_git(repo: Repo, *args: str) -> str:
    """`git <args>` in the repo, as GitPython runs it (C locale, output decoded with surrogateescape,
    one trailing newline dropped); a failure is a CannotJudge that says git's own last line."""
    return start_git(repo, *args)()


def start_git(repo: Repo, *args: str) -> Callable[[], str]:
    """`run_git`, started now and collected by calling the result: git works while Python does."""
    proc = subprocess.Popen(["git", *args], cwd=repo.working_tree_dir or repo.git_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=c_locale_env())

    def collect() -> str:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise git_failed(args[0], repo, stderr)
        out = stdout.decode("utf-8", "surrogateescape")
        return out[:-1] if out.endswith("\n") else out

    return collect


def resolve_ref(repo: Repo, ref: str) -> str:
    if not ref or ref.startswith("-") or any(ord(ch) < 0x20 for ch in ref):
        raise CannotJudge(f"'{ref}' is not a ref (it is empty, begins with '-' or holds a control character); "
                          "name a branch, tag or commit")
    result = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                            cwd=repo.working_tree_dir or repo.git_dir, capture_output=True,
                            env=c_locale_env())
    sha = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0 or not sha:
        raise CannotJudge(
            f"cannot resolve '{ref}' to a commit of the deploy repo; fetch it first "
            "(git fetch origin) or name a branch, tag or commit that exists"
        ) from None
    return sha
