"""In-memory stand-ins for the edges, for fast unit tests of the pure core. The git-backed tests
(test_rules.py and the others) stay as the integration tests that prove the real edges agree."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from deployctl.core.repo.envconfig import PROJECT
from deployctl.core.repo.snapshot import RepoFiles, Snapshot, build_snapshot
from deployctl.core.repo.tree import Entry, EntryKind


@dataclass
class FakeCommits:
    """The rules' `Commits` oracle over a commit graph held in memory: per repo, each commit's parents
    and each branch's tip; `paths` lists what exists at a commit (for `path-not-found`)."""

    parents: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    branches: dict[str, dict[str, str]] = field(default_factory=dict)
    paths: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def commit(self, repo: str, sha: str, *parents: str, branch: str | None = None) -> str:
        """Add a commit (parents must exist already); on `branch`, it becomes its tip."""
        graph = self.parents.setdefault(repo, {})
        assert all(p in graph for p in parents), f"unknown parent of {sha}"
        graph[sha] = parents
        if branch:
            self.branches.setdefault(repo, {})[branch] = sha
        return sha

    def resolve(self, repo: str, prefix: str) -> list[str]:
        return sorted(s for s in self.parents.get(repo, {}) if s.startswith(prefix))

    def is_ancestor(self, repo: str, ancestor: str, descendant: str) -> bool:
        graph, seen, todo = self.parents.get(repo, {}), set(), [descendant]
        while todo:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha not in seen:
                seen.add(sha)
                todo.extend(graph.get(sha, ()))
        return False

    def on_branch(self, repo: str, commit: str, branch: str) -> bool:
        tip = self.branches.get(repo, {}).get(branch)
        return tip is not None and self.is_ancestor(repo, commit, tip)

    def has_path(self, repo: str, commit: str, path: str) -> bool | None:
        known = self.paths.get((repo, commit))
        return None if known is None else path in known


def snapshot(apps: dict[str, dict], envs: dict[str, dict], files: dict[str, str]) -> Snapshot:
    """A deploy repo as plain data: the catalog, each env's `deploys:` settings and the deploy files
    (`"<env>/<app>"`: its text), built by the same code as a snapshot read from git."""
    return build_snapshot(repo_files(apps, envs, files))


def repo_files(apps: dict[str, dict], envs: dict[str, dict], files: dict[str, str]) -> RepoFiles:
    """The inputs `snapshot` builds from (for code that takes the files themselves)."""
    entries = [Entry(path=f"deploys/{env}", kind=EntryKind.DIR) for env in envs]
    entries += [Entry(path=f"deploys/{rel}", kind=EntryKind.FILE, data=text.encode()) for rel, text in files.items()]
    configs = {env: yaml.safe_dump({"config": {f"{PROJECT}:{k}": v for k, v in settings.items()}})
               for env, settings in envs.items()}
    return RepoFiles(catalog=yaml.safe_dump({"apps": apps}), stack_configs=configs, entries=entries)
