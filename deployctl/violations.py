"""The one shape every finding takes, so check, preview and the CLI report alike."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Violation(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    severity: Severity
    file: str
    line: int | None = None
    env: str | None = None
    app: str | None = None
    message: str

    def format(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.severity} {self.rule}: {self.message}"


class InputError(Exception):
    """Bad input found before anything ran: carries the violations to report (exit 1)."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("\n".join(v.format() for v in violations))


class CannotJudge(Exception):
    """The tool cannot decide (unreadable catalog, unreachable repository): exit 2."""

    def __init__(self, message: str, violations: list[Violation] | None = None):
        self.violations = violations or []
        super().__init__(message)


def errors(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity is Severity.ERROR]


def sort_key(v: Violation) -> tuple:
    """Errors first, then by place, so the worst finding is read first."""
    return (v.severity is not Severity.ERROR, v.file, v.line or 0, v.rule)
