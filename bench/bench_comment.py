"""What a user waits for: from a push to the PR comment's body being ready.

A deploy repo of E envs x A `local` apps, every stack deployed once (cached in its .pulumi-state),
the app-repository cache warm; the PR is a one-line change (one app's next main commit prepended in
one independent env, in the working tree, as CI checks it out). Measured side by side in one run
(ours and the floor interleaved, Options.close_runs rounds):

- ours: `deployctl preview --base main --comment-file F` (safeguards, commit logs, `pulumi preview`
  of the affected stack as the CLI with its event log, the rendered comment);
- `pulumi preview` of every stack, one after the other (what a plain `pulumi/actions` setup runs);
- `pulumi preview` of the one affected stack alone (the floor; target: ours within 1.2x of it).

The `pulumi` runs use the same CLI, backend and environment as deployctl (deployctl.adapters.pulumi.engine.engine_env).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import Figure, Options, log, measure, sh
from bench.bench_engine import PYTHON, STATE_DIR, bench_env, main_of, warm_cache, with_program
from bench.generate import AppRepos, DeployRepo, app_repos, cached, env_names, git, make_deploy_repo


@dataclass(frozen=True)
class Sizes:
    envs: int
    apps: int
    app_commits: int
    app_repos: int


FULL = Sizes(envs=20, apps=50, app_commits=10_000, app_repos=10)
QUICK = Sizes(envs=4, apps=10, app_commits=1_000, app_repos=5)


def comment_repo(s: Sizes, repos: AppRepos) -> DeployRepo:
    """E envs x A apps (bench.generate's shape: a promotion chain, then independent envs), deployed once."""
    def build(path: Path) -> DeployRepo:
        return make_deploy_repo(path, s.envs, s.apps, repos, 0)[0]

    repo = cached(f"comment-e{s.envs}-a{s.apps}-m{len(repos.main[0])}-r{len(repos.paths)}", build, log)
    root = with_program(repo.path)
    git("checkout", "--quiet", "-f", "main", cwd=root)
    marker = root / ".git" / "bench-deployed"
    if not marker.exists() or not (root / STATE_DIR).is_dir():
        start = time.perf_counter()
        sh([PYTHON, "-m", "deployctl", "up"], root, bench_env())
        if git("status", "--porcelain", cwd=root).strip():  # stack init writes each stack's salt
            git("add", "-A", cwd=root)
            git("commit", "--quiet", "-m", "Stack configs as Pulumi writes them", cwd=root)
        marker.write_text("deployed\n")
        log(f"  comment repo: deployed {s.envs} stacks once ({time.perf_counter() - start:.1f} s)")
    return repo


def one_line_change(root: Path, env: str, app: str, repos: AppRepos) -> None:
    """The PR in the working tree: the app's next main commit prepended to deploys/<env>/<app>."""
    path = root / "deploys" / env / app
    old = path.read_bytes()
    main = main_of(repos, app)
    new = main[main.index(old.split()[0].decode()) + 1]
    path.write_bytes(f"{new} one-line change for the benchmark\n".encode() + old)


def pulumi_env(root: Path) -> dict[str, str]:
    from deployctl.adapters.pulumi.cli import find_pulumi
    from deployctl.adapters.pulumi.engine import engine_env

    env = bench_env()
    return {**env, **engine_env(root, find_pulumi())}


def run(opts: Options) -> list[Figure]:
    """The module interface of bench.__main__: every figure of this module."""
    from deployctl.adapters.pulumi.cli import find_pulumi

    s = QUICK if opts.quick else FULL
    repos = app_repos(s.app_commits, s.app_repos, log)
    warm_cache(repos)
    repo = comment_repo(s, repos)
    root = repo.path
    envs = env_names(s.envs)
    env, app = envs[-1], "app-0000"  # the last env is independent (no promoteFrom, not protected)
    one_line_change(root, env, app, repos)
    pulumi = str(find_pulumi())
    penv = pulumi_env(root)
    comment = root.parent / f"{root.name}-comment.md"

    def preview_stack(name: str) -> None:
        sh([pulumi, "preview", "--stack", name, "--non-interactive", "--diff", "--color", "never"], root, penv)

    def ours_ok(result: object) -> None:
        text = comment.read_text(encoding="utf-8")
        if f"{env}" not in text or app not in text:
            raise RuntimeError(f"the comment does not show {env}/{app}:\n{text[:2000]}")

    try:
        t = measure({
            "ours": lambda: sh([PYTHON, "-m", "deployctl", "preview", "--base", "main", "--comment-file", str(comment)],
                               root, bench_env()),
            "one_stack": lambda: preview_stack(env),
        }, opts.close_runs, {"ours": ours_ok})
        t |= measure({"every_stack": lambda: [preview_stack(e) for e in envs]}, opts.runs)
    finally:
        git("checkout", "--quiet", "-f", "main", cwd=root)
    shape = f"{s.envs} envs x {s.apps} apps, 1 line changed, warm cache"
    return [
        Figure(f"push -> PR comment body ready ({shape})", t["ours"], t["one_stack"],
               "pulumi preview of the one affected stack", max_ratio=1.2,
               note=f"deployctl preview --comment-file: safeguards + commit logs + preview + render; "
                    f"median of {opts.close_runs} rounds"),
        Figure(f"pulumi preview of every stack ({s.envs}), as plain pulumi/actions", t["every_stack"],
               t["ours"], "deployctl preview --comment-file", note="ratio = what deployctl saves"),
    ]


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(modules=("bench.bench_comment",)))
