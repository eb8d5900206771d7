"""What every rule family shares: the app repositories' oracle (`Commits`), the two severities, and
`violation_at`, a violation located at a deploy file or at one change of it (its first line)."""

from __future__ import annotations

from typing import Protocol

from deployctl.core.change.changes import FileChange
from deployctl.core.repo.model import DeployFile
from deployctl.core.violations import Severity, Violation

ERROR, WARNING = Severity.ERROR, Severity.WARNING


class Commits(Protocol):
    """What the rules need to know about app repositories."""

    def resolve(self, repo: str, prefix: str) -> list[str]: ...

    def is_ancestor(self, repo: str, ancestor: str, descendant: str) -> bool: ...

    def on_branch(self, repo: str, commit: str, branch: str) -> bool: ...

    def has_path(self, repo: str, commit: str, path: str) -> bool | None:
        """Is `path` a folder at `commit`? None when the repository cannot tell."""
        ...


def violation_at(rule: str, severity: Severity, f: DeployFile | FileChange, message: str,
                 line: int | None = None) -> Violation:
    """A violation of `rule` at the file (or change) `f`: at `line`, else at its first line."""
    current = f.current.line if isinstance(f, DeployFile) else f.line
    return Violation(rule=rule, severity=severity, file=f.path, line=line or current,
                     env=f.env, app=f.app, message=message)


__all__ = ["ERROR", "WARNING", "Commits", "violation_at"]
