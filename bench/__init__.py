"""Benchmarks: each figure is measured side by side with its floor in one run, interleaved.

These machines are noisy, so ratios (ours / floor, measured in the same rounds) are what the
targets are about; absolute times are printed for reference. `python -m bench` runs every module
in bench.__main__.MODULES; each exposes `run(opts) -> list[Figure]`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Options:
    quick: bool = False
    runs: int = 3
    as_json: bool = False

    @property
    def close_runs(self) -> int:
        """Rounds for the figures that sit within a few percent of a target: on the 2-core VM a run's
        time moves by as much between rounds (3 rounds of the same code measured push-to-comment at
        0.93x and 1.26x, the same-shape preview at 0.94x and 1.14x, check 20x500/20x100 at 1.06x and
        1.37x, all within the hour)."""
        return self.runs if self.quick else max(self.runs, CLOSE_RUNS)


CLOSE_RUNS = 7


@dataclass
class Figure:
    """One line of the report. `floor` is what `ours` is compared with (named in `vs`)."""

    name: str
    ours: float
    floor: float | None = None
    vs: str = ""
    max_ratio: float | None = None
    max_seconds: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.floor if self.floor else None

    @property
    def target(self) -> str:
        parts = []
        if self.max_ratio is not None:
            parts.append(f"<={self.max_ratio:g}x")
        if self.max_seconds is not None:
            parts.append(f"<{self.max_seconds:g} s")
        return " ".join(parts) or "-"

    @property
    def met(self) -> bool | None:
        if self.max_ratio is None and self.max_seconds is None:
            return None
        ok = True
        if self.max_ratio is not None:
            ok = ok and self.ratio is not None and self.ratio <= self.max_ratio
        if self.max_seconds is not None:
            ok = ok and self.ours < self.max_seconds
        return ok

    def to_json(self) -> dict:
        """`{name, ours, floor}` first (seconds; floor None where there is none), then the rest."""
        rest = {k: v for k, v in asdict(self).items() if k not in ("name", "ours", "floor")}
        return {"name": self.name, "ours": self.ours, "floor": self.floor, "ratio": self.ratio, **rest,
                "target": self.target, "met": self.met}

    def line(self) -> str:
        floor = f"{self.floor:8.3f}" if self.floor is not None else f"{'-':>8}"
        ratio = f"{self.ratio:6.2f}x" if self.ratio is not None else f"{'-':>7}"
        met = {None: "", True: "met", False: "MISSED"}[self.met]
        text = f"{self.name:<58} {self.ours:8.3f} {floor} {ratio}  {self.target:<12} {met}"
        return text + (f"  ({self.vs})" if self.vs else "") + (f"  {self.note}" if self.note else "")


HEADER = f"{'figure':<58} {'ours (s)':>8} {'floor(s)':>8} {'ratio':>7}  {'target':<12} result"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def sh(cmd: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None,
        expect: int = 0) -> subprocess.CompletedProcess:
    """Run a command; its exit code must be `expect` (the benchmark measures valid runs only)."""
    result = subprocess.run(list(cmd), cwd=cwd, env=dict(env) if env is not None else None, capture_output=True)
    if result.returncode != expect:
        raise RuntimeError(f"{' '.join(cmd)} (in {cwd}) exited {result.returncode}, expected {expect}:\n"
                           f"{result.stdout.decode(errors='replace')[-2000:]}"
                           f"{result.stderr.decode(errors='replace')[-2000:]}")
    return result


def measure(commands: Mapping[str, Callable[[], object]], runs: int,
            validate: Mapping[str, Callable[[object], None]] | None = None) -> dict[str, float]:
    """Median wall time of each command over `runs` rounds; every round runs every command once,
    in an order rotated each round, so drift in machine load hits them all alike. `validate[name]`
    checks a command's result after the clock stops (so only valid runs are reported)."""
    names = list(commands)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(runs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            result = commands[name]()
            times[name].append(time.perf_counter() - start)
            if validate and name in validate:
                validate[name](result)
        log(f"  round {r + 1}/{runs} done")
    return {n: statistics.median(t) for n, t in times.items()}


HEAVY = ("git", "jinja2", "rich", "pydantic", "typer", "yaml", "boto3", "pulumi", "httpx")
"""Libraries whose import a command should pay only when it uses them (named in the report)."""


def import_profile(cmd: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None,
                   expect: int = 0) -> tuple[float, dict[str, float]]:
    """Run `python -X importtime <cmd...>` once: the sum of every module's own import time, and that
    sum per top-level package (seconds). `cmd` starts after the interpreter (e.g. `-m deployctl check`)."""
    result = sh([sys.executable, "-X", "importtime", *cmd], cwd, env, expect)
    per: dict[str, float] = {}
    for line in result.stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|", 2)
        top = name.strip().split(".")[0]
        per[top] = per.get(top, 0.0) + int(own) / 1e6
    return sum(per.values()), per


def import_note(per: Mapping[str, float]) -> str:
    """The biggest importers, and which heavy libraries a command loaded at all."""
    top = sorted(per.items(), key=lambda kv: -kv[1])[:5]
    loaded = [lib for lib in HEAVY if lib in per]
    missing = [lib for lib in HEAVY if lib not in per]
    return (" ".join(f"{k} {v * 1000:.0f}ms" for k, v in top) + f"; loads {','.join(loaded) or '-'}"
            + f"; not {','.join(missing) or '-'}")


def compile_sources(root: Path) -> None:
    """Byte-compile the project once, as any install or first run does (PYTHONDONTWRITEBYTECODE in
    the environment would otherwise make every timed command compile deployctl from source)."""
    import compileall

    for folder in ("deployctl", "stacks", "components", "bench"):
        if (root / folder).is_dir():
            compileall.compile_dir(str(root / folder), quiet=1)
