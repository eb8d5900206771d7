"""The app-repository cache under concurrency: parallel stacks and provider threads share clones."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deployctl.adapters.apprepos import AppRepos
from tests.builders import AppRepo


def test_many_threads_and_processes_clone_one_repository_once(tmp_path: Path):
    app = AppRepo(tmp_path / "app")
    shas = [app.commit(f"c{i}") for i in range(5)]
    cache = tmp_path / "cache"
    # another process races for the same clone while the threads do
    racer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from deployctl.adapters.apprepos import AppRepos; "
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
