"""`deployctl propose` on the check benchmark's deploy repo (20 envs x 500 apps, app repositories of
10,000 commits), against `check --base` of the same repo and PR, in the same rounds.

The repo is a clone of bench_git's large check repo whose main gives every env without `promoteFrom`
`deploys:autoDeploy: true` (the envs that promote would need Pulumi's record for autoPromote, which a
benchmark without stacks has not), with the same 100-file PR on top (main merged into it). Every app of
those envs runs a commit behind its release branch's tip, so `propose` judges one proposal per app and
env (with --quick: 3 envs x 50 apps): the newest commit of each branch, all lines judged in one head
(core/deliver/propose.py), each app repository fetched once. `check --base main` judges the PR's 100 files.
Warm: the app-repository cache holds every clone.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from bench import Figure, Options, import_note, import_profile, log, measure, sh
from bench.bench_git import FULL, QUICK, check_ok, deployctl, env_with_cache, warm_all
from bench.generate import DeployRepo, app_repos, bench_dir, check_repo, git, upstream_of

VERSION = 1
"""Bump when the policy clone changes: part of its folder's name."""


def policy_repo(large: DeployRepo) -> tuple[Path, list[str]]:
    """The clone with the policy on main and the PR on top (made once, kept beside the original so
    apps.yaml's relative repository paths still hold); and the envs that deploy automatically."""
    path = large.path.parent / f"{large.path.name}-propose-v{VERSION}"
    envs = [f"env-{i:02d}" for i in range(large.envs) if upstream_of(f"env-{i:02d}") is None]
    if not (path / ".git" / "bench-propose").exists():
        shutil.rmtree(path, ignore_errors=True)
        log(f"cloning {large.path.name} with an autoDeploy policy into {path}")
        git("clone", "--quiet", str(large.path), str(path))
        git("checkout", "--quiet", "-B", "main", "origin/main", cwd=path)
        for env in envs:
            config = path / f"Pulumi.{env}.yaml"
            config.write_text(config.read_text() + "  deploys:autoDeploy: true\n")
        git("commit", "--quiet", "-am", "Deploy every app automatically", cwd=path)
        git("checkout", "--quiet", "-B", "pr/bench", "origin/pr/bench", cwd=path)
        git("merge", "--quiet", "--no-edit", "main", cwd=path)
        git("remote", "remove", "origin", cwd=path)  # the base is this clone's main, as in a deploy repo
        (path / ".git" / "bench-propose").write_text("ok\n")
    return path, envs


def proposals_are(n: int):
    def validate(result: object) -> None:
        found = json.loads(result.stdout)  # type: ignore[attr-defined]  # a CompletedProcess
        blocked = [p for p in found if p["blocked"]]
        if len(found) != n or blocked:
            raise RuntimeError(f"propose lists {len(found)} proposals ({len(blocked)} blocked), expected {n} ready")
    return validate


def run(opts: Options) -> list[Figure]:
    """The module interface of bench.__main__."""
    s = QUICK if opts.quick else FULL
    start = time.perf_counter()
    apps = app_repos(s.app_commits, s.app_repos, log)
    large = check_repo(s.envs, s.apps, apps, s.deploy_history, s.changes, s.apps_small, log)
    path, envs = policy_repo(large)
    cache = bench_dir() / "deployctl-cache-warm"
    warm_all(large, apps, cache)
    log(f"setup: {time.perf_counter() - start:.1f} s")
    warm = env_with_cache(cache)
    check = ("check", "--base", "main", "--json")
    commands = {
        "propose": lambda: sh(deployctl("propose", "--json"), path, warm),
        "check": lambda: sh(deployctl(*check), path, warm),
    }
    n = len(envs) * s.apps
    t = measure(commands, opts.close_runs, {"propose": proposals_are(n), "check": check_ok})
    total, per = import_profile(["-m", "deployctl", "propose", "--json"], path, warm)
    big = f"{s.envs}x{s.apps}"
    return [
        Figure(f"propose {big}: {n:,} proposals ({len(envs)} envs autoDeploy), warm", t["propose"], t["check"],
               f"check --base {big}, {s.changes} changed, same repo"),
        Figure(f"propose {big}, per proposal", t["propose"] / n,
               note="each app's line judged by every safeguard, all in one head"),
        Figure(f"imports of propose ({big})", total, note=import_note(per)),
    ]


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for figure in run(Options(quick=quick, runs=1 if quick else 3)):
        print(figure.line(), flush=True)
