"""`python -m bench.walk [--rooms] [--json]`: the walk of `deployctl up` through our modules, CLI to engine.

A small deploy repo (stacks of two `local` apps, deployed once by the real engine: `make engine`) gets
one commit changing one app in one stack; `deployctl up --base B --head H` runs in process under a
profile hook noting the module of each call into deployctl, stacks or components (imports left out).
Each thread's calls are spliced in, whole, where it made its first one (whoever hands it work waits
meanwhile); consecutive calls in one module are one step. The walk is cut at the engine's update (the
first call of Engine.up), and taken whole.

Figures: `distinct` modules, `transitions` (steps from one module to another), `edges` (the pairs of
modules a transition ever crossed, however often: what a loop repeats counts once), and `returns`: each
time the walk enters a module it had already left. Each return is charged to the pair (the module it
came from, the one it went back to), so the pairs' counts add up to `returns`, and
returns = transitions + 1 - distinct.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import count, pairwise
from pathlib import Path
from types import CodeType, FrameType
from typing import Any
from unittest.mock import patch

from bench.bench_engine import with_venv
from bench.generate import PROJECT_ROOT, git

OURS = ("deployctl", "stacks", "components")
ENGINE = "deployctl.adapters.pulumi.engine"
ENVS = ("staging", "qa", "demo")
APPS = ("api", "web")
TOP = 8  # modules and pairs listed


def commit(repo: Path, message: str) -> str:
    git("add", "-A", cwd=repo)
    git("commit", "--quiet", "--allow-empty", "-m", message, cwd=repo)  # Pulumi may write no stack config
    return git("rev-parse", "HEAD", cwd=repo).strip()


def build(root: Path, envs: Sequence[str] = ENVS) -> tuple[Path, str, str]:
    """The deploy repo, every stack deployed once; returns (path, base, head), head changing one app."""
    app, deploy = root / "apps" / "api", root / "deploy"
    for repo in (app, deploy):
        git("init", "--quiet", "--initial-branch=main", str(repo))
    shas = []
    for i in range(2):
        (app / "app.py").write_text(f"print({i})\n")
        shas.append(commit(app, f"api {i}"))
    for name in ("Pulumi.yaml", "__main__.py"):
        (deploy / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    (deploy / ".gitignore").write_text(".venv\n.pulumi-state/\n.deployments/\n")
    with_venv(deploy)  # Pulumi.yaml names `virtualenv: .venv`
    (deploy / "apps.yaml").write_text("apps:\n" + "".join(f"  {a}:\n    kind: local\n    repo: ../apps/api\n"
                                                         for a in APPS))
    for env in envs:
        (deploy / f"Pulumi.{env}.yaml").write_text(f"config:\n  deploys:deployRoot: .deployments/{env}\n")
        (deploy / "deploys" / env).mkdir(parents=True)
        for a in APPS:
            (deploy / "deploys" / env / a).write_text(f"{shas[0]} first\n")
    commit(deploy, "initial deploys")
    code, out, err = run_up(deploy, ["up"])
    if code != 0:
        raise RuntimeError(f"the first `deployctl up` failed ({code}):\n{out}{err}")
    base = commit(deploy, "stack configs as Pulumi writes them")
    (deploy / "deploys" / envs[0] / APPS[0]).write_text(f"{shas[1]} next\n{shas[0]} first\n")
    return deploy, base, commit(deploy, f"deploy {APPS[0]} to {envs[0]}")


def run_up(root: Path, args: list[str], hook: Callable[..., None] | None = None) -> tuple[int, str, str]:
    """deployctl in process in `root`, as tests/scenario.run_cli runs it, with `hook` as the profile of
    every thread while `cli.run` runs (only there): exit code, stdout, stderr."""
    from deployctl import console
    from deployctl.cli import run

    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(root)
    try:
        with console.use(out, err):
            threading.setprofile(hook)  # None unsets it
            sys.setprofile(hook)
            try:
                code = int(run(args))
            finally:
                sys.setprofile(None)
                threading.setprofile(None)  # None unsets it
        return code, out.getvalue(), err.getvalue()
    finally:
        os.chdir(cwd)


def record(root: Path, args: list[str]) -> tuple[list[str], list[str]]:
    """Run deployctl under the hook: the walk to the engine's update (the first call of Engine.up,
    included) and the whole walk, each with consecutive repeats collapsed."""
    calls: list[tuple[int, int, str]] = []  # (order, thread, module)
    engine: list[int] = []  # the order of each call of Engine.up
    order, serials, ours, local = count(), count(), OURS, threading.local()
    names: dict[CodeType, str] = {}  # code object -> its module, or "" when not ours

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        name = names.get(code)
        if name is None:
            module = frame.f_globals.get("__name__") or ""
            name = names[code] = module if code.co_name != "<module>" and module.split(".")[0] in ours else ""
        if name:
            thread = local.__dict__.setdefault("serial", next(serials))  # idents are reused; serials are not
            calls.append((n := next(order), thread, name))
            if code.co_name == "up" and name == ENGINE:
                engine.append(n)

    code, out, err = run_up(root, args, hook)
    if code != 0 or not engine:
        raise RuntimeError(f"`deployctl {' '.join(args)}` failed ({code}) or never updated:\n{out}{err}")
    walk = splice(calls)
    cut = next(k for k, (n, _) in enumerate(walk) if n == engine[0])
    return collapse([m for _, m in walk[:cut + 1]]), collapse([m for _, m in walk])


def splice(calls: list[tuple[int, int, str]]) -> list[tuple[int, str]]:
    """One walk from several threads: each thread's calls, whole, where its first call came."""
    threads: dict[int, list[tuple[int, str]]] = {}
    for n, thread, module in calls:
        threads.setdefault(thread, []).append((n, module))
    segments = sorted(threads.values(), key=lambda seg: seg[0][0])
    walk = list(segments[0]) if segments else []
    for seg in segments[1:]:
        at = next((k for k, (n, _) in enumerate(walk) if n > seg[0][0]), len(walk))
        walk[at:at] = seg
    return walk


