"""The plan: which deploy files a change touches, and which stacks it affects, in deploy order."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ConfigDict

from deployctl.core.change.changes import FileChange, Op, file_changes
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import DEPLOYS_DIR, Tag, pr_number
from deployctl.core.repo.programpaths import PROGRAM_PATHS, is_program_path
from deployctl.core.repo.snapshot import Snapshot, env_of_stack_file

__all__ = ["CI_SKIP_MARKERS", "PROGRAM_PATHS", "Plan", "PlanChange", "affected_envs", "is_program_path", "make_plan",
           "pr_number", "runs_that_start", "skips_ci"]


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


CI_SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[no ci]", "[skip actions]", "[actions skip]", "***no_ci***")
"""Strings that keep a commit's push from starting its workflows: GitHub Actions' documented ones
(https://docs.github.com/actions/managing-workflow-runs/skipping-workflow-runs) and `***NO_CI***`,
matched without regard to case: a marker wrongly seen only makes an older run deploy a stack itself."""


def skips_ci(message: str) -> bool:
    """The commit message carries a CI-skip marker, or a `skip-checks: true` line (GitHub's trailer)."""
    lowered = message.lower()
    return (any(marker in lowered for marker in CI_SKIP_MARKERS)
            or any("".join(line.split()) == "skip-checks:true" for line in lowered.splitlines()))


def runs_that_start(commits: Sequence[tuple[str, Sequence[str], str]]) -> set[str]:
    """Of the commits after the one being deployed (sha, parents, message; newest first, as
    `git log --topo-order` lists them), those whose own run surely starts: neither the commit nor any
    commit between it and the one being deployed carries a CI-skip marker. GitHub skips a push's
    workflows when any commit message in the push carries one, and a push's commits are among these."""
    tainted: dict[str, bool] = {}
    for sha, parents, message in reversed(commits):  # oldest first: parents before their children
        tainted[sha] = skips_ci(message) or any(tainted.get(p, False) for p in parents)
    return {sha for sha, marked in tainted.items() if not marked}
