"""`python bench/timeline_probe.py ARGS...`: `deployctl ARGS...` with the moments of a timeline noted.

Run by bench/merge.py (`--timeline`), never by a user. It notes, in wall-clock seconds (time.time(),
comparable with the bench's BENCH_T0, taken just before this process was started): when this script
began (Python's own start before it), when `deployctl.cli` and the `up` command were imported, when
`prepare` and `deploy_all` began and ended, every child process (its argv's first words, its start
and the moment its exit was seen) and the first and last engine event the progress sink received.
It writes them as JSON to BENCH_TIMELINE_OUT before the CLI ends the process. Nothing is changed in
what the command does: the functions are wrapped, not replaced. Run as a script (not `-m bench...`)
so that PYTHONPATH alone decides which checkout's deployctl runs.
"""

from __future__ import annotations

import time

STARTED = time.time()

import json  # noqa: E402  # the start is noted first
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # bench/ itself: its modules must shadow nothing deployctl imports

MARKS: dict[str, float] = {"script": STARTED}
PROCESSES: list[dict[str, Any]] = []
CALLS: list[dict[str, Any]] = []
"""Each call of a function named in PARTS: its name, start and end."""
PARTS: dict[str, tuple[str, ...]] = {
    "deployctl.commands.up": ("load_pair", "load_head", "_require_checkout", "_safeguards", "newer_commit_stacks",
                              "enforce_ci_policy", "open_engine", "_start_engine", "_store_of", "_stale_stacks",
                              "read_running", "_upstream_not_deployed"),
}
"""The parts of `prepare` timed apart (module -> function names); StateReads' reads are timed too."""
_LOCK = threading.Lock()


def _first(name: str) -> None:
    with _LOCK:
        MARKS.setdefault(name, time.time())


def _last(name: str) -> None:
    with _LOCK:
        MARKS[name] = time.time()


def _words(args: Any) -> list[str]:
    argv = [str(a) for a in (args if isinstance(args, list | tuple) else [args])]
    if not argv:
        return []
    words = [os.path.basename(argv[0])]
    for arg in argv[1:]:
        if arg.startswith("-"):
            continue
        words.append(arg)
        if len(words) == 3:
            break
    return words


_init = subprocess.Popen.__init__
_handle = subprocess.Popen._handle_exitstatus  # type: ignore[attr-defined]  # CPython (POSIX)


def _popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
    start = time.time()
    _init(self, args, *rest, **kw)
    self._bench = {"argv": _words(args), "start": start, "end": None}  # type: ignore[attr-defined]  # the probe's own
    with _LOCK:
        PROCESSES.append(self._bench)  # type: ignore[attr-defined]  # set just above


def _handle_exitstatus(self: subprocess.Popen[Any], *args: Any, **kw: Any) -> None:
    _handle(self, *args, **kw)
    info = getattr(self, "_bench", None)
    if info is not None and info["end"] is None:
        info["end"] = time.time()


subprocess.Popen.__init__ = _popen_init  # type: ignore[method-assign]  # timed, then the real one
subprocess.Popen._handle_exitstatus = _handle_exitstatus  # type: ignore[attr-defined]  # CPython (POSIX)


def _wrap(module: Any, name: str) -> None:
    inner = getattr(module, name)

    def wrapped(*args: Any, **kw: Any) -> Any:
        _first(f"{name}:start")
        try:
            return inner(*args, **kw)
        finally:
            _last(f"{name}:end")

    setattr(module, name, wrapped)


def _timed(owner: Any, name: str, label: str) -> None:
    inner = getattr(owner, name)

    def timed(*args: Any, **kw: Any) -> Any:
        call = {"name": label, "start": time.time(), "end": None}
        try:
            return inner(*args, **kw)
        finally:
            call["end"] = time.time()
            with _LOCK:
                CALLS.append(call)

    setattr(owner, name, timed)


def _dump() -> None:
    out = os.environ.get("BENCH_TIMELINE_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump({"marks": MARKS, "processes": PROCESSES, "calls": CALLS}, fh)


def main() -> None:
    import deployctl.cli as cli

    _first("imported:cli")
    import deployctl.adapters.pulumi.progress as progress
    import deployctl.commands.up as up

    _first("imported:up")
    from importlib import import_module

    for module, names in PARTS.items():
        for name in names:
            if hasattr(import_module(module), name):
                _timed(import_module(module), name, name)
    import deployctl.adapters.pulumi.backend as backend
    import deployctl.adapters.pulumi.stalerun as stalerun
    import deployctl.adapters.pulumi.statereads as statereads

    for name in ("latest_success", "existing_outputs"):
        _timed(statereads.StateReads, name, f"StateReads.{name}")
    _timed(stalerun, "open_store", "open_store")  # the guard's store (named where it is called)
    if hasattr(backend, "s3_client"):  # the process's S3 client (made in the preload thread)
        _timed(backend, "s3_client", "s3_client")
    _wrap(up, "prepare")
    _wrap(up, "deploy_all")
    sink = progress.ResourceProgress.__call__

    def seen(self: Any, event: dict[str, Any]) -> None:
        _first("event:first")
        _last("event:last")
        sink(self, event)

    progress.ResourceProgress.__call__ = seen  # type: ignore[method-assign]  # timed, then the real one
    exit_ = os._exit

    def ending(code: int) -> None:
        _last("exit")
        _dump()
        exit_(code)

    os._exit = ending  # type: ignore[assignment]  # dumps the timeline first
    sys.argv = ["deployctl", *sys.argv[1:]]
    cli.main()
    ending(0)


if __name__ == "__main__":
    main()
