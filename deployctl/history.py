"""The deployment trace: the deploy repo's git history of `deploys/`, joined with Pulumi's updates.

Pure: it parses one `git log --raw` and the deploy-file blobs it names (read in one batch), and
joins them with update records, so the whole history costs two git processes however long it is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from deployctl.model import HASH_RE
from deployctl.outcomes import UpdateRecord
from deployctl.plan import pr_number
from deployctl.switchback import HELD_BACK, SWITCHED_BACK, switch_marks

COMMIT_MARK = "\x1e"
SEP = "\x1f"
LOG_FORMAT = f"{COMMIT_MARK}%H{SEP}%an{SEP}%ct{SEP}%B{SEP}"
_MERGE_HEAD = re.compile(r"merge ([0-9a-f]{7,40})")


class DeployResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    result: str  # succeeded | failed | in-progress | not-deployed | failed, switched back | held back
    time: datetime | None = None
    update: int | None = None


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    time: datetime
    env: str
    app: str
    from_: str | None = None
    to: str | None = None
    comment: str = ""
    commit: str
    author: str
    pr: int | None = None
    deploy: DeployResult = DeployResult(result="not-deployed")

    def to_json(self) -> dict:
        data = self.model_dump(mode="json")
        data["from"] = data.pop("from_")
        return data


def _first_token(line: str) -> tuple[str | None, str]:
    words = line.split(None, 1)
    if words and HASH_RE.match(words[0]):
        return words[0], (words[1].strip() if len(words) > 1 else "")
    return None, ""


def _first_line(blob: bytes | None) -> tuple[str | None, str]:
    """The deployed commit and its comment: the first non-blank line of a deploy file's content."""
    if not blob:
        return None, ""
    for raw in blob.split(b"\n", 64)[:64]:
        line = raw.decode("utf-8", errors="replace").strip()
        if line:
            return _first_token(line)
    return None, ""


RawCommit = tuple[str, str, str, str, list[tuple[str, str, str]]]
"""(commit, author, unix time, message, [(path, old blob, new blob)])"""


def raw_changes(text: str) -> list[RawCommit]:
    """(sha, author, time, message, [(path, old blob, new blob)]) per commit of `git log --raw`."""
    commits = []
    for chunk in text.split(COMMIT_MARK)[1:]:
        sha, author, ts, message, raw = chunk.split(SEP, 4)
        files = []
        for line in raw.splitlines():
            if line.startswith(":"):
                meta, path = line.split("\t", 1)
                fields = meta.split()
                files.append((path, fields[2], fields[3]))
        commits.append((sha, author, ts, message, files))
    return commits


def blobs_needed(commits: list[RawCommit]) -> set[str]:
    return {b for *_, files in commits for _, old, new in files for b in (old, new) if b.strip("0")}


def parse_log(commits: list[RawCommit], blobs: dict[str, bytes]) -> list[HistoryEntry]:
    """Entries from `git log --raw` of deploys/ (see raw_changes) and the blobs it names, newest first.

    A commit is a deploy of a file when the file's first commit changed; a comment edited lower
    down is not. Reading blobs (each once) is cheaper than asking git for patches.
    """
    entries: list[HistoryEntry] = []
    for sha, author, ts, message, files in commits:
        time = datetime.fromtimestamp(int(ts), tz=UTC)
        pr = pr_number(message)
        for path, old_blob, new_blob in files:
            parts = path.split("/")
            if len(parts) != 3 or parts[0] != "deploys":
                continue
            old, _ = _first_line(blobs.get(old_blob))
            new, comment = _first_line(blobs.get(new_blob))
            if old == new:
                continue
            entries.append(HistoryEntry(time=time, env=parts[1], app=parts[2], from_=old, to=new,
                                        comment=comment, commit=sha, author=author, pr=pr))
    return entries


def _update_head(record: UpdateRecord) -> str | None:
    head = record.environment.get("git.head")
    if head:
        return head
    m = _MERGE_HEAD.search(record.message)
    return m.group(1) if m else None


def _result(record: UpdateRecord) -> str:
    if record.result == "succeeded":
        return "succeeded"
    if record.result in ("in-progress", "not-started") or record.end is None:
        return "in-progress"
    return "failed"


def join(entries: list[HistoryEntry], updates: dict[str, list[UpdateRecord]], order: list[str]) -> list[HistoryEntry]:
    """Give each deploy the update that carried it out.

    `order` is the deploy branch's first-parent history, newest first. An update run at head H
    deploys every change at or before H that no earlier update of that stack deployed.
    """
    position = {sha: i for i, sha in enumerate(order)}

    def pos(sha: str | None) -> int | None:
        if sha is None:
            return None
        if sha in position:
            return position[sha]
        return next((i for s, i in position.items() if s.startswith(sha)), None)

    result: dict[tuple[str, str, str], DeployResult] = {}
    for env, records in updates.items():
        env_entries = sorted((e for e in entries if e.env == env and e.commit in position),
                             key=lambda e: -position[e.commit])  # oldest first
        covered: set[int] = set()
        earliest = datetime.min.replace(tzinfo=UTC)
        ups = sorted((r for r in records if r.kind == "update"), key=lambda r: r.start or earliest)
        for record in ups:
            head_pos = pos(_update_head(record))
            if head_pos is None:
                continue
            outcome = DeployResult(result=_result(record), time=record.end or record.start, update=record.version)
            switched, held = switch_marks(record.message)  # a switch-back update names its apps
            for i, e in enumerate(env_entries):
                if i in covered or position[e.commit] < head_pos:
                    continue
                key = (e.commit, e.env, e.app)
                mine = outcome
                if outcome.result == "succeeded" and (e.app in switched or e.app in held):
                    mine = outcome.model_copy(update={"result": SWITCHED_BACK if e.app in switched else HELD_BACK})
                if mine.result in ("succeeded", SWITCHED_BACK, HELD_BACK) or key not in result:
                    result[key] = mine
                if mine.result in ("succeeded", SWITCHED_BACK):
                    covered.add(i)
    return [e.model_copy(update={"deploy": result[key]}) if (key := (e.commit, e.env, e.app)) in result else e
            for e in entries]


def select(entries: list[HistoryEntry], env: str | None, app: str | None, limit: int | None) -> list[HistoryEntry]:
    chosen = [e for e in entries if (env is None or e.env == env) and (app is None or e.app == app)]
    chosen.sort(key=lambda e: e.time, reverse=True)
    return chosen[:limit] if limit else chosen


__all__ = ["LOG_FORMAT", "HistoryEntry", "blobs_needed", "join", "parse_log", "raw_changes", "select"]
