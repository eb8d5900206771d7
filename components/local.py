"""The `local` kind: the app repository's tree at the commit, released Capistrano style.

`<deployRoot>/<app>/releases/<release>/` holds each release, named by what it contains: the commit,
plus a digest of the app's `path` when it deploys a subfolder (so a new `path` is new content);
`<deployRoot>/<app>/current` is a symlink switched atomically (rename over the old link), so a
reader never sees a half release. A real Pulumi resource (a dynamic provider), so the engine diffs,
updates and records it; a new commit is an update of the same resource, never a replace.

The component owns `<deployRoot>/<app>` only once it wrote its marker file there: it never deploys
into, and never deletes, a folder it did not create.

This module is what the dynamic provider's process loads (the provider is pickled by reference to
it), so it imports only Pulumi and the standard library; the kind's component, which needs the
catalog's settings, is `components/local_app.py`.
"""

import contextlib
import hashlib
import io
import os
import shutil
import tarfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

if TYPE_CHECKING:
    from deployctl.adapters.apprepos import AppRepos

RELEASES, CURRENT = "releases", "current"
MARKER = ".deployctl-owned"
"""Written in `<deployRoot>/<app>` when the component creates it; without it, nothing is touched."""
# Inputs that change what is deployed; `source` (where git fetches from) is not one of them.
_DEPLOYED_BY = ("app", "commit", "path", "deploy_root", "keep_releases")


def release_name(commit: str, path: str | None) -> str:
    """The release folder's name: the commit, and for a subfolder a digest of its path."""
    sub = (path or "").strip("/")
    return f"{commit}-{hashlib.sha256(sub.encode()).hexdigest()[:10]}" if sub else commit


def _earlier_release_layout(app_dir: Path) -> bool:
    """Empty, or exactly what a deployctl before the marker wrote: `releases/` and a `current` link
    into it. Such a folder is adopted; anything else is someone else's."""
    for entry in app_dir.iterdir():
        if entry.name == RELEASES and entry.is_dir() and not entry.is_symlink():
            continue
        if entry.name == CURRENT and entry.is_symlink() and os.readlink(entry).startswith(RELEASES + "/"):
            continue
        return False
    return True


def claim_app_dir(app_dir: Path, app: str) -> None:
    """Create `<deployRoot>/<app>` with our marker, or refuse a folder someone else put there."""
    if app_dir.is_symlink():
        raise RuntimeError(f"{app_dir} is a symbolic link; deployctl deploys only into a folder it created: "
                           "remove the link or choose another deploys:deployRoot")
    if app_dir.is_dir() and not (app_dir / MARKER).is_file() and not _earlier_release_layout(app_dir):
        raise RuntimeError(f"{app_dir} exists and was not created by deployctl (no {MARKER} in it); "
                           "move it away or choose another deploys:deployRoot; nothing was changed")
    app_dir.mkdir(parents=True, exist_ok=True)
    marker = app_dir / MARKER
    if not marker.is_file():
        marker.write_text(f"created by deployctl for app {app}; deployctl deletes only what it created\n")


def remove_app_dir(app_dir: Path) -> list[str]:
    """Delete what the component created (releases, `current`, its marker), only under its marker."""
    if app_dir.is_symlink() or not (app_dir / MARKER).is_file():
        return []
    removed = []
    releases = app_dir / RELEASES
    if releases.is_dir() and not releases.is_symlink():
        shutil.rmtree(releases)
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


def install_release(app_dir: Path, commit: str, tar_bytes: bytes) -> Path:
    """Unpack a release once; a crash mid-way leaves only a temp dir, never a half release."""
    target = app_dir / RELEASES / commit
    if target.is_dir():
        return target
    tmp = app_dir / RELEASES / f".{commit}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        tar.extractall(tmp, filter="data")
    os.replace(tmp, target)
    return target


def switch_current(app_dir: Path, commit: str) -> Path:
    """Point `current` at the release with one atomic rename."""
    link = app_dir / CURRENT
    tmp = app_dir / f".{CURRENT}.tmp{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(Path(RELEASES) / commit)
    os.replace(tmp, link)
    return link


def prune_releases(app_dir: Path, keep: int, current: str) -> list[str]:
    """Remove the oldest releases beyond `keep`, never the current one."""
    releases = sorted(
        (p for p in (app_dir / RELEASES).iterdir()
         if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")),  # only folders it unpacked
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = []
    for old in releases[keep:]:
        if old.name != current:
            shutil.rmtree(old)
            removed.append(old.name)
    return removed


@cache
def _repos() -> "AppRepos":
    """One cache per provider process, so apps that share a repository share its clone and lock."""
    from deployctl.adapters.apprepos import AppRepos

    return AppRepos(Path.cwd())


def deploy_release(props: dict[str, Any]) -> dict[str, Any]:
    app_dir = Path(props["deploy_root"]) / props["app"]
    repo = _repos().get(props["source"])
    tar_bytes = repo.archive(props["commit"], props.get("path"))
    name = release_name(props["commit"], props.get("path"))
    claim_app_dir(app_dir, props["app"])
    release = install_release(app_dir, name, tar_bytes)
    os.utime(release)  # newest release is the last to be pruned
    link = switch_current(app_dir, name)
    prune_releases(app_dir, int(props["keep_releases"]), name)
    return {**props, "release_dir": str(release), "current": str(link)}


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
            return DiffResult(changes=False)
        # The Python SDK's DiffResult cannot name changed keys; "unknown" makes the engine diff the
        # inputs itself, so its step events (and the PR comment) name each changed input.
        replaces = [k for k in changed if k in ("app", "deploy_root")]
        return DiffResult(changes=None, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=deploy_release(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        remove_app_dir(Path(props["deploy_root"]) / props["app"])


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
