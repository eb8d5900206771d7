"""The deploy repository, read from its working tree or from any commit (GitPython)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl.catalog import CATALOG_FILE
from deployctl.model import DEPLOYS_DIR
from deployctl.snapshot import RepoFiles, Snapshot, build_snapshot, env_of_stack_file
from deployctl.tree import Entry, EntryKind
from deployctl.violations import CannotJudge

if TYPE_CHECKING:
    import git

    from deployctl.history import HistoryEntry


def open_repo(root: Path) -> git.Repo:
    import git  # GitPython loads only where commits are read: the Pulumi program never pays for it

    try:
        return git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise CannotJudge(f"{root} is not a git repository; run deployctl at the deploy repo's root") from None


def resolve_ref(repo: git.Repo, ref: str) -> str:
    import git

    if not ref or ref.startswith("-") or any(ord(ch) < 0x20 for ch in ref):
        raise CannotJudge(f"'{ref}' is not a ref (it is empty, begins with '-' or holds a control character); "
                          "name a branch, tag or commit")
    try:
        return repo.commit(ref).hexsha
    except (git.BadName, ValueError, git.GitCommandError):
        raise CannotJudge(
            f"cannot resolve '{ref}' to a commit of the deploy repo; fetch it first "
            "(git fetch origin) or name a branch, tag or commit that exists"
        ) from None


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
    if not base.is_dir():
        return entries
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
    try:
        mode = os.lstat(root / rel).st_mode
    except FileNotFoundError:
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


def _partial(paths: set[str], lookup: Callable[[list[str]], list[Entry]]) -> list[Entry]:
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


def commit_files(repo: git.Repo, rev: str, paths: set[str] | None = None) -> RepoFiles:
    """The snapshot inputs at a commit, read straight from git objects (no checkout).

    With `paths`, only those deploy files are read (plus every env folder's name), so the cost
    follows the size of a change, not of the repo.
    """
    commit = repo.commit(rev)
    tree = commit.tree
    catalog = None
    stacks: dict[str, str] = {}
    entries: list[Entry] = []
    for item in tree:
        if item.path == CATALOG_FILE and item.type == "blob":
            catalog = item.data_stream.read().decode("utf-8", errors="replace")
        elif (env := env_of_stack_file(str(item.path))) is not None and item.type == "blob":
            stacks[env] = item.data_stream.read().decode("utf-8", errors="replace")
    try:
        deploys = tree / DEPLOYS_DIR
    except KeyError:
        deploys = None
    if deploys is not None and paths is None:
        for node in deploys.traverse():
            if isinstance(node, tuple):
                continue  # only with as_edge=True, which this is not
            kind = _tree_kind(node.mode)
            data = node.data_stream.read() if kind is EntryKind.FILE else None
            entries.append(Entry(path=str(node.path), kind=kind, data=data))
    elif deploys is not None and paths is not None:
        entries = [Entry(path=str(item.path), kind=_tree_kind(item.mode)) for item in deploys]
        entries += _partial(paths, lambda rels: _batch_entries(repo, commit.hexsha, rels))
    return RepoFiles(catalog=catalog, stack_configs=stacks, entries=entries)


def _batch_entries(repo: git.Repo, rev: str, rels: list[str]) -> list[Entry]:
    """Entries for paths at a commit with two git processes, however many paths there are."""
    listing = repo.git.ls_tree("-z", "--full-tree", rev, "--", *rels)
    items = []
    for record in filter(None, listing.split("\0")):
        meta, path = record.split("\t", 1)
        mode, _, sha = meta.split()
        items.append((path, _tree_kind(int(mode, 8)), sha))
    blobs = [sha for _, kind, sha in items if kind is EntryKind.FILE]
    data = _read_blobs(repo, blobs) if blobs else {}
    return [Entry(path=path, kind=kind, data=data.get(sha) if kind is EntryKind.FILE else None)
            for path, kind, sha in items]


def _read_blobs(repo: git.Repo, shas: list[str]) -> dict[str, bytes]:
    out = subprocess.run(["git", "-C", str(repo.working_tree_dir or repo.git_dir), "cat-file", "--batch"],
                         input="\n".join(shas).encode() + b"\n", capture_output=True, check=True).stdout
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        sha, _, size = out[pos:header_end].decode().split()
        start = header_end + 1
        blobs[sha] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return blobs


def commit_snapshot(repo: git.Repo, rev: str) -> Snapshot:
    return build_snapshot(commit_files(repo, rev))


def changed_paths(repo: git.Repo, base: str, head: str | None) -> list[str]:
    """Paths that differ between base and head (None: the working tree, untracked files too)."""
    if head is not None:
        out = repo.git.diff("--no-renames", "--name-only", "-z", base, head, "--")
        return sorted(p for p in out.split("\0") if p)
    out = repo.git.diff("--no-renames", "--name-only", "-z", base, "--")
    untracked = repo.git.ls_files("--others", "--exclude-standard", "-z")
    return sorted({p for p in (out + "\0" + untracked).split("\0") if p})


def deploy_log_text(repo: git.Repo, ref: str) -> str:
    """One `git log --raw` of deploys/ along the deploy branch's first parents, for history."""
    from deployctl.history import LOG_FORMAT

    return repo.git.log(
        "--first-parent", "--diff-merges=first-parent", "--no-renames", "--raw", "--no-abbrev",
        f"--format={LOG_FORMAT}", ref, "--", DEPLOYS_DIR,
    )


def deploy_history(repo: git.Repo, ref: str) -> list[HistoryEntry]:
    """Every deploy along the branch: one `git log --raw`, then each blob it names read once."""
    from deployctl.history import blobs_needed, parse_log, raw_changes

    commits = raw_changes(deploy_log_text(repo, ref))
    shas = blobs_needed(commits)
    return parse_log(commits, _read_blobs(repo, sorted(shas)) if shas else {})


def first_parent_order(repo: git.Repo, ref: str) -> list[str]:
    return repo.git.rev_list("--first-parent", ref, "--").split()


def safe_branch_name(name: str) -> str:
    """A branch name from the command line, refused when git could read it as an option."""
    from deployctl.safegit import branch_problem

    if (problem := branch_problem(name)) is not None:
        raise CannotJudge(f"--branch '{name}' {problem}")
    return name
