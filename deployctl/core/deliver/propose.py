"""What to propose next, per env: the next deploy (`deploys:autoDeploy`) and the next promotion
(`deploys:autoPromote`), each as one PR with the evidence that it is safe (issue 25). Pure.

A deploy proposes, per app or co-deploy group, the newest commit of its release branch that passes
every safeguard of the env. A promotion proposes what the upstream env runs (Pulumi's `deployed`
record, never the file) once it has run there healthy for the soak time, read from the trace (each
deploy line's outcome and the end of the Pulumi update that ran it, core/trace/history.py).

Every line a proposal would write is judged by the safeguards themselves (core/change/rules), exactly as
`bump` and `promote` judge theirs and as CI's `check --base` will judge the PR: the line prepended to
the base's file (core/change/authoring.py), the head checked against that base. All proposals of a run are
judged in one head: the rules read, per change, only its own file, its upstream file at the base
and its group's files, and a group's members are written together, so each verdict is the one its
PR alone would get. A deploy whose branch tip is refused walks back along the branch's first parents
(at most MAX_CANDIDATES commits newer than what the env has) for the newest commit that passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from deployctl.core.change.authoring import prepend, with_files
from deployctl.core.change.rules import Commits, check
from deployctl.core.deliver.proposal import BRANCH_PREFIX, Proposal, ProposalKind
from deployctl.core.repo.catalog import Kind
from deployctl.core.repo.envconfig import format_duration
from deployctl.core.repo.model import deploy_path, same_commit, short
from deployctl.core.repo.order import app_order
from deployctl.core.repo.snapshot import RepoFiles, Snapshot, build_snapshot
from deployctl.core.trace.history import HistoryEntry
from deployctl.core.trace.updatemessage import HELD_BACK, SWITCHED_BACK
from deployctl.core.violations import Severity, Violation

if TYPE_CHECKING:
    from deployctl.core.change.rules.artifact import Artifacts
    from deployctl.core.change.running import Deployed

SOAK = "soak"
"""Held: the upstream env has not run the commit, healthy, for the soak time yet (or the trace cannot
say since when it has)."""
UPSTREAM_UNHEALTHY = "upstream-unhealthy"
"""Held: the upstream env's last deploy of the app failed, failed its health check and was switched
back, or was held back: nothing is promoted from it until a newer deploy there succeeds."""
HOLD_IDS = (SOAK, UPSTREAM_UNHEALTHY)
"""propose's own hold ids, beside the safeguards' rule ids (core/change/rules/registry.py)."""
MAX_CANDIDATES = 20
"""How many commits of a release branch, newest first, a deploy tries before it says what holds the tip."""
COMMIT_INDEPENDENT = frozenset({"freeze-window"})
"""Rules an older commit would fail as well: the walk back along the branch stops at them."""
_UNHEALTHY = {"failed": "failed", SWITCHED_BACK: "failed its health check and was switched back",
              HELD_BACK: "was held back (an app it depends on failed its health check)"}


class Branches(Protocol):
    """What the planner needs to know of release branches, beside the rules' Commits oracle."""

    def first_parents(self, repo: str, branch: str, limit: int) -> list[str] | None:
        """The branch's tip and its first parents, newest first, at most `limit`, in full; None when
        the repository has no such branch."""
        ...


def _comment(kind: ProposalKind, upstream: str | None) -> str:
    """The comment of the line the safeguards judge: no tag ([hotfix], [rollback]), so nothing is waived.
    The line `--post` writes may say more, never a tag (a tag would change the verdict)."""
    return f"promoted from {upstream} by deployctl propose" if kind is ProposalKind.PROMOTE else "deployctl propose"


def branch_name(env: str, app: str, group: str | None = None) -> str:
    """Stable per (env, app or group), so a newer commit refreshes the same PR. A group's name is
    `group.<name>`: a name has no dot, so it never meets an app's branch."""
    return f"{BRANCH_PREFIX}/{env}/" + (f"group.{group}" if group else app)


@dataclass
class _Unit:
    """One PR to judge: an app, or a co-deploy group's members in one env (dependency order)."""

    env: str
    kind: ProposalKind
    apps: list[str]
    group: str | None
    candidates: dict[str, list[str]] = field(default_factory=dict)
    """Deploy: per app, the commits to try, newest first (the promotion's one commit for a promote)."""
    evidence: list[str] = field(default_factory=list)
    holds: dict[str, str] = field(default_factory=dict)
    """Hold id -> why, found before the safeguards judge (soak, upstream health)."""
    tried: int = 0
    first: tuple[dict[str, str], list[Violation]] | None = None
    """The newest attempt and what refused it (the tip: what a blocked proposal names)."""
    passed: dict[str, str] | None = None

    def attempt(self, i: int) -> dict[str, str]:
        return {app: c[min(i, len(c) - 1)] for app, c in self.candidates.items()}

    def more(self) -> bool:
        return any(len(c) > self.tried for c in self.candidates.values())


