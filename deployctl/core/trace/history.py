"""The deployment trace: the deploy repo's git history of `deploys/`, joined with Pulumi's updates.

Pure: it parses one `git log --raw` and the deploy-file blobs it names (read in one batch), and
joins them with update records, so the whole history costs two git processes however long it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticSerializationError

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import pr_number, split_line
from deployctl.core.trace.outcomes import UpdateRecord
from deployctl.core.trace.updatemessage import HELD_BACK, SWITCHED_BACK, forced_reason, switch_marks

COMMIT_MARK = "\x1e"
SEP = "\x1f"
LOG_FORMAT = f"{COMMIT_MARK}%H{SEP}%an{SEP}%ct{SEP}%at{SEP}%B{SEP}"


class DeployResult(LazyModel):
    model_config = ConfigDict(frozen=True)

    result: str = "unknown"
    """A deploy line's own outcome: succeeded, failed, in-progress, `failed, switched back`, `held back`;
    `skipped`: a newer line of the same file reached Pulumi first, so this one never ran; `pending`: no
    update has tried it yet; `unknown`: Pulumi's record was not read."""
    update: int | None = None
    """The Pulumi update (stack history version) that ran this line."""
    superseded_by: str | None = None
    """The deploy-repo commit whose line replaced this one before (or after) it ran."""
    superseded_by_pr: int | None = None
    forced: str | None = None
    """The --reason of an `up --force` that overrode the stale-run guard."""


UNKNOWN = DeployResult()
"""The outcome of a line whose Pulumi record was not read (frozen, so every entry may share it)."""


class HistoryEntry(LazyModel):
    model_config = ConfigDict(frozen=True)

    merged: datetime
    """When the deploy-repo commit that wrote the line landed (the PR's merge)."""
    time: datetime | None = None
    """When Pulumi carried the line out (the update's end); None until an update has tried it."""
    env: str
    app: str
    from_: str | None = Field(default=None, serialization_alias="from")
    to: str | None = None
    comment: str = ""
    commit: str
    author: str
    pr: int | None = None
    deploy: DeployResult = UNKNOWN
    approved_by: list[str] | None = None
    """Who approved the PR (from GitHub's reviews); None when not read, never guessed."""
    authored: int | None = Field(default=None, exclude=True)
    """The deploy-repo commit's author time, unix seconds: when a squashed, rebased or pushed change
    was written (`metrics`' PR opening). Not in the JSON; None for an entry not read from git."""

    @property
    def when(self) -> datetime:
        """The one time every view shows: when it ran, else when it merged."""
        return self.time or self.merged

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


_ENTRIES = TypeAdapter(list[HistoryEntry])


def history_json(entries: list[HistoryEntry], indent: int | None = None) -> str:
    """The `--json` of history: one serializer call for every entry (10,000s of them), the same
    document as `[e.to_json() for e in entries]`. Text git gave as invalid UTF-8 (kept as lone
    surrogates) goes through `json.dumps`, which escapes it."""
    try:
        return _ENTRIES.dump_json(entries, by_alias=True, indent=indent).decode()
    except PydanticSerializationError:
        return json.dumps([e.to_json() for e in entries], indent=indent)


def deploy_line(blob: bytes | None) -> tuple[str | None, str]:
    """The deployed commit and its comment: the first non-blank line of a deploy file's content."""
    if not blob:
        return None, ""
    for raw in blob.split(b"\n", 64)[:64]:
        line = raw.decode("utf-8", errors="replace").strip()
        if line:
            return split_line(line) or (None, "")
    return None, ""


RawCommit = tuple[str, str, str, str, str, list[tuple[str, str, str]]]
"""(commit, author, unix time, unix author time, message, [(path, old blob, new blob)])"""


def raw_changes(text: str) -> list[RawCommit]:
    """RawCommit per commit of `git log --raw` (LOG_FORMAT)."""
    commits = []
    for chunk in text.split(COMMIT_MARK)[1:]:
        sha, author, ts, at, message, raw = chunk.split(SEP, 5)
        files = []
        for line in raw.splitlines():
            if line.startswith(":"):
                meta, path = line.split("\t", 1)
                fields = meta.split()
                files.append((path, fields[2], fields[3]))
        commits.append((sha, author, ts, at, message, files))
    return commits


def blobs_needed(commits: list[RawCommit]) -> set[str]:
    return {b for *_, files in commits for _, old, new in files for b in (old, new) if b.strip("0")}


