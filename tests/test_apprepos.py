"""The app-repository cache under concurrency: parallel stacks and provider threads share clones."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deployctl.adapters.git.apprepos import AppRepos
from tests.builders import AppRepo


def test_many_threads_and_processes_clone_one_repository_once(tmp_path: Path):
    app = AppRepo(tmp_path / "app")
    shas = [app.commit(f"c{i}") for i in range(5)]
    cache = tmp_path / "cache"
    # another process races for the same clone while the threads do
    racer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from deployctl.adapters.git.apprepos import AppRepos; "
        f"print(AppRepos(Path('.'), Path({str(cache)!r})).resolve({str(app.path)!r}, {shas[2][:9]!r}))")],
        stdout=subprocess.PIPE, text=True)

    def ask(i: int) -> list[str]:  # a new AppRepos per call, as each provider call makes
        return AppRepos(tmp_path, cache).resolve(str(app.path), shas[i % 5][:10])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(16)))
    assert answers == [[shas[i % 5]] for i in range(16)]
    assert racer.wait(timeout=60) == 0 and shas[2] in racer.stdout.read()  # type: ignore[union-attr]
    clones = [p for p in cache.iterdir() if p.suffix == ".git"]
    assert len(clones) == 1
    assert not [p for p in cache.iterdir() if ".tmp" in p.name]  # no half clone left behind


def _branch_named_like(app: AppRepo, reviewed: str, length: int = 10) -> str:
    """Someone with push access makes a branch (and a tag) named like the reviewed commit's short
    hash, on a commit that adds evil.sh and an `evil/` folder."""
    name = reviewed[:length]
    app.branch(f"tmp-{name}", app.repo.commit(f"{reviewed}~1").hexsha)
    evil = app.commit("evil", {"evil.sh": "touch pwned\n", "evil/run.sh": "true\n"})
    app.repo.git.branch(name, evil)
    app.repo.git.tag(f"{name}x", evil)  # and a tag of another short hash's shape, for good measure
    app.checkout("main")
    return evil


def test_a_short_hash_names_a_commit_object_never_a_branch_of_that_name(tmp_path: Path):
    import io
    import tarfile

    app = AppRepo(tmp_path / "app")
    first = app.commit("first", {"app.py": "print(1)\n"})
    reviewed = app.commit("reviewed", {"app.py": "print(2)\n"})
    evil = _branch_named_like(app, reviewed)
    short = reviewed[:10]
    assert app.repo.git.rev_parse(short) == evil  # git itself would take the branch
    repo = AppRepos(tmp_path, tmp_path / "cache").get(str(app.path))
    assert repo.resolve(short) == [reviewed]
    assert repo.full_commit(short) == reviewed
    with tarfile.open(fileobj=io.BytesIO(repo.archive(short, None))) as tar:
        names = tar.getnames()
    assert "app.py" in names and "evil.sh" not in names
    assert repo.log(None, short)[0].sha == reviewed
    assert repo.log(first[:10], short)[0].sha == reviewed
    assert repo.has_path(short, "evil") is False
    assert repo.is_ancestor(first[:10], short) is True
    assert repo.count_between(first[:10], short) == 1
    assert repo.dated_log([short]).split()[1] == reviewed


def _hook(folder: Path, name: str, marker: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    script.chmod(0o755)


def test_no_hook_of_a_cached_clone_runs_on_a_fetch(tmp_path: Path):
    app = AppRepo(tmp_path / "app")
    app.commit("one")
    cache = tmp_path / "cache"
    clone = AppRepos(tmp_path, cache).get(str(app.path))
    clone.ensure_cloned()
    marker = tmp_path / "marker"
    _hook(clone.path / "hooks", "reference-transaction", marker)  # the clone's own hooks folder
    app.commit("two")
    subprocess.run(["git", "--git-dir", str(clone.path), "fetch", "--quiet", "origin"], check=True)
    assert marker.exists()  # the hook is live: plain git runs it
    marker.unlink()
    newer = app.commit("three")
    again = AppRepos(tmp_path, cache).get(str(app.path))
    assert again.resolve(newer) == [newer] and again.fetched  # found by a fetch that updated refs
    assert not marker.exists()


def test_a_cached_clone_whose_config_names_a_command_is_discarded_never_used(tmp_path: Path):
    import pytest

    from deployctl.core.violations import CannotJudge

    app = AppRepo(tmp_path / "app")
    sha = app.commit("one")
    cache = tmp_path / "cache"
    clone = AppRepos(tmp_path, cache).get(str(app.path))
    clone.ensure_cloned()
    marker = tmp_path / "marker"
    _hook(tmp_path / "hooks", "reference-transaction", marker)
    _hook(tmp_path / "hooks", "fsmonitor", marker)
    for key, value in (("core.hooksPath", str(tmp_path / "hooks")),
                       ("core.fsmonitor", str(tmp_path / "hooks" / "fsmonitor")),
                       ("core.sshCommand", f"sh -c 'echo ran >> {marker}'")):
        subprocess.run(["git", "--git-dir", str(clone.path), "config", key, value], check=True)
    with pytest.raises(CannotJudge, match=r"core\.hookspath.*delete it, or run without --offline"):
        AppRepos(tmp_path, cache, offline=True).resolve(str(app.path), sha)
    fresh = AppRepos(tmp_path, cache).get(str(app.path))
    app.commit("two")
    assert fresh.resolve(sha) == [sha] and fresh.fetch() is False  # cloned afresh, so nothing to fetch
    config = (fresh.path / "config").read_text()
    assert "hooksPath" not in config and "fsmonitor" not in config and "sshCommand" not in config
    assert not marker.exists()
    subprocess.run(["git", "--git-dir", str(fresh.path), "config", "remote.origin.url", str(tmp_path / "other")],
                   check=True)
    with pytest.raises(CannotJudge, match="another remote URL"):
        AppRepos(tmp_path, cache, offline=True).resolve(str(app.path), sha)
