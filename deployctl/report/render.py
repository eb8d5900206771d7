"""The PR comment: one markdown body a reviewer can approve from. Pure: data in, text out."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from functools import cache
from html import escape as html_escape
from typing import TYPE_CHECKING

from pydantic import ConfigDict

from deployctl.core.change.plan import PlanChange
from deployctl.core.change.prcomment import MAX_COMMENT_CHARS, PREVIEW_MARKER
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.commitinfo import CommitInfo
from deployctl.core.repo.model import FULL_HASH_RE, short
from deployctl.core.trace.outcomes import Outcome, ResourceChange
from deployctl.core.violations import Severity, Violation, one_line, sort_key

if TYPE_CHECKING:
    import jinja2

QUIET_OPS = {"same", "read"}
PROVIDER_TYPE = "pulumi:providers:"
NEW_REVISION_TYPES = frozenset({"aws:ecs/taskDefinition:TaskDefinition"})
"""Replaced on every deploy by design: a new revision registered beside the old one (kept, so ECS can
roll back to it), which the service then moves to; named as such, not as an alarming replacement."""
REDACTED = "[secret]"
_SLUG_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class CommitLog(LazyModel):
    """The app commits a deploy brings in (old..new), from the app repository."""

    model_config = ConfigDict(frozen=True)

    count: int
    commits: list[CommitInfo] = []
    author: str | None = None
    compare_url: str | None = None


class StackPreview(LazyModel):
    model_config = ConfigDict(frozen=True)

    env: str
    protected: bool = False
    changes: list[PlanChange] = []
    logs: dict[str, CommitLog] = {}
    outcome: Outcome | None = None
    reason: str = "its stack config or the program changed"


class PreviewReport(LazyModel):
    model_config = ConfigDict(frozen=True)

    base: str
    head: str | None
    stacks: list[StackPreview]
    head_time: datetime | None = None
    """When the head commit was pushed (from the PR event), so a reviewer knows which push this is."""
    violations: list[Violation] = []

    @property
    def ok(self) -> bool:
        return not any(v.severity is Severity.ERROR for v in self.violations) and all(
            s.outcome is None or s.outcome.ok for s in self.stacks
        )


def github_compare_url(repo_url: str, old: str, new: str) -> str | None:
    """A compare link when the app repository is on GitHub (https or ssh form), else None."""
    for prefix in ("https://github.com/", "http://github.com/", "git@github.com:", "ssh://git@github.com/"):
        if repo_url.startswith(prefix):
            slug = repo_url[len(prefix):].removesuffix("/").removesuffix(".git")
            if not _SLUG_RE.match(slug):
                return None  # credentials, or characters that could end the markdown link early
            return f"https://github.com/{slug}/compare/{old}...{new}"
    return None


def _short(sha: str | None) -> str:
    """A commit in Markdown: model.short as code, a dash for none."""
    return code(short(sha)) if sha else "—"


# -- the Markdown medium: one function per place a value stands in the comment ---------------------

ZWJ = "\u200d"
_MENTION_RE = re.compile(r"@(?=[A-Za-z0-9_])")
_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#!|~])")
_MD_LEAD_RE = re.compile(r"^(\s*(?:\d+)?)([-+=.)])")
"""What makes a block only at the start of a line (a list item, a setext underline, an ordered item):
escaped there, since a value may follow a list marker (`> - <message>`)."""
_BACKTICKS_RE = re.compile(r"`+")


def md(text: object) -> str:
    """Text (a name, a commit subject, an author, a message) inert in GitHub markdown prose, a heading or a
    table cell: one line (line breaks and control characters shown as escapes, by one_line), HTML
    (`</details>`, `<!--`) shown as text, markdown syntax shown as typed, and no @mention pings."""
    value = one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MD_LEAD_RE.sub(r"\1\\\2", _MD_SPECIAL_RE.sub(r"\\\1", value))
    return _MENTION_RE.sub("@" + ZWJ, value)


def code(text: object, table: bool = False) -> str:
    """A value (a path, a name, a file) as inline code that nothing in it can close early: one line
    (one_line), fenced by one backtick more than its longest run of backticks, padded when it starts or
    ends with a backtick or a space (CommonMark strips one space each side); in a table cell (`table`)
    a pipe is escaped, which GitHub's tables unescape inside code too. Nothing else is escaped: code
    shows HTML and markdown as typed."""
    value = one_line(text)
    if table:
        value = value.replace("|", "\\|")
    if not value:
        return "` `"
    ticks = "`" * (max((len(m) for m in _BACKTICKS_RE.findall(value)), default=0) + 1)
    pad = " " if value[0] in "` " or value[-1] in "` " else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def html(text: object) -> str:
    """A value inside raw HTML of the comment (a `<summary>` line): one line, and HTML-escaped, since
    GitHub shows an HTML block as HTML (markdown escapes would show as backslashes there)."""
    return html_escape(one_line(text))


def fence(text: object) -> str:
    """A fenced code block that the text cannot close: its fence is longer than any backtick run."""
    value = str(text)
    longest = max((len(m) for m in _BACKTICKS_RE.findall(value)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{value}\n{ticks}"


def _value(value: str | None) -> str:
    if value is None:
        return "—"
    return code(short(value) if FULL_HASH_RE.match(value) else value, table=True)


def _props(r: ResourceChange) -> str:
    """Each changed property with its old and new value (what the engine's step events say)."""
    if r.properties:
        return "<br>".join(
            f"{code(p.path, table=True)}: {_value(p.old)} → {_value(p.new)}"
            + ("" if p.kind == "update" else f" ({md(p.kind)})")
            for p in r.properties)
    if r.detailed:
        return ", ".join(f"{code(k, table=True)} ({md(v)})" for k, v in sorted(r.detailed.items()))
    return ", ".join(code(k, table=True) for k in r.diffs)


@cache
def _template() -> jinja2.Template:
    import jinja2  # only when a comment is rendered: `preview` starts the engine before it needs this

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deployctl.report", "templates"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML; GitHub sanitises what it renders
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md
    env.filters["code"] = code
    env.filters["html"] = html
    env.filters["fence"] = fence
    env.filters["sha"] = short  # model.short, bare (the `short` global formats it as code)
    return env.get_template("comment.md.j2")


def warm() -> None:
    """Build the comment's template and the report's validators now (~0.08 s): `preview` calls this
    while the engine runs, so the comment is rendered as soon as the last preview ends."""
    _template()
    for model in (StackPreview, PreviewReport):
        model.model_rebuild()


def _stack_view(s: StackPreview, max_commits: int) -> dict:
    # One count: the summary line counts exactly the table's rows (providers are the engine's plumbing,
    # left out of both; the engine's own counts leave them out too, and a table row that names no
    # property only puzzles a reviewer).
    steps = [r for r in (s.outcome.changes if s.outcome else ())
             if r.op not in QUIET_OPS and not r.type.startswith(PROVIDER_TYPE)]
    by_op = Counter(r.op for r in steps)
    summary = ", ".join(f"{n} to {op}" for op, n in sorted(by_op.items()))
    unchanged = (s.outcome.counts if s.outcome else {}).get("same", 0)
    summary = (summary or "no changes") + (f", {unchanged} unchanged" if unchanged else "")
    logs = {app: log.model_copy(update={"commits": log.commits[:max_commits]}) for app, log in s.logs.items()}
    return {
        "env": s.env, "protected": s.protected, "changes": s.changes, "logs": logs,
        "outcome": s.outcome, "reason": s.reason, "summary": summary, "steps": steps,
        "deletes": [r for r in steps if r.op == "delete"],
        "replaces": [r for r in steps if "replace" in r.op and r.type not in NEW_REVISION_TYPES],
        "revisions": [r for r in steps if "replace" in r.op and r.type in NEW_REVISION_TYPES],
    }


def redact(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def render_comment(report: PreviewReport, secrets: list[str] | None = None, limit: int = MAX_COMMENT_CHARS) -> str:
    """The comment under GitHub's size limit: detailed diffs go first, then commit lists."""
    violations = sorted(report.violations, key=sort_key)
    errors = [v for v in violations if v.severity is Severity.ERROR]
    warnings = [v for v in violations if v.severity is not Severity.ERROR]
    failed = any(s.outcome is not None and not s.outcome.ok for s in report.stacks)
    n = sum(len(s.changes) for s in report.stacks)
    headline = (f"{len(errors)} safeguard error(s)" if errors else
                "preview failed" if failed else f"{n} deploy change(s) in {len(report.stacks)} stack(s)")
    attempts = [
        (True, 50, None),
        (False, 50, "Detailed resource diffs were trimmed to fit GitHub's comment limit; "
                    "run `deployctl preview` locally for them."),
        (False, 5, "Detailed resource diffs and long commit lists were trimmed to fit GitHub's "
                   "comment limit; run `deployctl preview` locally for them."),
    ]
    body = ""
    for details, max_commits, note in attempts:
        body = _template().render(
            marker=PREVIEW_MARKER, headline=headline, base=report.base, head=report.head, head_time=report.head_time,
            errors=errors, warnings=warnings, failed=failed, details=details, trimmed=note,
            stacks=[_stack_view(s, max_commits) for s in report.stacks], short=_short, props=_props,
        )
        body = redact(body, secrets or [])
        if len(body) <= limit:
            return body
    tail = "\n\n_…truncated to fit GitHub's comment limit; run `deployctl preview` locally._\n"
    return body[: limit - len(tail)] + tail
