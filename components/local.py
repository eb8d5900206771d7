"""The `local` kind: the app repository's tree at the commit, released Capistrano style.

`<deployRoot>/<app>/releases/<release>/` holds each release, named by what it contains: the commit,
plus a digest of the app's `path` when it deploys a subfolder (so a new `path` is new content);
`<deployRoot>/<app>/current` is a symlink switched atomically (rename over the old link), so a
reader never sees a half release. A real Pulumi resource (a dynamic provider), so the engine diffs,
updates and records it; a new commit is an update of the same resource, never a replace.
The engine also reads it back: a refresh (`read`) finds what `current` points at, and a diff
compares the app folder with the record, so a `current` switched by hand or a release deleted is
found, and an update (with or without a refresh) restores what git says. A machine without the
env's deploy root (another runner deploys it) cannot tell: the record stands.

The component owns `<deployRoot>/<app>` only once it wrote its marker file there, naming its env: it
never deploys into, and never deletes, a folder it did not create or another env's folder. No path
leaves its root: every folder on the way (`.deployments`, the env and app folders, `releases`, each
release) is checked with lstat and never followed, and a link or a file where a folder goes is
refused before anything is written; `current` is the only link it creates.

This module is what the dynamic provider's process loads (the provider is pickled by reference to
it), so it imports only Pulumi and the standard library; the kind's component, which needs the
catalog's settings, is `components/local_app.py`.
"""

import contextlib
import hashlib
import io
import os
import re
import shutil
import stat
import tarfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

if TYPE_CHECKING:
    from deployctl.adapters.git.apprepos import AppRepos

RELEASES, CURRENT = "releases", "current"
MARKER = ".deployctl-owned"
"""Written in `<deployRoot>/<app>` when the component creates it, naming the env (the stack) that owns
it; without it, or with another env's name in it, nothing there is touched."""
DEPLOYMENTS_DIR = ".deployments"
"""The checkout's folder of deploy roots (core/repo/envconfig.py's name; this module imports no deployctl)."""
_RELEASE_RE = re.compile(r"[0-9a-f]{7,64}(?:-[0-9a-f]{10})?")
"""A release folder's name as `release_name` makes it; pruning and removal touch no other entry."""
_OWNER_RE = re.compile(r"^env: (\S+)$", re.MULTILINE)
# Inputs that change what is deployed; `source` (where git fetches from) is not one of them.
_DEPLOYED_BY = ("app", "commit", "path", "deploy_root", "keep_releases")
_INPUTS = ("app", "env", "commit", "path", "deploy_root", "keep_releases", "source")
"""What the component passes the release resource (its outputs hold each, plus `release_dir` and `current`)."""
RUNNING_KEYS = ("commit", "release_dir", "current")
"""The outputs a refresh reads back from the app folder (`running_release`)."""


def release_name(commit: str, path: str | None) -> str:
    """The release folder's name: the commit, and for a subfolder a digest of its path."""
    sub = (path or "").strip("/")
    return f"{commit}-{hashlib.sha256(sub.encode()).hexdigest()[:10]}" if sub else commit


class UnsafePathError(RuntimeError):
    """A link or a non-folder where the component expects its own folder (or file): nothing was changed."""


def _lstat_mode(path: Path) -> int | None:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None


def _real_dir(path: Path) -> bool:
    """True for a real folder, False when absent; a link (never followed) or anything else is refused."""
    mode = _lstat_mode(path)
    if mode is None:
        return False
    if stat.S_ISDIR(mode):
        return True
    what = " is a symbolic link" if stat.S_ISLNK(mode) else ": Not a directory"
    raise UnsafePathError(f"{path}{what} where deployctl expects a folder; it never follows a link in a deploy "
                          "root: replace it with a real folder or choose another deploys:deployRoot; nothing "
                          "was changed")


def root_folders(root: Path) -> list[Path]:
    """The folders on the way to a deploy root, from the top, each checked with lstat (never followed).

    A relative root (the program passes one for any root inside the checkout, the provider's working
    directory) is checked folder by folder from the checkout: `.deployments`, the env folder, ...; an
    absolute root (an env that allows an external root) from itself down, its ancestors being the
    operator's choice.
    """
    if root.is_absolute():
        return [root]
    if ".." in root.parts or not root.parts:
        raise UnsafePathError(f"deploy root '{root}' climbs out of the checkout; nothing was changed")
    return [Path(*root.parts[: i + 1]) for i in range(len(root.parts))]


def check_checkout() -> None:
    """The checkout's `.deployments`, checked in every case: the program resolves links, so a committed
    `.deployments` link reaches the provider as an absolute root that looks like an external one."""
    _real_dir(Path(DEPLOYMENTS_DIR))


