"""`python -m bench [--quick] [--runs N] [--json]`: every benchmark module, one line per figure.

Adding a benchmark is one line in MODULES: a module with `run(opts: bench.Options) -> list[Figure]`.
Progress goes to stderr; the figures (or, with --json, one JSON document) to stdout: every figure as
`{name, ours, floor}` (seconds; `floor` null where a figure has none) with `ratio` = ours / floor,
its target and whether it was met, and each module's load average (1, 5, 15 min) before and after
it. `python -m bench.table RESULTS.json` turns one such document into the README's table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import HEADER, Options, compile_sources, log
from bench.generate import bench_dir

MODULES: tuple[str, ...] = (
    "bench.bench_git",
    "bench.bench_engine",
    "bench.bench_team",
    "bench.bench_comment",
    "bench.bench_propose",
    "bench.bench_drift",
    "bench.bench_setup",
)


def main(argv: Sequence[str] | None = None, modules: Sequence[str] = MODULES) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test")
    parser.add_argument("--runs", type=int, default=None, help="rounds per figure (default 3, --quick 1)")
    parser.add_argument("--json", action="store_true", dest="as_json", help="machine-readable results on stdout")
    args = parser.parse_args(argv)
    opts = Options(quick=args.quick, runs=args.runs or (1 if args.quick else 3), as_json=args.as_json)

    started = datetime.now(UTC).isoformat(timespec="seconds")
    compile_sources(Path(__file__).resolve().parent.parent)
    results = []
    if not opts.as_json:
        print(f"median of {opts.runs} interleaved runs ({opts.close_runs} for the git figures, push to comment and "
              "the 200-app previews); ratio = ours / floor measured in the same rounds"
              f"{' (--quick sizes)' if opts.quick else ''}", flush=True)
        print(HEADER, flush=True)
    load: dict[str, list[float]] = {}
    for name in modules:
        log(f"{name}: running (repos cached in {bench_dir()})")
        start, before = time.perf_counter(), os.getloadavg()
        figures = importlib.import_module(name).run(opts)
        load[name] = [round(x, 2) for x in (*before, *os.getloadavg())]
        log(f"{name}: {time.perf_counter() - start:.1f} s in all (load average before {before[0]:.1f}, "
            f"after {load[name][3]:.1f})")
        for fig in figures:
            results.append({"module": name, **fig.to_json()})
            if not opts.as_json:
                print(fig.line(), flush=True)
    if opts.as_json:
        json.dump({"quick": opts.quick, "runs": opts.runs, "close_runs": opts.close_runs,
                   "started": started, "cpus": os.cpu_count(), "load": load, "figures": results}, sys.stdout,
                  indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
