"""Deploy notices to Slack (an incoming webhook): what went where, from which PR, and how it ended.

A notification is a courtesy: it never raises and never fails a deploy. The webhook URL is a secret,
so no message ever shows more of it than its host.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import ConfigDict

from deployctl.adapters.deadline import DeadlineExceeded, bounded_client, request_within
from deployctl.adapters.seconds import seconds_from_env
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import short as _short
from deployctl.core.urls import redact_url, redact_urls
from deployctl.core.violations import CannotJudge

RETRY_PAUSE = 0.5
"""Seconds before the one retry of a 5xx answer or a network error."""
DEADLINE_VAR = "DEPLOYCTL_SLACK_TIMEOUT"
DEFAULT_DEADLINE = 10.0
"""Seconds for a whole notification, retry included."""
MIN_TRY = 1.0
"""A second try is made only with at least this long left."""
MAX_SECTION_CHARS = 2900
"""Slack refuses a section text over 3000 characters."""
MAX_APP_SECTIONS = 20

_HEADLINES = {
    "succeeded": "deployed ✅",
    "failed": "deploy failed ❌",
    "skipped": "nothing deployed ⏭️",
}


class AppChange(LazyModel):
    model_config = ConfigDict(frozen=True)

    app: str
    old: str | None = None
    """The commit deployed before (None: the app is new to the env)."""
    new: str | None = None
    """The commit deployed now (None: the app was removed from the env)."""


class DeployNotice(LazyModel):
    model_config = ConfigDict(frozen=True)

    env: str
    result: Literal["succeeded", "failed", "skipped"]
    apps: list[AppChange] = []
    pr: int | None = None
    merge_commit: str | None = None
    run_url: str | None = None
    repo_url: str | None = None
    """https://github.com/owner/name, for PR and commit links; derived from run_url when unset."""
    message: str = ""


_MENTION_RE = re.compile(r"@(?=[A-Za-z0-9_])")


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters (`<!channel>`, `<@U123>`, links), which
    Slack's docs say to escape as &amp;, &lt; and &gt;; an `@name` gets a zero-width joiner, so no
    name (env, app, path) or text from a commit or an error links or pings anyone."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION_RE.sub("@\u200d", text)


def _repo_url(notice: DeployNotice) -> str | None:
    if notice.repo_url:
        return notice.repo_url.rstrip("/")
    if notice.run_url and "/actions/runs/" in notice.run_url:
        return notice.run_url.split("/actions/runs/", 1)[0]
    return None


def _link(url: str | None, text: str) -> str:
    """`<url|text>`: the URL without credentials, and with no `|` of its own to end it early."""
    return f"<{_escape(redact_url(url)).replace('|', '%7C')}|{_escape(text)}>" if url else _escape(text)


def _app_line(change: AppChange) -> str:
    old = f"`{_short(change.old)}`" if change.old else "(new)"
    new = f"`{_short(change.new)}`" if change.new else "(removed)"
    return f"*{_escape(change.app)}*: {old} → {new}"


def _chunks(lines: list[str]) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > MAX_SECTION_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:MAX_SECTION_CHARS]
    if current:
        chunks.append(current)
    if len(chunks) > MAX_APP_SECTIONS:
        rest = sum(c.count("\n") + 1 for c in chunks[MAX_APP_SECTIONS - 1:])
        chunks = [*chunks[: MAX_APP_SECTIONS - 1], f"… and {rest} more app(s)"]
    return chunks


def slack_payload(notice: DeployNotice) -> dict[str, Any]:
    """The incoming-webhook JSON: a plain `text` fallback (notifications) plus Block Kit blocks."""
    headline = f"{notice.env}: {_HEADLINES[notice.result]}"
    repo_url = _repo_url(notice)
    where: list[str] = []
    if notice.pr is not None:
        where.append("PR " + _link(f"{repo_url}/pull/{notice.pr}" if repo_url else None, f"#{notice.pr}"))
    if notice.merge_commit:
        url = f"{repo_url}/commit/{notice.merge_commit}" if repo_url else None
        where.append("merge " + _link(url, _short(notice.merge_commit)))
    if notice.run_url:
        where.append(_link(notice.run_url, "workflow run"))

    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": headline[:150],
                                                                  "emoji": True}}]
    lines = [_app_line(a) for a in notice.apps]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in _chunks(lines)]
    if notice.message:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _escape(redact_urls(notice.message))[:MAX_SECTION_CHARS]}})
    if where:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(where)}]})

    summary = ", ".join(f"{a.app} {_short(a.old) or '(new)'} → {_short(a.new) or '(removed)'}"
                        for a in notice.apps[:10])
    if len(notice.apps) > 10:
        summary += f", and {len(notice.apps) - 10} more"
    text = headline + (f": {summary}" if summary else "")
    if notice.pr is not None:
        text += f" (PR #{notice.pr})"
    return {"text": _escape(text), "blocks": blocks}