def collapse(modules: Sequence[str]) -> list[str]:
    return [m for i, m in enumerate(modules) if i == 0 or m != modules[i - 1]]


def figures(walk: Sequence[str]) -> dict[str, Any]:
    seen: set[str] = set()
    returns: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for i, module in enumerate(walk):
        if module in seen:
            returns[module] += 1
            a, b = sorted((walk[i - 1], module))
            pairs[a, b] += 1
        seen.add(module)
    edges = {tuple(sorted(step)) for step in pairwise(walk)}  # pairs of modules ever crossed
    return {"distinct": len(seen), "transitions": max(len(walk) - 1, 0), "returns": sum(returns.values()),
            "edges": len(edges),
            "modules": sorted(seen), "returns_by_module": dict(returns.most_common()),
            "returns_by_pair": [{"pair": list(p), "returns": n} for p, n in pairs.most_common()],
            "walk": list(walk)}


def room(module: str) -> str:
    """The part of the architecture a module belongs to: a subpackage of core/ or adapters/ (or their
    shared base), a command, the reports, the program; the CLI and the console as they are."""
    parts = module.split(".")
    if parts[0] != "deployctl":
        return "program"
    if parts[1] in ("core", "adapters"):
        return ".".join(parts[1:3]) if len(parts) > 3 else parts[1]
    if parts[1] == "commands":
        return ".".join(parts[1:3])
    return "program" if parts[1] in ("stacks", "components") else parts[1]


def by_room(result: dict[str, Any]) -> dict[str, Any]:
    """The same walks, each module replaced by its room and consecutive steps in one room made one."""
    return {part: figures(collapse([room(m) for m in r["walk"]])) for part, r in result.items()}


def measure(envs: Sequence[str] = ENVS) -> dict[str, Any]:
    """Build the repo in a temporary folder and measure the walk of `up`: to the engine, and whole."""
    with tempfile.TemporaryDirectory(prefix="deployctl-walk-") as tmp, patch.dict(os.environ, {
            "DEPLOYCTL_CACHE": f"{tmp}/cache", "DEPLOYCTL_LOG_DIR": f"{tmp}/logs",
            "DEPLOYCTL_ALLOW_LOCAL_BACKEND": "1"}):
        os.environ.pop("PULUMI_BACKEND_URL", None)  # the stacks' state stays in the repo's .pulumi-state
        deploy, base, head = build(Path(tmp), envs)
        to_engine, whole = record(deploy, ["up", "--base", base, "--head", head])
    return {"to_engine": figures(to_engine), "whole": figures(whole)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.walk", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", dest="as_json", help="the figures as one JSON document")
    parser.add_argument("--rooms", action="store_true", help="count parts of the architecture (a subpackage of "
                        "core/ or adapters/, a command, report, the program), not modules")
    opts = parser.parse_args(argv)
    result = by_room(measure()) if opts.rooms else measure()
    unit = "rooms" if opts.rooms else "modules"
    if opts.as_json:
        print(json.dumps(result, indent=2))
        return 0
    for part, title in (("to_engine", "CLI to the engine's update"), ("whole", "whole run, the update's events too")):
        r = result[part]
        print(f"deployctl up, {title}: {r['distinct']} {unit}, {r['transitions']} transitions "
              f"across {r['edges']} pairs of {unit}, {r['returns']} returns to one left before")
        print("  returns by module: " + ", ".join(
            f"{m.removeprefix('deployctl.')} {n}" for m, n in list(r["returns_by_module"].items())[:TOP]))
        for row in r["returns_by_pair"][:TOP]:
            print("  " + " <-> ".join(m.removeprefix("deployctl.") for m in row["pair"]) + f" {row['returns']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