def plan_proposals(files: RepoFiles, base: Snapshot, envs: Sequence[str], commits: Commits, branches: Branches,
                   at: datetime, artifacts: Artifacts | None = None, deployed: Deployed | None = None,
                   trace: Sequence[HistoryEntry] = ()) -> list[Proposal]:
    """The proposals of `envs` (each env's policy in its stack config), in env order (upstream first)
    and, within an env, in dependency order.

    `files` are the deploy repo's files at the base CI judges PRs against, `base` their snapshot
    (build_snapshot(files), readable); `deployed` is Pulumi's record of the envs autoPromote reads
    (each promoting env and its upstream); `trace` the joined history of the upstream envs.
    """
    deployed = deployed or {}
    units: list[_Unit] = []
    for env in base.ordered_envs(envs):
        settings = base.stacks[env].settings
        if settings.auto_deploy:
            units.extend(_deploy_units(base, env, commits, branches))
        if settings.auto_promote is not None:
            units.extend(_promote_units(base, env, commits, deployed, trace, at))
    _judge(files, base, [u for u in units if u.candidates], commits, at, artifacts)
    return [p for u in units if (p := _proposal(base, u, at, artifacts is not None)) is not None]


# -- which apps, and which commits ----------------------------------------------------------------


def _units(base: Snapshot, env: str, apps: list[str], kind: ProposalKind) -> list[_Unit]:
    """One unit per app, or per co-deploy group with every member the env deploys; dependency order."""
    ordered = app_order(base.catalog, [f.app for f in base.tree.in_env(env) if f.app in base.catalog.apps])
    position = {app: i for i, app in enumerate(ordered)}
    chosen: dict[str, _Unit] = {}
    for app in apps:
        group = base.catalog.apps[app].group
        key = f"group.{group}" if group else app
        if key not in chosen:
            members = [m for m in ordered if base.catalog.apps[m].group == group] if group else [app]
            chosen[key] = _Unit(env=env, kind=kind, apps=members, group=group)
    return sorted(chosen.values(), key=lambda u: min(position[a] for a in u.apps))


def _deploy_units(base: Snapshot, env: str, commits: Commits, branches: Branches) -> list[_Unit]:
    settings = base.stacks[env].settings
    apps = [f.app for f in base.tree.in_env(env) if f.app in base.catalog.apps and settings.auto_deploys(f.app)]
    out = []
    for unit in _units(base, env, apps, ProposalKind.DEPLOY):
        for app in unit.apps:
            newer = _newer_on_branch(base, env, app, commits, branches)
            unit.candidates[app] = newer
        if not any(unit.candidates.values()):
            unit.candidates = {}  # every member has its branch's newest commit: nothing due
            continue
        for app, newer in unit.candidates.items():
            if not newer:  # a group member with nothing newer stays as it is (the group rule judges it)
                unit.candidates[app] = [base.tree.files[deploy_path(env, app)].commit]
        out.append(unit)
    return out


def _newer_on_branch(base: Snapshot, env: str, app: str, commits: Commits, branches: Branches) -> list[str]:
    """The release branch's first-parent commits newer than what the env's file names, newest first."""
    spec = base.catalog.apps[app]
    chain = branches.first_parents(spec.repo, spec.branch, MAX_CANDIDATES) or []
    file = base.tree.get(env, app)
    if file is None or not chain:
        return chain
    found = commits.resolve(spec.repo, file.commit)
    top = found[0] if len(found) == 1 else file.commit
    at = next((i for i, commit in enumerate(chain) if same_commit(commit, top)), None)
    if at is not None:
        return chain[:at]  # the env has a commit of the chain: the ones above it are newer
    if commits.is_ancestor(spec.repo, chain[0], top):
        return []  # the env has the tip already, or something newer
    if commits.is_ancestor(spec.repo, top, chain[-1]):
        return chain  # the env is further behind than the whole window
    return [c for c in chain if not commits.is_ancestor(spec.repo, c, top)]  # off the first-parent line


