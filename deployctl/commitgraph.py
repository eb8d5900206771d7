"""An app repository's commit graph in memory, for answering many ancestry questions at once.

One `git rev-list --all --parents` replaces a `git merge-base --is-ancestor` process per question;
generation numbers keep each walk short (an ancestor always has a lower generation).
"""

from __future__ import annotations

from bisect import bisect_left


class CommitGraph:
    def __init__(self, rev_list_parents: str):
        """Parse `git rev-list --topo-order --parents` output: children always before parents."""
        self.parents: dict[str, tuple[str, ...]] = {}
        order: list[str] = []
        for line in rev_list_parents.splitlines():
            sha, *parents = line.split()
            self.parents[sha] = tuple(parents)
            order.append(sha)
        self.generation: dict[str, int] = {}
        for sha in reversed(order):  # parents first
            self.generation[sha] = 1 + max((self.generation.get(p, 0) for p in self.parents[sha]), default=0)
        self._sorted = sorted(self.parents)

    def __len__(self) -> int:
        return len(self.parents)

    def __contains__(self, sha: str) -> bool:
        return sha in self.parents

    def resolve(self, prefix: str) -> list[str]:
        """Every commit whose hash starts with `prefix` (sorted)."""
        i = bisect_left(self._sorted, prefix)
        found = []
        while i < len(self._sorted) and self._sorted[i].startswith(prefix):
            found.append(self._sorted[i])
            i += 1
        return found

    def is_ancestor(self, ancestor: str, descendant: str) -> bool | None:
        """True if `ancestor` is reachable from `descendant` (or equal); None if either is unknown."""
        if ancestor not in self.parents or descendant not in self.parents:
            return None
        if ancestor == descendant:
            return True
        floor = self.generation[ancestor]
        if self.generation[descendant] <= floor:
            return False
        seen = {descendant}
        stack = [descendant]
        while stack:
            for parent in self.parents[stack.pop()]:
                if parent == ancestor:
                    return True
                if parent not in seen and self.generation.get(parent, 0) > floor:
                    seen.add(parent)
                    stack.append(parent)
        return False

    def count_between(self, old: str, new: str) -> int | None:
        """Commits reachable from `new` but not from `old` (git's old..new), or None if unknown."""
        if old not in self.parents or new not in self.parents:
            return None
        excluded: set[str] = set()
        stack = [old]
        while stack:
            sha = stack.pop()
            if sha not in excluded:
                excluded.add(sha)
                stack.extend(self.parents.get(sha, ()))
        count, seen, stack = 0, set(), [new]
        while stack:
            sha = stack.pop()
            if sha in seen or sha in excluded:
                continue
            seen.add(sha)
            count += 1
            stack.extend(self.parents.get(sha, ()))
        return count
