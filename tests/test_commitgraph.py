"""The in-memory commit graph agrees with git itself on a history with branches and merges."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from deployctl.adapters.git.commitgraph import CommitGraph
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


def _octopus(repo: AppRepo) -> str:
    """A merge of three branches at once (the file keeps a third parent in its EDGE chunk)."""
    base = repo.head()
    for name in ("oct-a", "oct-b"):
        repo.branch(name, base)
        repo.checkout(name)
        repo.commit(f"{name} work", files={f"{name}.txt": name})
    repo.checkout("main")
    subprocess.run(["git", "-C", str(repo.path), "merge", "--quiet", "--no-ff", "-m", "octopus", "oct-a", "oct-b"],
                   check=True, capture_output=True)
    return repo.head()


def test_graph_file_answers_like_git_without_a_process(tmp_path: Path):
    """Git's commit-graph file, read in place, agrees with git (and the in-memory graph) on ancestry,
    counts, prefixes and what a branch reaches, octopus merges included."""
    from deployctl.adapters.git.commitgraph import GraphFile

    repo = _history(tmp_path)
    octopus = _octopus(repo)
    git = ["git", "-C", str(repo.path)]
    subprocess.run([*git, "commit-graph", "write", "--reachable", "--no-progress"], check=True, capture_output=True)
    git_dir = subprocess.run([*git, "rev-parse", "--absolute-git-dir"], capture_output=True, text=True).stdout.strip()
    graph = GraphFile.load(f"{git_dir}/objects/info/commit-graph")
    assert graph is not None
    memory = CommitGraph(subprocess.run([*git, "rev-list", "--all", "--topo-order", "--parents"],
                                        capture_output=True, text=True, check=True).stdout)
    shas = sorted(memory.parents)
    assert len(graph) == len(shas) and all(s in graph for s in shas)
    assert len(graph.parent_positions(graph.position(octopus))) == 3  # type: ignore[arg-type]
    pairs = [(a, b) for a in shas for b in shas]
    for a, b in random.Random(2).sample(pairs, 150):
        expected = subprocess.run([*git, "merge-base", "--is-ancestor", a, b]).returncode == 0
        assert graph.is_ancestor(a, b) is expected, (a, b)
        assert graph.count_between(a, b) == memory.count_between(a, b)
    for tip in random.Random(3).sample(shas, 5):  # one lazily walked view per tip, asked in any order
        view = graph.reachable(tip)
        for sha in random.Random(4).sample(shas, len(shas)):
            assert (sha in view) is (sha in memory.reachable(tip)), (tip, sha)
    for sha in shas[:5]:
        assert graph.resolve(sha[:7]) == memory.resolve(sha[:7])
        assert graph.resolve(sha) == [sha]
    assert graph.resolve("0000000") == memory.resolve("0000000")
    assert graph.is_ancestor("0" * 40, shas[0]) is None
    assert GraphFile.load(str(tmp_path / "missing")) is None
    (tmp_path / "junk").write_bytes(b"not a commit-graph")
    assert GraphFile.load(str(tmp_path / "junk")) is None
