"""An app repository's commit graph in memory, for answering many ancestry questions at once.

One `git rev-list --all --parents` replaces a `git merge-base --is-ancestor` process per question;
generation numbers keep each walk short (an ancestor always has a lower generation).
"""

from __future__ import annotations

from bisect import bisect_left


class CommitGraph:
    def __init__(self, rev_list_parents: str):
        """Parse `git rev-list --topo-order --parents` output: children always before parents.

        A commit's line number (its topological index) prunes every walk: an ancestor always
        comes later in that order than its descendants.
        """
        rows = [line.split() for line in rev_list_parents.splitlines()]
        self.parents: dict[str, list[str]] = {row[0]: row[1:] for row in rows}
        self.index: dict[str, int] = {row[0]: i for i, row in enumerate(rows)}
        self._sorted: list[str] | None = None
        self._reachable: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.parents)

    def __contains__(self, sha: str) -> bool:
        return sha in self.parents

    def resolve(self, prefix: str) -> list[str]:
        """Every commit whose hash starts with `prefix` (sorted)."""
        if prefix in self.parents:
            return [prefix]
        if self._sorted is None:
            self._sorted = sorted(self.parents)
        i = bisect_left(self._sorted, prefix)
        found = []
        while i < len(self._sorted) and self._sorted[i].startswith(prefix):
            found.append(self._sorted[i])
            i += 1
        return found

    def reachable(self, tip: str) -> set[str]:
        """Every commit reachable from `tip` (itself included), computed once per tip."""
        if tip not in self._reachable:
            parents, seen, stack = self.parents, {tip}, [tip]
            add, push, pop = seen.add, stack.append, stack.pop
            while stack:
                for parent in parents.get(pop(), ()):
                    if parent not in seen:
                        add(parent)
                        push(parent)
            self._reachable[tip] = seen
        return self._reachable[tip]

    def is_ancestor(self, ancestor: str, descendant: str) -> bool | None:
        """True if `ancestor` is reachable from `descendant` (or equal); None if either is unknown."""
        if ancestor not in self.index or descendant not in self.index:
            return None
        if ancestor == descendant:
            return True
        if descendant in self._reachable:
            return ancestor in self._reachable[descendant]
        limit = self.index[ancestor]
        if self.index[descendant] >= limit:
            return False
        seen = {descendant}
        stack = [descendant]
        index = self.index
        while stack:
            for parent in self.parents[stack.pop()]:
                if parent == ancestor:
                    return True
                if parent not in seen and index.get(parent, limit + 1) < limit:
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