def _owner(app_dir: Path) -> tuple[bool, str | None]:
    """(whether our marker is there, the env it names: None for a marker written before markers named one)."""
    marker = app_dir / MARKER
    mode = _lstat_mode(marker)
    if mode is None:
        return False, None
    if not stat.S_ISREG(mode):
        raise UnsafePathError(f"{marker} is not a regular file; deployctl never follows a link; nothing was changed")
    found = _OWNER_RE.search(marker.read_text(errors="replace"))
    return True, found.group(1) if found else None


def _earlier_release_layout(app_dir: Path) -> bool:
    """Empty, or exactly what a deployctl before the marker wrote: `releases/` and a `current` link
    into it."""
    for entry in app_dir.iterdir():
        if entry.name == RELEASES and entry.is_dir() and not entry.is_symlink():
            continue
        if entry.name == CURRENT and entry.is_symlink() and os.readlink(entry).startswith(RELEASES + "/"):
            continue
        return False
    return True


def _check_app_dir(app_dir: Path, env: str | None, adopt: bool, release: str | None) -> None:
    """Refuse, before anything is written, an app folder that is not ours to deploy into."""
    if not _real_dir(app_dir):
        return
    marked, owner = _owner(app_dir)
    if marked and owner is not None and owner != env:
        raise UnsafePathError(f"{app_dir} belongs to env '{owner}' (its {MARKER} says so), not to '{env}'; "
                          "an env never deploys into another's folder: give each env its own "
                          "deploys:deployRoot; nothing was changed")
    empty = not any(app_dir.iterdir())
    if not marked and not empty and not (adopt and _earlier_release_layout(app_dir)):
        raise UnsafePathError(f"{app_dir} exists and was not created by deployctl (no {MARKER} in it); "
                          "move it away or choose another deploys:deployRoot; nothing was changed")
    if marked and owner is None and not adopt:
        raise UnsafePathError(f"{app_dir} was claimed by an earlier deployctl that did not record its env, and "
                          "this stack has not deployed there before; move it away or choose another "
                          "deploys:deployRoot; nothing was changed")
    if _real_dir(app_dir / RELEASES) and release is not None:
        _real_dir(app_dir / RELEASES / release)  # a release folder, or nothing yet
    mode = _lstat_mode(app_dir / CURRENT)
    if mode is not None and not stat.S_ISLNK(mode):
        raise UnsafePathError(f"{app_dir / CURRENT} is not a symbolic link; deployctl switches only a `{CURRENT}` "
                          "link it created: move it away; nothing was changed")


def check_app_dir(root: Path, app: str, env: str | None, *, adopt: bool = False,
                  release: str | None = None) -> list[bool]:
    """Refuse (UnsafePathError), reading only, what `claim_app_dir` would refuse; which of the root's folders exist."""
    present = [_real_dir(f) for f in root_folders(root)]
    _check_app_dir(root / app, env, adopt, release)
    return present


def claim_app_dir(root: Path, app: str, env: str | None, *, adopt: bool = False,
                  release: str | None = None) -> Path:
    """Create `<root>/<app>` with our marker naming `env`, or refuse, before writing anything, a path
    with a link or a non-folder in it, another env's folder, or a folder someone else put there.

    `adopt` (an update: this very resource deployed there before) also takes a folder that an earlier
    deployctl wrote, and rewrites its marker with the env."""
    present = check_app_dir(root, app, env, adopt=adopt, release=release)  # every check before a write
    for folder, exists in zip(root_folders(root), present, strict=True):
        if not exists:
            if folder.is_absolute():
                folder.parent.mkdir(parents=True, exist_ok=True)  # an external root's ancestors
            try:
                folder.mkdir()
            except FileExistsError:  # another app's resource of this update made it since the check:
                _real_dir(folder)  # a real folder is shared; a link or a file put there is refused
    app_dir = root / app
    if not _real_dir(app_dir):
        app_dir.mkdir()
    marked, owner = _owner(app_dir)
    if not marked or owner is None:
        (app_dir / MARKER).write_text(f"created by deployctl for app {app}; deployctl deletes only what it "
                                      f"created\nenv: {env}\n")
    return app_dir


def _ours(root: Path, app: str, env: str | None) -> bool:
    """Whether this stack may delete in `<root>/<app>`: every folder on the way is real, and our marker
    names `env` (a marker without an env is left: which env wrote it cannot be told)."""
    app_dir = root / app
    try:
        check_checkout()
        if not all(_real_dir(f) for f in [*root_folders(root), app_dir]):
            return False
        marked, owner = _owner(app_dir)
    except UnsafePathError:
        return False
    return marked and owner is not None and owner == env


def _release_folders(releases: Path) -> list[Path]:
    """The releases it unpacked: real folders named as `release_name` names them."""
    return [p for p in releases.iterdir()
            if _RELEASE_RE.fullmatch(p.name) and stat.S_ISDIR(os.lstat(p).st_mode)]


