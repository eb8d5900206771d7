"""An app repository's commit graph in memory, for answering many ancestry questions at once.

One `git rev-list --all --parents` replaces a `git merge-base --is-ancestor` process per question;
generation numbers keep each walk short (an ancestor always has a lower generation).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from itertools import pairwise


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


_NO_PARENT, _OCTOPUS, _LAST_EDGE = 0x70000000, 0x80000000, 0x80000000


class GraphFile:
    """Git's own commit-graph file (`objects/info/commit-graph`), read in place: no git process.

    The same questions as CommitGraph, answered from the file's sorted hash table and its parent
    and topological-level columns (gitformat-commit-graph), so a question costs a binary search
    and a walk pruned by level: nothing proportional to the repository is parsed up front.
    `load` returns None for what it does not read (a split chain, an unknown version, no levels);
    the caller then asks git.
    """

    def __init__(self, data: bytes, hash_len: int, chunks: dict[bytes, tuple[int, int]]):
        self.data, self.hash_len = data, hash_len
        self.fanout = chunks[b"OIDF"][0]
        self.oids = chunks[b"OIDL"][0]
        self.cdat = chunks[b"CDAT"][0]
        self.edges = chunks.get(b"EDGE", (0, 0))[0]
        self.count = int.from_bytes(data[self.fanout + 255 * 4 : self.fanout + 256 * 4], "big")
        self.width = (hash_len + 16) // 4
        """CDAT as big-endian 32-bit words, `width` per commit: tree hash, parent 1, parent 2, level."""
        self.words = array("I", data[self.cdat : self.cdat + self.count * (hash_len + 16)])
        end = chunks.get(b"EDGE", (0, 0))[1]
        self.edge_words = array("I", data[self.edges : end] if self.edges else b"")
        if sys.byteorder == "little":
            self.words.byteswap()
            self.edge_words.byteswap()
        self._reach: dict[int, _Reach] = {}

    @classmethod
    def load(cls, path: str) -> GraphFile | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        header_ok = len(data) >= 8 and data[:4] == b"CGPH" and data[4] == 1 and data[5] in (1, 2)
        if array("I").itemsize != 4 or not header_ok or data[7] != 0:  # data[7]: base graphs of a split chain
            return None
        hash_len = 20 if data[5] == 1 else 32
        n_chunks = data[6]
        table = [(data[8 + 12 * i : 12 + 12 * i], int.from_bytes(data[12 + 12 * i : 20 + 12 * i], "big"))
                 for i in range(n_chunks + 1)]
        chunks = {cid: (start, end) for (cid, start), (_, end) in pairwise(table)}
        if not all(c in chunks for c in (b"OIDF", b"OIDL", b"CDAT")) or table[-1][1] > len(data):
            return None
        graph = cls(data, hash_len, chunks)
        if graph.count and (graph.level(0) == 0 or graph.level(graph.count - 1) == 0):
            return None  # written without generation numbers: walks could not be pruned
        return graph

    # -- the file's columns -----------------------------------------------------------------
    def oid(self, pos: int) -> str:
        start = self.oids + pos * self.hash_len
        return self.data[start : start + self.hash_len].hex()

    def position(self, sha: str) -> int | None:
        if len(sha) != 2 * self.hash_len:
            return None
        try:
            key = bytes.fromhex(sha)
        except ValueError:
            return None
        lo, hi = self._bucket(key[0])
        h, data, base = self.hash_len, self.data, self.oids
        while lo < hi:
            mid = (lo + hi) // 2
            here = data[base + mid * h : base + (mid + 1) * h]
            if here < key:
                lo = mid + 1
            elif here > key:
                hi = mid
            else:
                return mid
        return None

    def _bucket(self, first: int) -> tuple[int, int]:
        f = self.fanout
        lo = int.from_bytes(self.data[f + 4 * (first - 1) : f + 4 * first], "big") if first else 0
        return lo, int.from_bytes(self.data[f + 4 * first : f + 4 * first + 4], "big")

    def level(self, pos: int) -> int:
        return self.words[pos * self.width + self.width - 2] >> 2

    def parent_positions(self, pos: int) -> list[int]:
        at = pos * self.width + self.width - 4
        first, second = self.words[at], self.words[at + 1]
        if first == _NO_PARENT:
            return []
        if second == _NO_PARENT:
            return [first]
        if not second & _OCTOPUS:
            return [first, second]
        out, i = [first], second & ~_OCTOPUS
        while True:
            value = self.edge_words[i]
            out.append(value & ~_LAST_EDGE)
            if value & _LAST_EDGE:
                return out
            i += 1

    # -- CommitGraph's questions ----------------------------------------------------------------
    def __len__(self) -> int:
        return self.count

    def __contains__(self, sha: str) -> bool:
        return self.position(sha) is not None

    def resolve(self, prefix: str) -> list[str]:
        """Every commit whose hash starts with `prefix` (sorted)."""
        if self.position(prefix) is not None:
            return [prefix]
        if not prefix or prefix.strip("0123456789abcdef"):
            return []
        lo, hi = self._bucket(int(prefix[:2].ljust(2, "0"), 16)) if len(prefix) >= 2 else (0, self.count)
        if len(prefix) < 2:
            first = int(prefix, 16) << 4
            lo, hi = self._bucket(first)[0], self._bucket(first + 15)[1]
        i = bisect_left(range(lo, hi), prefix, key=lambda p: self.oid(p)[: len(prefix)]) + lo
        found = []
        while i < hi and (sha := self.oid(i)).startswith(prefix):
            found.append(sha)
            i += 1
        return found

    def reachable(self, tip: str) -> _Reach:
        """What `tip` reaches, as a set-like view that walks only as far as questions need."""
        pos = self.position(tip)
        if pos is None:
            raise KeyError(tip)
        if pos not in self._reach:
            self._reach[pos] = _Reach(self, pos)
        return self._reach[pos]

    def is_ancestor(self, ancestor: str, descendant: str) -> bool | None:
        """True if `ancestor` is reachable from `descendant` (or equal); None if either is unknown."""
        if self.position(ancestor) is None or self.position(descendant) is None:
            return None
        return ancestor in self.reachable(descendant)

    def _all_from(self, pos: int) -> set[int]:
        seen, stack = {pos}, [pos]
        while stack:
            for parent in self.parent_positions(stack.pop()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def count_between(self, old: str, new: str) -> int | None:
        """Commits reachable from `new` but not from `old` (git's old..new), or None if unknown."""
        a, b = self.position(old), self.position(new)
        if a is None or b is None:
            return None
        return len(self._all_from(b) - self._all_from(a))


class _Reach:
    """Commits reachable from one tip, found lazily: a question about a commit of level L expands
    only the commits above L (an ancestor's level is always lower), and later questions resume."""

    def __init__(self, graph: GraphFile, tip: int):
        self.graph, self.seen, self.deferred = graph, {tip}, [tip]
        self.expanded_above: int | None = None
        self.chain, self.on_chain = [tip], {tip}
        """The tip's first parents, walked as far as asked: where a branch's deploys usually are."""

    def __contains__(self, sha: object) -> bool:
        pos = self.graph.position(sha) if isinstance(sha, str) else None
        if pos is None:
            return False
        level = self.graph.level(pos)
        if self._on_first_parents(pos, level):
            return True
        if self.expanded_above is None or level < self.expanded_above:
            self._expand(level)
        return pos in self.seen

    def _on_first_parents(self, pos: int, level: int) -> bool:
        """Levels fall strictly along first parents, so the chain is walked down to `level` once."""
        graph, chain, on_chain = self.graph, self.chain, self.on_chain
        words, width = graph.words, graph.width
        at_level, first_parent = width - 2, width - 4
        last = chain[-1]
        while words[last * width + at_level] >> 2 > level:
            parent = words[last * width + first_parent]
            if parent == _NO_PARENT:
                break
            chain.append(parent)
            on_chain.add(parent)
            last = parent
        return pos in on_chain

    def _expand(self, level: int) -> None:
        """Walk every commit above `level` (inlined: this loop is most of a check's own time)."""
        graph, seen = self.graph, self.seen
        words, width = graph.words, graph.width
        lvl, p1 = width - 2, width - 4
        deferred: list[int] = []
        stack: list[int] = []
        for p in self.deferred:
            (stack if words[p * width + lvl] >> 2 > level else deferred).append(p)
        while stack:
            pos = stack.pop()
            at = pos * width + p1
            first, second = words[at], words[at + 1]
            if first == _NO_PARENT:
                continue
            parents = ((first,) if second == _NO_PARENT else (first, second) if not second & _OCTOPUS
                       else graph.parent_positions(pos))
            for parent in parents:
                if parent not in seen:
                    seen.add(parent)
                    (stack if words[parent * width + lvl] >> 2 > level else deferred).append(parent)
        self.deferred = deferred
        self.expanded_above = level
