"""The deploy history as git records it: one `git log --raw` of deploys/ and the blobs it names."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from typing import TYPE_CHECKING

from deployctl.adapters.git.repo import c_locale_env, git_failed, run_git
from deployctl.core.repo.model import DEPLOYS_DIR

if TYPE_CHECKING:
    from deployctl.adapters.git.repo import Repo
    from deployctl.core.trace.history import HistoryEntry


def deploy_history(repo: Repo, ref: str) -> list[HistoryEntry]:
    """Every deploy along the branch: one `git log --raw`, and one `git cat-file --batch` that reads
    each blob the log names once, fed while the log still streams. Each blob's deploy line is parsed
    as it arrives, and each batch of commits becomes entries once cat-file has answered for it, so
    git and Python work side by side and little is left once git is done."""
    from deployctl.core.trace.history import COMMIT_MARK, LOG_FORMAT, RawCommit, blobs_needed, parse_log, raw_changes

    cwd = str(repo.working_tree_dir or repo.git_dir)
    args = ["git", "log", "--first-parent", "--diff-merges=first-parent", "--no-renames", "--raw", "--no-abbrev",
            f"--format={LOG_FORMAT}", "--end-of-options", ref, "--", DEPLOYS_DIR]
    log = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=c_locale_env())
    cat = subprocess.Popen(["git", "-C", cwd, "cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    log_out, log_err, cat_in, cat_out = log.stdout, log.stderr, cat.stdin, cat.stdout
    if log_out is None or log_err is None or cat_in is None or cat_out is None:  # all four were asked for
        raise RuntimeError("git's pipes were not opened")
    lines: dict[str, tuple[str | None, str]] = {}
    errors: list[bytes] = []
    readers = [threading.Thread(target=_read_deploy_lines, args=(cat_out.fileno(), lines)),
               threading.Thread(target=lambda: errors.append(log_err.read()))]
    for reader in readers:
        reader.start()
    entries: list[HistoryEntry] = []
    waiting: deque[tuple[list[RawCommit], str | None]] = deque()  # a batch, and the last blob asked by then
    asked: set[str] = set()
    last_asked: str | None = None
    mark, pending = COMMIT_MARK.encode(), b""

    def take(complete: bytes) -> None:
        nonlocal last_asked
        batch = raw_changes(complete.decode("utf-8", "surrogateescape"))
        if new := sorted(blobs_needed(batch) - asked):
            asked.update(new)
            last_asked = new[-1]
            cat_in.write(("\n".join(new) + "\n").encode())
            cat_in.flush()
        waiting.append((batch, last_asked))
        settle(final=False)

    def settle(final: bool) -> None:
        """Entries of each batch whose blobs cat-file has answered (it answers in the order asked)."""
        while waiting and (final or waiting[0][1] is None or waiting[0][1] in lines):
            entries.extend(parse_log(waiting.popleft()[0], lines))

    try:
        for data in iter(lambda: os.read(log_out.fileno(), 1 << 16), b""):  # what the pipe holds, as it comes
            pending += data
            if (cut := pending.rfind(mark)) > 0:
                take(pending[:cut])
                pending = pending[cut:]
        take(pending)
    except BaseException:
        log.kill()  # nobody reads its output any more
        raise
    finally:
        log.wait()
        cat_in.close()
        for reader in readers:
            reader.join()
        cat.wait()
    if log.returncode != 0:
        raise git_failed("log", repo, b"".join(errors))
    if cat.returncode != 0:
        raise git_failed("cat-file", repo, b"")
    settle(final=True)
    return entries


def _read_deploy_lines(fd: int, lines: dict[str, tuple[str | None, str]]) -> None:
    """Read `git cat-file --batch` output as it comes, keeping only each blob's deploy line."""
    from deployctl.core.trace.history import deploy_line

    buffer = b""
    for data in iter(lambda: os.read(fd, 1 << 16), b""):
        buffer += data
        pos = 0
        while (header_end := buffer.find(b"\n", pos)) >= 0:
            header = buffer[pos:header_end].decode().split()
            if len(header) != 3:  # `<sha> missing`: the log named a blob this clone lacks
                pos = header_end + 1
                continue
            sha, _, size = header
            end = header_end + 1 + int(size)
            if end + 1 > len(buffer):
                break
            lines[sha] = deploy_line(buffer[header_end + 1 : end])
            pos = end + 1
        buffer = buffer[pos:]


def first_parent_order(repo: Repo, ref: str) -> list[str]:
    return run_git(repo, "rev-list", "--first-parent", "--end-of-options", ref, "--").split()