class DriftNotice(LazyModel):
    """New drift in one env, found by `drift --post`: said once, when an app newly drifts."""

    model_config = ConfigDict(frozen=True)

    env: str
    apps: list[tuple[str, str, str]] = []
    """(app, state, detail) of each newly drifted app."""
    issue_url: str | None = None


def drift_payload(notice: DriftNotice) -> dict[str, Any]:
    """The webhook JSON for new drift: a headline, one line per app, a link to the env's drift issue."""
    headline = f"{notice.env}: drift found ⚠️"
    lines = [f"*{_escape(app)}*: {_escape(state)}" + (f" ({_escape(redact_urls(detail))})" if detail else "")
             for app, state, detail in notice.apps]
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": headline[:150],
                                                                  "emoji": True}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in _chunks(lines)]
    if notice.issue_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _link(notice.issue_url,
                                                                                           "drift issue")}]})
    text = headline + ": " + ", ".join(f"{app} {state}" for app, state, _ in notice.apps[:10])
    return {"text": _escape(text), "blocks": blocks}


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "an invalid URL"
    except ValueError:
        return "an invalid URL"


def _warn(text: str) -> None:
    with contextlib.suppress(Exception):  # a closed stderr must not fail the deploy either
        print(f"deployctl: warning: {text}", file=sys.stderr, flush=True)


def slack_deadline(environ: Mapping[str, str] = os.environ) -> float:
    """The whole notification's deadline, both tries included: DEPLOYCTL_SLACK_TIMEOUT, default 10 s."""
    return seconds_from_env(DEADLINE_VAR, DEFAULT_DEADLINE, environ)


def post_slack(url: str, notice: DeployNotice | DriftNotice, client: httpx.Client | None = None,
               timeout: float | None = None) -> bool:
    """POST the notice to a Slack incoming webhook: True on 2xx, else False with one warning on stderr.

    Retried once on a 5xx answer or a network error. The whole of it, both tries and the pause
    between them, ends within `timeout` seconds (DEPLOYCTL_SLACK_TIMEOUT, default 10), however the
    server answers (silent, or dribbling an endless header): a notice sent between two waves of
    `up` never holds up the next wave longer. Never raises: a lost notification must not fail the
    deploy it reports on.
    """
    host = _host(url)
    own = client is None
    problem = "not sent"
    try:
        total = slack_deadline() if timeout is None else timeout
        ends = time.monotonic() + total
        payload = slack_payload(notice) if isinstance(notice, DeployNotice) else drift_payload(notice)
        http = client or bounded_client(total)
        try:
            for attempt in range(2):
                try:
                    resp = request_within(http, "POST", url, max(0.001, ends - time.monotonic()), json=payload)
                except DeadlineExceeded:
                    problem = f"no complete answer within {total:g} s ({DEADLINE_VAR})"
                    break
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__} (network)"
                else:
                    if 200 <= resp.status_code < 300:
                        return True
                    problem = f"HTTP {resp.status_code}"
                    if resp.status_code < 500:
                        break
                if attempt == 0:
                    if ends - time.monotonic() < RETRY_PAUSE + MIN_TRY:
                        break  # no time left for a second try
                    time.sleep(RETRY_PAUSE)
        finally:
            if own:
                http.close()
    except Exception as exc:  # anything at all: an invalid URL, a bad payload, an unforeseen error
        problem = type(exc).__name__ if not isinstance(exc, CannotJudge) else str(exc)
    what = "the deploy itself" if isinstance(notice, DeployNotice) else "the drift issue"
    _warn(f"Slack notification to {host} failed ({problem}); {what} is not affected")
    return False
