"""What a change to the deploy repo does to each deploy file: create, update, remove or no-op."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import DeployFile, Tag, parse_base, repaired, same_commit, split_line
from deployctl.core.repo.snapshot import Snapshot


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"
    NOOP = "noop"


TRIM_SEARCH_LINES = 64
"""How many of the head's first lines may be new on top of a trimmed file: a bound on the search
(64 x 1 MiB compared at most), far beyond the one line a change may add."""


class Shape(NamedTuple):
    """What a change did to an existing deploy file: bytes added on top, old lines cut from the bottom."""

    prepended: bytes
    trimmed: bytes

    def new_lines(self) -> list[str]:
        """The non-blank lines the change added on top."""
        return [line for line in self.prepended.decode("utf-8", "replace").split("\n") if line.strip()]


def change_shape(base_raw: bytes, head_raw: bytes) -> Shape | None:
    """The change as lines prepended and trailing old lines trimmed; None when it edits, reorders or
    removes anything else (history-rewritten). A trimmed file keeps at least its line that ran
    (the base's first line, a deploy line), byte for byte, so what ran and the newest history stay."""
    if head_raw.endswith(base_raw):
        return Shape(head_raw[: len(head_raw) - len(base_raw)], b"")
    start = 0
    for _ in range(TRIM_SEARCH_LINES):
        kept = head_raw[start:]
        if kept.endswith(b"\n") and base_raw.startswith(kept) and _starts_with_deploy(kept):
            return Shape(head_raw[:start], base_raw[len(kept):])
        if (end := head_raw.find(b"\n", start)) < 0:
            break
        start = end + 1
    return None


def _starts_with_deploy(data: bytes) -> bool:
    first = next((line for line in data.decode("utf-8", "replace").split("\n") if line.strip()), None)
    return first is not None and split_line(first) is not None


class FileChange(LazyModel):
    """One deploy file that differs between base and head."""

    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    path: str
    op: Op
    base: DeployFile | None = None
    head: DeployFile | None = None
    base_raw: bytes | None = None
    head_raw: bytes | None = None

    @property
    def old(self) -> str | None:
        return self.base.commit if self.base else None

    @property
    def new(self) -> str | None:
        return self.head.commit if self.head else None

    @property
    def tags(self) -> tuple[Tag, ...]:
        return self.head.current.tags if self.head else ()

    def head_has(self, tag: Tag) -> bool:
        return self.head is not None and self.head.current.has(tag)

    @property
    def line(self) -> int | None:
        return self.head.current.line if self.head else None

    def shape(self) -> Shape | None:
        """How the head grew from the base (change_shape); a created file is all prepended, a
        removed one None."""
        if self.head_raw is None:
            return None
        if self.base_raw is None:
            return Shape(self.head_raw, b"")
        shape = change_shape(self.base_raw, self.head_raw)
        if shape is None and self.base is not None and (fixed := repaired(self.base_raw)) != self.base_raw:
            shape = change_shape(fixed, self.head_raw)  # an old line's control characters removed, as told
        return shape


def file_changes(base: Snapshot, head: Snapshot) -> list[FileChange]:
    """Deploy files whose bytes differ between two snapshots, sorted by path.

    A file that does not parse on either side still appears (op from what exists) so the
    syntax rule reports it; its parsed side is then None.
    """
    changes: list[FileChange] = []
    for path in sorted(set(base.tree.raw) | set(head.tree.raw)):
        old_raw, new_raw = base.tree.raw.get(path), head.tree.raw.get(path)
        if old_raw == new_raw:
            continue
        _, env, app = path.split("/", 2)
        old, new = base.tree.files.get(path), head.tree.files.get(path)
        if old is None and old_raw is not None:
            old = parse_base(env, app, old_raw)  # oversized, or with a control character: judged against what ran
        if new_raw is None:
            op = Op.REMOVE
        elif old_raw is None:
            op = Op.CREATE
        elif old is not None and new is not None and same_commit(old.commit, new.commit):
            op = Op.NOOP
        else:
            op = Op.UPDATE
        changes.append(FileChange(env=env, app=app, path=path, op=op, base=old, head=new,
                                  base_raw=old_raw, head_raw=new_raw))
    return changes
