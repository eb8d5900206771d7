"""The in-memory commit graph agrees with git itself on a history with branches and merges."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from deployctl.commitgraph import CommitGraph
from tests.builders import AppRepo


def _history(tmp_path: Path) -> AppRepo:
    repo = AppRepo(tmp_path / "app")
    rng = random.Random(7)
    repo.commit("root")
    for i in range(6):
        repo.branch(f"topic-{i}")
        for _ in range(rng.randint(1, 3)):
            repo.commit(f"topic {i}")
        repo.checkout("main")
        repo.commit(f"main {i}")
        if i % 2 == 0:
            repo.merge(f"topic-{i}")
    return repo


def test_graph_matches_git_for_ancestry_counts_and_prefixes(tmp_path: Path):
    repo = _history(tmp_path)
    git = ["git", "-C", str(repo.path)]
    graph = CommitGraph(subprocess.run([*git, "rev-list", "--all", "--topo-order", "--parents"],
                                       capture_output=True, text=True, check=True).stdout)
    shas = sorted(graph.parents)
    assert len(shas) == int(subprocess.run([*git, "rev-list", "--all", "--count"], capture_output=True,
                                           text=True).stdout)
    pairs = [(a, b) for a in shas for b in shas]
    for a, b in random.Random(1).sample(pairs, 150):
        expected = subprocess.run([*git, "merge-base", "--is-ancestor", a, b]).returncode == 0
        assert graph.is_ancestor(a, b) is expected, (a, b)
        count = int(subprocess.run([*git, "rev-list", "--count", f"{a}..{b}"], capture_output=True,
                                   text=True).stdout)
        assert graph.count_between(a, b) == count
    assert graph.resolve(shas[3][:7]) == [s for s in shas if s.startswith(shas[3][:7])]
    assert graph.is_ancestor("0" * 40, shas[0]) is None
