"""What deployctl writes into a Pulumi update's message, and reads back: the one codec for it.

Pulumi records per update a free-text message and, as data, its git metadata (`git.head`, read by
UpdateRecord.head). The message says, for people and for `history`: the apps moved and the merge
commit and PR (deploy_message), an `up --force` reason (forced_message) and a switch-back
(switched_message). Every reader parses it here, next to its writer, so the two cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from deployctl.core.repo.model import short

FORCED_MARK = "[forced: "
SWITCHED_BACK = "failed, switched back"
HELD_BACK = "held back"
_MERGE = re.compile(r"merge ([0-9a-f]{7,40})")
_PR = re.compile(r"\(PR #(\d+)[ )]")
_SWITCH = re.compile(r" -- failed, switched back: (?P<switched>[^;]*?)(?:; held back: (?P<held>.*))?$")


def deploy_message(env: str, moves: list[tuple[str, str | None, str | None]], pr: int | None,
                   merge: str | None) -> str:
    """An `up` after a merge: each (app, old, new) moved, then the PR and the merge commit."""
    text = ", ".join(f"{app} {short(old) or 'none'}->{short(new) or 'removed'}" for app, old, new in moves)
    where = "".join([f" PR #{pr}" if pr else "", f" merge {short(merge)}" if merge else ""])
    return f"deployctl: {env}: {text or 'program or config change'}" + (f" ({where.strip()})" if where else "")


def merge_of(message: str) -> str | None:
    """The (abbreviated) merge commit a deploy_message names; None for any other message."""
    found = _MERGE.search(message)
    return found.group(1) if found else None


def pr_of(message: str) -> int | None:
    """The PR a deploy_message names; None for any other message."""
    found = _PR.search(message)
    return int(found.group(1)) if found else None


def forced_message(message: str, reason: str) -> str:
    return f"{message} {FORCED_MARK}{' '.join(reason.split())}]"


def forced_reason(message: str) -> str | None:
    """The --reason recorded in an update message by `up --force`."""
    start = message.rfind(FORCED_MARK)
    if start < 0 or not message.endswith("]"):
        return None
    return message[start + len(FORCED_MARK):-1] or None


def switched_message(text: str, switched: Mapping[str, str], held: list[str]) -> str:
    """The switch-back update's message; `history` and `status` read it back (switch_marks)."""
    moves = ", ".join(f"{app} to {short(commit)}" for app, commit in sorted(switched.items()))
    return f"{text} -- {SWITCHED_BACK}: {moves}" + (f"; {HELD_BACK}: {', '.join(held)}" if held else "")


def switch_marks(message: str) -> tuple[set[str], set[str]]:
    """(apps switched back, apps held back) named by an update message; empty for other updates."""
    m = _SWITCH.search(message)
    if not m:
        return set(), set()
    switched = {part.split(" to ", 1)[0].strip() for part in m["switched"].split(",") if part.strip()}
    held = {a.strip() for a in (m["held"] or "").split(",") if a.strip()}
    return switched, held
