"""Merge to deployed alone: `python -m bench.merge [--quick] [--runs N] [--backend file|s3|both]
[--baseline DIR] [--timeline N]`.

The figure of bench_engine (file backend) and bench_team (moto's S3 server): `deployctl up --base
--head` of a merge bumping one `local` app in 1 of E stacks, against a bare `pulumi up` of that stack
after the same kind of merge, in the same interleaved rounds (ratios hold where absolute times do not:
the machine is shared). `--baseline DIR` runs another checkout's `up` in the same rounds too (its
folder first on PYTHONPATH), e.g. `git archive main | tar -x -C DIR` for the code before a change.
`--timeline N` then runs N more interleaved rounds of `up` under bench/timeline_probe.py (and of the
baseline's, and the bare CLI) and prints where the time goes: the medians of each span's start and
end, in seconds from the moment the process was started.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import HEADER, Figure, log, sh
from bench.bench_engine import (
    FULL,
    PROJECT_ROOT,
    PYTHON,
    QUICK,
    MergeWorld,
    Sizes,
    bare_up,
    bench_env,
    merge_repo,
    merge_to_deployed,
    merge_vs_bare,
    only_touched,
    warm_cache,
)
from bench.generate import app_repos

PROBE = PROJECT_ROOT / "bench" / "timeline_probe.py"


def paired(times: dict[str, list[float]], ours: str) -> str:
    """The median of each round's own ratio (ours / bare of that round), and every round's: on a shared
    machine a round's two runs see the same load, while the medians of each side may come from
    different rounds."""
    ratios = [a / b for a, b in zip(times[ours], times["bare_up_1"], strict=True)]
    return (f"median of per-round ratios {statistics.median(ratios):.2f}x (rounds: "
            + " ".join(f"{r:.2f}" for r in ratios) + ")")


def figures(t: dict[str, float], times: dict[str, list[float]], s: Sizes, backend: str, runs: int) -> list[Figure]:
    fig = merge_to_deployed(t, s, backend, runs)
    fig.note += f"; {paired(times, 'up_1')}"
    out = [fig]
    if "up_1_before" in t:
        out.append(Figure(f"  the same, code before (--baseline), {backend} backend", t["up_1_before"], t["bare_up_1"],
                          "the same bare `pulumi up`, same rounds", note=paired(times, "up_1_before")))
    return out


def measured(world: MergeWorld, s: Sizes, backend: str, runs: int, baseline: Path | None) -> list[Figure]:
    times: dict[str, list[float]] = {}
    t = merge_vs_bare(world, runs, baseline, times)
    out = figures(t, times, s, backend, runs)
    for fig in out:  # said at once: the S3 part takes minutes more
        log(fig.line())
    return out


def probed(world: MergeWorld, prepared: tuple[str, str, list[str]], code: Path | None) -> dict[str, Any]:
    """One `up` under the probe: its marks and child processes, in seconds from its start."""
    before, merged, touched = prepared
    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as tmp:
        out = Path(tmp) / "timeline.json"
        env = {**world.env, "BENCH_TIMELINE_OUT": str(out)}
        if code is not None:
            env["PYTHONPATH"] = str(code)
        start = time.time()
        env["BENCH_T0"] = str(start)
        done = sh([PYTHON, str(PROBE), *world.up_args(before, merged)], world.root, bench_env(**env))
        wall = time.time() - start
        only_touched((touched, done.stdout.decode()))
        data = json.loads(out.read_text(encoding="utf-8"))
    marks = {k: v - start for k, v in data["marks"].items()}
    parts: dict[str, list[float]] = {}
    for call in data.get("calls", []):
        parts.setdefault(call["name"], []).append((call["end"] or start + wall) - call["start"])
    for name, took in parts.items():
        marks[f"part:{name}"] = sum(took)
        marks[f"calls:{name}"] = len(took)
    marks["wall"] = wall
    procs = [{**p, "start": p["start"] - start, "end": (p["end"] or start + wall) - start} for p in data["processes"]]
    up = [p for p in procs if p["argv"][:1] == ["pulumi"] and "up" in p["argv"][1:3]]
    if up:
        marks["pulumi:start"], marks["pulumi:end"] = up[0]["start"], up[-1]["end"]
    before_up = [p for p in procs if not up or p["start"] < up[0]["start"]]
    marks["children"] = len(before_up)
    marks["pulumi_reads"] = sum(1 for p in before_up if p["argv"][:1] == ["pulumi"])
    return marks


SPANS: tuple[tuple[str, str, str], ...] = (
    ("Python's start, to the first line of the probe", "", "script"),
    ("import deployctl.cli (typer, pydantic, ...)", "script", "imported:cli"),
    ("import the up command", "imported:cli", "imported:up"),
    ("typer, to prepare", "imported:up", "prepare:start"),
    ("prepare: git, safeguards, the guard's reads, what runs", "prepare:start", "prepare:end"),
    ("deploy thread, to the `pulumi up` process's start", "deploy_all:start", "pulumi:start"),
    ("`pulumi up` (the CLI process)", "pulumi:start", "pulumi:end"),
    ("  its first engine event received", "pulumi:start", "event:first"),
    ("  its last engine event received", "pulumi:start", "event:last"),
    ("after the engine, to the end of the deploy", "pulumi:end", "deploy_all:end"),
    ("to the end of the process (as the bench sees it)", "deploy_all:end", "wall"),
)


def timeline_table(runs: list[dict[str, Any]], bare: list[float], label: str) -> list[str]:
    def med(key: str) -> float | None:
        if not key:
            return 0.0
        values = [r[key] for r in runs if key in r]
        return statistics.median(values) if values else None

    lines = [f"timeline of `up` ({label}; medians of {len(runs)} runs, seconds from the process's start):",
             f"  {'span':<58} {'start':>6} {'end':>6} {'took':>6}"]
    for name, a, b in SPANS:
        start, end = med(a), med(b)
        if start is None or end is None:
            lines.append(f"  {name:<58} {'-':>6} {'-':>6} {'-':>6}")
            continue
        took = statistics.median([r[b] - (r[a] if a else 0.0) for r in runs if b in r and (not a or a in r)])
        lines.append(f"  {name:<58} {start:6.2f} {end:6.2f} {took:6.2f}")
    parts = sorted({k.removeprefix("part:") for r in runs for k in r if k.startswith("part:")},
                   key=lambda name: -(med(f"part:{name}") or 0.0))
    for name in parts:
        lines.append(f"  {'  ' + name + ' (' + format(med('calls:' + name) or 0, '.0f') + ' calls)':<58} "
                     f"{'':>6} {'':>6} {med('part:' + name):6.2f}")
    lines.append(f"  child processes before `pulumi up`: {med('children'):.0f} ({med('pulumi_reads'):.0f} of them "
                 "Pulumi CLI reads)")
    lines.append(f"  bare `pulumi up` of the same stack, same rounds: {statistics.median(bare):.2f} s "
                 f"(`up` {med('wall'):.2f} s, {med('wall') / statistics.median(bare):.2f}x)")  # type: ignore[operator]  # med: float here
    return lines


def timeline(world: MergeWorld, n: int, baseline: Path | None) -> list[str]:
    """n interleaved rounds of `up` under the probe (and the baseline's) and of the bare CLI."""
    one = [world.envs[len(world.envs) // 2]]
    bare_go = bare_up(world, one[0])
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    bare: list[float] = []
    names = ["ours", "bare", *(["before"] if baseline is not None else [])]
    for r in range(n):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            prepared = world.merge(one)
            if name == "bare":
                start = time.perf_counter()
                bare_go(prepared)
                bare.append(time.perf_counter() - start)
            else:
                (ours if name == "ours" else theirs).append(probed(world, prepared, baseline if name == "before"
                                                                   else None))
        log(f"  timeline round {r + 1}/{n} done")
    lines = timeline_table(ours, bare, "this code")
    if theirs:
        lines += timeline_table(theirs, bare, f"--baseline {baseline}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.merge", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 stacks of 2 apps instead of 20 of 3")
    parser.add_argument("--runs", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--backend", choices=("file", "s3", "both"), default="both")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout's deployctl, same rounds")
    parser.add_argument("--timeline", type=int, default=0, metavar="N", help="N rounds of the timeline after")
    args = parser.parse_args(argv)
    s = QUICK if args.quick else FULL
    baseline = args.baseline.resolve() if args.baseline else None
    repos = app_repos(s.app_commits, s.app_repos, log)
    warm_cache(repos)
    lines: list[str] = []
    results: list[Figure] = []
    if args.backend in ("file", "both"):
        log("merge to deployed, file backend:")
        world = MergeWorld(merge_repo(s.merge_envs, s.merge_apps, repos), repos, s.merge_envs, s.merge_apps)
        results += measured(world, s, "file", args.runs, baseline)
        if args.timeline:
            lines += ["file backend:", *timeline(world, args.timeline, baseline)]
            log("\n".join(lines))
    if args.backend in ("s3", "both"):
        from bench.bench_team import s3_worlds

        log("merge to deployed, S3 backend (moto):")
        with s3_worlds(s, repos) as (_, s3_world, _, _):
            results += measured(s3_world, s, "S3", args.runs, baseline)
            if args.timeline:
                lines += ["S3 backend (moto):", *timeline(s3_world, args.timeline, baseline)]
    print(HEADER)
    for fig in results:
        print(fig.line())
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
