from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployctl.core.repo.model import DeployFileError, Tag, parse_deploy_file, render_line

FULL = "a" * 40
OLD = "b" * 40


def parse(data: bytes):
    return parse_deploy_file("staging", "api", data)


def test_first_token_is_the_commit_and_rest_of_line_is_its_comment():
    f = parse(f"{FULL} ship the login fix [hotfix]\n{OLD} first deploy\nnotes for the team\n".encode())
    assert f.commit == FULL
    assert f.current.comment == "ship the login fix [hotfix]"
    assert f.current.tags == (Tag.HOTFIX,)
    assert f.current.line == 1
    assert [h.commit for h in f.history] == [OLD]
    assert f.history[0].line == 2
    assert f.commits() == [FULL, OLD]


def test_leading_blank_lines_and_tabs():
    f = parse(f"\n  \n\t\n{FULL}\tvia a tab [rollback] [rollback]\n{OLD}\n".encode())
    assert f.commit == FULL
    assert f.current.line == 4
    assert f.current.comment == "via a tab [rollback] [rollback]"
    assert f.current.tags == (Tag.ROLLBACK,)
    assert f.history[0].commit == OLD


def test_a_carriage_return_anywhere_is_a_syntax_error_at_its_line():
    """`f6ee41a ok\\rf291ec46 hidden` shows f291ec46 in a terminal and deploys f6ee41a: no CR at all,
    CRLF line ends included (one way to write a line)."""
    for data, line in ((f"{FULL} ok\r{OLD} hidden\n".encode(), 1),
                       (f"{FULL} fine\r\n{OLD}\r\n".encode(), 1),
                       (f"{FULL} fine\n# note\r{OLD}\n".encode(), 2)):
        with pytest.raises(DeployFileError) as exc:
            parse(data)
        v = exc.value.violation
        assert (v.rule, v.file, v.line) == ("syntax", "deploys/staging/api", line)
        assert "carriage return" in v.message and "remove it" in v.message


def test_short_and_sha256_hashes_are_commits():
    assert parse(b"abcdef1\n").current.is_full_hash is False
    assert parse(("c" * 64 + "\n").encode()).current.is_full_hash is True


def test_comment_lines_are_not_history():
    f = parse(f"{FULL}\n# deadbeefx is not a hash\nsee PR 12\n".encode())
    assert f.history == ()


def test_render_line_appends_tags_once():
    line = render_line(FULL, "roll back  the\nbad deploy", (Tag.ROLLBACK,))
    assert line == f"{FULL} roll back the bad deploy [rollback]\n"
    assert render_line(FULL, "already [rollback]", (Tag.ROLLBACK,)) == f"{FULL} already [rollback]\n"
    assert render_line(FULL) == f"{FULL}\n"


BAD = [
    (b"", None, "empty file"),
    (b"   \n\t\n", None, "empty file"),
    (b"\n\nnot-a-hash here\n", 3, "is not a commit hash"),
    (b"abc123\n", 1, "is 6 characters"),
    (("a" * 41 + "\n").encode(), 1, "is 41 characters"),
    (("a" * 63 + "\n").encode(), 1, "is 63 characters"),
    (("a" * 65 + "\n").encode(), 1, "is 65 characters"),
    (b"ABCDEF1234567\n", 1, "upper-case"),
    (b"\xef\xbb\xbf" + FULL.encode() + b"\n", 1, "byte-order mark"),
    (FULL.encode() + b"\n\x00\x01binary", 2, "binary content"),
    (b"\xff\xfe" + FULL.encode(), 1, "not UTF-8"),
    (FULL.encode() + b"\ncaf\xe9\n", 2, "not UTF-8"),
    (b"x" * ((1 << 20) + 1), None, "over the 1 MiB limit"),
    (b"g" * 40 + b"\n", 1, "not a commit hash"),
    (b"[rollback] " + FULL.encode(), 1, "not a commit hash"),
    (FULL.encode() + b" ok\n" + OLD.encode() + b" \x1b[2Khidden\n", 2, "U+001B"),
    (FULL.encode() + b" a\x0bb\n", 1, "U+000B"),
    (FULL.encode() + b" a\x0cb\n", 1, "U+000C"),
    (FULL.encode() + b" \xc2\x85next\n", 1, "U+0085"),
    (FULL.encode() + b" \xe2\x80\xa8" + OLD.encode() + b"\n", 1, "U+2028"),
    (FULL.encode() + " \u202e".encode() + b"reversed\n", 1, "U+202E"),
    ("\u2066".encode() + FULL.encode() + b"\n", 1, "U+2066"),
]


@pytest.mark.parametrize(("data", "line", "words"), BAD, ids=[w for _, _, w in BAD])
def test_bad_files_name_file_line_and_fix(data: bytes, line: int | None, words: str):
    with pytest.raises(DeployFileError) as exc:
        parse(data)
    v = exc.value.violation
    assert v.rule == "syntax"
    assert v.file == "deploys/staging/api"
    assert v.line == line
    assert words in v.message


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_parser_never_crashes_on_any_bytes(data: bytes):
    try:
        f = parse(data)
    except DeployFileError as exc:
        assert exc.violation.rule == "syntax"
    else:
        assert f.commit == data.decode().split()[0]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_parser_never_crashes_on_any_text(text: str):
    try:
        parse(text.encode("utf-8"))
    except DeployFileError as exc:
        assert exc.violation.rule == "syntax"


@pytest.mark.parametrize(("text", "split"), [
    ("", None), ("   ", None), ("# a comment", None), ("not-a-hash x", None),
    ("abc1234", ("abc1234", "")), ("  abc1234   fix login  \t", ("abc1234", "fix login")),
    ("abc1234 [rollback] back to it", ("abc1234", "[rollback] back to it")),
])
def test_split_line_is_the_one_reading_of_a_line(text: str, split: tuple[str, str] | None):
    from deployctl.core.repo.model import split_line
    from deployctl.core.trace.history import deploy_line

    assert split_line(text) == split
    assert deploy_line(text.encode()) == (split or (None, ""))  # the history reads a file's first line alike
