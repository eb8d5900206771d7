"""`pulumi preview` run as the CLI itself, its engine events read from the event log it writes.

The preview is what a reviewer waits for on every push, and on a 2-core runner the Automation API
cost a fifth of it: its import (Pulumi's SDK, gRPC, protobuf: ~0.2 s of CPU) and the gRPC server
the CLI streams each event to compete with the preview's own processes for the same cores
(`make bench`, push -> PR comment). The CLI's `--event-log FILE` writes the same engine events as
JSON lines (the file the Automation API itself read before Pulumi 3.206), which is the shape
core/outcomes reads, so the preview itself needs no Pulumi import. Nothing here reads the CLI's text:
a run that wrote no event (the engine never started: no such stack, an unreadable backend) is
left to the Automation API to tell why (Engine.preview).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployctl.adapters.pulumi.cli import STOP_GRACE, engine_deadline, stall_message
from deployctl.core.urls import redact_urls
from deployctl.core.violations import CannotJudge

EventSink = Callable[[dict[str, Any]], None]

POLL_SECONDS = 0.05
"""How often a running preview's new events are read (each goes to the live progress)."""


@dataclass
class CliRun:
    """What one CLI run left: its exit code (negative: the signal that ended it), its engine events in
    order, and everything it printed (`errors`: its stderr, when that was kept apart)."""

    code: int
    events: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""
    errors: str = ""

    def summary(self) -> dict[str, Any] | None:
        return next((e["summaryEvent"] for e in self.events if "summaryEvent" in e), None)

    def tail(self, lines: int = 20) -> str:
        """The end of what it printed, for a message (the whole of it goes to no terminal)."""
        return "\n".join(self.output.strip().splitlines()[-lines:])

    def framed(self) -> str:
        """Everything it printed, as the Automation API frames a failed run's (its exit code, then
        `stdout:` and `stderr:`): the engine log kept on failure reads as it always did."""
        return f"code: {self.code}\n stdout: {self.output}\n stderr: {self.errors}".strip()


class CliStalled(CannotJudge):
    """A run ended at its deadline (as Ctrl-C would end it): `message` says which command, after how
    long, which variable sets it and the backend to check; `run` is what it wrote until then."""

    def __init__(self, message: str, run: CliRun) -> None:
        super().__init__(message)
        self.message, self.run = message, run


def preview_args(binary: Path, stack: str, log: Path) -> list[str]:
    return [str(binary), "--non-interactive", "preview", f"--stack={stack}", "--diff", "--color", "never",
            "--suppress-progress", "--event-log", str(log)]


def up_args(binary: Path, stack: str, message: str, log: Path) -> list[str]:
    """`pulumi up` as the Automation API runs it (`--exec-kind auto.local`: the update's record is the
    same), the message as one `--message=` word (a message starting with `-` is never a flag)."""
    return [str(binary), "--non-interactive", "up", "--yes", "--skip-preview", f"--message={message}", "--color",
            "never", "--suppress-progress", "--exec-kind", "auto.local", "--stack", stack, "--event-log", str(log)]


def run_preview(binary: Path, root: Path, env_vars: dict[str, str], stack: str, sink: EventSink | None = None,
                stop: threading.Event | None = None) -> CliRun:
    """`pulumi preview --stack STACK` in `root`, each engine event passed to `sink` as it is written.

    `stop` set (the command was interrupted) cancels the run as Ctrl-C in a terminal would: the CLI
    gets SIGINT, ends its plugins, and its files here are removed before this returns."""
    return run_cli(lambda log: preview_args(binary, stack, log), f"pulumi preview --stack {stack}", root, env_vars,
                   sink, stop)


def run_up(binary: Path, root: Path, env_vars: dict[str, str], stack: str, message: str,
           sink: EventSink | None = None) -> CliRun:
    """`pulumi up --stack STACK` in `root`, each engine event passed to `sink` as it is written; its
    stdout and stderr kept apart (Engine.up classifies a failure as the Automation API does). In the
    terminal's process group, as the Automation API ran it: a Ctrl-C reaches the CLI, which cancels
    the update and releases its lock itself. CliStalled past DEPLOYCTL_ENGINE_TIMEOUT."""
    return run_cli(lambda log: up_args(binary, stack, message, log), "pulumi up", root,
                   {**env_vars, "PULUMI_AUTOMATION_API": "true"}, sink, None, own_session=False, apart=True,
                   grace=STOP_GRACE)