def parse_log(commits: list[RawCommit], lines: dict[str, tuple[str | None, str]]) -> list[HistoryEntry]:
    """Entries from `git log --raw` of deploys/ (see raw_changes), newest first; `lines` holds the
    `deploy_line` of each blob the log names, by blob id.

    A commit is a deploy of a file when the file's first commit changed; a comment edited lower
    down is not. Reading blobs (each once) is cheaper than asking git for patches.
    """
    none: tuple[str | None, str] = (None, "")
    entries: list[HistoryEntry] = []
    for sha, author, ts, at, message, files in commits:
        time, authored = datetime.fromtimestamp(int(ts), tz=UTC), int(at)
        pr = pr_number(message)
        for path, old_blob, new_blob in files:
            parts = path.split("/")
            if len(parts) != 3 or parts[0] != "deploys":
                continue
            old, _ = lines.get(old_blob, none)
            new, comment = lines.get(new_blob, none)
            if old == new:
                continue
            # every value already has its field's type: construct without validating (10,000s of lines),
            # every field given, so pydantic deep-copies no default (that alone was a third of the time)
            entries.append(HistoryEntry.model_construct(
                merged=time, time=None, env=parts[1], app=parts[2], from_=old, to=new, comment=comment,
                commit=sha, author=author, pr=pr, deploy=UNKNOWN, approved_by=None, authored=authored))
    return entries


def _result(record: UpdateRecord) -> str:
    if record.result == "succeeded":
        return "succeeded"
    if record.result in ("in-progress", "not-started") or record.end is None:
        return "in-progress"
    return "failed"


Key = tuple[str, str, str]
"""A deploy line: (deploy-repo commit, env, app)."""
Tried = tuple[DeployResult, datetime | None]
"""A line's outcome and when its update ended (or started)."""


def join(entries: list[HistoryEntry], updates: dict[str, list[UpdateRecord]], order: list[str]) -> list[HistoryEntry]:
    """Give each deploy line its own outcome from the stack's updates.

    `order` is the deploy branch's first-parent history, newest first. An update run at head H
    deploys, per app, the newest line at or before H that no earlier update settled; older lines of
    that app that no update reached were superseded unrun (`skipped`, never `succeeded`). A failed
    line stays `failed` when a newer one supersedes it; a retry at the same head may still succeed.
    """
    position = {sha: i for i, sha in enumerate(order)}
    out: dict[Key, Tried] = {}
    for env, records in updates.items():
        lines = _lines_by_app(entries, env, position)
        settled: set[Key] = set()
        for record in _updates_by_start(records):
            head_pos = _position_of(position, record.head)
            if head_pos is not None:
                _carry_out(record, head_pos, lines, position, settled, out)
        for app_lines in lines.values():  # what no update reached yet
            for e in app_lines:
                out.setdefault(_key(e), (DeployResult(result="pending"), None))
    return [e.model_copy(update={"deploy": out[k][0], "time": out[k][1]}) if (k := _key(e)) in out else e
            for e in entries]


def _position_of(position: dict[str, int], sha: str | None) -> int | None:
    """Where a commit (possibly abbreviated) sits in the first-parent history, None when not in it."""
    if sha is None:
        return None
    if sha in position:
        return position[sha]
    return next((i for s, i in position.items() if s.startswith(sha)), None)


def _lines_by_app(entries: list[HistoryEntry], env: str, position: dict[str, int]) -> dict[str, list[HistoryEntry]]:
    """Each app's lines in `env` that are on the first-parent history, oldest first."""
    lines: dict[str, list[HistoryEntry]] = {}
    for e in sorted((e for e in entries if e.env == env and e.commit in position),
                    key=lambda e: -position[e.commit]):  # oldest first
        lines.setdefault(e.app, []).append(e)
    return lines


def _updates_by_start(records: list[UpdateRecord]) -> list[UpdateRecord]:
    """The stack's updates (not its refreshes or previews), in the order they started."""
    earliest = datetime.min.replace(tzinfo=UTC)
    return sorted((r for r in records if r.kind == "update"), key=lambda r: r.start or earliest)


