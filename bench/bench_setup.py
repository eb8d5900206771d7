"""What every CI job pays before it starts: a fresh venv holding the tool and its pinned dependencies.

The tool is installed as a team installs it: its wheel (built as tests/test_lifecycle.py builds it,
`pip wheel --no-deps` from a copy of this checkout), with every dependency pyproject.toml pins.

- warm: one package cache for both installers, filled once (untimed): a wheelhouse holding every
  pinned wheel (`pip download`), read with `--no-index --find-links` (pip's own HTTP cache cannot be
  the shared one: uv does not read it, and an index whose answers are not cacheable leaves it empty).
  Each round makes a fresh venv: `python -m venv` + `pip install WHEEL` (the floor), against the
  Makefile's way: `python -m venv` + `pip install uv==UV_VERSION` (from the same wheelhouse: a job
  must get uv too, so it is timed) + `uv pip install WHEEL`, uv's own cache empty (it unpacks every
  wheel, as pip does).
- cold: the same from the package index with empty caches (every wheel downloaded), one round (none
  with --quick). The whole module takes ~10-15 min on the 2-core VM: pip's installs dominate.
ratio = uv / pip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Figure, Options, log, sh
from bench.generate import bench_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
COLD_RUNS = 1


def uv_version() -> str:
    """The uv the Makefile and the workflows pin (the Makefile's UV_VERSION line: stated once)."""
    for line in (PROJECT_ROOT / "Makefile").read_text().splitlines():
        if line.startswith("UV_VERSION"):
            return line.split("=", 1)[1].strip()
    raise RuntimeError("the Makefile pins no UV_VERSION")


def build_wheel(out: Path) -> Path:
    """The tool's wheel from a copy of the committed tree (pip builds in the source folder)."""
    source = out / "source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    wheels = out / "wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    sh([PYTHON, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "-w", str(wheels),
        str(source)])
    (wheel,) = wheels.glob("*.whl")
    return wheel


def env_for(pip_cache: Path, uv_cache: Path, wheelhouse: Path | None = None) -> dict[str, str]:
    """Each installer's caches; with `wheelhouse`, both read only it (no index: the warm case)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    keep = {k: v for k, v in os.environ.items() if k in ("PIP_CERT", "PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT")}
    local = ({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse), "UV_NO_INDEX": "1",
              "UV_FIND_LINKS": str(wheelhouse)} if wheelhouse is not None else {})
    return {**env, **keep, **local, "PIP_CACHE_DIR": str(pip_cache), "UV_CACHE_DIR": str(uv_cache),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_PROGRESS": "1"}


def with_pip(scratch: Path, wheel: Path, env: dict[str, str]) -> None:
    venv = Path(tempfile.mkdtemp(prefix="pip-", dir=scratch)) / ".venv"
    sh([PYTHON, "-m", "venv", str(venv)], env=env)
    sh([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], env=env)
    sh([str(venv / "bin" / "python"), "-c", "import deployctl.cli, pulumi, boto3"], env=env)


def with_uv(scratch: Path, wheel: Path, env: dict[str, str], version: str) -> None:
    """As the Makefile's venv step does it: the venv, uv pinned into it by pip, then the tool by uv."""
    venv = Path(tempfile.mkdtemp(prefix="uv-", dir=scratch)) / ".venv"
    sh([PYTHON, "-m", "venv", str(venv)], env=env)
    sh([str(venv / "bin" / "pip"), "install", "--quiet", f"uv=={version}"], env=env)
    sh([str(venv / "bin" / "uv"), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)],
       env=env)
    sh([str(venv / "bin" / "python"), "-c", "import deployctl.cli, pulumi, boto3"], env=env)


def timed(go) -> float:  # type: ignore[no-untyped-def]  # a bench helper
    start = time.perf_counter()
    go()
    return time.perf_counter() - start


def run(opts: Options) -> list[Figure]:
    version = uv_version()
    root = bench_dir() / "setup"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        wheel = build_wheel(root)
        house = root / "wheelhouse"
        log("  filling the wheelhouse (untimed)")
        sh([PYTHON, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "-d", str(house), str(wheel),
            f"uv=={version}"], env=env_for(root / "pip-download-cache", root / "unused"))
        scratch = root / "venvs"
        scratch.mkdir()

        def warm() -> dict[str, str]:  # uv's own cache empty each round: it unpacks every wheel, as pip does
            return env_for(Path(tempfile.mkdtemp(dir=root)), Path(tempfile.mkdtemp(dir=root)), house)
        def install(name: str, env: dict[str, str]) -> float:
            if name == "pip":
                return timed(lambda: with_pip(scratch, wheel, env))
            return timed(lambda: with_uv(scratch, wheel, env, version))

        times: dict[str, list[float]] = {"pip": [], "uv": []}
        runs = opts.runs
        for r in range(runs):
            for name in (("pip", "uv") if r % 2 == 0 else ("uv", "pip")):
                times[name].append(install(name, warm()))
                log(f"    warm {name}: {times[name][-1]:.1f} s")
            shutil.rmtree(scratch)
            scratch.mkdir()
        cold: dict[str, list[float]] = {"pip": [], "uv": []}
        for _ in range(0 if opts.quick else COLD_RUNS):  # --quick: the warm figure only
            for name in ("pip", "uv"):
                empty = env_for(Path(tempfile.mkdtemp(dir=root)), Path(tempfile.mkdtemp(dir=root)))
                cold[name].append(install(name, empty))
                log(f"    cold {name}: {cold[name][-1]:.1f} s")
            shutil.rmtree(scratch)
            scratch.mkdir()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    import statistics

    w = {k: statistics.median(v) for k, v in times.items()}
    c = {k: statistics.median(v) for k, v in cold.items() if v}
    figures = [
        Figure("CI set-up, warm cache: fresh venv + wheel + pinned deps, uv / pip", w["uv"], w["pip"],
               "python -m venv + pip install WHEEL, same wheelhouse", max_ratio=0.5,
               note=f"uv {version} pip-installed inside the timing; median of {runs} rounds"),
    ]
    if c:
        figures.append(Figure("CI set-up, cold cache (every wheel downloaded), uv / pip", c["uv"], c["pip"],
                              "python -m venv + pip install WHEEL, empty cache", note=f"{COLD_RUNS} round"))
    return figures


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(modules=("bench.bench_setup",)))
