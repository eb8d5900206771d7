"""The plan: which deploy files a change touches, and which stacks it affects, in deploy order."""

from __future__ import annotations

from pydantic import ConfigDict

from deployctl.core.changes import FileChange, Op, file_changes
from deployctl.core.lazymodel import LazyModel
from deployctl.core.model import DEPLOYS_DIR, Tag, pr_number
from deployctl.core.programpaths import PROGRAM_PATHS, is_program_path
from deployctl.core.snapshot import Snapshot, env_of_stack_file

__all__ = ["PROGRAM_PATHS", "Plan", "PlanChange", "affected_envs", "is_program_path", "make_plan", "pr_number"]


class PlanChange(LazyModel):
    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    op: Op
    old: str | None
    new: str | None
    comment: str = ""
    tags: tuple[Tag, ...] = ()

    @classmethod
    def of(cls, c: FileChange) -> PlanChange:
        return cls(env=c.env, app=c.app, op=c.op, old=c.old, new=c.new,
                   comment=c.head.current.comment if c.head else "", tags=c.tags)


class Plan(LazyModel):
    model_config = ConfigDict(frozen=True)

    base: str
    head: str | None
    changes: list[PlanChange]
    stacks: list[str]
    """Affected stacks, upstream envs first."""
    program_changed: bool = False


def affected_envs(paths: list[str], head: Snapshot) -> tuple[set[str], bool]:
    """Envs whose stack a change touches; True when the program changed (then every env)."""
    envs: set[str] = set()
    program = False
    for path in paths:
        parts = path.split("/")
        if parts[0] == DEPLOYS_DIR and len(parts) >= 3:
            envs.add(parts[1])
        elif (env := env_of_stack_file(path)) is not None:
            envs.add(env)
        elif is_program_path(path):
            program = True
    if program:
        envs |= set(head.envs)
    return envs & set(head.envs), program


def make_plan(base: Snapshot, head: Snapshot, paths: list[str], base_sha: str, head_sha: str | None) -> Plan:
    envs, program = affected_envs(paths, head)
    return Plan(
        base=base_sha,
        head=head_sha,
        changes=[PlanChange.of(c) for c in file_changes(base, head)],
        stacks=[e for e in head.ordered_envs() if e in envs],
        program_changed=program,
    )
