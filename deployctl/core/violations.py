"""The one shape every finding takes, so check, preview and the CLI report alike."""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel

_UNSEEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def one_line(text: object) -> str:
    """A value (a path, a name, a comment) as it may stand inside one line of text, a log or a table:
    each line break, control character and bidi override shown as an escape (`\\n`, `\\x1b`, `\\u202e`),
    so a name can neither end the line (and start a fake one), nor move the cursor, nor reorder the text."""
    value = str(text)
    return value if value.isprintable() else _UNSEEN.sub(_escape, value)


def internal_error(exc: BaseException) -> str:
    """What a person reads of an error nobody foresaw: one line, never a traceback, and how to get one."""
    return f"internal error: {type(exc).__name__}: {exc}. Rerun with DEPLOYCTL_DEBUG=1 for details and report it."


class ExitStatus(IntEnum):
    """What every deployctl command's exit code means: scripts and CI branch on these, never on text."""

    OK = 0
    """All good (warnings allowed)."""
    VIOLATION = 1
    """A safeguard refused, a deploy failed, or a check found something to fix."""
    CANNOT_JUDGE = 2
    """Cannot judge or run: bad arguments, unreadable input, an unreachable repository, no Pulumi."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C), as a shell reports SIGINT."""


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Violation(LazyModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    severity: Severity
    file: str
    line: int | None = None
    env: str | None = None
    app: str | None = None
    message: str

    def format(self) -> str:
        """One line of text: the path and the message as one_line shows them."""
        where = one_line(self.file) if self.line is None else f"{one_line(self.file)}:{self.line}"
        return f"{where}: {self.severity} {self.rule}: {one_line(self.message)}"


class InputError(Exception):
    """Bad input found before anything ran: carries the violations to report (ExitStatus.VIOLATION)."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("\n".join(v.format() for v in violations))


class CannotJudge(Exception):
    """The tool cannot decide (unreadable catalog, unreachable repository): ExitStatus.CANNOT_JUDGE."""

    def __init__(self, message: str, violations: list[Violation] | None = None):
        self.violations = violations or []
        super().__init__(message)


def errors(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity is Severity.ERROR]


def sort_key(v: Violation) -> tuple[bool, str, int, str]:
    """Errors first, then by place, so the worst finding is read first."""
    return (v.severity is not Severity.ERROR, v.file, v.line or 0, v.rule)
