"""What runs, told truthfully: one state for every app in every env.

The one classification `status`, `history`, `drift` and the status page share (issue 23). Pure data
here; the classifier that fills it (from the deploy files, the stacks' `deployed` outputs, their update
history, the backend's locks and the engine's refresh) lives beside these models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import same_commit, short
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.trace.history import HistoryEntry
from deployctl.core.trace.updatemessage import HELD_BACK, SWITCHED_BACK
from deployctl.core.violations import ExitStatus


class State(StrEnum):
    IN_SYNC = "in-sync"
    """What the file names runs, per Pulumi's record and (when refreshed) per the engine's refresh."""
    PENDING = "pending"
    """Merged, no update has run it, none is running (also: a file removed while its app still runs)."""
    IN_PROGRESS = "in-progress"
    """An update of its stack is running now (the backend's lock / the stack's in-flight update)."""
    FAILED = "failed"
    """The last update that tried it failed."""
    SWITCHED_BACK = "switched-back"
    """Its health check failed and the previous commit runs."""
    OUT_OF_BAND = "out-of-band"
    """Pulumi's record says what the file says, but what runs differs from the record (found by refresh)."""


DRIFTED = frozenset({State.PENDING, State.FAILED, State.SWITCHED_BACK, State.OUT_OF_BAND})
"""The states `drift` exits 1 for; `in-sync` and `in-progress` are not drift."""


class OutOfBand(LazyModel):
    """What the engine's refresh found for one app whose real resources differ from Pulumi's record."""

    model_config = ConfigDict(frozen=True)

    detail: str
    """What differs, for a person: e.g. `release: runs 1a2b3c4, Pulumi recorded 5d6e7f8`."""
    runs: str | None = None
    """The commit that really runs, when the refresh can tell (None: unknown or nothing runs)."""


class InFlight(LazyModel):
    """An update of a stack that is running now, on any runner."""

    model_config = ConfigDict(frozen=True)

    since: datetime | None = None
    by: str | None = None
    """Who runs it (the lock's user@host, or the update's author)."""
    pr: int | None = None
    message: str = ""
    stale: str = ""
    """Why no deploy can still be making this reading (a lock older than any deploy runs, or with no
    time): empty when live. A stale one never shows as in-progress, so it cannot hide drift."""


class AppState(LazyModel):
    """One app in one env, classified. `--json` of `drift` is a list of these (`to_json`)."""

    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    state: State
    file: str | None
    """The commit the deploy file names (None: the env has no file for the app)."""
    running: str | None
    """The commit that runs per Pulumi's `deployed` record (None: Pulumi runs nothing for it)."""
    detail: str = ""
    """What differs, for a person; empty when in sync."""
    since: datetime | None = None
    """Since when it has been in this state (the merge, the failed update, the switch-back, the refresh)."""
    fix: str = ""
    """The command or PR that fixes it (e.g. `deployctl up --stack production`, the [rollback] PR)."""
    in_flight: InFlight | None = None
    """For `in-progress`: the running update."""

    @property
    def drifted(self) -> bool:
        return self.state in DRIFTED

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# -- the classifier ---------------------------------------------------------------------------------


class StackRecord(LazyModel):
    """What the backend says of one stack, as `classify` reads it (the commands read it: adapters)."""

    model_config = ConfigDict(frozen=True)

    deployed: dict[str, str] | None = None
    """App -> the commit Pulumi's `deployed` output records (core/running.deployed_commits); None: the
    stack was never deployed."""
    in_flight: InFlight | None = None
    """The update running now (adapters/pulumi/inflight.py: the backend's lock, the in-flight update)."""
    out_of_band: dict[str, OutOfBand] | None = None
    """App -> what the engine's refresh found differing from the record; None: not refreshed."""


RETRY = "re-run the deploy workflow (workflow_dispatch) or `deployctl up --stack {env}`"


def classify(snapshot: Snapshot, stacks: Mapping[str, StackRecord], trace: Sequence[HistoryEntry],
             envs: Sequence[str] | None = None) -> list[AppState]:
    """Every app of every env (`envs`, default the snapshot's, in deploy order) in one of the six states.

    `trace` is the deploy history joined with each stack's updates (core/history.join): each deploy
    line's own outcome, switch-backs included, is what tells a failed line from one no update ran. An
    env with no entry in `stacks` reads as never deployed. Pairs with neither a deploy file nor a
    record are left out.
    """
    chosen = snapshot.ordered_envs(envs)
    lines: dict[tuple[str, str], list[HistoryEntry]] = {}
    for entry in trace:
        lines.setdefault((entry.env, entry.app), []).append(entry)
    for found in lines.values():
        found.sort(key=lambda e: e.merged, reverse=True)
    out: list[AppState] = []
    for env in chosen:
        record = stacks.get(env) or StackRecord()
        if record.in_flight is not None and record.in_flight.pr is None:
            record = record.model_copy(update={"in_flight": _with_pr(record.in_flight, env, trace)})
        deployed = record.deployed or {}
        apps = sorted({f.app for f in snapshot.tree.in_env(env)} | set(deployed))
        for app in apps:
            f = snapshot.tree.get(env, app)
            out.append(_one(env, app, f.commit if f else None, deployed.get(app), record,
                            lines.get((env, app), [])))
    return out


