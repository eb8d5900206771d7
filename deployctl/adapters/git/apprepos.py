"""App repositories: a cache of bare clones outside the deploy repo, asked about commits.

One fetch per repository per run at most, and only when an answer depends on it (a commit is
missing, or a branch may have moved since the last fetch). Credentials come from git itself
(credential helpers, SSH agent); git never prompts, so CI never hangs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from deployctl.adapters.cachedir import cache_root
from deployctl.adapters.git.commitgraph import CommitGraph, GraphFile
from deployctl.adapters.git.repourl import display_url, repo_url
from deployctl.core.repo.commitinfo import CommitInfo
from deployctl.core.repo.safegit import (
    QUIET_GIT_ENV,
    GitLimits,
    data_only_config,
    https_unanswered,
    network_config,
    network_env,
    option_like,
    path_problem,
)
from deployctl.core.urls import redact_urls
from deployctl.core.violations import CannotJudge

GRAPH_AFTER = 4
"""Ancestry questions per repository answered one git process each before the graph is loaded."""
_HEX_RE = re.compile(r"^[0-9a-f]{4,64}$")
_FULL_LENGTHS = (40, 64)
CLONE_CONFIG_KEYS = frozenset({
    "core.repositoryformatversion", "core.filemode", "core.bare", "core.ignorecase", "core.precomposeunicode",
    "core.symlinks", "core.logallrefupdates", "extensions.objectformat", "extensions.partialclone",
    "remote.origin.url", "remote.origin.fetch", "remote.origin.promisor", "remote.origin.partialclonefilter",
})
"""Every key `git clone --bare [--filter]` and deployctl write into a cached clone's config. A clone
whose config has any other key (a filter driver, core.sshCommand, an include, ...) or another
`remote.origin.url` was written by someone else: it is discarded and cloned again, never used."""


def default_cache_dir() -> Path:
    return cache_root() / "repos"


def git_command(*args: str) -> list[str]:
    """The one way an app-repository git command line starts: hooks, the file-system monitor and
    other configured commands off (safegit.DATA_ONLY_CONFIG), so a clone in the cache stays data."""
    return ["git", *data_only_config(), *args]


def git_limits() -> GitLimits:
    """The network git limits this process's environment sets (DEPLOYCTL_GIT_TIMEOUT, ...)."""
    return GitLimits.from_environ(os.environ)


