"""What runs where, as data: the env-by-app matrix of `deployctl status` (what each deploy file names,
what Pulumi runs, how far each cell lags, each cell's state and drift), with the recent trace.

Pure: the caller reads the deploy repo, the stacks' `deployed` outputs, the deploy history and the
app repositories (through `counts` and `branch_tips`); this module only joins them. report/status.py
draws the result (the terminal, `--json`, the HTML page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from deployctl.core.change.running import deployed_commits
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.catalog import App
from deployctl.core.repo.model import same_commit
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.trace.appstate import AppState, InFlight, StackRecord, State, classify
from deployctl.core.trace.history import HistoryEntry
from deployctl.core.trace.metrics import Metrics

Counts = Callable[[str, str, str], int | None]
"""`counts(repo_spec, old, new)`: commits in old..new of the app repository, None when unknown."""
BranchTips = Callable[[str, str], str | None]
"""`branch_tips(repo_spec, branch)`: the branch's tip commit, None when unknown."""
Outputs = dict[str, dict[str, dict[str, Any]]]
"""Env -> app -> that app's entry in the stack's `deployed` output (entries that are objects only)."""


class Cell(LazyModel):
    """One app in one env: what the deploy file says, what Pulumi runs, and how far it lags."""

    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    commit: str | None
    """The commit the deploy file names (as written), None when the env has no file for the app."""
    comment: str = ""
    running: str | None = None
    """The commit in the stack's `deployed` output, None when Pulumi runs nothing for the app."""
    deployed_at: datetime | None = None
    deployed_by: str | None = None
    pr: int | None = None
    result: str | None = None
    upstream: str | None = None
    """The env this one promotes from, when it has one."""
    behind_upstream: int | None = None
    branch: str | None = None
    """The app's release branch from the catalog."""
    behind_branch: int | None = None
    drift: str | None = None
    """What differs when the cell drifted (its state is one of core.appstate.DRIFTED), else None."""
    state: State = State.IN_SYNC
    """The one classification (core/appstate.classify) `drift` and the page share."""
    detail: str = ""
    fix: str = ""
    """The command or PR that fixes a drifted cell; for `in-progress`, to wait."""
    since: datetime | None = None
    in_flight: InFlight | None = None
    """The update running now, for `in-progress`: who, since when, which PR."""


class StatusReport(LazyModel):
    model_config = ConfigDict(frozen=True)

    generated_at: datetime
    envs: list[str]
    """In deploy order: an env after the env it promotes from."""
    apps: list[str]
    cells: list[Cell]
    """Only pairs with a deploy file or a Pulumi output; an absent pair has no cell."""
    timeline: list[HistoryEntry]
    """Every deploy of the report's envs, newest first."""
    upstreams: dict[str, str | None] = {}
    """Each env's `promoteFrom`, for headings like "promotes from staging"."""
    metrics: Metrics | None = None
    """Delivery metrics over the last 12 weeks (the page's metrics section), when they could be read."""

    def cell(self, env: str, app: str) -> Cell | None:
        return next((c for c in self.cells if c.env == env and c.app == app), None)

    def states(self) -> list[AppState]:
        """Each cell's classification, as `drift --json` lists it."""
        return [AppState(env=c.env, app=c.app, state=c.state, file=c.commit, running=c.running, detail=c.detail,
                         since=c.since, fix=c.fix, in_flight=c.in_flight) for c in self.cells]


def build_status(snapshot: Snapshot, deployed: dict[str, dict[str, dict[str, Any]]], history: list[HistoryEntry],
                 counts: Counts, branch_tips: BranchTips, now: datetime,
                 in_flight: Mapping[str, InFlight] | None = None) -> StatusReport:
    """Join the deploy files, the stacks' outputs, the history and the app repos into one matrix.

    `deployed` maps env -> that stack's `deployed` output; an env absent from it was never deployed.
    `in_flight`: the stacks an update of which runs now. Each cell's state is core/appstate.classify's;
    how far a cell lags is counted from what runs (Pulumi's record), never from the file: two envs
    running the same commit are not behind each other, whatever their files say.
    """
    upstream_of = {e: snapshot.stacks[e].settings.promote_from for e in snapshot.envs}
    envs = snapshot.ordered_envs()
    outputs = _app_outputs(deployed, envs)
    apps = _matrix_apps(snapshot, envs, outputs)
    by_pair = _history_by_pair(history)
    classified = _classified(snapshot, deployed, outputs, history, envs, in_flight)
    tip = _cached(branch_tips)
    cells: list[Cell] = []
    for env in envs:
        for app in apps:
            f = snapshot.tree.get(env, app)
            commit = f.commit if f else None
            out = outputs[env].get(app)
            running = out.get("commit") if out else None
            if commit is None and running is None:
                continue  # neither a file nor a record: no cell
            behind_upstream, behind_branch = _lags(snapshot.catalog.apps.get(app), commit, running,
                                                   _runs(outputs, upstream_of[env], app), counts, tip)
            judged = classified.get((env, app)) or _unjudged(env, app, commit)
            cells.append(_cell(snapshot, env, app, out, running, by_pair.get((env, app), []), upstream_of[env],
                               behind_upstream, behind_branch, judged))
    timeline = sorted((e for e in history if e.env in envs), key=lambda e: e.when, reverse=True)
    return StatusReport(generated_at=now, envs=envs, apps=apps, cells=cells, timeline=timeline,
                        upstreams=upstream_of)