def _one(env: str, app: str, file: str | None, running: str | None, record: StackRecord,
         lines: list[HistoryEntry]) -> AppState:
    def state(kind: State, detail: str, since: datetime | None = None, fix: str = "",
              in_flight: InFlight | None = None) -> AppState:
        return AppState(env=env, app=app, state=kind, file=file, running=running, detail=detail, since=since,
                        fix=fix, in_flight=in_flight)

    retry = RETRY.format(env=env)
    flight = record.in_flight
    if flight is not None and not flight.stale:
        return _deploying(env, file, running, flight, state)
    if flight is not None:  # a dead run's lock: what runs is judged as if none were there, and the lock named
        found = _one(env, app, file, running, record.model_copy(update={"in_flight": None}), lines)
        if found.state == State.IN_SYNC:
            return found
        who = f" by {flight.by}" if flight.by else ""
        return found.model_copy(update={
            "detail": f"{found.detail}; a lock of {env}{who} looks dead ({flight.stale})",
            "fix": f"check that no update of {env} runs, then `deployctl unlock {env} --force`; then {found.fix}"})
    if file is None:  # running is set: a pair with neither is never classified
        removal = lines[0] if lines and lines[0].to is None else None
        return state(State.PENDING, f"its deploy file was removed; Pulumi still runs {short(running)}",
                     removal.merged if removal else None, f"{retry}: that removes it")
    if running is not None and same_commit(file, running):
        oob = (record.out_of_band or {}).get(app)
        if oob is not None:
            return state(State.OUT_OF_BAND, oob.detail,
                         fix=f"`deployctl up --stack {env}` restores what git says ({short(file)}), or change "
                             f"deploys/{env}/{app} to what runs" + (f" ({short(oob.runs)})" if oob.runs else ""))
        tried = _line(lines, file)
        return state(State.IN_SYNC, "", tried.when if tried else None)
    tried = _line(lines, file)
    result = tried.deploy.result if tried else "unknown"
    runs = f"Pulumi runs {short(running)}" if running else (
        "Pulumi runs nothing for it" if record.deployed is not None else "the stack was never deployed")
    says = f"the file says {short(file)}, {runs}"
    if result == "failed" and tried is not None:
        return state(State.FAILED, f"{says}: the update that tried it failed"
                     + (f" (v{tried.deploy.update})" if tried.deploy.update else ""),
                     tried.time or tried.merged,
                     f"fix the cause, then {retry}; or `deployctl rollback {env} {app}`")
    if result in (SWITCHED_BACK, HELD_BACK) and tried is not None and running:
        why = ("its health check failed and the previous commit runs again" if result == SWITCHED_BACK
               else "held back while an app it depends on was switched back")
        return state(State.SWITCHED_BACK, f"{says}: {why}", tried.time or tried.merged,
                     f"merge the [rollback] pull request (`deployctl rollback {env} {app} --to {running}`)")
    if result == "succeeded" and tried is not None:
        ran = f" (v{tried.deploy.update})" if tried.deploy.update else ""
        return state(State.PENDING, f"{says}: it ran{ran}, and a later update changed it", tried.merged, retry)
    why = {"in-progress": "an update started on it but never ended (killed mid-way?)",
           "skipped": "a newer line replaced it before an update ran"}.get(result, "merged, no update has run it yet")
    return state(State.PENDING, f"{says}: {why}", tried.merged if tried else None, retry)


def _with_pr(flight: InFlight, env: str, trace: Sequence[HistoryEntry]) -> InFlight:
    """A running update the backend names no PR of (a lock says only who and since when): the PR of the
    newest line of its env merged before it started that no update has run, which is what it carries out."""
    waiting = [e for e in trace if e.env == env and e.deploy.result in ("pending", "in-progress", "unknown")
               and (flight.since is None or e.merged <= flight.since)]
    newest = max(waiting, key=lambda e: e.merged, default=None)
    return flight.model_copy(update={"pr": newest.pr}) if newest else flight


def _deploying(env: str, file: str | None, running: str | None, flight: InFlight,
               state: Callable[..., AppState]) -> AppState:
    """An app of a stack being updated: who, since when, which PR."""
    pr = flight.pr
    who = f" by {flight.by}" if flight.by else ""
    when = f" since {flight.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if flight.since else ""
    which = f" (PR #{pr})" if pr else ""
    moving = "" if file is None or same_commit(file, running) else f": {short(running, 'none')} -> {short(file)}"
    return state(State.IN_PROGRESS, f"an update of {env} is running{who}{when}{which}{moving}", flight.since,
                 "wait for it to end; `deployctl drift` again then (if its runner died: "
                 f"`deployctl unlock {env} --force`)", flight)


def _line(lines: list[HistoryEntry], commit: str) -> HistoryEntry | None:
    """The newest deploy line (newest merge first) that names `commit`."""
    return next((e for e in lines if same_commit(e.to, commit)), None)


def exit_status(states: Sequence[AppState]) -> ExitStatus:
    """`drift`'s exit: 1 when anything drifted, else 0 (in-sync and in-progress are no drift)."""
    return ExitStatus.VIOLATION if any(s.drifted for s in states) else ExitStatus.OK