def run_network_git(args: list[str], url: str, action: str, extra_env: Mapping[str, str] | None = None,
                    limits: GitLimits | None = None) -> subprocess.CompletedProcess:
    """A network git command (clone, fetch) under a wall-clock cap, a low-speed limit and an ssh
    connect timeout; on the cap, git and its helpers (ssh, git-remote-https) are all killed and
    CannotJudge names the repository. `extra_env` is for this one command (the [rollback] push's
    credentials), never the process's; `limits`, when not given, are read from the environment now."""
    limits = limits or git_limits()
    if (silent := https_unanswered(url, limits)) is not None:
        raise CannotJudge(f"cannot {action} {display_url(url)}: {silent} (the server does not answer); check "
                          "the repository's URL and the network, or raise DEPLOYCTL_GIT_CONNECT_TIMEOUT")
    limit = limits.timeout
    proc = subprocess.Popen(["git", *network_config(limits), *args], stdin=subprocess.DEVNULL,  # data_only_config too
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **network_env(limits), **(extra_env or {})}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise CannotJudge(
            f"cannot {action} {display_url(url)}: no answer within {limit:g} s "
            f"(the server accepts connections but does not answer); check the repository's URL "
            f"and the network, or raise DEPLOYCTL_GIT_TIMEOUT"
        ) from None
    err = redact_urls(err.decode(errors="replace"), [url]).encode()  # git echoes URLs, half-masked at best
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class AppRepo:
    """One app repository's bare clone in the cache."""

    def __init__(self, url: str, path: Path, offline: bool):
        self.url = url
        self.path = path
        self.offline = offline
        self.fetched = False
        self._lock = threading.Lock()
        self._commit_cache: dict[str, list[str]] = {}
        self._paths: dict[tuple[str, str], bool] = {}
        self._tips: dict[str, str | None] = {}
        self._graph: CommitGraph | GraphFile | None = None
        self._no_file = False
        self._questions = 0
        self._trusted = False
        self._ready = False

    # -- plumbing -------------------------------------------------------------------------
    def _git(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            git_command("--git-dir", str(self.path), *args),
            capture_output=True, env={**os.environ, **QUIET_GIT_ENV}, check=check, input=input,
        )

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One writer per clone: threads of this process, and other processes (parallel stacks)."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_name(self.path.name + ".lock"), "w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _untrusted_config(self) -> str | None:
        """Why the cached clone's config is not one git and deployctl wrote, or None. Read as a file
        (no includes followed), by git itself, so nothing in it runs."""
        out = self._git("config", "--file", str(self.path / "config"), "--list", "-z", check=False)
        if out.returncode != 0:
            return "its config cannot be read"
        for entry in out.stdout.decode(errors="replace").split("\0"):
            if not entry:
                continue
            key, _, value = entry.partition("\n")
            if key not in CLONE_CONFIG_KEYS:
                return f"its config sets '{key}', which neither git nor deployctl writes"
            if key == "remote.origin.url" and value != self.url:
                return "its config names another remote URL"
        return None

    def _check_cached(self) -> None:
        """Once per run: a cached clone whose config deployctl did not write is removed (offline:
        refused), so the next step clones it afresh."""
        if self._trusted or not self.path.exists():
            return
        with self._exclusive():
            if self.path.exists() and (why := self._untrusted_config()) is not None:
                if self.offline:
                    raise CannotJudge(f"the cached clone of {display_url(self.url)} ({self.path}) is not used: "
                                      f"{why}; delete it, or run without --offline to clone it again")
                shutil.rmtree(self.path)
            self._trusted = True

    def ensure_cloned(self) -> None:
        if self._ready:
            return  # checked and present once in this run (asked before every question)
        self._check_cached()
        if self.path.exists():
            self._ready = True
            return
        with self._exclusive():
            if self.path.exists():
                return  # another thread or process cloned it while we waited
            if self.offline:
                raise CannotJudge(
                    f"repository {display_url(self.url)} is not in the cache and --offline forbids "
                    "fetching it; run once without --offline"
                )
            tmp = Path(tempfile.mkdtemp(prefix=self.path.name + ".tmp", dir=self.path.parent)) / "clone"
            if option_like(self.url):
                raise CannotJudge(f"repository {self.url!r} begins with '-'; fix its `repo` in apps.yaml")
            for extra in (["--filter=blob:none"], []):
                try:
                    result = run_network_git(
                        ["clone", "--bare", "--quiet", "--no-recurse-submodules", *extra, "--", self.url, str(tmp)],
                        self.url, "clone",
                    )
                except CannotJudge:
                    shutil.rmtree(tmp.parent, ignore_errors=True)
                    raise
                if result.returncode == 0:
                    break
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                shutil.rmtree(tmp.parent, ignore_errors=True)
                raise CannotJudge(
                    f"cannot clone {display_url(self.url)}: {result.stderr.decode(errors='replace').strip()}"
                )
            subprocess.run(
                git_command("--git-dir", str(tmp), "config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"),
                check=True, capture_output=True,
            )
            os.replace(tmp, self.path)
            shutil.rmtree(tmp.parent, ignore_errors=True)
            self.fetched = True
            self._write_commit_graph()

    def fetch(self) -> bool:
        """Fetch branches and tags once per run; False when offline or already fetched."""
        if self.offline or self.fetched:
            return False
        with self._exclusive():
            if self.fetched:
                return False
            self.fetched = True
            result = run_network_git(
                ["--git-dir", str(self.path), "fetch", "--quiet", "--prune", "--tags", "--no-recurse-submodules",
                 "--", "origin", "+refs/heads/*:refs/heads/*"], self.url, "fetch")
            if result.returncode != 0:
                raise CannotJudge(
                    f"cannot fetch {display_url(self.url)}: {result.stderr.decode(errors='replace').strip()}"
                )
            self._commit_cache.clear()
            self._tips.clear()
            self._graph = None
            self._no_file = False
            self._write_commit_graph()
            return True

    def _write_commit_graph(self) -> None:
        """Git's own commit-graph file makes every later walk of this clone several times faster."""
        self._git("commit-graph", "write", "--reachable", "--no-progress", check=False)

    def graph(self) -> CommitGraph | GraphFile | None:
        """Git's commit-graph file, read in place (no process); else the in-memory graph, loaded once
        many questions are asked (a few are cheaper one by one)."""
        self._questions += 1
        if self._graph is not None:
            return self._graph  # asked thousands of times by a large check or propose: nothing else to do
        if not self._no_file:
            self._graph = GraphFile.load(str(self.path / "objects" / "info" / "commit-graph"))
            self._no_file = self._graph is None
        graph_file = self.path / "objects" / "info" / "commit-graph"
        if self._graph is None and self._questions > GRAPH_AFTER and not graph_file.exists():
            self._write_commit_graph()  # a cache made before deployctl wrote them
            self._graph = GraphFile.load(str(graph_file))
        if self._graph is None and self._questions > GRAPH_AFTER:
            out = self._git("rev-list", "--all", "--topo-order", "--parents", check=False)
            if out.returncode == 0:
                self._graph = CommitGraph(out.stdout.decode())
        return self._graph

    # -- questions ------------------------------------------------------------------------
    def _candidates(self, prefix: str) -> list[str]:
        if not _HEX_RE.match(prefix):
            return []  # only a hash ever reaches git here, never an option or a revision expression
        if prefix in self._commit_cache:
            return self._commit_cache[prefix]
        # the objects this clone holds (never a ref; and never a partial clone's unbounded lazy fetch of
        # a missing object, which `cat-file <hash>` would start: a missing commit is fetched by fetch())
        out = self._git("rev-parse", f"--disambiguate={prefix}", check=False)
        objects = out.stdout.decode().split() if out.returncode == 0 else []
        found = []
        if objects:
            types = self._git("cat-file", "--batch-check=%(objectname) %(objecttype)",
                              input="\n".join(objects).encode() + b"\n").stdout.decode().splitlines()
            found = sorted(line.split()[0] for line in types if line.endswith(" commit"))
        self._commit_cache[prefix] = found
        return found

    def resolve(self, prefix: str) -> list[str]:
        """Full hashes of the commit objects that `prefix` names (none, one, or several if ambiguous).

        Among commit objects only, never a ref: git's own `rev-parse 2b29d0bb38` prefers a branch of
        that name. A full hash is looked up in the commit-graph file; a prefix is matched against
        every object of the clone (`--disambiguate`, unreachable ones too), as git counts ambiguity.
        """
        self.ensure_cloned()
        graph = self.graph() if len(prefix) in _FULL_LENGTHS else None
        found = graph.resolve(prefix) if graph is not None else []
        found = found or self._candidates(prefix)
        if not found and self.fetch():
            found = self._candidates(prefix)
        return found

    def full_commit(self, commit: str, fetch: bool = True) -> str | None:
        """The one commit object `commit` (a hash, full or short) names, in full; None when it names
        none or several. Every git command that takes a commit is given this, never the prefix."""
        if len(commit) in _FULL_LENGTHS and _HEX_RE.match(commit) and self._graph is not None and commit in self._graph:
            return commit
        found = self.resolve(commit) if fetch else self._candidates(commit)
        return found[0] if len(found) == 1 else None

    def _object_name(self, commit: str) -> str | None:
        """`commit` as git must be given it: a full hash as it is (git reads 40 or 64 hex digits as an
        object name before any ref), a prefix resolved among commit objects without fetching."""
        if len(commit) in _FULL_LENGTHS and _HEX_RE.match(commit):
            return commit
        return self.full_commit(commit, fetch=False)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        self.ensure_cloned()
        graph = self.graph()
        known = graph.is_ancestor(ancestor, descendant) if graph is not None else None
        if known is not None:
            return known
        ancestor_full, descendant_full = self._object_name(ancestor), self._object_name(descendant)
        if ancestor_full is None or descendant_full is None:
            return False  # only full hashes of commits reach git, never an option or a ref name
        return self._git("merge-base", "--is-ancestor", ancestor_full, descendant_full, check=False).returncode == 0

    def branch_tip(self, branch: str) -> str | None:
        if option_like(branch):
            return None  # the catalog refuses it; nothing option-like reaches git
        if branch not in self._tips:
            self.ensure_cloned()
            tip = self._ref_in_files(branch)
            if tip is None:
                out = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
                tip = out.stdout.decode().strip() or None
            self._tips[branch] = tip
        return self._tips[branch]

    def _ref_in_files(self, branch: str) -> str | None:
        """The branch's commit read from the clone's ref files (loose, then packed-refs), without a git
        process; None (ask git) unless it names a commit of the commit-graph file."""
        ref = f"refs/heads/{branch}"
        sha = None
        try:
            sha = (self.path / ref).read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            try:
                with open(self.path / "packed-refs", encoding="ascii") as fh:
                    sha = next((line.split(" ", 1)[0] for line in fh if line.rstrip("\n").endswith(" " + ref)), None)
            except (OSError, ValueError):
                return None
        graph = self._graph or self.graph()
        return sha if sha and isinstance(graph, GraphFile) and sha in graph else None

    def _reaches(self, tip: str | None, commit: str) -> bool:
        if not tip:
            return False
        graph = self.graph()
        if graph is not None and tip in graph:
            return commit in graph.reachable(tip)  # one walk of the branch, then set lookups
        return self.is_ancestor(commit, tip)

    def on_branch(self, commit: str, branch: str) -> bool:
        """Is `commit` reachable from the branch? Fetches once if the branch may have moved."""
        if self._reaches(self.branch_tip(branch), commit):
            return True
        return self.fetch() and self._reaches(self.branch_tip(branch), commit)

    def first_parents(self, branch: str, limit: int) -> list[str] | None:
        """The branch's tip and its first parents, newest first, at most `limit` (`deployctl propose`'s
        candidates: the commits that were the branch's tip in turn); None when there is no such branch.
        From the commit-graph file when it has the tip, else one `git rev-list --first-parent`."""
        tip = self.branch_tip(branch)
        if tip is None:
            return None
        graph = self.graph()
        if isinstance(graph, GraphFile) and (pos := graph.position(tip)) is not None:
            out = [tip]
            while len(out) < limit and (parents := graph.parent_positions(pos)):
                pos = parents[0]
                out.append(graph.oid(pos))
            return out
        listed = self._git("rev-list", "--first-parent", f"--max-count={limit}", tip, "--", check=False)
        return listed.stdout.decode().split() if listed.returncode == 0 else None

    def count_between(self, old: str, new: str) -> int:
        self.ensure_cloned()
        graph = self.graph()
        known = graph.count_between(old, new) if graph is not None else None
        if known is not None:
            return known
        old_full, new_full = self._object_name(old), self._object_name(new)
        if old_full is None or new_full is None:
            return 0
        out = self._git("rev-list", "--count", f"{old_full}..{new_full}", "--", check=False)
        return int(out.stdout.strip() or 0) if out.returncode == 0 else 0

    def log(self, old: str | None, new: str, limit: int = 50) -> list[CommitInfo]:
        """Commits in `new` but not `old`, newest first (first-parent order is not forced)."""
        self.ensure_cloned()
        new_full = self.full_commit(new)
        old_full = self.full_commit(old) if old is not None else None
        if new_full is None or (old is not None and old_full is None):
            return []
        rng = [f"{old_full}..{new_full}"] if old_full else [new_full]
        fmt = "%H%x1f%an%x1f%ae%x1f%ct%x1f%s"
        out = self._git("log", f"--max-count={limit}", f"--format={fmt}", *rng, "--", check=False)
        if out.returncode != 0:
            return []
        return [_commit_info(line) for line in out.stdout.decode(errors="replace").splitlines() if line]

    def dated_log(self, tips: list[str]) -> str:
        """Every commit reachable from `tips`, children first, a line each: `<committer unix time>
        <commit> <parents>...` (metrics' AppHistory reads it), in one git process.

        Tips git does not know are skipped (`--ignore-missing`); the caller decides whether to fetch.
        """
        self.ensure_cloned()
        hashes = [self._object_name(t)  # commits, never a ref or an option
                  for t in tips if 4 <= len(t) <= 64 and not t.strip("0123456789abcdef")]
        tips = [t for t in hashes if t]
        if not tips:
            return ""
        return self._dated(["--ignore-missing", "--stdin"], ("\n".join(tips) + "\n").encode())

    def cached_dated_log(self, tips: list[str]) -> str | None:
        """`dated_log` of these full commit ids, if the clone is in the cache already (None if not, or
        if no tip is a full id: this neither clones, fetches, nor asks git to resolve a prefix)."""
        hashes = [t for t in tips if len(t) in _FULL_LENGTHS and _HEX_RE.match(t)]
        self._check_cached()
        if not hashes or not self.path.exists():
            return None
        self._ready = True
        return self._dated(["--ignore-missing", "--stdin"], ("\n".join(hashes) + "\n").encode())

    def _dated(self, selection: list[str], input: bytes | None) -> str:
        # rev-list's own `--timestamp --parents` reads dates and parents from the commit-graph file: a
        # fifth of `git log --format`'s time, which parses every commit object (10,000 commits: 0.05 s vs 0.25 s)
        out = self._git("rev-list", "--topo-order", "--timestamp", "--parents", *selection, check=False, input=input)
        return out.stdout.decode(errors="replace") if out.returncode == 0 else ""

    def info(self, commit: str) -> CommitInfo | None:
        commits = self.log(None, commit, limit=1)
        return commits[0] if commits else None

    def has_path(self, commit: str, path: str) -> bool | None:
        """Is `path` a folder in the tree of `commit`? None when the commit itself is unknown.

        The path is validated first (relative, no `..`) and follows the colon of `<commit>:<path>`,
        so it can never be read as an option or reach outside the repository's tree.
        """
        if path_problem(path) is not None or not _HEX_RE.match(commit):
            return False
        key = (commit, path.strip("/"))
        if key not in self._paths:  # the same commit often runs in several envs: ask git once
            self.ensure_cloned()
            if (full := self.full_commit(commit, False)) is None:
                return None
            out = self._git("cat-file", "-t", f"{full}:{key[1]}", check=False)
            self._paths[key] = out.returncode == 0 and out.stdout.strip() == b"tree"  # a file cannot be released
        return self._paths[key]

    def archive(self, commit: str, path: str | None) -> bytes:
        """The tree at `commit` (or its subfolder `path`) as a tar stream: the tree of the one commit
        object the hash names, as the rules resolved it (never a branch or tag of that name)."""
        self.ensure_cloned()
        if path and (problem := path_problem(path)) is not None:
            raise CannotJudge(f"path {path!r} {problem}; fix its `path` in apps.yaml")
        if option_like(commit):
            raise CannotJudge(f"commit {commit!r} begins with '-'")
        found = self.resolve(commit) if _HEX_RE.match(commit) else []
        if len(found) != 1:
            raise CannotJudge(f"commit {commit} names {len(found) or 'no'} commit(s) in {display_url(self.url)}; "
                              "write the full hash of the one commit to deploy")
        treeish = f"{found[0]}:{path.strip('/')}" if path else found[0]
        out = self._git("archive", "--format=tar", treeish, "--", check=False)
        if out.returncode != 0:
            raise CannotJudge(
                f"cannot archive {treeish} of {display_url(self.url)}: "
                f"{out.stderr.decode(errors='replace').strip()}"
            )
        return out.stdout


