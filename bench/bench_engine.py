"""The Pulumi side of deployctl against its floor: the program's own cost, preview, and merge-to-deployed.

- The program under Pulumi's mocks: `stacks.program.program()` for one env of N `local` apps (real
  app-repository commits; the provider never runs under mocks), in a fresh python each run, against a
  bare program under the same mocks registering N ComponentResources with one child custom resource
  each (the same shape and inputs). Imports of our modules are timed apart and included in `ours`.
- The real engine: `Engine(root).preview(env)` of a stack of M `local` apps, once with no change and
  once with one app changed in the working tree, against a bare Pulumi project (its own Pulumi.yaml
  and __main__.py, the same python) registering M `pulumi.dynamic.Resource`s of a trivial provider,
  previewed the same way; and against the same bare program with each resource inside a
  ComponentResource (the deploy repo's shape), which separates our program's cost from the shape's;
  and against that one with Python's collector set as our __main__.py sets it, which leaves our
  code's own cost. Every stack is `up` once first (cached in each project's .pulumi-state).
  Target: our program adds under 5% to the engine's time over the same shape (ours / bare <= 1.05).
- Merge-to-deployed: a deploy repo of E independent envs of A apps each, all deployed once; each
  round merges (`--no-ff`) a PR touching 1 stack and one touching all E, and times
  `deployctl up --base <before> --head <merge> --branch main` on a clean checkout of the merge, with
  the default DEPLOYCTL_PARALLEL and with DEPLOYCTL_PARALLEL=1. Each run must print `ok` for exactly
  the touched stacks, each with one update. One round only (Sizes.merge_runs): a round deploys
  1 + 2 x E stacks, about four minutes on two cores.
"""

from __future__ import annotations

import compileall
import json
import os
import re
import shutil
import statistics
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import Figure, Options, log, sh
from bench.generate import (
    AppRepos,
    DeployRepo,
    app_names,
    app_repos,
    bench_dir,
    cached,
    env_names,
    git,
    make_deploy_repo,
)

PYTHON = sys.executable
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ".pulumi-state"


@dataclass(frozen=True)
class Sizes:
    mock_apps: int      # apps in the env run under mocks
    preview_apps: int   # apps in the stack previewed by the real engine
    merge_envs: int     # independent envs of the merge-to-deployed repo
    merge_apps: int     # apps per env there
    app_commits: int
    app_repos: int
    merge_runs: int     # rounds of the merge-to-deployed figures (each round deploys 1 + 2 x E stacks)


FULL = Sizes(mock_apps=1_000, preview_apps=200, merge_envs=20, merge_apps=3, app_commits=10_000, app_repos=10,
             merge_runs=1)
