"""What the commands share of their output beyond the console: a file the user named (checked before the
work, written after it), and the line bump, promote and rollback print for the deploy line they wrote.
Light on purpose: the CLI imports it at start-up."""

from __future__ import annotations

from pathlib import Path

from deployctl import console
from deployctl.core.violations import CannotJudge, Violation


def write_file(path: Path, text: str) -> None:
    """A file the user named: a path that cannot be written is their mistake to fix (exit 2)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CannotJudge(f"cannot write {path}: {reason}; choose a writable path") from None


def check_writable(path: Path) -> None:
    """A file the user named, tried before the work that fills it (opened to append, and removed again
    when it did not exist), so a path that cannot be written is said first, with the system's reason."""
    existed = path.exists()
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CannotJudge(f"cannot write {path}: {reason}; choose a writable path") from None
    if not existed:
        path.unlink(missing_ok=True)


def wrote(env: str, app_name: str, result: tuple[str, list[Violation], list[str]], branch: str | None) -> None:
    """What bump, promote and rollback say once their line is written: warnings and notes on stderr,
    the line on stdout."""
    full, warnings, notes = result
    for v in warnings:
        console.violation(v, err=True)
    for note in notes:
        console.error(f"note: {note}")
    where = f" on branch {branch} (push it and open a pull request)" if branch else ""
    console.out(f"deploys/{env}/{app_name}: prepended {full}{where}")