def _commit_info(line: str) -> CommitInfo:
    sha, author, email, ts, subject = line.split("\x1f", 4)
    return CommitInfo(sha=sha, author=author, email=email,
                      time=datetime.fromtimestamp(int(ts), tz=UTC), subject=subject)


class AppRepos:
    """The cache: one AppRepo per URL, shared by every app that names it."""

    def __init__(self, deploy_root: Path, cache_dir: Path | None = None, offline: bool = False):
        self.deploy_root = deploy_root
        self.cache_dir = cache_dir or default_cache_dir()
        self.offline = offline
        self._repos: dict[str, AppRepo] = {}
        self._by_spec: dict[str, AppRepo] = {}
        self._lock = threading.Lock()

    def get(self, spec: str) -> AppRepo:
        if (known := self._by_spec.get(spec)) is not None:  # a `repo` as written: its URL is resolved once
            return known
        url = repo_url(spec, self.deploy_root)
        with self._lock:
            if url not in self._repos:
                key = hashlib.sha256(url.encode()).hexdigest()[:16]
                name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")[:40] or "repo"
                self._repos[url] = AppRepo(url, self.cache_dir / f"{name}-{key}.git", self.offline)
            self._by_spec[spec] = self._repos[url]
            return self._repos[url]

    # -- the rules' Commits interface, by catalog `repo` -------------------------------------
    def resolve(self, spec: str, prefix: str) -> list[str]:
        return self.get(spec).resolve(prefix)

    def is_ancestor(self, spec: str, ancestor: str, descendant: str) -> bool:
        return self.get(spec).is_ancestor(ancestor, descendant)

    def on_branch(self, spec: str, commit: str, branch: str) -> bool:
        return self.get(spec).on_branch(commit, branch)

    def has_path(self, spec: str, commit: str, path: str) -> bool | None:
        return self.get(spec).has_path(commit, path)


def repo_lookups(repos: AppRepos) -> tuple[Callable[[str, str, str], int | None], Callable[[str, str], str | None]]:
    """`counts(repo, old, new)` and `branch_tips(repo, branch)` for report/status.py, backed by the
    app-repository cache; an unanswerable question is None.

    Branches are fetched once per repository first, so "behind main" is measured against the real tip.
    """

    def one(spec: str, prefix: str) -> str | None:
        found = repos.get(spec).resolve(prefix)
        return found[0] if len(found) == 1 else None

    def counts(spec: str, old: str, new: str) -> int | None:
        try:
            full_old, full_new = one(spec, old), one(spec, new)
            if full_old is None or full_new is None:
                return None
            return repos.get(spec).count_between(full_old, full_new)
        except CannotJudge:
            return None

    def branch_tips(spec: str, branch: str) -> str | None:
        repo = repos.get(spec)
        try:
            repo.ensure_cloned()
            repo.fetch()
        except CannotJudge:
            pass  # offline or unreachable: the cached tip is the best answer there is
        try:
            return repo.branch_tip(branch)
        except CannotJudge:
            return None

    return counts, branch_tips