def remove_app_dir(root: Path, app: str, env: str | None) -> list[str]:
    """Delete what this stack created in `<root>/<app>` (its releases, `current`, its marker), only under
    a marker naming `env` and with no link on the way; anything else there is left, and so is the folder."""
    app_dir = root / app
    if not _ours(root, app, env):
        return []
    removed = []
    releases = app_dir / RELEASES
    if _lstat_mode(releases) is not None and stat.S_ISDIR(os.lstat(releases).st_mode):
        for entry in [*_release_folders(releases), *releases.glob(".*.tmp*")]:
            if stat.S_ISDIR(os.lstat(entry).st_mode):
                shutil.rmtree(entry)
                removed.append(f"{RELEASES}/{entry.name}")
        with contextlib.suppress(OSError):
            releases.rmdir()
            removed.append(RELEASES)
    for name in [CURRENT, *(p.name for p in app_dir.glob(f".{CURRENT}.tmp*"))]:
        if (app_dir / name).is_symlink():
            (app_dir / name).unlink()
            removed.append(name)
    (app_dir / MARKER).unlink()
    removed.append(MARKER)
    with contextlib.suppress(OSError):
        app_dir.rmdir()  # left in place when someone put other files there
    return removed


def install_release(app_dir: Path, name: str, tar_bytes: bytes) -> Path:
    """Unpack a release once; a crash mid-way leaves only a temp dir, never a half release."""
    releases = app_dir / RELEASES
    if not _real_dir(releases):
        releases.mkdir()
    target = releases / name
    if _real_dir(target):
        return target
    tmp = releases / f".{name}.tmp{os.getpid()}"
    if _lstat_mode(tmp) is not None:
        if stat.S_ISDIR(os.lstat(tmp).st_mode):
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
    tmp.mkdir()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        tar.extractall(tmp, filter="data")
    os.replace(tmp, target)
    return target


def switch_current(app_dir: Path, name: str) -> Path:
    """Point `current` at the release with one atomic rename: the only link deployctl creates."""
    link = app_dir / CURRENT
    tmp = app_dir / f".{CURRENT}.tmp{os.getpid()}"
    if _lstat_mode(tmp) is not None:
        tmp.unlink()  # a leftover link (a folder there fails here, before `current` changes)
    tmp.symlink_to(Path(RELEASES) / name)
    os.replace(tmp, link)
    return link


def prune_releases(app_dir: Path, keep: int, current: str) -> list[str]:
    """Remove the oldest releases beyond `keep`, never the current one: only folders it unpacked,
    inside a real `releases` folder (a link there is refused, never followed)."""
    releases = app_dir / RELEASES
    if not _real_dir(releases):
        return []
    ordered = sorted(_release_folders(releases), key=lambda p: os.lstat(p).st_mtime, reverse=True)
    removed = []
    for old in ordered[keep:]:
        if old.name != current:
            shutil.rmtree(old)
            removed.append(old.name)
    return removed


@cache
def _repos() -> "AppRepos":
    """One cache per provider process, so apps that share a repository share its clone and lock."""
    from deployctl.adapters.git.apprepos import AppRepos

    return AppRepos(Path.cwd())


def deploy_release(props: dict[str, Any], adopt: bool = False) -> dict[str, Any]:
    """Check every folder on the way (before writing anything), fetch, claim, unpack, switch, prune."""
    root, app, env = Path(props["deploy_root"]), props["app"], props.get("env")
    name = release_name(props["commit"], props.get("path"))
    check_checkout()
    check_app_dir(root, app, env, adopt=adopt, release=name)  # before the fetch, too
    tar_bytes = _repos().get(props["source"]).archive(props["commit"], props.get("path"))
    app_dir = claim_app_dir(root, app, env, adopt=adopt, release=name)
    release = install_release(app_dir, name, tar_bytes)
    os.utime(release)  # newest release is the last to be pruned
    link = switch_current(app_dir, name)
    prune_releases(app_dir, int(props["keep_releases"]), name)
    return {**props, "release_dir": str(release), "current": str(link)}