def _promote_units(base: Snapshot, env: str, commits: Commits, deployed: Deployed,
                   trace: Sequence[HistoryEntry], at: datetime) -> list[_Unit]:
    settings = base.stacks[env].settings
    upstream, policy = settings.promote_from, settings.auto_promote
    assert upstream is not None and policy is not None  # EnvSettings refuses autoPromote without promoteFrom
    runs_up, runs_here = deployed.get(upstream, {}), deployed.get(env, {})
    due = [f.app for f in base.tree.in_env(env)
           if f.app in base.catalog.apps and _promotion_due(base, env, f.app, runs_up.get(f.app),
                                                            runs_here.get(f.app), commits)]
    out = []
    for unit in _units(base, env, due, ProposalKind.PROMOTE):
        for app in unit.apps:
            commit = runs_up.get(app) or base.tree.files[deploy_path(env, app)].commit
            unit.candidates[app] = [commit]
            if app not in runs_up:
                continue  # a group member upstream does not run: the group rule says what is missing
            unit.evidence.append(f"{upstream} runs {app} {short(commit)} (Pulumi's `deployed` record)")
            _soak(base, unit, upstream, app, commit, trace, at, policy.soak)
        out.append(unit)
    return out


def _promotion_due(base: Snapshot, env: str, app: str, upstream_runs: str | None, runs_here: str | None,
                   commits: Commits) -> bool:
    """Upstream runs a commit this env neither runs, has on top, nor has something newer than."""
    if upstream_runs is None or same_commit(runs_here, upstream_runs):
        return False
    top = base.tree.files[deploy_path(env, app)].commit
    if same_commit(top, upstream_runs):
        return False
    repo = base.catalog.apps[app].repo
    found = commits.resolve(repo, top)
    return not (len(found) == 1 and commits.is_ancestor(repo, upstream_runs, found[0]))


def _soak(base: Snapshot, unit: _Unit, upstream: str, app: str, commit: str, trace: Sequence[HistoryEntry],
          at: datetime, soak: timedelta) -> None:
    """Since when `commit` has run healthy upstream, from the trace: the newest update that tried the
    app there must have succeeded with this commit (its health check, when it has one, is part of
    that update); then it must have run for `soak` since that update ended."""
    tried = [e for e in trace if e.env == upstream and e.app == app and e.time is not None
             and e.deploy.result not in ("pending", "skipped", "unknown")]
    latest = max(tried, key=lambda e: (e.time, e.deploy.update or 0), default=None)
    if latest is None or latest.time is None:
        unit.holds[SOAK] = (f"the trace shows no update of {upstream} that deployed {app} {short(commit)} "
                            "(deployed outside `deployctl up`?), so nothing says since when it has run there")
        return
    where = f"update {latest.deploy.update} of {upstream}" if latest.deploy.update else f"an update of {upstream}"
    if latest.deploy.result in _UNHEALTHY:
        unit.holds[UPSTREAM_UNHEALTHY] = (
            f"the last deploy of {app} to {upstream}, {short(latest.to, 'its removal')} ({where}, "
            f"{latest.time.isoformat()}), {_UNHEALTHY[latest.deploy.result]}; deploy a healthy commit to "
            f"{upstream} first")
        return
    if latest.deploy.result != "succeeded" or not same_commit(latest.to, commit):
        unit.holds[SOAK] = (f"{upstream} runs {app} {short(commit)}, but its newest update of {app} "
                            f"({where}) is {latest.deploy.result} for {short(latest.to, 'its removal')}: "
                            "wait for it to end")
        return
    health = ("its health check passed in that update" if base.has_health(upstream, app)
              else f"{app} has no health check in {upstream}")
    ran = at - latest.time
    unit.evidence.append(f"{where} deployed it and succeeded at {latest.time.isoformat()}; {health}")
    if ran < soak:
        unit.holds[SOAK] = (f"{app} {short(commit)} has run in {upstream} for {format_duration(ran)} of the "
                            f"{format_duration(soak)} soak; due at {(latest.time + soak).isoformat()}")
    else:
        unit.evidence.append(f"soak: has run {format_duration(ran)} in {upstream}, at least the "
                             f"{format_duration(soak)} required")


# -- the safeguards' verdict ----------------------------------------------------------------------


def _judge(files: RepoFiles, base: Snapshot, units: list[_Unit], commits: Commits, at: datetime,
           artifacts: Artifacts | None) -> None:
    """Each unit's newest candidate that the safeguards pass, judged in rounds: every open unit's
    next attempt written into one head, one check against the base. A promotion has one attempt (a
    held one is judged too, so a reviewer sees every reason at once); a deploy walks back along its
    branch while an older commit may pass."""
    pending = units
    while pending:
        attempts = [(u, u.attempt(u.tried)) for u in pending]
        nxt = []
        for (u, attempt), refused in zip(attempts, _check_lines(files, base, attempts, commits, at, artifacts),
                                         strict=True):
            if u.first is None:
                u.first = (attempt, refused)
            u.tried += 1
            if not refused:
                u.passed = attempt
            elif u.kind is ProposalKind.DEPLOY and u.more() and not {v.rule for v in refused} <= COMMIT_INDEPENDENT:
                nxt.append(u)
        pending = nxt