def _carry_out(record: UpdateRecord, head_pos: int, lines: dict[str, list[HistoryEntry]], position: dict[str, int],
               settled: set[Key], out: dict[Key, Tried]) -> None:
    """What one update at `head_pos` did to each app's lines: it ran the newest open line at or before
    its head, and the older open ones were replaced before it ran. A line is settled once it ran
    (succeeded or switched back); a forced update redeploys its head's line, settled or not."""
    result = _result(record)
    forced = forced_reason(record.message)
    switched, held = switch_marks(record.message)  # a switch-back update names its apps
    for app_lines in lines.values():
        open_ = [(i, e) for i, e in enumerate(app_lines)
                 if _key(e) not in settled and position[e.commit] >= head_pos]
        if not open_:
            if forced:
                _redeploy_forced(record, result, forced, [e for e in app_lines if position[e.commit] >= head_pos], out)
            continue
        *older, (_, newest) = open_
        _supersede(older, app_lines, settled, out)
        mine = _line_result(result, newest.app, switched, held)
        out[_key(newest)] = (DeployResult(result=mine, update=record.version, forced=forced),
                            record.end or record.start)
        if mine in ("succeeded", SWITCHED_BACK):  # a held-back line may still run later
            settled.add(_key(newest))


def _redeploy_forced(record: UpdateRecord, result: str, forced: str, at_head: list[HistoryEntry],
                     out: dict[Key, Tried]) -> None:
    """An override redeploys what its head names, settled or not: the newest line at its head."""
    if at_head:
        out[_key(at_head[-1])] = (DeployResult(result=result, update=record.version, forced=forced),
                                  record.end or record.start)


def _supersede(older: list[tuple[int, HistoryEntry]], app_lines: list[HistoryEntry], settled: set[Key],
               out: dict[Key, Tried]) -> None:
    """Lines replaced before this update ran: `skipped` (a failed or in-progress try stays so), each
    naming the line that replaced it."""
    for i, e in older:
        nxt = app_lines[i + 1]
        tried, when = out.get(_key(e), (DeployResult(), None))
        kept = tried.result if tried.result in ("failed", "in-progress") else "skipped"
        out[_key(e)] = (tried.model_copy(update={
            "result": kept, "superseded_by": nxt.commit, "superseded_by_pr": nxt.pr}), when)
        settled.add(_key(e))


def _line_result(result: str, app: str, switched: set[str], held: set[str]) -> str:
    """The line's own outcome: a succeeded switch-back update switched its failed app back and held
    back its dependents."""
    if result == "succeeded" and (app in switched or app in held):
        return SWITCHED_BACK if app in switched else HELD_BACK
    return result


def mark_in_flight(entries: list[HistoryEntry], running: Mapping[str, datetime | None]) -> list[HistoryEntry]:
    """`in-progress` for the lines an update running now carries out: `running` maps each env whose
    stack is being updated to when that update started (None: unknown). Per app, the newest line no
    update has run that merged before the update started; a line merged later waits for the next
    `up` and stays `pending`."""
    newest: dict[tuple[str, str], HistoryEntry] = {}
    for e in entries:
        if e.env not in running or e.deploy.result != "pending":
            continue
        since = running[e.env]
        if since is not None and e.merged > since:
            continue
        if (old := newest.get((e.env, e.app))) is None or e.merged > old.merged:
            newest[e.env, e.app] = e
    chosen = {_key(e) for e in newest.values()}
    return [e.model_copy(update={"deploy": e.deploy.model_copy(update={"result": "in-progress"})})
            if _key(e) in chosen else e for e in entries]


def _key(e: HistoryEntry) -> tuple[str, str, str]:
    return (e.commit, e.env, e.app)


def approvals(reviews: list[dict[str, Any]]) -> list[str]:
    """Who approved, from GitHub's PR reviews (oldest first): each reviewer's last verdict counts;
    a comment after an approval leaves it standing, a dismissal or a change request withdraws it."""
    verdict: dict[str, str] = {}
    for review in reviews:
        login = ((review.get("user") or {}).get("login")) if isinstance(review, dict) else None
        state = str(review.get("state", "")).upper() if isinstance(review, dict) else ""
        if login and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            verdict[str(login)] = state
    return sorted(login for login, state in verdict.items() if state == "APPROVED")


def select(entries: list[HistoryEntry], env: str | None, app: str | None, limit: int | None) -> list[HistoryEntry]:
    chosen = [e for e in entries if (env is None or e.env == env) and (app is None or e.app == app)]
    chosen.sort(key=lambda e: e.merged, reverse=True)
    return chosen[:limit] if limit else chosen


__all__ = ["LOG_FORMAT", "HistoryEntry", "approvals", "blobs_needed", "deploy_line", "history_json", "join",
           "mark_in_flight", "parse_log",
           "raw_changes", "select"]
