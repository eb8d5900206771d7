"""Writing deploys: one correct line prepended, every existing byte kept. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from deployctl.core.change.changes import file_changes
from deployctl.core.change.rules.group import changed_apps, group_missing
from deployctl.core.repo.model import DeployFile, Tag, render_line, same_commit
from deployctl.core.repo.snapshot import RepoFiles, Snapshot
from deployctl.core.repo.tree import Entry, EntryKind

# While authoring one app at a time, half a group is expected: the author bumps the rest next.
AUTHORING_NOTES = {"group-incomplete"}


def prepend(old: bytes | None, commit: str, message: str = "", tags: tuple[Tag, ...] = ()) -> bytes:
    """The new file: the new line on top, the old content untouched below it."""
    return render_line(commit, message, tags).encode("utf-8") + (old or b"")


def previous_commit(file: DeployFile, on_top: Collection[str] | None = None) -> str | None:
    """The most recent earlier deploy of a different commit: what a rollback returns to.

    `on_top`: the commits that were ever the file's first line in the deploy repo's history (each a
    reviewed deploy). A line that never was (written below another in one change, which
    multiple-new-lines now refuses, but older files may hold) is skipped: nobody reviewed it as a
    deploy, and it may never have run."""
    return next((h.commit for h in file.history if not same_commit(h.commit, file.commit)
                 and (on_top is None or any(same_commit(h.commit, top) for top in on_top))), None)


def with_file(files: RepoFiles, path: str, data: bytes) -> RepoFiles:
    """The same repo files with one deploy file written (created if new)."""
    return with_files(files, {path: data})


def with_files(files: RepoFiles, written: Mapping[str, bytes]) -> RepoFiles:
    """The same repo files with these deploy files written (created if new), in one pass."""
    entries = [e for e in files.entries if e.path not in written]
    dirs = {e.path for e in entries if e.kind is EntryKind.DIR}
    for path, data in written.items():
        env_dir = path.rsplit("/", 1)[0]
        if env_dir not in dirs:
            dirs.add(env_dir)
            entries.append(Entry(path=env_dir, kind=EntryKind.DIR))
        entries.append(Entry(path=path, kind=EntryKind.FILE, data=data))
    return files.model_copy(update={"entries": entries})


def group_still_needed(base: Snapshot, head: Snapshot, env: str, app: str) -> tuple[str | None, list[str]]:
    """The app's co-deploy group and its members this PR has not written yet in env (only those
    the env deploys), judged against the same base as CI, by the rule itself (rules/group.py);
    (None, []) when the app has no group."""
    spec = head.catalog.apps.get(app)
    if spec is None or not spec.group:
        return None, []
    changes = file_changes(base, head)
    if app not in changed_apps(changes, env):
        return spec.group, []
    return spec.group, group_missing(head, changes, env, spec.group)
