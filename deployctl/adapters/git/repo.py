"""The deploy repository, as plain git processes: the one handle every command reads and writes it
through (`DeployRepo`), light on purpose (no catalog, no snapshot, no GitPython), so every command can
afford it. Every value from a file or a user reaches git after `--end-of-options` (a rev) or `--` (a
path, a remote), and every network call goes through the bounded network git (apprepos.run_network_git)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.core.repo.safegit import GitLimits


class GitPlace(Protocol):
    """Where git runs: a DeployRepo, or anything that names its folders the same way (a GitPython
    Repo a test built)."""

    @property
    def working_tree_dir(self) -> str | None: ...
    @property
    def git_dir(self) -> str: ...


def is_commit_id(rev: str) -> bool:
    """A full commit id (SHA-1 or SHA-256), which names the same commit for ever; a ref or a short
    hash may name another one later."""
    return len(rev) in (40, 64) and not rev.strip("0123456789abcdef")


class DeployRepo:
    """The deploy repository at its top folder. Its methods are the questions and the few writes the
    commands need; gitaccess and gitlog read snapshots and the history through the same folder."""

    def __init__(self, root: Path):
        self.working_tree_dir: str | None = str(root)
        self.git_dir = str(root / ".git")
        self._have: set[str] = set()
        self._ancestry: dict[tuple[str, str], bool] = {}
        """Answers that never change for commit ids: a commit the clone has, and whether one commit is
        another's ancestor (the stale-run guard asks both in `prepare` and again before the update)."""

    @property
    def cwd(self) -> str:
        return self.working_tree_dir or self.git_dir

    # -- reading ------------------------------------------------------------------------------
    def run(self, *args: str) -> str:
        return run_git(self, *args)

    def resolve(self, ref: str) -> str:
        return resolve_ref(self, ref)

    def head_sha(self) -> str | None:
        """HEAD's commit, None in a repository without commits yet."""
        return self._rev("HEAD")

    def _rev(self, rev: str) -> str | None:
        result = _git(self, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
        sha = result.stdout.decode(errors="replace").strip()
        return sha if result.returncode == 0 and sha else None

    def has_commit(self, sha: str) -> bool:
        if sha in self._have:
            return True
        found = _git(self, "cat-file", "-e", "--end-of-options", f"{sha}^{{commit}}").returncode == 0
        if found and is_commit_id(sha):
            self._have.add(sha)
        return found

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        """Whether `ancestor` is `rev` or one of its ancestors; git's other failures are CannotJudge."""
        if (known := self._ancestry.get((ancestor, rev))) is not None:
            return known
        result = _git(self, "merge-base", "--is-ancestor", "--end-of-options", ancestor, rev)
        if result.returncode not in (0, 1):
            raise git_failed("merge-base", self, result.stderr)
        if is_commit_id(ancestor) and is_commit_id(rev):
            self._ancestry[(ancestor, rev)] = result.returncode == 0
        return result.returncode == 0

    def merge_base(self, one: str, other: str) -> str | None:
        """The best common ancestor of two commits, None when they share none."""
        result = _git(self, "merge-base", "--end-of-options", one, other)
        if result.returncode == 1:
            return None
        if result.returncode != 0:
            raise git_failed("merge-base", self, result.stderr)
        return result.stdout.decode().strip() or None

    def message(self, sha: str) -> str:
        """The commit's full message, as git stores it."""
        return run_git(self, "log", "-1", "--format=%B", "--end-of-options", sha, "--")

    def is_dirty(self) -> bool:
        """A tracked file changed, staged or not (untracked files do not count)."""
        return bool(run_git(self, "status", "--porcelain=v1", "--untracked-files=no", "-z"))

    def remotes(self) -> list[str]:
        return run_git(self, "remote").split()

    # -- the network --------------------------------------------------------------------------
    def fetch(self, remote: str, ref: str, limits: GitLimits | None = None) -> str | None:
        """Fetch `ref` (a branch or a commit) from `remote` through the bounded network git (connect
        timeout, low-speed limit, wall-clock cap, credentials masked). None when it was fetched, else
        why not, in one line."""
        from deployctl.adapters.git.apprepos import run_network_git
        from deployctl.adapters.git.repourl import display_url

        try:
            url = run_git(self, "remote", "get-url", "--", remote)
            result = run_network_git(["-C", self.cwd, "fetch", "--quiet", "--", remote, ref], url, "fetch",
                                     limits=limits)
        except (CannotJudge, OSError) as exc:
            return str(exc)
        if result.returncode == 0:
            return None
        stderr = result.stderr.decode(errors="replace").replace(url, display_url(url))  # git may echo credentials
        return " ".join(stderr.split())[-300:] or f"git exit status {result.returncode}"

    def knows(self, sha: str) -> bool:
        """Whether the clone has `sha` (a full or short hash, checked by the caller). A fresh CI clone may
        lack a commit of another branch: origin is asked once, through the bounded network git (an
        unanswering remote fails in bounded time: False)."""
        if self.has_commit(sha):
            return True
        if "origin" not in self.remotes():
            return False
        return self.fetch("origin", sha) is None and self.has_commit(sha)

    # -- writing ------------------------------------------------------------------------------
    def new_branch(self, name: str) -> None:
        """`git checkout -b name` (a name checked by gitaccess.safe_branch_name)."""
        run_git(self, "checkout", "-b", name)

    def commit_paths(self, paths: Sequence[str], message: str) -> None:
        """Stage and commit these paths, and nothing else the index holds."""
        run_git(self, "add", "--", *paths)
        run_git(self, "commit", "-m", message, "--", *paths)


Repo: TypeAlias = DeployRepo


def open_git(root: Path) -> DeployRepo:
    """The repository at `root` (its top: parents are not searched)."""
    if not (root / ".git").exists():
        raise CannotJudge(f"{root} is not a git repository; run deployctl at the deploy repo's root")
    return DeployRepo(root)


def c_locale_env() -> dict[str, str]:
    """git's messages in the C locale (they are matched and shown as is)."""
    return {**os.environ, "LANGUAGE": "C", "LC_ALL": "C"}


def git_failed(command: str, repo: GitPlace, stderr: bytes) -> CannotJudge:
    """A git command that failed on the deploy repo, said as git said it (its last line), with what
    to do for the usual cause: a repo without commits yet."""
    said = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["exit status without a message"]
    no_commits = "bad revision 'HEAD'" in said[0] or "does not have any commits" in said[0]
    hint = "; commit the deploy files first" if no_commits else ""
    return CannotJudge(f"git {command} failed in {repo.working_tree_dir or repo.git_dir}: {said[0]}{hint}")


def _git(repo: GitPlace, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`git <args>` whose exit status the caller reads."""
    return subprocess.run(["git", *args], cwd=repo.working_tree_dir or repo.git_dir, capture_output=True,
                          env=c_locale_env())


def run_git(repo: GitPlace, *args: str, stdin: str | None = None) -> str:
    """`git <args>` in the repo (C locale, output decoded with surrogateescape, one trailing newline
    dropped), fed `stdin` if given; a failure is a CannotJudge that says git's own last line."""
    return start_git(repo, *args, stdin=stdin)()


def start_git(repo: GitPlace, *args: str, stdin: str | None = None) -> Callable[[], str]:
    """`run_git`, started now and collected by calling the result: git works while Python does."""
    proc = subprocess.Popen(["git", *args], cwd=repo.working_tree_dir or repo.git_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.PIPE if stdin is not None else None,
                            env=c_locale_env())

    def collect() -> str:
        stdout, stderr = proc.communicate(stdin.encode() if stdin is not None else None)
        if proc.returncode != 0:
            raise git_failed(args[0], repo, stderr)
        out = stdout.decode("utf-8", "surrogateescape")
        return out[:-1] if out.endswith("\n") else out

    return collect


def resolve_ref(repo: GitPlace, ref: str) -> str:
    if not ref or ref.startswith("-") or any(ord(ch) < 0x20 for ch in ref):
        raise CannotJudge(f"'{ref}' is not a ref (it is empty, begins with '-' or holds a control character); "
                          "name a branch, tag or commit")
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    sha = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0 or not sha:
        raise CannotJudge(
            f"cannot resolve '{ref}' to a commit of the deploy repo; fetch it first "
            "(git fetch origin) or name a branch, tag or commit that exists"
        ) from None
    return sha