def _check_lines(files: RepoFiles, base: Snapshot, attempts: list[tuple[_Unit, dict[str, str]]],
                 commits: Commits, at: datetime, artifacts: Artifacts | None) -> list[list[Violation]]:
    """The errors the safeguards find in each attempt's lines, all written into one head."""
    written: dict[str, bytes] = {}
    for unit, attempt in attempts:
        upstream = base.stacks[unit.env].settings.promote_from
        for app, commit in attempt.items():
            path = deploy_path(unit.env, app)
            if not same_commit(commit, base.tree.files[path].commit if path in base.tree.files else None):
                written[path] = prepend(base.tree.raw.get(path), commit, _comment(unit.kind, upstream))
    head = build_snapshot(with_files(files, written))
    found = check(head, commits, base, at, artifacts=artifacts)
    by_path: dict[str, list[Violation]] = {}
    for v in found:
        if v.severity is Severity.ERROR and v.file in written:
            by_path.setdefault(v.file, []).append(v)
    return [[v for app in attempt for v in by_path.get(deploy_path(unit.env, app), [])] for unit, attempt in attempts]


# -- the proposal ---------------------------------------------------------------------------------


def _proposal(base: Snapshot, unit: _Unit, at: datetime, artifacts_checked: bool) -> Proposal | None:
    if not unit.candidates or unit.first is None:
        return None
    settings = base.stacks[unit.env].settings
    upstream = settings.promote_from
    apps = unit.passed if unit.passed is not None and not unit.holds else unit.first[0]
    refused = [] if unit.passed is not None else unit.first[1]
    blocked = sorted({v.rule for v in refused} | set(unit.holds))
    held = [*(f"{rule}: {why}" for rule, why in sorted(unit.holds.items())),
            *(f"{v.rule}: {v.file}: {v.message}" for v in refused)]
    evidence = list(unit.evidence)
    if not blocked:
        evidence.extend(_safe_evidence(base, unit, apps, at, artifacts_checked))
    return Proposal(env=unit.env, kind=unit.kind, apps=apps, title=_title(unit, apps, upstream),
                    branch=branch_name(unit.env, unit.apps[0], unit.group), evidence=evidence, blocked=blocked,
                    held=held, auto_merge=settings.auto_merge)


def _title(unit: _Unit, apps: Mapping[str, str], upstream: str | None) -> str:
    what = (f"{unit.group} (" + ", ".join(f"{a} {short(c)}" for a, c in apps.items()) + ")" if unit.group
            else " ".join(f"{a} {short(c)}" for a, c in apps.items()))
    if unit.kind is ProposalKind.PROMOTE:
        return f"Promote {what} {upstream} -> {unit.env}"
    return f"Deploy {what} to {unit.env}"


def _safe_evidence(base: Snapshot, unit: _Unit, apps: Mapping[str, str], at: datetime,
                   artifacts_checked: bool) -> list[str]:
    """What the safeguards established for the lines they passed, said once per app."""
    out: list[str] = []
    settings = base.stacks[unit.env].settings
    for app, commit in apps.items():
        spec = base.catalog.apps[app]
        file = base.tree.get(unit.env, app)
        if unit.kind is ProposalKind.DEPLOY:
            newest = unit.candidates[app][0]
            held = sorted({v.rule for v in unit.first[1]}) if unit.first else []
            where = ("the tip of" if same_commit(commit, newest)
                     else f"the newest commit (the tip, {short(newest)}, is held by {', '.join(held)}) that passes of")
            out.append(f"{app} {short(commit)} is {where} release branch '{spec.branch}'"
                       + (f", after {short(file.commit)}, which {unit.env} has now" if file else ""))
        if spec.kind is Kind.LOCAL:
            out.append(f"{app}: a local app, released from its repository's tree"
                       + (f" (path '{spec.path}' exists at {short(commit)})" if spec.path else ""))
        elif artifacts_checked:
            out.append(f"{app}: artifact found for {short(commit)} ({_artifact(base, unit.env, app, commit)})")
        else:
            out.append(f"{app}: artifact not checked (--no-artifacts)")
    if unit.group:
        out.append(f"co-deploy group '{unit.group}': every member it deploys in {unit.env} in this one change")
    if settings.freeze:
        out.append(f"no freeze window of {unit.env} at {at.isoformat()}")
    out.append(f"every safeguard of {unit.env} passes, as `deployctl check --base` will judge this PR")
    return out


def _artifact(base: Snapshot, env: str, app: str, commit: str) -> str:
    from pydantic import ValidationError

    from deployctl.core.change.rules.artifact import artifact_ref

    try:
        ref = artifact_ref(app, base.catalog.apps[app].kind, base.settings_of(env, app), commit)
    except ValidationError:
        return "its settings"
    return ref.describe() if ref is not None else "none needed"
