"""The deploy-file grammar: one parser, used by the CLI, the rules and the Pulumi program alike.

A deploy file is `deploys/<env>/<app>`. Its first run of non-whitespace characters is the commit
to deploy; the rest of that line is its comment. Each later line that starts with a hash is an
earlier deploy (new deploys are prepended); any other line is free comment.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.violations import Severity, Violation

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
HASH_RE = re.compile(r"^(?:[0-9a-f]{7,40}|[0-9a-f]{64})$")
FULL_HASH_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
FULL_HASH_LENGTHS = (40, 64)
MAX_BYTES = 1 << 20
DEPLOYS_DIR = "deploys"
SHORT = 12
"""How many characters of a commit people read: every view, message and notice shows this many."""
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What a deploy file may not hold: control characters other than the tab and the newline (a carriage
return makes a terminal show `f291ec46 hidden` over the commit that deploys), the Unicode line
separators and the bidirectional marks that make text read in another order than it parses."""
NAME_RULE = "names are 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit"


class Tag(StrEnum):
    ROLLBACK = "rollback"
    HOTFIX = "hotfix"


TAG_RE = re.compile(r"\[(" + "|".join(t.value for t in Tag) + r")\]")


class DeployLine(LazyModel):
    """One deploy: a commit and what was said about it."""

    model_config = ConfigDict(frozen=True)

    line: int
    commit: str
    comment: str = ""
    tags: tuple[Tag, ...] = ()

    @property
    def is_full_hash(self) -> bool:
        return len(self.commit) in FULL_HASH_LENGTHS

    def has(self, tag: Tag) -> bool:
        return tag in self.tags


class DeployFile(LazyModel):
    """A parsed deploy file: what runs now (`current`) and what ran before, newest first."""

    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    current: DeployLine
    history: tuple[DeployLine, ...] = ()

    @property
    def path(self) -> str:
        return deploy_path(self.env, self.app)

    @property
    def commit(self) -> str:
        return self.current.commit

    def commits(self) -> list[str]:
        """Every commit this file ever named, newest first."""
        return [self.current.commit, *(h.commit for h in self.history)]


class DeployFileError(Exception):
    """A deploy file that breaks the grammar; carries the violation to report."""

    def __init__(self, violation: Violation):
        self.violation = violation
        super().__init__(violation.format())


def deploy_path(env: str, app: str) -> str:
    return f"{DEPLOYS_DIR}/{env}/{app}"


def is_valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name))


def parse_tags(comment: str) -> tuple[Tag, ...]:
    seen: list[Tag] = []
    for match in TAG_RE.finditer(comment):
        tag = Tag(match.group(1))
        if tag not in seen:
            seen.append(tag)
    return tuple(seen)


def _syntax(env: str, app: str, line: int | None, message: str) -> DeployFileError:
    return DeployFileError(
        Violation(
            rule="syntax",
            severity=Severity.ERROR,
            file=deploy_path(env, app),
            line=line,
            env=env,
            app=app,
            message=message,
        )
    )