QUICK = Sizes(mock_apps=100, preview_apps=20, merge_envs=4, merge_apps=2, app_commits=1_000, app_repos=5,
              merge_runs=1)


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every deployctl/Pulumi run: the warm app-repository cache bench_git uses."""
    env = {**os.environ, "DEPLOYCTL_CACHE": str(bench_dir() / "deployctl-cache-warm"), "CI": "1",
           "DEPLOYCTL_ALLOW_LOCAL_BACKEND": "1"}  # CI=1 refuses the in-repo backend without this opt-in
    env.pop("DEPLOYCTL_PARALLEL", None)
    env.pop("PULUMI_BACKEND_URL", None)  # each benchmark project keeps its state in its own .pulumi-state
    return {**env, **extra}


def interleave(cases: dict[str, tuple[Callable[[], object], Callable[[], object], Callable[[object], None]]],
               runs: int, times: dict[str, list[float]] | None = None) -> dict[str, float]:
    """Like bench.measure, with an untimed `prepare()` before each timed `run()`: (prepare, run, validate).
    `times`, when given, receives every round's time of each case (in round order)."""
    names = list(cases)
    times = {} if times is None else times
    times.update({n: [] for n in names})
    for r in range(runs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            prepare, go, validate = cases[name]
            arg = prepare()
            start = time.perf_counter()
            result = go() if arg is None else go(arg)  # type: ignore[call-arg]  # go takes what prepare made
            times[name].append(time.perf_counter() - start)
            validate(result)
            log(f"    {name}: {times[name][-1]:.2f} s")
        log(f"  round {r + 1}/{runs} done")
    return {n: statistics.median(t) for n, t in times.items()}


# -- repositories ---------------------------------------------------------------------------------


def one_env_repo(apps: int, repos: AppRepos, tag: str) -> DeployRepo:
    """A deploy repo with one env (env-00, independent) of `apps` local apps, three deploys each."""
    commits = len(repos.main[0])

    def build(path: Path) -> DeployRepo:
        return make_deploy_repo(path, 1, apps, repos, 0)[0]

    return cached(f"engine-{tag}-e1-a{apps}-m{commits}-r{len(repos.paths)}", build, log)


def merge_repo(envs: int, apps: int, repos: AppRepos, tag: str = "engine-merge") -> DeployRepo:
    """A deploy repo of `envs` independent envs (no promoteFrom, none protected) of `apps` apps each,
    cached under `tag` (a benchmark that changes its stacks' state keeps a copy of its own)."""
    commits = len(repos.main[0])

    def build(path: Path) -> DeployRepo:
        repo = make_deploy_repo(path, envs, apps, repos, 0)[0]
        for env in env_names(envs):
            (path / f"Pulumi.{env}.yaml").write_text(f"config:\n  deploys:deployRoot: .deployments/{env}\n")
        git("add", "-A", cwd=path)
        git("commit", "--quiet", "-m", "Independent envs: no promotion chain", cwd=path)
        return repo

    return cached(f"{tag}-e{envs}-a{apps}-m{commits}-r{len(repos.paths)}", build, log)


def with_venv(root: Path) -> Path:
    """Pulumi.yaml names `virtualenv: .venv`: link this project's venv (git-ignored), as the tests do."""
    link, target = root / ".venv", PROJECT_ROOT / ".venv"
    if link.is_symlink() and link.readlink() != target:  # cached by another checkout (maybe gone since)
        link.unlink()
    if not link.exists():
        link.symlink_to(target)
    return root


def with_program(root: Path) -> Path:
    """A cached deploy repo running this checkout's program: the venv linked, and the entry point
    (__main__.py, Pulumi.yaml) committed anew when it changed since the repo was generated."""
    with_venv(root)
    stale = [name for name in ("__main__.py", "Pulumi.yaml")
             if (root / name).read_bytes() != (PROJECT_ROOT / name).read_bytes()]
    if stale:
        git("checkout", "--quiet", "-f", "main", cwd=root)
        for name in stale:
            shutil.copyfile(PROJECT_ROOT / name, root / name)
        git("add", "--", *stale, cwd=root)
        git("commit", "--quiet", "-m", "The program's entry point as in the project", cwd=root)
    return root


def warm_cache(repos: AppRepos) -> None:
    """Clone every app repository into the warm cache first (bench_git shares it).

    A cold cache is not what these figures are about, and a first `up` of many apps sharing one
    app repository clones it from several threads of the dynamic provider at once (see the report).
    """
    from deployctl.adapters.git.apprepos import AppRepos as Cache

    cache = Cache(PROJECT_ROOT, bench_dir() / "deployctl-cache-warm" / "repos")
    for path in repos.paths:
        cache.get(str(path)).ensure_cloned()


def main_of(repos: AppRepos, app: str) -> list[str]:
    return repos.main[int(app.split("-")[1]) % len(repos.paths)]


def newer_line(root: Path, env: str, app: str, repos: AppRepos, comment: str) -> bytes:
    """The deploy file with the next main commit (a descendant of what runs) prepended."""
    path = root / "deploys" / env / app
    old = path.read_bytes()
    main = main_of(repos, app)
    new = main[main.index(old.split()[0].decode()) + 1]
    return f"{new} {comment}\n".encode() + old


# -- 1. the program under mocks ---------------------------------------------------------------------

MOCK_CHILD = textwrap.dedent('''
    import json, os, sys, time
    which, root, env, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    import pulumi, yaml
    from pulumi.runtime import Mocks, set_mocks
    from pulumi.runtime.settings import reset_options

    class Echo(Mocks):
        registered = 0

        def new_resource(self, args):
            Echo.registered += 1
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args):
            return {}, None

    os.chdir(root)
    config = (yaml.safe_load(open(f"Pulumi.{env}.yaml")) or {}).get("config") or {}
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    reset_options()
    set_mocks(Echo(), project="deploys", stack=env, preview=False)

    start = time.perf_counter()
    if which == "ours":
        from deployctl.stacks.program import program
    else:
        class Release(pulumi.CustomResource):
            def __init__(self, name, props, opts=None):
                super().__init__("bench:index:Release", name, {**props, "release_dir": None, "current": None},
                                 opts)

        class App(pulumi.ComponentResource):
            def __init__(self, name, props, opts=None):
                super().__init__("bench:index:App", name, None, opts)
                self.release = Release(f"{name}-release", props, pulumi.ResourceOptions(parent=self))
                self.running = self.release.commit
                self.register_outputs({"version": props["commit"], "current": self.release.current})

        def program():
            apps = {}
            for i in range(n):
                app = f"app-{i:04d}"
                apps[app] = App(app, {"app": app, "commit": f"{i:040x}", "path": None,
                                      "deploy_root": f"{root}/.deployments/{env}", "keep_releases": 5,
                                      "source": "/some/where/app.git"})
            pulumi.export("deployed", {a: {"commit": c.running, "comment": "deploy", "kind": "local"}
                                       for a, c in apps.items()})
    imported = time.perf_counter()
    pulumi.runtime.test(program)()
    done = time.perf_counter()
    print(json.dumps({"import": imported - start, "run": done - imported, "registered": Echo.registered}))
''')


def mock_run(which: str, root: Path, env: str, n: int) -> dict[str, float]:
    """One program run under mocks in a fresh python; its own timings (import, run) as JSON."""
    out = sh([PYTHON, "-c", MOCK_CHILD, which, str(root), env, str(n)], PROJECT_ROOT, bench_env())
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def mocks_figures(s: Sizes, repos: AppRepos, runs: int) -> list[Figure]:
    repo = one_env_repo(s.mock_apps, repos, "mock")
    env = env_names(1)[0]
    samples: dict[str, list[dict[str, float]]] = {"ours": [], "bare": []}

    def registered_all(result: object) -> None:  # one component and one custom resource per app
        if result["registered"] != 2 * s.mock_apps:  # type: ignore[index]  # the mocks case returns a dict
            raise RuntimeError(f"{result['registered']} resources registered under mocks, "  # type: ignore[index]  # the mocks case returns a dict
                               f"expected {2 * s.mock_apps}")

    def case(which: str):
        def go() -> dict[str, float]:
            samples[which].append(mock_run(which, repo.path, env, s.mock_apps))
            return samples[which][-1]
        return (lambda: None, go, registered_all)

    # the wall times include python's startup and pulumi's import: the children's own clocks are reported
    interleave({"mock_ours": case("ours"), "mock_bare": case("bare")}, runs)
    ours = {k: statistics.median(x[k] for x in samples["ours"]) for k in ("import", "run")}
    bare = {k: statistics.median(x[k] for x in samples["bare"]) for k in ("import", "run")}
    n = s.mock_apps
    total = ours["import"] + ours["run"]
    return [
        Figure(f"program() under mocks, {n} local apps (import + run)", total, bare["import"] + bare["run"],
               f"bare: {n} ComponentResource + 1 CustomResource child each",
               note=f"{1000 * total / n:.2f} ms/app; import of our modules {ours['import']:.3f} s"),
        Figure(f"program() under mocks, {n} local apps (run only)", ours["run"], bare["run"], "same bare program",
               note=f"{1000 * ours['run'] / n:.2f} ms/app vs {1000 * bare['run'] / n:.2f} ms/app"),
    ]


# -- 2. the real engine: preview ---------------------------------------------------------------------

BARE_PROVIDER = textwrap.dedent('''
    """The trivial dynamic provider of the bare project: a module, so dill pickles it by reference
    (like components.local's), not by value as it would a class defined in __main__."""
    from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

    FIELDS = ("app", "commit", "path", "deploy_root", "keep_releases")


    class Trivial(ResourceProvider):
        def create(self, props):
            return CreateResult(id_=props["app"], outs=props)

        def diff(self, _id, olds, news):
            changed = [k for k in FIELDS if str(olds.get(k)) != str(news.get(k))]
            return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

        def update(self, _id, _olds, news):
            return UpdateResult(outs=news)

        def delete(self, _id, _props):
            pass
''')

BARE_PROGRAM = textwrap.dedent('''
    """A bare Pulumi program: N dynamic resources of a trivial provider (the floor of bench_engine);
    with COMPONENTS, each inside a ComponentResource, the shape of the deploy repo's program."""
    import os
    {collector}
    import pulumi

    from bare_provider import Trivial

    N, COMPONENTS = {n}, {components}


    class Thing(pulumi.dynamic.Resource):
        commit: pulumi.Output[str]
        current: pulumi.Output[str]

        def __init__(self, name, props, opts=None):
            super().__init__(Trivial(), name, {{**props, "release_dir": None, "current": None}}, opts)


    class App(pulumi.ComponentResource):
        def __init__(self, name, props):
            super().__init__("bench:index:App", name, None, None)
            self.release = Thing(f"{{name}}-release", props, pulumi.ResourceOptions(parent=self))
            self.register_outputs({{"version": props["commit"], "current": self.release.current}})


    {freeze}changed = os.path.exists("changed")
    commits = {{}}
    for i in range(N):
        app = f"app-{{i:04d}}"
        props = {{"app": app, "commit": f"{{i + (1 if changed and i == 0 else 0):040x}}", "path": None,
                 "deploy_root": os.path.abspath(".deployments"), "keep_releases": 5, "source": "/some/where/app.git"}}
        commits[app] = App(app, props).release.commit if COMPONENTS else Thing(f"{{app}}-release", props).commit
    pulumi.export("deployed", {{a: {{"commit": c, "comment": "deploy", "kind": "local"}} for a, c in commits.items()}})
''')


def collector_lines() -> tuple[str, str]:
    """__main__.py's collector setting, as lines before the imports and after them (gc.freeze)."""
    lines = [line for line in (PROJECT_ROOT / "__main__.py").read_text().splitlines()
             if line.startswith(("import gc", "gc."))]
    before = [line for line in lines if line != "gc.freeze()"]
    return "\n".join(before) + "\n", "gc.freeze()\n" if "gc.freeze()" in lines else ""


def bare_project(n: int, components: bool = False, collector: bool = False) -> Path:
    """The bare project (cached with its state); `changed` in it changes the first resource's commit.
    With `collector`, it sets Python's collector as the deploy repo's __main__.py does."""
    path = bench_dir() / f"engine-bare{'-components' if components else ''}{'-collector' if collector else ''}-n{n}"
    path.mkdir(parents=True, exist_ok=True)
    (path / "Pulumi.yaml").write_text(  # the same runtime options as the deploy repo's Pulumi.yaml
        "name: bare\ndescription: the floor of bench_engine\n"
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n")
    with_venv(path)
    before, after = collector_lines() if collector else ("", "")
    program = BARE_PROGRAM.format(n=n, components=components, collector=before, freeze=after)
    for name, text in (("__main__.py", program), ("bare_provider.py", BARE_PROVIDER)):
        if not (path / name).exists() or (path / name).read_text() != text:
            (path / name).write_text(text)
            shutil.rmtree(path / STATE_DIR, ignore_errors=True)  # a new program: deploy it afresh
            (path / "Pulumi.bench.yaml").unlink(missing_ok=True)
    (path / "changed").unlink(missing_ok=True)
    compileall.compile_file(path / "bare_provider.py", quiet=1)  # as bench.compile_sources does ours
    return path


def no_change(outcome: object) -> None:
    if not outcome.ok or set(outcome.counts) - {"same"}:  # type: ignore[attr-defined]  # an engine case returns an Outcome
        raise RuntimeError(f"expected a no-change preview, got {outcome.counts} {outcome.error}")  # type: ignore[attr-defined]  # an engine case returns an Outcome


def one_update(outcome: object) -> None:
    counts = outcome.counts  # type: ignore[attr-defined]  # an engine case returns an Outcome
    if not outcome.ok or counts.get("update") != 1 or set(counts) - {"same", "update"}:  # type: ignore[attr-defined]  # an engine case returns an Outcome
        raise RuntimeError(f"expected one update, got {counts} {outcome.error}")  # type: ignore[attr-defined]  # an engine case returns an Outcome


def ensure_up(engine, env: str, label: str) -> None:
    """`up` once if the stack is not what the working tree says (the state is cached between runs)."""
    start = time.perf_counter()
    first = engine.preview(env)
    if first.ok and not set(first.counts) - {"same"}:
        log(f"  {label}: stack {env} already up to date ({time.perf_counter() - start:.1f} s)")
        return
    result = engine.up(env, "bench_engine: deploy once")
    if not result.ok:
        raise RuntimeError(f"up of {label} failed: {result.error}")
    log(f"  {label}: up of stack {env}: {result.counts} ({time.perf_counter() - start:.1f} s)")


def preview_figures(s: Sizes, repos: AppRepos, runs: int) -> list[Figure]:
    from deployctl.adapters.pulumi.engine import Engine

    repo = one_env_repo(s.preview_apps, repos, "preview")
    with_program(repo.path)
    env = env_names(1)[0]
    bare_root, shaped_root = bare_project(s.preview_apps), bare_project(s.preview_apps, components=True)
    tuned_root = bare_project(s.preview_apps, components=True, collector=True)
    saved, wanted = dict(os.environ), bench_env()
    os.environ.clear()
    os.environ.update(wanted)
    try:
        ours, bare, shaped, tuned = Engine(repo.path), Engine(bare_root), Engine(shaped_root), Engine(tuned_root)
        ensure_up(ours, env, "ours")  # each also warms the CLI and the plugins
        ensure_up(bare, "bench", "bare")
        ensure_up(shaped, "bench", "bare with components")
        ensure_up(tuned, "bench", "bare with components and our collector setting")
        app = app_names(s.preview_apps)[0]
        deploy_file = repo.path / "deploys" / env / app
        original = deploy_file.read_bytes()
        changed = newer_line(repo.path, env, app, repos, "bench_engine: one app changed")

        def set_changed(on: bool):
            def prepare() -> None:
                deploy_file.write_bytes(changed if on else original)
                marker = bare_root / "changed"
                marker.write_text("1") if on else marker.unlink(missing_ok=True)
            return prepare

        try:
            t = interleave({
                "preview_ours": (set_changed(False), lambda: ours.preview(env), no_change),
                "preview_bare": (set_changed(False), lambda: bare.preview("bench"), no_change),
                "preview_ours_changed": (set_changed(True), lambda: ours.preview(env), one_update),
                "preview_bare_changed": (set_changed(True), lambda: bare.preview("bench"), one_update),
                "preview_bare_components": (set_changed(False), lambda: shaped.preview("bench"), no_change),
                "preview_bare_collector": (set_changed(False), lambda: tuned.preview("bench"), no_change),
            }, runs)
        finally:
            set_changed(False)()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    n = s.preview_apps
    vs = f"bare project, {n} pulumi.dynamic.Resource"
    return [
        Figure(f"pulumi preview, {n} local apps, no change", t["preview_ours"], t["preview_bare"], vs,
               note="with the component-per-app shape's own cost (the shape stays)"),
        Figure(f"pulumi preview, {n} local apps, 1 app changed", t["preview_ours_changed"],
               t["preview_bare_changed"], vs + ", 1 changed"),
        Figure(f"pulumi preview, {n} local apps, no change, same shape", t["preview_ours"],
               t["preview_bare_components"], vs + " inside a ComponentResource each", max_ratio=1.05,
               note=f"isolates our program from the component-per-app shape; median of {runs} rounds"),
        Figure(f"pulumi preview, {n} local apps, no change, same shape and collector", t["preview_ours"],
               t["preview_bare_collector"], vs + " inside a ComponentResource each, collector set as __main__.py",
               note="our code alone: what remains without the collector setting's gain"),
    ]


# -- 3. merge to deployed --------------------------------------------------------------------------

OK_LINE = re.compile(r"^(env-\d+): ok \((.*)\)$", re.MULTILINE)


class MergeWorld:
    """The merge-to-deployed repo: every stack deployed once, then merges on top of main."""

    def __init__(self, repo: DeployRepo, repos: AppRepos, envs: int, apps: int, env: dict[str, str] | None = None):
        self.root, self.repos, self.env = with_program(repo.path), repos, env or {}
        self.envs, self.apps = env_names(envs), app_names(apps)
        git("checkout", "--quiet", "-f", "main", cwd=self.root)
        git("reset", "--quiet", "--hard", cwd=self.root)
        marker = self.root / ".git" / "bench-deployed"
        if not marker.exists() or not (self.root / STATE_DIR).is_dir():
            start = time.perf_counter()
            sh([PYTHON, "-m", "deployctl", "up"], self.root, bench_env(**self.env))
            if git("status", "--porcelain", cwd=self.root).strip():  # stack init writes the salt
                git("add", "-A", cwd=self.root)
                git("commit", "--quiet", "-m", "Stack configs as Pulumi writes them", cwd=self.root)
            marker.write_text("deployed\n")
            log(f"  merge repo: deployed {len(self.envs)} stacks once ({time.perf_counter() - start:.1f} s)")
        self.rounds = int(git("rev-list", "--count", "--merges", "HEAD", cwd=self.root))

    def merge(self, touched: list[str]) -> tuple[str, str, list[str]]:
        """A PR bumping one app in each touched env, merged --no-ff into main; the tree is the merge."""
        self.rounds += 1
        n = self.rounds
        before = git("rev-parse", "HEAD", cwd=self.root).strip()
        branch = f"bench/pr-{n}"
        git("checkout", "--quiet", "-B", branch, cwd=self.root)
        app = self.apps[n % len(self.apps)]
        for env in touched:
            (self.root / "deploys" / env / app).write_bytes(
                newer_line(self.root, env, app, self.repos, f"bench release (#{n})"))
        git("add", "-A", cwd=self.root)
        git("commit", "--quiet", "-m", f"Deploy {app} to {len(touched)} envs", cwd=self.root)
        git("checkout", "--quiet", "main", cwd=self.root)
        git("merge", "--quiet", "--no-ff", "-m", f"Merge pull request #{n} from acme/bench-{n}", branch,
            cwd=self.root)
        git("branch", "--quiet", "-D", branch, cwd=self.root)
        return before, git("rev-parse", "HEAD", cwd=self.root).strip(), touched

    def up(self, parallel: str | None, code: Path | None = None):
        """`deployctl up --base --head` of a prepared merge; `code`: another checkout's deployctl (its
        folder first on PYTHONPATH, for the program's process too), e.g. the code before a change."""
        extra = {**self.env, **({"DEPLOYCTL_PARALLEL": parallel} if parallel else {})}
        if code is not None:
            extra["PYTHONPATH"] = str(code)

        def go(prepared: tuple[str, str, list[str]]) -> tuple[list[str], str]:
            before, merged, touched = prepared
            out = sh([PYTHON, "-m", "deployctl", *self.up_args(before, merged)], self.root, bench_env(**extra))
            return touched, out.stdout.decode()
        return go

    @staticmethod
    def up_args(before: str, merged: str) -> list[str]:
        return ["up", "--base", before, "--head", merged, "--branch", "main"]


def bare_up(world: MergeWorld, env: str):
    """The floor of merge to deployed: `pulumi up` of one stack as a team would run it without deployctl
    (the same program, checkout, backend and engine environment; no preview first, as deployctl's
    update has none): the merge is checked out, the CLI runs, nothing else."""
    from deployctl.adapters.pulumi.cli import find_pulumi
    from deployctl.adapters.pulumi.engine import engine_env

    binary = find_pulumi()
    assert binary is not None, "the Pulumi CLI is needed: make engine"
    base = bench_env(**world.env)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(base)
    try:
        extra = engine_env(world.root, binary)  # what Engine adds to the environment it was given
    finally:
        os.environ.clear()
        os.environ.update(saved)
    cmd = [str(binary.resolve()), "up", "--yes", "--skip-preview", "--non-interactive", "--stack", env]

    def go(prepared: tuple[str, str, list[str]]) -> tuple[list[str], str]:
        out = sh(cmd, world.root, {**base, **extra})
        return prepared[2], out.stdout.decode()
    return go


UPDATED_ONE = re.compile(r"~ 1 updated")


def one_bare_update(result: object) -> None:
    _, out = result  # type: ignore[misc]  # this case returns a pair
    if not UPDATED_ONE.search(out):
        raise RuntimeError(f"expected the bare `pulumi up` to update exactly one resource:\n{out[-2000:]}")


def merge_vs_bare(world: MergeWorld, runs: int, baseline: Path | None = None,
                  times: dict[str, list[float]] | None = None) -> dict[str, float]:
    """`deployctl up --base --head` of a merge touching one stack against a bare `pulumi up` of that
    stack after the same kind of merge (one app bumped), in the same world, interleaved. With
    `baseline` (a checkout of other code, e.g. before a change), its `up` runs in the same rounds too
    ("up_1_before")."""
    one = [world.envs[len(world.envs) // 2]]
    cases = {
        "up_1": (lambda: world.merge(one), world.up(None), only_touched),
        "bare_up_1": (lambda: world.merge(one), bare_up(world, one[0]), one_bare_update),
    }
    if baseline is not None:
        cases["up_1_before"] = (lambda: world.merge(one), world.up(None, baseline), only_touched)
    return interleave(cases, runs, times)


def only_touched(result: object) -> None:
    touched, out = result  # type: ignore[misc]  # this case returns a pair
    ran = {m.group(1): m.group(2) for m in OK_LINE.finditer(out)}
    if set(ran) != set(touched) or any("update 1" not in c for c in ran.values()):
        raise RuntimeError(f"expected ok with one update for exactly {touched}, got {ran}\n{out[-2000:]}")


def merge_to_deployed(t: dict[str, float], s: Sizes, backend: str, runs: int) -> Figure:
    e = s.merge_envs
    return Figure(f"merge to deployed ({backend} backend): up --base --head, 1 of {e} stacks", t["up_1"],
                  t["bare_up_1"], "bare `pulumi up --yes --skip-preview` of that stack, same change", max_ratio=1.2,
                  note=f"one local app bumped; {s.merge_apps} apps per stack; median of {runs} rounds")


def merge_figures(s: Sizes, repos: AppRepos, runs: int, close_runs: int) -> list[Figure]:
    world = MergeWorld(merge_repo(s.merge_envs, s.merge_apps, repos), repos, s.merge_envs, s.merge_apps)
    bare = merge_vs_bare(world, close_runs)
    one, every = [world.envs[len(world.envs) // 2]], list(world.envs)
    t = interleave({
        "up_1": (lambda: world.merge(one), world.up(None), only_touched),
        "up_all": (lambda: world.merge(every), world.up(None), only_touched),
        "up_all_serial": (lambda: world.merge(every), world.up("1"), only_touched),
    }, runs)
    e = s.merge_envs
    return [
        merge_to_deployed(bare, s, "file", close_runs),
        Figure(f"deployctl up, merge touching 1 of {e} stacks", t["up_1"],
               note=f"{s.merge_apps} local apps per stack; only that stack ran (checked)"),
        Figure(f"deployctl up, merge touching {e} of {e} stacks", t["up_all"], t["up_1"], "1 stack",
               note=f"all {e} ran, one update each (checked)"),
        Figure(f"deployctl up, {e} stacks: DEPLOYCTL_PARALLEL=1 / default", t["up_all_serial"], t["up_all"],
               "default DEPLOYCTL_PARALLEL", note="ratio = speed-up from running stacks side by side"),
    ]


def run(opts: Options) -> list[Figure]:
    """The module interface of bench.__main__: every figure of this module."""
    s = QUICK if opts.quick else FULL
    start = time.perf_counter()
    repos = app_repos(s.app_commits, s.app_repos, log)
    warm_cache(repos)
    log(f"setup: app repos ready ({time.perf_counter() - start:.1f} s)")
    figures: list[Figure] = []
    for label, part in (("program under mocks", lambda: mocks_figures(s, repos, opts.runs)),
                        ("pulumi preview", lambda: preview_figures(s, repos, opts.close_runs)),
                        ("merge to deployed", lambda: merge_figures(s, repos, min(opts.runs, s.merge_runs),
                                                                 opts.close_runs))):
        t0 = time.perf_counter()
        log(f"{label}:")
        figures += part()
        log(f"{label}: {time.perf_counter() - t0:.1f} s")
    return figures


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(modules=("bench.bench_engine",)))