def run_cli(args: Callable[[Path], list[str]], command: str, root: Path, env_vars: dict[str, str],
            sink: EventSink | None = None, stop: threading.Event | None = None, own_session: bool = True,
            apart: bool = False, grace: float = 30) -> CliRun:
    """One engine run of the CLI (`args(event_log)`), its events read from the log as they are written.
    CliStalled at its deadline (engine_deadline of its verb), CannotJudge when it cannot start; a run
    stopped or stalled gets SIGINT, then SIGKILL after `grace` s."""
    words = args(Path("events.jsonl"))
    seconds, variable = engine_deadline(words[1:])
    with tempfile.TemporaryDirectory(prefix="deployctl-engine-") as tmp:  # 0700: only this user reads the log
        log, out, err = Path(tmp) / "events.jsonl", Path(tmp) / "output.txt", Path(tmp) / "errors.txt"
        log.touch()  # opened for reading before the CLI writes to it (the CLI appends to this same file)
        # --event-log is one of Pulumi's debug flags, which this variable enables (as the Automation API sets it)
        environ = {**os.environ, **env_vars, "PULUMI_DEBUG_COMMANDS": "true"}
        backend = environ.get("PULUMI_BACKEND_URL", "")
        with out.open("wb") as printed, err.open("wb") as errors, log.open("rb") as reader:
            try:
                # The preview runs in a session of its own: a terminal's Ctrl-C reaches deployctl, which
                # forwards exactly one SIGINT (`stop`); a second would make Pulumi quit at once, leaving
                # its plugins behind.
                proc = subprocess.Popen(args(log), cwd=root, env=environ, stdin=subprocess.DEVNULL, stdout=printed,
                                        stderr=errors if apart else subprocess.STDOUT,
                                        start_new_session=own_session)
            except OSError as exc:
                raise CannotJudge(f"cannot run {words[0]}: {exc.strerror or exc}; run `make setup` or put `pulumi` "
                                  "on PATH") from None
            events: list[dict[str, Any]] = []
            try:
                _follow(proc, reader, sink, stop or threading.Event(), time.monotonic() + seconds, events, grace)
            except _Stalled:  # ended as Ctrl-C would end it; the events it wrote until then are read
                raise CliStalled(stall_message(command, seconds, variable, backend),
                                 _ran(proc, events, out, err, backend)) from None
            finally:
                end_process(proc, grace)
        return _ran(proc, events, out, err, backend)


def _ran(proc: subprocess.Popen[bytes], events: list[dict[str, Any]], out: Path, err: Path, backend: str) -> CliRun:
    # The CLI quotes the backend's URL in its errors (a postgres:// one with its password parameter).
    def text(path: Path) -> str:
        return redact_urls(path.read_text(encoding="utf-8", errors="replace"), [backend])

    return CliRun(code=proc.returncode, events=events, output=text(out), errors=text(err))


class _Stalled(Exception):
    """The run passed its deadline (it is ended as Ctrl-C would end it)."""


def _follow(proc: subprocess.Popen[bytes], reader: Any, sink: EventSink | None,
            stop: threading.Event, deadline: float, events: list[dict[str, Any]], grace: float = 30) -> None:
    """Every event the running CLI writes, in order, added to `events` until it exits (then the rest
    of the file); _Stalled once the monotonic `deadline` passes."""
    exited = _ExitWatch(proc)
    try:
        _follow_events(proc, reader, sink, stop, deadline, events, grace, exited)
    finally:
        exited.close()


def _follow_events(proc: subprocess.Popen[bytes], reader: Any, sink: EventSink | None, stop: threading.Event,
                   deadline: float, events: list[dict[str, Any]], grace: float, exited: _ExitWatch) -> None:
    pending = b""
    stalled = False
    garbled: CannotJudge | None = None  # said once the run has ended: an update is never cut short for it
    while True:
        ended = proc.poll() is not None  # asked before reading: once ended, one more read has it all
        pending += reader.read()
        *lines, pending = pending.split(b"\n")
        if ended and pending.strip():  # a last line without its newline
            lines, pending = [*lines, pending], b""
        for line in lines:
            if line.strip() and garbled is None:
                try:
                    events.append(_parse(line, len(events) + 1))
                except CannotJudge as exc:
                    garbled = exc
                    continue
                if sink is not None:
                    sink(events[-1])
        if ended:
            if stalled:
                raise _Stalled
            if garbled is not None:
                raise garbled
            return
        if not stalled and time.monotonic() > deadline:
            stalled = True
        if stop.is_set() or stalled:
            end_process(proc, grace)
            continue  # the events it wrote before it ended are read all the same
        exited.wait(POLL_SECONDS)


class _ExitWatch:
    """Waits up to a poll interval for the CLI to exit, waking the moment it does: Linux's pidfd, where
    Popen.wait(timeout) would sleep in growing steps (up to ~20 ms late each interval)."""

    def __init__(self, proc: subprocess.Popen[Any]):
        self.proc, self.fd = proc, None
        with contextlib.suppress(AttributeError, OSError):  # no pidfd (not Linux 5.3+): Popen's own wait
            self.fd = os.pidfd_open(proc.pid)

    def wait(self, seconds: float) -> None:
        if self.fd is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=seconds)
            return
        select.select([self.fd], [], [], seconds)  # readable once the process has exited

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def end_process(proc: subprocess.Popen[Any], grace: float = 30) -> None:
    """End a CLI still running as Ctrl-C would (it cancels and stops its plugins); kill it after `grace` s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _parse(line: bytes, number: int) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise CannotJudge(f"the Pulumi CLI wrote an event that is not a JSON object (event {number} of its "
                          f"--event-log): {line[:200].decode(errors='replace')!r}; is it a Pulumi 3 CLI? `make setup` "
                          "installs the pinned one")
    return event