def _decode(env: str, app: str, data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise _syntax(
            env,
            app,
            None,
            f"file is {len(data)} bytes, over the 1 MiB limit; a deploy file holds hashes and "
            "short comments: move long notes to the pull request",
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise _syntax(env, app, line, "binary content (a NUL byte); a deploy file is UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _syntax(
            env, app, line, f"not UTF-8 (invalid byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        raise _syntax(
            env, app, 1, "starts with a byte-order mark; save the file as UTF-8 without BOM"
        )
    return text


def _control_problem(env: str, app: str, text: str) -> DeployFileError | None:
    """A control character anywhere in the file, as a syntax error at its line."""
    if (match := CONTROL_RE.search(text)) is None:
        return None
    char = match.group()
    line = text.count("\n", 0, match.start()) + 1
    what = "a carriage return (Windows line ends?)" if char == "\r" else f"the control character U+{ord(char):04X}"
    return _syntax(env, app, line, f"{what}: a terminal or a review may show this line otherwise than "
                   "it deploys; a deploy file holds plain lines ending in a newline, with spaces or "
                   "tabs between words: remove it (save with LF line ends)")


def split_line(text: str) -> tuple[str, str] | None:
    """A deploy line's commit (its first token, when that is a hash) and comment (the rest, stripped);
    None for a blank or comment line. The one reading of a line: the parser and the history use it."""
    words = text.split(None, 1)
    if not words or not HASH_RE.match(words[0]):
        return None
    return words[0], (words[1].strip() if len(words) > 1 else "")


def _parse_line(number: int, text: str) -> DeployLine | None:
    """A line whose first token is a hash, or None for a comment or blank line."""
    if (split := split_line(text)) is None:
        return None
    commit, comment = split
    return DeployLine(line=number, commit=commit, comment=comment, tags=parse_tags(comment))


def parse_deploy_file(env: str, app: str, data: bytes) -> DeployFile:
    """Parse one deploy file, or raise DeployFileError naming the file, the line and the fix."""
    text = _decode(env, app, data)
    if (problem := _control_problem(env, app, text)) is not None:
        raise problem
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise _syntax(
            env,
            app,
            None,
            "empty file; write the commit to deploy on the first line "
            f"(deployctl bump {env} {app} <commit>), or delete the file to remove the app",
        )
    number = first + 1
    token = lines[first].split(None, 1)[0]
    current = _parse_line(number, lines[first])
    if current is None:
        raise _syntax(env, app, number, _bad_token_message(token))
    history = tuple(
        parsed
        for i, line in enumerate(lines[first + 1 :], start=number + 1)
        if (parsed := _parse_line(i, line)) is not None
    )
    return DeployFile(env=env, app=app, current=current, history=history)


def repaired(data: bytes) -> bytes:
    """A file as the grammar's fixes leave it: CRLF line ends made LF, every other control character
    removed (what the syntax error says to do); the bytes unchanged when they are not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return CONTROL_RE.sub("", text.replace("\r\n", "\n")).encode("utf-8")


def parse_base(env: str, app: str, data: bytes) -> DeployFile | None:
    """A base file the grammar refuses only for what a later change may fix, read as that change
    leaves it: over MAX_BYTES, its first MAX_BYTES up to the last whole line; with control
    characters (a file merged before they were refused), repaired. So the change that trims or
    repairs it is judged against what ran (changes.file_changes); None when it breaks the grammar
    otherwise too."""
    data = repaired(data)
    cut = data.rfind(b"\n", 0, MAX_BYTES) + 1 if len(data) > MAX_BYTES else len(data)
    try:
        return parse_deploy_file(env, app, data[:cut])
    except DeployFileError:
        return None


def _bad_token_message(token: str) -> str:
    shown = token if len(token) <= 80 else token[:77] + "..."
    if re.fullmatch(r"[0-9a-fA-F]+", token):
        if token.lower() != token:
            return f"commit '{shown}' has upper-case letters; write it in lower case"
        return (
            f"commit '{shown}' is {len(token)} characters; a commit is 7 to 40 hex characters "
            "(64 in a SHA-256 repository), best written in full"
        )
    return (
        f"first token '{shown}' is not a commit hash; the file must start with the commit to "
        "deploy (lower-case hex, 7 to 40 characters), then an optional comment"
    )


def render_line(commit: str, message: str = "", tags: tuple[Tag, ...] = ()) -> str:
    """The line `bump`, `promote` and `rollback` prepend: '<hash> <message> [tags]'."""
    words = [commit]
    if message.strip():
        words.append(" ".join(message.split()))
    words.extend(f"[{t.value}]" for t in tags if f"[{t.value}]" not in message)
    return " ".join(words) + "\n"


def short(commit: str | None, missing: str = "") -> str:
    """A commit as people read it (its first SHORT characters), or `missing` when there is none."""
    return commit[:SHORT] if commit else missing


def same_commit(a: str | None, b: str | None) -> bool:
    """Equal, or one an abbreviation of the other (deploy files may name a commit by a prefix)."""
    if not a or not b:
        return False
    return a.startswith(b) or b.startswith(a)


_PR_PATTERNS = (re.compile(r"^Merge pull request #(\d+)"), re.compile(r"\(#(\d+)\)\s*$", re.MULTILINE))


def pr_number(message: str) -> int | None:
    """The PR a deploy-repo commit came from: a merge commit or a squash merge's '(#12)' suffix."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    for pattern in _PR_PATTERNS:
        if match := pattern.search(first):
            return int(match.group(1))
    return None
