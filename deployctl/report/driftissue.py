"""The drift issue of one env: its marker, title and body, and the closing comment. Pure: data in, text out.

The body is what `drift --post` compares to decide whether to edit the issue (nothing changed, nothing
posted), so it holds nothing that moves by itself (no "checked at", no "for 3 days"). It ends with the
drifted apps' states as data, in a hidden comment (`drift_state_line` / `drift_state_of`: writer and
reader here, so they cannot drift), from which the next run tells which apps are newly drifted.
Every value (app names, details, fixes, commits) is escaped for Markdown (report/render.py's `md` and
`code`): a hostile name cannot end a line, ping a team, close a comment or hide the list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from deployctl.core.repo.model import short
from deployctl.core.trace.appstate import AppState
from deployctl.report.render import code, md

MARKER_PREFIX = "<!-- deployctl:drift:"
STATE_PREFIX = "<!-- deployctl:drift-state "
LABEL = "deployctl-drift"
"""The label the issues get (for people's filters only: an issue is found again by its marker)."""

_STATE_RE = re.compile(r"^<!-- deployctl:drift-state (\{.*\}) -->$", re.MULTILINE)


def drift_marker(env: str) -> str:
    """The hidden first line that names the env's one drift issue (env names are validated names;
    anything else is made inert all the same)."""
    return f"{MARKER_PREFIX}{_inert(env)} -->"


def drift_title(env: str) -> str:
    return f"Drift in {env}: what runs differs from git"


def _inert(text: str) -> str:
    """Inside an HTML comment: nothing that could end it (`>`), and one line."""
    return json.dumps(text, ensure_ascii=True)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e")


def _when(at: datetime | None) -> str:
    if at is None:
        return "since an unknown time"
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return f"since {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _commit(sha: str | None, missing: str) -> str:
    return code(short(sha)) if sha else missing


def drift_state_line(states: Mapping[str, str]) -> str:
    """The drifted apps' states as data (app -> state), hidden in the body; `<`, `>` and `@` are
    escaped, so no value can end the comment or mention anyone."""
    text = json.dumps(dict(sorted(states.items())), ensure_ascii=True, separators=(",", ":"))
    for char in "<>@":  # JSON's own escapes: read back as they were, never a mention or a comment's end
        text = text.replace(char, f"\\u{ord(char):04x}")
    return f"{STATE_PREFIX}{text} -->"


def drift_state_of(body: str) -> dict[str, str]:
    """What drift_state_line wrote into a body (an empty mapping for a body without it, or a broken one)."""
    match = _STATE_RE.search(body.replace("\r\n", "\n"))
    if match is None:
        return {}
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _app_lines(state: AppState) -> list[str]:
    head = (f"- **{md(state.app)}**: {md(state.state.value)} {md(_when(state.since))}; the file says "
            f"{_commit(state.file, 'nothing (no deploy file)')}, Pulumi runs {_commit(state.running, 'nothing')}")
    lines = [head]
    if state.detail:
        lines.append(f"  - what differs: {md(state.detail)}")
    if state.fix:
        lines.append(f"  - fix: {md(state.fix)}")
    return lines


def render_drift_issue(env: str, states: Sequence[AppState]) -> str:
    """The issue's body for the drifted apps of `env` (those whose `drifted` is true, in name order)."""
    drifted = sorted((s for s in states if s.env == env and s.drifted), key=lambda s: s.app)
    count = f"{len(drifted)} app{'' if len(drifted) == 1 else 's'}"
    lines = [drift_marker(env),
             f"In **{md(env)}**, what runs differs from what git says for {count}:", ""]
    for state in drifted:
        lines += _app_lines(state)
    lines += ["",
              "`deployctl drift` found this on its schedule; it edits this issue when the drift changes "
              "and closes it when the env is back in sync.",
              "",
              drift_state_line({s.app: s.state.value for s in drifted})]
    return "\n".join(lines) + "\n"


def render_back_in_sync(env: str, was: Mapping[str, str], now: datetime) -> str:
    """The comment that closes the issue."""
    apps = ", ".join(code(app) for app in sorted(was))
    who = f"{apps} run{'s' if len(was) == 1 else ''}" if was else "every app runs"
    return (f"**{md(env)}** is back in sync as of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC: {who} what git "
            "says. Closing.\n")


__all__ = ["LABEL", "MARKER_PREFIX", "drift_marker", "drift_state_line", "drift_state_of", "drift_title",
           "render_back_in_sync", "render_drift_issue"]
