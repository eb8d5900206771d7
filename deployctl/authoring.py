"""Writing deploys: one correct line prepended, every existing byte kept. Pure."""

from __future__ import annotations

from deployctl.model import DeployFile, Tag, render_line
from deployctl.snapshot import RepoFiles
from deployctl.tree import Entry, EntryKind

# While authoring one app at a time, half a group is expected: the author bumps the rest next.
AUTHORING_NOTES = {"group-incomplete"}


def prepend(old: bytes | None, commit: str, message: str = "", tags: tuple[Tag, ...] = ()) -> bytes:
    """The new file: the new line on top, the old content untouched below it."""
    return render_line(commit, message, tags).encode("utf-8") + (old or b"")


def previous_commit(file: DeployFile) -> str | None:
    """The most recent earlier deploy of a different commit: what a rollback returns to."""
    return next((h.commit for h in file.history if h.commit != file.commit
                 and not file.commit.startswith(h.commit) and not h.commit.startswith(file.commit)), None)


def with_file(files: RepoFiles, path: str, data: bytes) -> RepoFiles:
    """The same repo files with one deploy file written (created if new)."""
    env_dir = path.rsplit("/", 1)[0]
    entries = [e for e in files.entries if e.path != path]
    if not any(e.path == env_dir for e in entries):
        entries.append(Entry(path=env_dir, kind=EntryKind.DIR))
    entries.append(Entry(path=path, kind=EntryKind.FILE, data=data))
    return files.model_copy(update={"entries": entries})
