"""`python -m bench.table RESULTS.json`: the README's performance table from one `python -m bench --json`.

Every row is computed from that one document (ratio = ours / floor of the same figure, both from
the same interleaved rounds), never copied from another run; the header says when and under what
load it ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value:.2f} s"


def row(fig: dict[str, Any]) -> str:
    ours, floor = fig["ours"], fig.get("floor")
    ratio = f"{ours / floor:.2f}x" if floor else ""
    met = {True: ": met", False: ": MISSED", None: ""}[fig.get("met")]
    target = fig.get("target") or "-"
    target = "" if target == "-" else f"{target}{met}"
    name = fig["name"] + (f" (vs {fig['vs']})" if fig.get("vs") else "")
    return f"| {name} | {seconds(ours)} | {seconds(floor)} | {ratio} | {target} |"


def table(doc: dict[str, Any]) -> str:
    loads = doc.get("load") or {}
    peak = max((max(v) for v in loads.values()), default=None)
    head = (f"One run, started {doc.get('started', '?')} ({doc.get('runs')} rounds, {doc.get('close_runs')} for the "
            f"close figures; {doc.get('cpus', '?')} CPUs"
            + (f"; load average up to {peak:.1f}" if peak is not None else "") + ")")
    lines = [head, "", "| figure | ours | floor | ratio | target |", "|---|---|---|---|---|"]
    lines += [row(fig) for fig in doc["figures"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.table", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, help="`python -m bench --json` output (default: stdin)")
    args = parser.parse_args(argv)
    try:
        text = args.results.read_text(encoding="utf-8") if args.results else sys.stdin.read()
        doc = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"python -m bench.table: cannot read the results: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
