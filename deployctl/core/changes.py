"""What a change to the deploy repo does to each deploy file: create, update, remove or no-op."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.model import DeployFile, Tag, same_commit
from deployctl.core.snapshot import Snapshot


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"
    NOOP = "noop"


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
