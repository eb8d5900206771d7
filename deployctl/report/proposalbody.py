"""The body and title of a `propose --post` pull request, and the marker that finds it again. Pure.

Every value from the proposal (an app, an env, a commit, the evidence the planner wrote) is shown
inert: Markdown-escaped prose or code spans that nothing in them can close, no @mention that pings.
The marker is an HTML comment on the body's first line, naming the proposal's key (its branch) and
env: never a commit, so a newer commit refreshes the same PR.
"""

from __future__ import annotations

import re

from deployctl.core.deliver.proposal import Proposal, ProposalKind
from deployctl.core.repo.model import short
from deployctl.core.trace.metrics import PROPOSED_BY
from deployctl.core.urls import redact_urls
from deployctl.core.violations import one_line
from deployctl.report.render import code, md

MARKER_PREFIX = "<!-- deployctl:propose "
"""How every proposal PR's body starts; the rest of the marker says which proposal it is."""
_MARKER_RE = re.compile(r"<!-- deployctl:propose key=([A-Za-z0-9._/-]+) env=([a-z0-9][a-z0-9_-]*) -->")
_KEY_RE = re.compile(r"[A-Za-z0-9._/-]+")
MAX_TITLE = 256
"""GitHub keeps a PR title to 256 characters."""
MAX_EVIDENCE, MAX_EVIDENCE_CHARS = 50, 500
"""The evidence shown in the body (a PR body holds at most 65,536 characters)."""


def marker(key: str, env: str) -> str:
    """The hidden first line of the body. A key that could end the comment early is refused."""
    if not _KEY_RE.fullmatch(key) or "--" in key or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", env):
        raise ValueError(f"proposal key {key!r} / env {env!r} cannot stand in a marker")
    return f"{MARKER_PREFIX}key={key} env={env} -->"


def parse_marker(body: str | None) -> tuple[str, str] | None:
    """(key, env) of the marker a PR body starts with, or None when it starts with none."""
    first = (body or "").lstrip().split("\n", 1)[0].strip()
    found = _MARKER_RE.fullmatch(first)
    return (found.group(1), found.group(2)) if found else None


def line_comment(p: Proposal, app: str) -> str:
    """The comment of the deploy line written for `app`: what it does and that `propose` wrote it."""
    if p.kind is ProposalKind.PROMOTE:
        return f"promote to {p.env} {PROPOSED_BY}"
    return f"deploy to {p.env} {PROPOSED_BY}"


def title(p: Proposal) -> str:
    """The PR title, one line, within GitHub's length."""
    return one_line(redact_urls(p.title))[:MAX_TITLE]


def render_body(p: Proposal, protected: bool, auto_merge: bool) -> str:
    """The PR body: the marker, what it deploys, the evidence that the step is safe, whether it is held,
    and how it merges."""
    verb = "promotion" if p.kind is ProposalKind.PROMOTE else "deploy"
    out = [marker(p.key, p.env),
           f"**deployctl propose**: the next {verb} to {code(p.env)}, proposed automatically "
           f"({'protected env: its reviewers approve' if protected else 'unprotected env'}).", ""]
    if p.blocked:
        out += ["> [!WARNING]",
                "> **Held**: this step is due but held by "
                + ", ".join(code(rule) for rule in p.blocked)
                + ". Do not merge it now: `deployctl propose` refreshes this pull request once it passes, "
                "and closes it if it is no longer due.", ""]
    out += ["| app | commit |", "|---|---|"]
    out += [f"| {code(app, table=True)} | {code(commit, table=True)} |" for app, commit in sorted(p.apps.items())]
    out += ["", "### Evidence", ""]
    shown = [f"- {md(redact_urls(str(item))[:MAX_EVIDENCE_CHARS])}" for item in p.evidence[:MAX_EVIDENCE]]
    if len(p.evidence) > MAX_EVIDENCE:
        shown.append(f"- ... and {len(p.evidence) - MAX_EVIDENCE} more (`deployctl propose --json` lists them all)")
    out += shown or ["- (none given)"]
    out += ["", "### How it merges", ""]
    if auto_merge:
        out.append("- Auto-merge is on: GitHub merges this once its required reviews and checks pass.")
    else:
        out.append("- A reviewer merges it (auto-merge is off"
                   + (": never for a protected env)." if protected else ")."))
    out += ["- The preview comment below judges these lines exactly as for any deploy PR, and `up` judges "
            "them again after the merge.",
            "- A newer commit refreshes this pull request in place (the branch is rewritten); if the step "
            "becomes moot (deployed by hand, superseded), it is closed with a comment.",
            "", f"<sub>{len(p.apps)} app(s): "
            + ", ".join(f"{md(a)} {code(short(c))}" for a, c in sorted(p.apps.items())) + "</sub>"]
    return "\n".join(out) + "\n"


def moot_comment(env: str, key: str) -> str:
    """Why a proposal PR is closed: `propose` no longer proposes it."""
    return (f"Closed by `deployctl propose`: {code(env)} no longer needs this step ({code(key)}): what it proposed "
            "was deployed by another pull request, superseded, or is no longer due. A new proposal, if any, "
            "opens its own pull request.")


__all__ = ["MARKER_PREFIX", "line_comment", "marker", "moot_comment", "parse_marker", "render_body", "title"]
