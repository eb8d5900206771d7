"""Deploy notices to Slack (an incoming webhook): what went where, from which PR, and how it ended.

A notification is a courtesy: it never raises and never fails a deploy. The webhook URL is a secret,
so no message ever shows more of it than its host.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.model import short as _short

RETRY_PAUSE = 0.5
"""Seconds before the one retry of a 5xx answer or a network error."""
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
    """Slack mrkdwn treats &, < and > as control characters (`<!channel>`, `<@U123>`, links); an
    `@name` gets a zero-width joiner, so text from a commit or an error never pings anyone."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION_RE.sub("@\u200d", text)


def _repo_url(notice: DeployNotice) -> str | None:
    if notice.repo_url:
        return notice.repo_url.rstrip("/")
    if notice.run_url and "/actions/runs/" in notice.run_url:
        return notice.run_url.split("/actions/runs/", 1)[0]
    return None


def _link(url: str | None, text: str) -> str:
    return f"<{_escape(url)}|{_escape(text)}>" if url else _escape(text)


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
                                                   "text": _escape(notice.message)[:MAX_SECTION_CHARS]}})
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


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "an invalid URL"
    except ValueError:
        return "an invalid URL"


def _warn(text: str) -> None:
    with contextlib.suppress(Exception):  # a closed stderr must not fail the deploy either
        print(f"deployctl: warning: {text}", file=sys.stderr, flush=True)


def post_slack(url: str, notice: DeployNotice, client: httpx.Client | None = None, timeout: float = 10) -> bool:
    """POST the notice to a Slack incoming webhook: True on 2xx, else False with one warning on stderr.

    Retried once on a 5xx answer or a network error. Never raises: a lost notification must not fail
    the deploy it reports on.
    """
    host = _host(url)
    own = client is None
    problem = "not sent"
    try:
        payload = slack_payload(notice)
        http = client or httpx.Client(timeout=timeout)
        try:
            for attempt in range(2):
                try:
                    resp = http.post(url, json=payload, timeout=timeout)
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__} (network)"
                else:
                    if 200 <= resp.status_code < 300:
                        return True
                    problem = f"HTTP {resp.status_code}"
                    if resp.status_code < 500:
                        break
                if attempt == 0:
                    time.sleep(RETRY_PAUSE)
        finally:
            if own:
                http.close()
    except Exception as exc:  # anything at all: an invalid URL, a bad payload, an unforeseen error
        problem = type(exc).__name__
    _warn(f"Slack notification to {host} failed ({problem}); the deploy itself is not affected")
    return False
