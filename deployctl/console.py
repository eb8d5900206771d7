"""Output for people and machines: results on stdout, errors and progress on stderr.

In a terminal, rich colours and progress bars; in CI or a pipe, plain lines that read well in a log,
written without rich (not even imported: a command's start-up pays for what it uses).
The streams are the process's own unless `use` injects others (the CLI tests run in process so).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO, TypeVar

from deployctl.core.violations import Severity, Violation, one_line

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


@dataclass
class Streams:
    """Where results (stdout) and messages (stderr) go; None: the process's own, looked up at each write."""

    stdout: TextIO | None = None
    stderr: TextIO | None = None
    _rich: dict[bool, Console] = field(default_factory=dict, init=False)

    def rich(self, err: bool) -> Console:
        """The rich console of stderr (err) or stdout, made on first use: only in a terminal."""
        if err not in self._rich:
            from rich.console import Console

            self._rich[err] = Console(file=self.stderr if err else self.stdout, stderr=err, highlight=False,
                                      soft_wrap=True)
        return self._rich[err]

    @property
    def out(self) -> TextIO:
        return self.stdout or sys.stdout

    @property
    def err(self) -> TextIO:
        return self.stderr or sys.stderr


_streams = Streams()


@contextmanager
def use(stdout: TextIO, stderr: TextIO) -> Iterator[None]:
    """Send every result and message to these streams while the block runs (tests, embedding)."""
    global _streams
    saved, _streams = _streams, Streams(stdout, stderr)
    try:
        yield
    finally:
        _streams = saved


@contextmanager
def people_on_stderr(when: bool = True) -> Iterator[None]:
    """While a `--json` command works, its lines for people go to stderr: stdout carries the JSON alone."""
    global _streams
    if not when:
        yield
        return
    saved = _streams
    _streams = Streams(saved.err, saved.err)
    try:
        yield
    finally:
        _streams = saved


def interactive() -> bool:
    return _streams.err.isatty() and not os.environ.get("CI")


_WORKFLOW_COMMAND = ("::", "##[")
"""How a GitHub Actions workflow command starts (after leading blanks): `::add-mask::`, `::error::`,
`##[group]`. A log line must never start so: a name or a comment would command the runner."""


def inert(text: str) -> str:
    """Text for a terminal or a CI log (the one function of that medium, applied to every line written):
    each line break kept as it is, every other control character shown as an escape (a deploy comment
    or a commit subject holding an escape sequence must not move the cursor, retitle the window or hide
    a line), and a line that would start a workflow command shown behind a backslash."""
    lines = [one_line(line) for line in text.split("\n")]
    return "\n".join("\\" + line if line.lstrip().startswith(_WORKFLOW_COMMAND) else line for line in lines)


def out(text: str) -> None:
    """Results for people: written as they are (rich would re-wrap and slow down long output)."""
    text = inert(text)
    _streams.out.write(text if text.endswith("\n") else text + "\n")


def as_json(data: object) -> None:
    """Machine output: indented for a person at a terminal, compact (and fast) in a pipe. JSON escapes
    control characters itself."""
    import json

    _streams.out.write(json.dumps(data, indent=json_indent(), default=str) + "\n")


def json_indent() -> int | None:
    """`as_json`'s indent, for commands that serialize their own JSON (a list of 10,000s of entries)."""
    return 2 if _streams.out.isatty() else None


def json_text(text: str) -> None:
    """A JSON document serialized by the caller (see json_indent), made ASCII as `json.dumps` makes
    it, so any stdout encoding can carry it."""
    if not text.isascii():
        text = _NON_ASCII.sub(_json_escape, text)  # outside strings JSON is ASCII: only strings change
    _streams.out.write(text + "\n")


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _line(text: str, err: bool, style: str) -> None:
    """One line: styled by rich in a terminal, plain elsewhere; inert either way."""
    text = inert(text)
    if interactive():
        _streams.rich(err).print(text, markup=False, style=style)
    else:
        (_streams.err if err else _streams.out).write(text + "\n")


def error(text: str) -> None:
    _line(f"deployctl: {text}", err=True, style="bold red")


def info(text: str) -> None:
    _line(text, err=True, style="dim")


def progress(text: str, failed: bool = False) -> None:
    """A live step line (a resource being deployed) on stderr: coloured in a terminal, plain in CI."""
    _line(text, err=True, style="bold red" if failed else "cyan")


def violation(v: Violation, err: bool = False) -> None:
    """One line: Violation.format shows its path and message with one_line, so a hostile name stays in it."""
    _line(v.format(), err=err, style="bold red" if v.severity is Severity.ERROR else "yellow")


@contextmanager
def step(label: str) -> Iterator[None]:
    """A long step: a spinner line in a terminal, a start line in CI."""
    if interactive():
        with _streams.rich(err=True).status(inert(label)):
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
                      TimeElapsedColumn(), console=_streams.rich(err=True), transient=True) as progress:
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
