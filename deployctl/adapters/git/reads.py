"""The deploy repository's snapshot inputs, read from its working tree or from any commit.

Plain git plumbing (opening the repo, `_git`, refs) lives in `gitrepo.py`, the history log in
`gitlog.py`: commands that need neither the catalog nor a snapshot do not import them."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from deployctl.adapters.git.repo import is_commit_id, resolve_ref, run_git, start_git
from deployctl.core.repo.catalog import CATALOG_FILE
from deployctl.core.repo.model import DEPLOYS_DIR
from deployctl.core.repo.snapshot import RepoFiles, Snapshot, build_snapshot, env_of_stack_file
from deployctl.core.repo.tree import Entry, EntryKind
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.adapters.git.repo import Repo

T = TypeVar("T")


# -- working tree -----------------------------------------------------------------------------


def _kind(mode: int) -> EntryKind:
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    if stat.S_ISDIR(mode):
        return EntryKind.DIR
    if stat.S_ISREG(mode):
        return EntryKind.FILE
    return EntryKind.OTHER


def worktree_entries(root: Path, envs: set[str] | None = None) -> list[Entry]:
    """Every path below deploys/ without following links; files are read, capped past 1 MiB."""
    entries: list[Entry] = []
    base = root / DEPLOYS_DIR
    try:
        top = _kind(os.lstat(base).st_mode)
    except FileNotFoundError:
        return entries
    if top is not EntryKind.DIR:  # `deploys` as a link is shown as one (git sees a link), never followed
        return [Entry(path=DEPLOYS_DIR, kind=top)]
    stack: list[tuple[Path, str]] = [(base, DEPLOYS_DIR)]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for item in it:
                path = f"{rel}/{item.name}"
                kind = _kind(item.stat(follow_symlinks=False).st_mode)
                if rel == DEPLOYS_DIR and envs is not None and item.name not in envs:
                    entries.append(Entry(path=path, kind=kind))  # the env exists; its files are not needed
                    continue
                data = None
                if kind is EntryKind.FILE:
                    with open(item.path, "rb") as fh:
                        data = fh.read((1 << 20) + 1)
                entries.append(Entry(path=path, kind=kind, data=data))
                if kind is EntryKind.DIR:
                    stack.append((Path(item.path), path))
    return entries


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, OSError) as exc:
        raise CannotJudge(f"{path.name}: cannot read: {exc}") from None


def _worktree_entry(root: Path, rel: str) -> Entry | None:
    """The entry at `rel`, or None when it is absent or lies behind a link (git has nothing there)."""
    parts = rel.split("/")
    try:
        if not all(stat.S_ISDIR(os.lstat(root.joinpath(*parts[:i])).st_mode) for i in range(1, len(parts))):
            return None
        mode = os.lstat(root / rel).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    kind = _kind(mode)
    data = (root / rel).read_bytes()[: (1 << 20) + 1] if kind is EntryKind.FILE else None
    return Entry(path=rel, kind=kind, data=data)


def worktree_files(root: Path, envs: set[str] | None = None, paths: set[str] | None = None) -> RepoFiles:
    """The snapshot inputs from the working tree. `envs` limits which deploy folders are read;
    `paths` reads only those deploy files (plus every env folder's name). Every stack config is
    always read: envs refer to each other through promoteFrom."""
    stacks = {}
    for item in sorted(root.iterdir()):
        env = env_of_stack_file(item.name)
        if env is not None:
            stacks[env] = _read_text(item) or ""
    if paths is None:
        entries = worktree_entries(root, envs)
    else:
        entries = worktree_entries(root, envs=set())  # env folders only
        entries += _partial(paths, lambda rels: [e for rel in rels if (e := _worktree_entry(root, rel))])
    return RepoFiles(catalog=_read_text(root / CATALOG_FILE), stack_configs=stacks, entries=entries)


def _partial(paths: set[str], lookup: Callable[[list[str]], list[T]]) -> list[T]:
    """Entries for each deploy path `deploys/<env>/<app>` (a nested folder shows as a folder)."""
    wanted = sorted({"/".join(p.split("/")[:3]) for p in paths
                     if p.startswith(DEPLOYS_DIR + "/") and p.count("/") >= 2})
    return lookup(wanted) if wanted else []


def worktree_snapshot(root: Path, envs: set[str] | None = None) -> Snapshot:
    return build_snapshot(worktree_files(root, envs))


# -- commits ----------------------------------------------------------------------------------


def _tree_kind(mode: int) -> EntryKind:
    if mode == 0o120000:
        return EntryKind.SYMLINK
    if mode == 0o160000:
        return EntryKind.OTHER
    if mode == 0o040000:
        return EntryKind.DIR
    return EntryKind.FILE


def _ls_tree(repo: Repo, commit: str, *paths: str,
             options: tuple[str, ...] = ()) -> list[tuple[str, EntryKind, str, str]]:
    """(path, kind, object type, sha) of each record of `git ls-tree -z <options> <commit> -- <paths>`."""
    items = []
    args = ["ls-tree", "-z", *options, "--end-of-options", commit, *(["--", *paths] if paths else [])]
    for record in filter(None, run_git(repo, *args).split("\0")):
        meta, path = record.split("\t", 1)
        mode, kind, sha = meta.split()
        items.append((path, _tree_kind(int(mode, 8)), kind, sha))
    return items


def commit_files(repo: Repo, rev: str, paths: set[str] | None = None) -> RepoFiles:
    """The snapshot inputs at a commit, read straight from git objects (no checkout).

    With `paths`, only those deploy files are read (plus every env folder's name), so the cost
    follows the size of a change, not of the repo. A few git processes in all: the top of the
    tree, the deploy folder's listing, and one batch read of every blob needed.
    """
    commit = rev if is_commit_id(rev) else resolve_ref(repo, rev)
    if paths is None and (kept := _WHOLE.get(commit)) is not None:
        return kept
    files = _commit_files(repo, commit, paths)
    if paths is None:
        with _WHOLE_LOCK:
            _WHOLE[commit] = files
            while len(_WHOLE) > WHOLE_KEPT:
                del _WHOLE[next(iter(_WHOLE))]
    return files


WHOLE_KEPT = 8
_WHOLE: dict[str, RepoFiles] = {}
"""The last commits read whole, by commit id: a commit's files never change (its id is their hash),
so `up` reads its head once for the safeguards and the checkout's comparison."""
_WHOLE_LOCK = threading.Lock()


def _commit_files(repo: Repo, commit: str, paths: set[str] | None) -> RepoFiles:
    catalog_sha = None
    stack_shas: dict[str, str] = {}
    deploys: EntryKind | None = None
    for path, entry_kind, kind, sha in _ls_tree(repo, commit):
        if path == CATALOG_FILE and kind == "blob":
            catalog_sha = sha
        elif (env := env_of_stack_file(path)) is not None and kind == "blob":
            stack_shas[env] = sha
        elif path == DEPLOYS_DIR:
            deploys = entry_kind
    has_deploys = deploys is EntryKind.DIR
    listed: list[tuple[str, EntryKind, str]] = []
    if deploys is not None and not has_deploys:  # `deploys` committed as a link (or a file): shown as one
        listed = [(DEPLOYS_DIR, deploys, "")]
    elif has_deploys and paths is None:
        listed = [(p, k, sha) for p, k, _, sha in _ls_tree(repo, commit, DEPLOYS_DIR, options=("-r", "-t"))]
    elif has_deploys and paths is not None:
        listed = [(p, k, "") for p, k, _, _ in _ls_tree(repo, commit, DEPLOYS_DIR + "/")]
        listed += _partial(paths, lambda rels: [(p, k, sha) for p, k, _, sha in
                                                 _ls_tree(repo, commit, *rels, options=("--full-tree",))])
    wanted = [sha for _, kind, sha in listed if kind is EntryKind.FILE and sha]
    wanted += [sha for sha in (catalog_sha, *stack_shas.values()) if sha]
    blobs = _read_blobs(repo, sorted(set(wanted))) if wanted else {}

    def text(sha: str) -> str:
        return blobs[sha].decode("utf-8", errors="replace")

    entries = [Entry(path=p, kind=k, data=blobs[sha] if k is EntryKind.FILE and sha else None)
               for p, k, sha in listed]
    return RepoFiles(catalog=text(catalog_sha) if catalog_sha else None,
                     stack_configs={env: text(sha) for env, sha in stack_shas.items()}, entries=entries)


def _read_blobs(repo: Repo, shas: list[str]) -> dict[str, bytes]:
    out = subprocess.run(["git", "-C", str(repo.working_tree_dir or repo.git_dir), "cat-file", "--batch"],
                         input="\n".join(shas).encode() + b"\n", capture_output=True, check=True).stdout
    return _parse_batch(out)


def _parse_batch(out: bytes) -> dict[str, bytes]:
    """`git cat-file --batch` output: each object's header line, its content, a newline."""
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        sha, _, size = out[pos:header_end].decode().split()
        start = header_end + 1
        blobs[sha] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return blobs


def commit_snapshot(repo: Repo, rev: str) -> Snapshot:
    return build_snapshot(commit_files(repo, rev))


def changed_paths(repo: Repo, base: str, head: str | None) -> list[str]:
    """Paths that differ between base and head (None: the working tree, untracked files too)."""
    return start_changed_paths(repo, base, head)()


def start_changed_paths(repo: Repo, base: str, head: str | None) -> Callable[[], list[str]]:
    """`changed_paths`, its git processes started now (side by side) and collected by calling the result."""
    if head is not None:
        diff = start_git(repo, "diff", "--no-renames", "--name-only", "-z", "--end-of-options", base, head, "--")
        return lambda: sorted(p for p in diff().split("\0") if p)
    tracked = start_git(repo, "diff", "--no-renames", "--name-only", "-z", "--end-of-options", base, "--")
    untracked = start_git(repo, "ls-files", "--others", "--exclude-standard", "-z")
    return lambda: sorted({p for p in (tracked() + "\0" + untracked()).split("\0") if p})


def safe_branch_name(name: str) -> str:
    """A branch name from the command line, refused when git could read it as an option."""
    from deployctl.core.repo.safegit import branch_problem

    if (problem := branch_problem(name)) is not None:
        raise CannotJudge(f"--branch '{name}' {problem}")
    return name
