"""The deployment trace: the deploy repo's git history of `deploys/`, joined with Pulumi's updates.

Pure: it parses the text of one `git log -p` and joins it with update records, so the whole
history costs one git process however long it is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from deployctl.model import HASH_RE, parse_tags
from deployctl.outcomes import UpdateRecord
from deployctl.plan import pr_number

COMMIT_MARK = "\x1e"
SEP = "\x1f"
LOG_FORMAT = f"{COMMIT_MARK}%H{SEP}%an{SEP}%ct{SEP}%B{SEP}"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_MERGE_HEAD = re.compile(r"merge ([0-9a-f]{7,40})")


class DeployResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    result: str  # succeeded | failed | in-progress | not-deployed
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


def _file_change(lines: list[str]) -> tuple[str | None, str | None, str] | None:
    """(old first commit, new first commit, new comment) from one file's unified diff, if line 1 changed."""
    old_first = new_first = None
    comment = ""
    old_n = new_n = 0
    seen_hunk = False
    for line in lines:
        if m := _HUNK.match(line):
            if seen_hunk:
                break  # only the first hunk can hold line 1
            seen_hunk = True
            old_n, new_n = int(m.group(1)), int(m.group(3))
            if old_n > 1 and new_n > 1:
                return None  # the top of the file is untouched: not a deploy
            continue
        if not seen_hunk or not line or line.startswith("\\"):
            continue
        tag, text = line[0], line[1:]
        if tag in (" ", "-") and old_first is None and text.strip() and old_n >= 1:
            old_first = _first_token(text)[0] or "?"
        if tag in (" ", "+") and new_first is None and text.strip() and new_n >= 1:
            new_first, comment = _first_token(text)
            new_first = new_first or "?"
        if tag in (" ", "-"):
            old_n += 1
        if tag in (" ", "+"):
            new_n += 1
    old_first = None if old_first == "?" else old_first
    new_first = None if new_first == "?" else new_first
    if old_first == new_first:
        return None
    return old_first, new_first, comment


def parse_log(text: str) -> list[HistoryEntry]:
    """Entries from `git log -p --first-parent -m --format=LOG_FORMAT -- deploys/`, newest first."""
    entries: list[HistoryEntry] = []
    for chunk in text.split(COMMIT_MARK)[1:]:
        sha, author, ts, message, diff = chunk.split(SEP, 4)
        time = datetime.fromtimestamp(int(ts), tz=UTC)
        pr = pr_number(message)
        files: list[tuple[str, list[str]]] = []
        for line in diff.splitlines():
            if line.startswith("diff --git "):
                files.append((line.rsplit(" b/", 1)[-1], []))
            elif files:
                files[-1][1].append(line)
        for path, lines in files:
            parts = path.split("/")
            if len(parts) != 3 or parts[0] != "deploys":
                continue
            change = _file_change(lines)
            if change is None:
                continue
            old, new, comment = change
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
            for i, e in enumerate(env_entries):
                if i in covered or position[e.commit] < head_pos:
                    continue
                key = (e.commit, e.env, e.app)
                if outcome.result == "succeeded" or key not in result:
                    result[key] = outcome
                if outcome.result == "succeeded":
                    covered.add(i)
    return [e.model_copy(update={"deploy": result[key]}) if (key := (e.commit, e.env, e.app)) in result else e
            for e in entries]


def select(entries: list[HistoryEntry], env: str | None, app: str | None, limit: int | None) -> list[HistoryEntry]:
    chosen = [e for e in entries if (env is None or e.env == env) and (app is None or e.app == app)]
    chosen.sort(key=lambda e: e.time, reverse=True)
    return chosen[:limit] if limit else chosen


__all__ = ["LOG_FORMAT", "HistoryEntry", "join", "parse_log", "parse_tags", "select"]