def running_release(props: dict[str, Any]) -> dict[str, Any] | None:
    """What `<deploy_root>/<app>` runs now, as the release's outputs: `commit` (None when nothing of
    this stack's runs there: no `current` link, a link out of its `releases`, or a release folder that
    is gone), `release_dir` (the folder `current` points at, present or not) and `current`.

    Read with lstat and readlink only, never following a link on the way. None when this machine
    cannot tell: its deploy root is not here (another runner deploys the env), so the record stands.
    """
    root, app, env = Path(str(props["deploy_root"])), str(props["app"]), props.get("env")
    try:
        check_checkout()
        if not all(_real_dir(f) for f in root_folders(root)):
            return None
    except UnsafePathError:
        return None
    nothing: dict[str, Any] = dict.fromkeys(RUNNING_KEYS)
    app_dir = root / app
    try:
        if not _real_dir(app_dir):
            return nothing
        marked, owner = _owner(app_dir)
    except UnsafePathError:
        return nothing
    if not marked or (owner is not None and env is not None and owner != env):
        return nothing  # someone else's folder (a record without an env cannot tell whose: it is read)
    link = app_dir / CURRENT
    mode = _lstat_mode(link)
    if mode is None or not stat.S_ISLNK(mode):
        return nothing
    target = Path(os.readlink(link))
    if target.is_absolute() or target.parts[:1] != (RELEASES,) or len(target.parts) != 2 \
            or not _RELEASE_RE.fullmatch(target.name):
        return {**nothing, "current": str(link)}  # pointed by hand somewhere deployctl never releases to
    release = app_dir / target
    mode = _lstat_mode(release)
    commit = target.name.split("-")[0] if mode is not None and stat.S_ISDIR(mode) else None
    return {"commit": commit, "release_dir": str(release), "current": str(link)}


def expected_release(props: dict[str, Any]) -> dict[str, Any]:
    """What a deploy of `props` leaves running (deploy_release's outputs), to compare with running_release."""
    app_dir = Path(str(props["deploy_root"])) / str(props["app"])
    release = app_dir / RELEASES / release_name(props["commit"], props.get("path"))
    return {"commit": props["commit"], "release_dir": str(release), "current": str(app_dir / CURRENT)}


def _runs_otherwise(props: dict[str, Any]) -> bool:
    """Whether the app folder runs something else than a deploy of `props` leaves (a hand-switched
    `current`, a deleted release): then an update restores it, with or without a refresh first."""
    if not all(isinstance(props.get(k), str) for k in ("app", "commit", "deploy_root")):
        return False  # an unknown value (a preview of a new stack): nothing to compare
    try:
        found = running_release(props)
    except OSError:
        return False
    return found is not None and found != expected_release(props)


def _value(key: str, props: dict[str, Any]) -> str:
    """An input as compared: deploy_root resolved from the checkout (the provider's working
    directory), so a relative root recorded by one runner equals another's, and an absolute root
    recorded by an older version equals the same folder given relatively."""
    value = props.get(key)
    return str(Path(value).resolve()) if key == "deploy_root" and value else str(value)


def portable_source(url: str) -> str:
    """A repository inside the checkout as a path relative to it; others as they are."""
    if url.startswith("file://"):
        path, here = Path(unquote(urlparse(url).path)), _resolved(os.getcwd())
        if path.is_relative_to(here):
            return path.relative_to(here).as_posix() or "."
    return url


@cache
def _resolved(folder: str) -> Path:
    """A folder resolved once per process (the program asks for its checkout once per app)."""
    return Path(folder).resolve()


class LocalReleaseProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = deploy_release(props)
        return CreateResult(id_=f"{props['app']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in _DEPLOYED_BY if _value(k, olds) != _value(k, news)]
        if not changed:
            # what the record says runs, but the app folder runs something else: an update restores it
            return DiffResult(changes=_runs_otherwise(news))
        # The Python SDK's DiffResult cannot name changed keys; "unknown" makes the engine diff the
        # inputs itself, so its step events (and the PR comment) name each changed input.
        replaces = [k for k in changed if k in ("app", "deploy_root")]
        return DiffResult(changes=None, replaces=replaces, delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """What really runs (a refresh: `pulumi preview --refresh`, `pulumi refresh`): the `current`
        link and its release folder, read back; the record as it is when this machine cannot tell.
        The inputs follow what was read, so a diff against the file names `commit` as what changes."""
        try:
            found = running_release(props)
        except OSError:
            found = None
        if found is None or all(props.get(k) == v for k, v in found.items()):
            return ReadResult(id_, props)
        outs = {**props, **found}
        return ReadResult(id_, outs, inputs={k: outs[k] for k in _INPUTS if k in outs})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # an update keeps app and deploy_root (a change of either is a replace): this very resource
        # deployed into the folder, so what an earlier deployctl wrote there is adopted
        return UpdateResult(outs=deploy_release(news, adopt=True))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        remove_app_dir(Path(props["deploy_root"]), props["app"], props.get("env"))


class LocalRelease(pulumi.dynamic.Resource):
    commit: pulumi.Output[str]
    release_dir: pulumi.Output[str]
    current: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None,
                 secret: tuple[str, ...] = ()):
        if secret:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(secret)))
        super().__init__(
            LocalReleaseProvider(), name, {**props, "release_dir": None, "current": None}, opts
        )
