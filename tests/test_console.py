"""The log medium (deployctl/console.py): whatever a name or a comment holds, each line written to a
terminal or a CI log is inert: no control character, and no GitHub Actions workflow command."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from deployctl import console
from deployctl.core.violations import Severity, Violation, one_line

HOSTILE = {
    "workflow command": "::add-mask::hunter2",
    "indented workflow command": "  ::error file=x::all passed",
    "old-style command": "##[error]all passed",
    "a fake line": "deploys/x\n::notice::ok: no violations",
    "carriage return": "f6ee41a ok\rf291ec46 hidden",
    "escape sequence": "title \x1b]0;pwned\x07 \x1b[2J \x9b31m",
    "bidi override": "abc\u202eevil",
    "line separator": "a\u2028::warning::b",
}


def _written(write: Callable[..., None], *args: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with console.use(out, err):
        write(*args)
    return out.getvalue(), err.getvalue()


def _assert_inert(text: str) -> None:
    for line in text.splitlines():
        assert line.isprintable(), repr(line)
        assert not line.lstrip().startswith(("::", "##[")), repr(line)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_log_line_is_inert(text: str) -> None:
    for write in (console.info, console.error, console.progress, console.out):
        out, err = _written(write, text)
        _assert_inert(out + err)
        assert "all passed" not in text or "all passed" in out + err  # shown, not dropped


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_violation_is_one_line_whatever_its_path_and_message_hold(text: str) -> None:
    v = Violation(rule="invalid-path", severity=Severity.ERROR, file=f"deploys/{text}", line=1, message=text)
    for err in (False, True):
        out, errs = _written(console.violation, v, err)
        assert (out + errs).count("\n") == 1
        _assert_inert(out + errs)
    assert v.format() == f"deploys/{one_line(text)}:1: error invalid-path: {one_line(text)}"


def test_one_line_shows_what_it_escapes() -> None:
    assert one_line("a\nb\r\tc\x1b\x9b\u202e\u2028") == "a\\nb\\r\\tc\\x1b\\x9b\\u202e\\u2028"
    assert one_line("staging/web ✅ é") == "staging/web ✅ é"  # printable text as it is


def test_results_keep_their_lines_and_each_is_guarded() -> None:
    out, _ = _written(console.out, "first\n::set-output name=x::y\nlast")
    assert out == "first\n\\::set-output name=x::y\nlast\n"