def _app_outputs(deployed: dict[str, dict[str, dict[str, Any]]], envs: list[str]) -> Outputs:
    """Each env's app records, leaving out what is no object (no record of a deploy)."""
    return {env: {app: v for app, v in (deployed.get(env) or {}).items() if isinstance(v, dict)} for env in envs}


def _matrix_apps(snapshot: Snapshot, envs: list[str], outputs: Outputs) -> list[str]:
    """The matrix's rows: every app the catalog, a deploy file or Pulumi's record names."""
    return sorted({*snapshot.catalog.apps, *(f.app for e in envs for f in snapshot.tree.in_env(e)),
                   *(app for env in envs for app in outputs[env])})


def _history_by_pair(history: list[HistoryEntry]) -> dict[tuple[str, str], list[HistoryEntry]]:
    by_pair: dict[tuple[str, str], list[HistoryEntry]] = {}
    for entry in history:
        by_pair.setdefault((entry.env, entry.app), []).append(entry)
    return by_pair


def _classified(snapshot: Snapshot, deployed: dict[str, dict[str, dict[str, Any]]], outputs: Outputs,
                history: list[HistoryEntry], envs: list[str],
                in_flight: Mapping[str, InFlight] | None) -> dict[tuple[str, str], AppState]:
    """Each pair's state, as `drift` judges it (core/appstate.classify), from what each stack records."""
    records = {env: StackRecord(deployed=deployed_commits({"deployed": outputs[env]}) if env in deployed else None,
                                in_flight=(in_flight or {}).get(env)) for env in envs}
    return {(s.env, s.app): s for s in classify(snapshot, records, history, envs)}


def _cached(branch_tips: BranchTips) -> BranchTips:
    """`branch_tips`, asked once per repository and branch (apps share them)."""
    tips: dict[tuple[str, str], str | None] = {}

    def tip(repo: str, branch: str) -> str | None:
        if (repo, branch) not in tips:
            tips[repo, branch] = branch_tips(repo, branch)
        return tips[repo, branch]

    return tip


def _runs(outputs: Outputs, env: str | None, app: str) -> str | None:
    """The commit Pulumi records for `app` in `env` (None: no env, no record, or no commit in it)."""
    out = outputs[env].get(app) if env else None
    commit = out.get("commit") if out else None
    return commit if isinstance(commit, str) else None


def _lags(catalog_app: App | None, commit: str | None, running: str | None, upstream_commit: str | None,
          counts: Counts, tip: BranchTips) -> tuple[int | None, int | None]:
    """How far what runs lags what the upstream env runs, and the app's release branch (None: unknown).

    Counted only for an app of the catalog whose file names a commit and that runs one."""
    behind_upstream = behind_branch = None
    if catalog_app and commit and running:
        if upstream_commit and not same_commit(running, upstream_commit):
            behind_upstream = counts(catalog_app.repo, running, upstream_commit)
        elif upstream_commit:
            behind_upstream = 0
        branch_tip = tip(catalog_app.repo, catalog_app.branch)
        if branch_tip:
            behind_branch = 0 if same_commit(running, branch_tip) else counts(catalog_app.repo, running, branch_tip)
    return behind_upstream, behind_branch


def _unjudged(env: str, app: str, commit: str | None) -> AppState:
    """The state of a record whose commit is no hash: classify cannot judge it, so it waits for a new record."""
    return AppState(env=env, app=app, state=State.PENDING, file=commit, running=None,
                    detail=f"Pulumi's record of {app} names no commit; deployctl up --stack {env} records it again")


def _newest(entries: list[HistoryEntry]) -> HistoryEntry | None:
    return max(entries, key=lambda e: e.merged, default=None)


def _cell(snapshot: Snapshot, env: str, app: str, out: dict[str, Any] | None, running: str | None,
          pair: list[HistoryEntry], upstream: str | None, behind_upstream: int | None, behind_branch: int | None,
          judged: AppState) -> Cell:
    """One cell: the file's line (else the record's comment), the deploy that wrote it, the last result."""
    f = snapshot.tree.get(env, app)
    commit = f.commit if f else None
    catalog_app = snapshot.catalog.apps.get(app)
    matched = _newest([e for e in pair if same_commit(e.to, commit)]) if commit else None
    latest = _newest(pair)
    return Cell(
        env=env, app=app, commit=commit,
        comment=f.current.comment if f else str((out or {}).get("comment") or ""),
        running=running,
        deployed_at=matched.when if matched else None,
        deployed_by=matched.author if matched else None,
        pr=matched.pr if matched else None,
        result=latest.deploy.result if latest else None,
        upstream=upstream, behind_upstream=behind_upstream,
        branch=catalog_app.branch if catalog_app else None, behind_branch=behind_branch,
        drift=judged.detail if judged.drifted else None, state=judged.state, detail=judged.detail,
        fix=judged.fix, since=judged.since, in_flight=judged.in_flight,
    )


__all__ = ["BranchTips", "Cell", "Counts", "StatusReport", "build_status"]
