"""The git side of deployctl against its floor: check/plan --base, and history.

- `check --base` / `plan --base` on N envs x M apps with a PR of n changed files, against the floor of
  one `git diff --name-status` plus one `git merge-base --is-ancestor old new` per change (in the same
  cached app clones deployctl uses). Warm: the app-repository cache already holds every clone; cold:
  a fresh, empty DEPLOYCTL_CACHE each run (the clones are part of the time).
- The same PR size on a repo with 5x fewer apps: the ratio of the two timings shows whether the
  cost follows the change or the repository (it should be ~1).
- `history --no-engine --json` over K deploy commits, against `git log --name-status -- deploys/`.
- `metrics --no-engine --json` over the same K deploy commits (every line taken as deployed; each app
  repository's commit dates read once), against `history --no-engine --json` in the same rounds.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import Figure, Options, import_note, import_profile, log, measure, sh
from bench.generate import EPOCH, AppRepos, DeployRepo, app_repos, bench_dir, check_repo, history_repo

PYTHON = sys.executable


@dataclass(frozen=True)
class Sizes:
    envs: int
    apps: int          # the large repo
    apps_small: int    # the same change on a repo with fewer apps
    changes: int
    app_commits: int
    app_repos: int
    deploy_history: int
    history_envs: int
    history_apps: int
    history_commits: int


FULL = Sizes(envs=20, apps=500, apps_small=100, changes=100, app_commits=10_000, app_repos=10,
             deploy_history=1_000, history_envs=20, history_apps=100, history_commits=10_000)
QUICK = Sizes(envs=5, apps=50, apps_small=25, changes=20, app_commits=1_000, app_repos=5,
              deploy_history=100, history_envs=5, history_apps=50, history_commits=1_000)


def deployctl(*args: str) -> list[str]:
    return [PYTHON, "-m", "deployctl", *args]


def env_with_cache(cache: Path) -> dict[str, str]:
    return {**os.environ, "DEPLOYCTL_CACHE": str(cache), "CI": "1"}


def clone_path(repo: DeployRepo, app_repo: str, cache: Path) -> Path:
    """Where deployctl keeps its bare clone of `app_repo` (the floor asks the same object store)."""
    from deployctl.adapters.git.apprepos import AppRepos as Cache

    return Cache(repo.path, cache / "repos").get(app_repo).path


def warm_cache(repo: DeployRepo, cache: Path) -> None:
    """Clone every app repository the PR touches into the warm cache (once; kept between runs)."""
    from deployctl.adapters.git.apprepos import AppRepos as Cache

    clones = Cache(repo.path, cache / "repos")
    for app_repo in {c.repo for c in repo.changes}:
        clones.get(app_repo).ensure_cloned()


def check_ok(result: object) -> None:
    report = json.loads(result.stdout)  # type: ignore[attr-defined]  # a CompletedProcess
    if not report["ok"] or report["violations"]:
        raise RuntimeError(f"the benchmark PR is not clean: {report['violations'][:3]}")


def plan_has(n: int):
    def validate(result: object) -> None:
        changes = json.loads(result.stdout)["changes"]  # type: ignore[attr-defined]  # a CompletedProcess
        if len(changes) != n:
            raise RuntimeError(f"plan lists {len(changes)} changes, expected {n}")
    return validate


def history_has(n: int):
    def validate(result: object) -> None:
        entries = json.loads(result.stdout)  # type: ignore[attr-defined]  # a CompletedProcess
        if len(entries) != n:
            raise RuntimeError(f"history has {len(entries)} entries, expected {n}")
    return validate


def metrics_has(n: int):
    def validate(result: object) -> None:
        report = json.loads(result.stdout)  # type: ignore[attr-defined]  # a CompletedProcess
        deploys = sum(e["deploys"] for e in report["envs"].values())
        leads = sum((e["lead_time_s"] or {}).get("n", 0) for e in report["envs"].values())
        if deploys != n or leads < n:
            raise RuntimeError(f"metrics counts {deploys} deploys and {leads} lead times, expected {n}")
    return validate


def warm_all(repo: DeployRepo, apps: AppRepos, cache: Path) -> None:
    """Clone every app repository into the warm cache (metrics reads each one's commit dates)."""
    from deployctl.adapters.git.apprepos import AppRepos as Cache

    clones = Cache(repo.path, cache / "repos")
    for path in apps.paths:
        clones.get(str(path)).ensure_cloned()


def metrics_window() -> tuple[str, ...]:
    """A window that holds every generated deploy commit (they start at the generator's EPOCH)."""
    from datetime import UTC, datetime, timedelta

    start = datetime.fromtimestamp(EPOCH, tz=UTC)
    return ("--since", start.isoformat(), "--until", (start + timedelta(weeks=26)).isoformat())


def history_commands(hist: DeployRepo, apps: AppRepos, sizes: Sizes) -> tuple[dict, dict]:
    """history and metrics over the same K deploy commits, and their floor (git log)."""
    cache = bench_dir() / "deployctl-cache-warm"
    warm_all(hist, apps, cache)
    metrics = ("metrics", "--no-engine", "--json", *metrics_window())
    commands = {
        "history": lambda: sh(deployctl("history", "--no-engine", "--json"), hist.path),
        "history_floor": lambda: sh(["git", "log", "--name-status", "--", "deploys/"], hist.path),
        "metrics": lambda: sh(deployctl(*metrics), hist.path, env_with_cache(cache)),
    }
    validate = {"history": history_has(sizes.history_commits), "metrics": metrics_has(sizes.history_commits)}
    return commands, validate


def history_figures(t: dict[str, float], s: Sizes) -> list[Figure]:
    return [
        Figure(f"history --no-engine --json, {s.history_commits:,} commits", t["history"], t["history_floor"],
               "git log --name-status -- deploys/", max_ratio=2),
        Figure(f"metrics --no-engine --json, {s.history_commits:,} commits", t["metrics"], t["history"],
               "history --no-engine --json", max_ratio=2),
    ]


def floor(repo: DeployRepo, cache: Path):
    """One `git diff --name-status` and one `git merge-base --is-ancestor` per change."""
    clones = {r: str(clone_path(repo, r, cache)) for r in {c.repo for c in repo.changes}}
    pairs = [(clones[c.repo], c.old, c.new) for c in repo.changes]

    def go() -> None:
        sh(["git", "diff", "--name-status", repo.base], repo.path)
        for git_dir, old, new in pairs:
            sh(["git", "--git-dir", git_dir, "merge-base", "--is-ancestor", old, new])
    return go


def cold_check(repo: DeployRepo, scratch: Path):
    """check --base with a fresh, empty cache each call (the clones happen inside the timing)."""
    def go() -> object:
        cache = Path(tempfile.mkdtemp(prefix="cold-", dir=scratch))
        return sh(deployctl("check", "--base", repo.base, "--json"), repo.path, env_with_cache(cache))
    return go


def setup(sizes: Sizes) -> tuple[AppRepos, DeployRepo, DeployRepo, DeployRepo]:
    apps = app_repos(sizes.app_commits, sizes.app_repos, log)
    large = check_repo(sizes.envs, sizes.apps, apps, sizes.deploy_history, sizes.changes, sizes.apps_small, log)
    small = check_repo(sizes.envs, sizes.apps_small, apps, sizes.deploy_history, sizes.changes, sizes.apps_small, log)
    hist = history_repo(sizes.history_envs, sizes.history_apps, apps, sizes.history_commits, log)
    return apps, large, small, hist


def run(opts: Options) -> list[Figure]:
    """The module interface of bench.__main__: every figure of this module."""
    s = QUICK if opts.quick else FULL
    start = time.perf_counter()
    apps, large, small, hist = setup(s)
    gen = time.perf_counter() - start
    log(f"setup (generation, cached under {bench_dir()}): {gen:.1f} s")
    log(f"app repos: {s.app_repos} repositories of {s.app_commits:,} commits; the {s.apps} apps are spread "
        f"over them (app i uses repo i mod {s.app_repos}) to keep setup time sane")

    cache = bench_dir() / "deployctl-cache-warm"
    for repo in (large, small):
        warm_cache(repo, cache)
        diff = sh(["git", "diff", "--name-status", repo.base], repo.path).stdout.decode().splitlines()
        if len(diff) != len(repo.changes):
            raise RuntimeError(f"git diff lists {len(diff)} paths in {repo.path}, expected {len(repo.changes)}")

    scratch = Path(tempfile.mkdtemp(prefix="cold-", dir=bench_dir()))
    warm = env_with_cache(cache)
    check, plan = ("check", "--base", large.base, "--json"), ("plan", "--base", large.base, "--json")
    commands = {
        "startup": lambda: sh([PYTHON, "-c", "import deployctl.commands.load"]),
        "check_large": lambda: sh(deployctl(*check), large.path, warm),
        "plan_large": lambda: sh(deployctl(*plan), large.path, warm),
        "floor_large": floor(large, cache),
        "check_small": lambda: sh(deployctl(*check), small.path, warm),
        "plan_small": lambda: sh(deployctl(*plan), small.path, warm),
        "floor_small": floor(small, cache),
        "check_cold": cold_check(large, scratch),
    }
    validate = {
        "check_large": check_ok, "check_small": check_ok, "check_cold": check_ok,
        "plan_large": plan_has(len(large.changes)), "plan_small": plan_has(len(small.changes)),
    }
    more, more_validate = history_commands(hist, apps, s)
    commands.update(more)
    validate.update(more_validate)
    try:
        t = measure(commands, opts.close_runs, validate)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    imports = import_figures([
        (f"check --base ({s.envs}x{s.apps})", ["-m", "deployctl", *check], large.path, warm),
        (f"plan --base ({s.envs}x{s.apps})", ["-m", "deployctl", *plan], large.path, warm),
        ("history --no-engine --json", ["-m", "deployctl", "history", "--no-engine", "--json"], hist.path, None),
    ])
    big, sm = f"{s.envs}x{s.apps}", f"{s.envs}x{s.apps_small}"
    floor_name = f"git diff --name-status + {s.changes} merge-base"
    return [
        Figure(f"check --base {big}, {s.changes} changed, warm", t["check_large"], t["floor_large"],
               floor_name, max_ratio=3),
        Figure(f"plan --base {big}, {s.changes} changed", t["plan_large"], t["floor_large"], floor_name,
               max_ratio=3),
        Figure(f"check --base {big} warm, absolute", t["check_large"], max_seconds=2),
        Figure(f"check --base {big} cold (empty DEPLOYCTL_CACHE)", t["check_cold"],
               note=f"clones {s.app_repos} repos of {s.app_commits:,} commits"),
        Figure(f"check --base {sm}, {s.changes} changed, warm", t["check_small"], t["floor_small"], floor_name,
               max_ratio=3),
        Figure(f"plan --base {sm}, {s.changes} changed", t["plan_small"], t["floor_small"], floor_name,
               max_ratio=3),
        Figure(f"check --base: {big} / {sm} (same PR size)", t["check_large"], t["check_small"],
               f"floor ratio {t['floor_large'] / t['floor_small']:.2f}x", max_ratio=1.25),
        Figure(f"plan --base: {big} / {sm} (same PR size)", t["plan_large"], t["plan_small"],
               f"floor ratio {t['floor_large'] / t['floor_small']:.2f}x", max_ratio=1.25),
        *history_figures(t, s),
        Figure("python -c 'import deployctl.commands.load' (in every command)", t["startup"],
               note="fixed cost, included above"),
        *imports,
    ]


def import_figures(commands: list[tuple[str, list[str], Path, dict[str, str] | None]]) -> list[Figure]:
    """What each command's import path costs (`python -X importtime`, one untimed run each): the sum of
    the modules' own import times, the biggest importers, and which heavy libraries it loads."""
    figures = []
    for name, cmd, cwd, env in commands:
        total, per = import_profile(cmd, cwd, env)
        figures.append(Figure(f"imports of {name}", total, note=import_note(per)))
    return figures


def run_history_only(opts: Options) -> list[Figure]:
    """Only the history and metrics figures (their repos alone): `python -m bench.bench_git --history`."""
    s = QUICK if opts.quick else FULL
    apps = app_repos(s.app_commits, s.app_repos, log)
    hist = history_repo(s.history_envs, s.history_apps, apps, s.history_commits, log)
    commands, validate = history_commands(hist, apps, s)
    return history_figures(measure(commands, opts.close_runs, validate), s)


if __name__ == "__main__":
    if "--history" in sys.argv:  # only history and metrics: python -m bench.bench_git --history [--quick]
        from bench import HEADER

        quick = "--quick" in sys.argv
        print(HEADER)
        for fig in run_history_only(Options(quick=quick, runs=1 if quick else 3)):
            print(fig.line())
        sys.exit(0)
    from bench.__main__ import main

    sys.exit(main(modules=("bench.bench_git",)))
