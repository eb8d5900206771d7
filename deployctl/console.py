"""Output for people and machines: results on stdout, errors and progress on stderr.

In a terminal, rich colours and progress bars; in CI or a pipe, plain lines that read well in a log.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console

from deployctl.violations import Severity, Violation

T = TypeVar("T")


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


_out = Console(highlight=False, soft_wrap=True)  # styled results (violations) in a terminal
_err = Console(stderr=True, highlight=False, soft_wrap=True)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert(text: str) -> str:
    """Text for a terminal with no control characters: a deploy comment or a commit subject holding an
    escape sequence must not move the cursor, retitle the window or hide a line."""
    return _CONTROL.sub("\ufffd", text)


def out(text: str) -> None:
    """Results for people: written as they are (rich would re-wrap and slow down long output)."""
    text = inert(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def as_json(data: object) -> None:
    """Machine output: indented for a person at a terminal, compact (and fast) in a pipe. JSON escapes
    control characters itself."""
    import json

    sys.stdout.write(json.dumps(data, indent=2 if sys.stdout.isatty() else None, default=str) + "\n")


def error(text: str) -> None:
    _err.print(f"deployctl: {inert(text)}", markup=False, style="bold red" if interactive() else None)


def info(text: str) -> None:
    _err.print(inert(text), markup=False, style="dim" if interactive() else None)


def progress(text: str, failed: bool = False) -> None:
    """A live step line (a resource being deployed) on stderr: coloured in a terminal, plain in CI."""
    _err.print(inert(text), markup=False, style=("bold red" if failed else "cyan") if interactive() else None)


def violation(v: Violation, err: bool = False) -> None:
    style = ("bold red" if v.severity is Severity.ERROR else "yellow") if interactive() else None
    (_err if err else _out).print(inert(v.format()), markup=False, style=style)


@contextmanager
def step(label: str) -> Iterator[None]:
    """A long step: a spinner line in a terminal, a start line in CI."""
    if interactive():
        with _err.status(label):
            yield
    else:
        info(f"{label} ...")
        yield


def track(items: Iterable[T], label: str, total: int | None = None) -> Iterator[T]:
    """Progress over many items in a terminal; one line per 10% in CI."""
    items = list(items)
    total = total if total is not None else len(items)
    if interactive():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=_err, transient=True) as progress:
            task = progress.add_task(label, total=total)
            for item in items:
                yield item
                progress.advance(task)
        return
    step_every = max(1, total // 10)
    for i, item in enumerate(items, 1):
        yield item
        if total >= 20 and (i % step_every == 0 or i == total):
            info(f"{label}: {i}/{total}")
