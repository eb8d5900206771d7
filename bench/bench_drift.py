"""Out-of-band drift over many stacks against the engine's own refresh of them.

A deploy repo of E independent envs of A `local` apps each, all deployed once; one app of the first
env is then switched by hand to an earlier release (its `current` link pointed at a copy of the
release named by its deploy file's second line). Each round times, interleaved:

- ours: a fresh python running `adapters/refresh.out_of_band(engine, env)` for every env, one after
  the other (what `deployctl drift` pays for its refresh: the imports, one `pulumi preview --refresh`
  per stack through the Automation API, the judgement); it must find exactly the hand-switched app,
  with the commit that runs;
- floor: the bare CLI, `pulumi preview --refresh --stack <env>` for the same stacks, one after the
  other, in the same checkout (its exit code checked).

Once `deployctl drift --json` exists (another change), `ours` can run it instead of the script.

Measured 2026-12-07 (2-core VM, load 9-11 from other work; 3 rounds): 20 stacks x 3 apps, ours 109.0 s
vs bare 115.6 s, 0.94x (rounds: ours 128/105/109 s, bare 113/156/116 s): the Automation API's run
costs no more than the bare CLI's within this noise.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import Figure, Options, log, sh
from bench.bench_engine import (
    PYTHON,
    STATE_DIR,
    bench_env,
    interleave,
    merge_repo,
    warm_cache,
    with_program,
)
from bench.generate import AppRepos, DeployRepo, app_names, app_repos, env_names, git


@dataclass(frozen=True)
class Sizes:
    envs: int
    apps: int
    app_commits: int
    app_repos: int


FULL = Sizes(envs=20, apps=3, app_commits=10_000, app_repos=10)
QUICK = Sizes(envs=4, apps=2, app_commits=1_000, app_repos=5)

OURS = """
import json, sys
from pathlib import Path
from deployctl.adapters.pulumi.engine import Engine
from deployctl.adapters.pulumi.refresh import out_of_band
engine = Engine(Path(sys.argv[1]))
print(json.dumps({env: {app: o.model_dump() for app, o in out_of_band(engine, env).items()} for env in sys.argv[2:]}))
"""


def drift_repo(envs: int, apps: int, repos: AppRepos) -> DeployRepo:
    """bench_engine's merge repo (independent envs), cached apart: its stacks keep a hand switch."""
    return merge_repo(envs, apps, repos, tag="drift")


class DriftWorld:
    """The repo: every stack deployed once (cached with its state), one app switched by hand."""

    def __init__(self, repos: AppRepos, s: Sizes) -> None:
        self.root = with_program(drift_repo(s.envs, s.apps, repos).path)
        self.envs = env_names(s.envs)
        git("checkout", "--quiet", "-f", "main", cwd=self.root)
        git("reset", "--quiet", "--hard", cwd=self.root)
        marker = self.root / ".git" / "bench-deployed"
        if not marker.exists() or not (self.root / STATE_DIR).is_dir():
            start = time.perf_counter()
            sh([PYTHON, "-m", "deployctl", "up"], self.root, bench_env())
            if git("status", "--porcelain", cwd=self.root).strip():  # stack init writes the salt
                git("add", "-A", cwd=self.root)
                git("commit", "--quiet", "-m", "Stack configs as Pulumi writes them", cwd=self.root)
            marker.write_text("deployed\n")
            log(f"  drift repo: deployed {len(self.envs)} stacks once ({time.perf_counter() - start:.1f} s)")
        self.env, self.app = self.envs[0], app_names(s.apps)[0]
        self.runs = self.switch_by_hand()

    def switch_by_hand(self) -> str:
        """Point the app's `current` at a copy of its release named by the deploy file's second line."""
        lines = (self.root / "deploys" / self.env / self.app).read_text().splitlines()
        recorded, earlier = lines[0].split()[0], lines[1].split()[0]
        app_dir = self.root / ".deployments" / self.env / self.app
        if not (app_dir / "releases" / earlier).is_dir():
            shutil.copytree(app_dir / "releases" / recorded, app_dir / "releases" / earlier)
        link = app_dir / "current"
        link.unlink()
        link.symlink_to(Path("releases") / earlier)
        return earlier

    def ours(self) -> dict[str, dict[str, dict[str, str | None]]]:
        out = sh([PYTHON, "-c", OURS, str(self.root), *self.envs], self.root, bench_env())
        return json.loads(out.stdout)

    def bare(self) -> None:
        from deployctl.adapters.pulumi.engine import Engine

        saved = dict(os.environ)
        os.environ.update(bench_env())
        try:
            engine = Engine(self.root)  # its CLI and the variables it runs the engine with
        finally:
            os.environ.clear()
            os.environ.update(saved)
        env = {**bench_env(), **engine.env_vars}
        for stack in self.envs:
            sh([str(engine.binary), "--non-interactive", "preview", "--refresh", "--stack", stack, "--diff",
                "--color", "never", "--suppress-progress"], self.root, env)

    def found_the_switch(self, result: object) -> None:
        expected = {env: {} for env in self.envs}
        expected[self.env] = {self.app: self.runs}
        got = {env: {app: o["runs"] for app, o in apps.items()} for env, apps in result.items()}  # type: ignore[attr-defined]  # ours returns the JSON
        if got != expected:
            raise RuntimeError(f"out_of_band found {got}, expected {expected}")


def run(opts: Options) -> list[Figure]:
    """The module interface of bench.__main__."""
    s = QUICK if opts.quick else FULL
    start = time.perf_counter()
    repos = app_repos(s.app_commits, s.app_repos, log)
    warm_cache(repos)
    world = DriftWorld(repos, s)
    log(f"setup: {s.envs} stacks deployed, {world.env}/{world.app} switched by hand "
        f"({time.perf_counter() - start:.1f} s)")
    t = interleave({
        "ours": (lambda: None, world.ours, world.found_the_switch),
        "bare": (lambda: None, world.bare, lambda _result: None),
    }, opts.runs)
    return [
        Figure(f"out_of_band (drift's refresh), {s.envs} stacks x {s.apps} local apps", t["ours"], t["bare"],
               f"bare `pulumi preview --refresh` of the same {s.envs} stacks, one after the other",
               note="a fresh python, one stack after the other; found exactly the app switched by hand (checked)"),
    ]


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(modules=("bench.bench_drift",)))
