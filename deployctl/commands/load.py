"""Loading for every command: the deploy repo's snapshots at a ref or the working tree, the plan between
two, the engine. With --base, only the deploy files a change touches are read (core/change/rules/registry.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl.adapters.git.reads import commit_files, start_changed_paths, worktree_files, worktree_snapshot
from deployctl.adapters.git.repo import open_git, resolve_ref
from deployctl.core.change.plan import Plan, make_plan
from deployctl.core.change.running import Running, deployed_commits
from deployctl.core.repo.catalog import CATALOG_FILE, YamlError, parse_catalog
from deployctl.core.repo.model import DEPLOYS_DIR, deploy_path
from deployctl.core.repo.names import did_you_mean
from deployctl.core.repo.snapshot import RepoFiles, Snapshot, build_snapshot, env_of_stack_file
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.engine import Engine


def open_engine(root: Path) -> Engine:
    """The engine, imported here so commands that never touch Pulumi never load it."""
    from deployctl.adapters.pulumi.engine import Engine

    return Engine(root)


def readable(snapshot: Snapshot, where: str = "") -> Snapshot:
    """The snapshot, or CannotJudge listing what in the catalog or a stack config cannot be read."""
    if snapshot.config_errors:
        raise CannotJudge(f"the catalog or a stack config cannot be read{where}, so nothing can be judged:\n"
                          + "\n".join(v.format() for v in snapshot.config_errors), list(snapshot.config_errors))
    return snapshot


def no_env(unknown: list[str], snapshot: Snapshot, envs: list[str] | None = None) -> CannotJudge:
    """What to say of names that are no env, each with why (no stack config, or a stack config
    without its deploy folder), and the envs there are (default: the snapshot's)."""
    why = "; ".join(f"Pulumi.{e}.yaml has no deploys/{e}/ folder" if e in snapshot.stacks else f"no Pulumi.{e}.yaml"
                    for e in unknown)
    names = ", ".join(f"'{e}'" for e in unknown)
    listed = snapshot.envs if envs is None else envs
    hint = did_you_mean(unknown[0], listed) if len(unknown) == 1 else ""
    return CannotJudge(f"no env {names} ({why}){hint or ';'} envs are {', '.join(listed) or '(none)'}")


def read_running(engine: Engine, snapshot: Snapshot, envs: Iterable[str]) -> Running:
    """What runs in `envs` (Pulumi's record: each stack's `deployed` output, as `deployctl deployed`
    reads it) and in the env each promotes from (promotion-order asks what ran there), to judge
    `envs` against: core/change/running.py. A stack never deployed has no record. An unreadable backend is
    CannotJudge: nothing is judged, so nothing deploys."""
    from concurrent.futures import ThreadPoolExecutor

    judged = sorted(set(envs))
    upstream = {s for e in judged if e in snapshot.stacks and (s := snapshot.stacks[e].settings.promote_from)}
    wanted = sorted(set(judged) | upstream)
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(wanted)))) as pool:  # one CLI run per stack
        outputs = list(pool.map(engine.existing_outputs, wanted))
    deployed = {env: commits for env, out in zip(wanted, outputs, strict=True)
                if (commits := deployed_commits(out)) is not None}
    return Running(deployed=deployed, envs=frozenset(judged))


def load_head(root: Path) -> Snapshot:
    return readable(worktree_snapshot(root))


def ordered_envs(snapshot: Snapshot, wanted: list[str] | None) -> list[str]:
    envs = snapshot.envs
    if wanted:
        if unknown := sorted(set(wanted) - set(envs)):
            raise no_env(unknown, snapshot)
        envs = [e for e in envs if e in wanted]
    return snapshot.ordered_envs(envs)


def chosen_stacks(plan: Plan, snapshot: Snapshot, wanted: list[str] | None) -> list[str]:
    """The plan's stacks, limited to `wanted` (--stack), each of which must be an env: a misspelt
    --stack is refused, never silently deploys or previews nothing."""
    if wanted:
        ordered_envs(snapshot, wanted)  # refuses a name that is not an env
    return [e for e in plan.stacks if not wanted or e in wanted]


def load_pair(root: Path, base: str, head: str | None, whole: bool = False) -> tuple[Snapshot, Snapshot, Plan]:
    """Base and head snapshots and the plan between them (head None: the working tree).

    Only the deploy files a change touches are read (with the upstream and co-deploy files the
    rules compare them to), so the cost follows the change, not the repo. A change to the catalog
    or a stack config can change the verdict on any file: then everything is read. `whole` reads
    everything too: a judgement against what runs compares every app of a stack with its record.
    """
    repo = open_git(root)
    base_sha = resolve_ref(repo, base)
    head_sha = resolve_ref(repo, head) if head is not None else None
    pending = start_changed_paths(repo, base_sha, head_sha)
    if head_sha is None:  # parse the catalog while git diffs (parse_catalog is cached by text: reused below)
        with contextlib.suppress(YamlError, OSError, UnicodeDecodeError):
            parse_catalog((root / CATALOG_FILE).read_text(encoding="utf-8"))
    paths = pending()

    def files(rev: str | None, wanted: set[str] | None) -> RepoFiles:
        return commit_files(repo, rev, wanted) if rev else worktree_files(root, paths=wanted)

    wanted: set[str] | None = None
    if not whole and not any(p == CATALOG_FILE or env_of_stack_file(p) is not None for p in paths):
        config = build_snapshot(files(head_sha, set()))
        wanted = related_paths(config, [p for p in paths if p.startswith(DEPLOYS_DIR + "/")])
    head_snap = readable(build_snapshot(files(head_sha, wanted)), " at head")
    base_snap = build_snapshot(files(base_sha, wanted))
    plan = make_plan(base_snap, head_snap, paths, base_sha, head_sha)
    return base_snap, head_snap, plan


def related_paths(config: Snapshot, changed: list[str]) -> set[str]:
    """The changed deploy files, their upstream env's file, and their co-deploy group's files."""
    wanted = set(changed)
    for path in changed:
        parts = path.split("/")
        if len(parts) != 3:
            continue
        _, env, app = parts
        stack = config.stacks.get(env)
        if stack and stack.settings.promote_from:
            wanted.add(deploy_path(stack.settings.promote_from, app))
        spec = config.catalog.apps.get(app)
        if spec and spec.group:
            wanted.update(deploy_path(env, member) for member in config.catalog.group_members(spec.group))
    return wanted
