"""The Automation API as deployctl drives it: the command, stack and workspace classes it builds
without the CLI runs their constructors make, and the engine's answers turned into plain data.

Imported on first use (adapters/pulumi/engine.py): importing Pulumi's SDK costs ~0.2 s of CPU, which
`deployctl preview` never pays (adapters/pulumi/eventlog.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import create_command_error

from deployctl.adapters.pulumi.cli import STOP_GRACE, command_words, engine_deadline, stall_message, version_of
from deployctl.adapters.pulumi.eventlog import EventSink, end_process
from deployctl.core.trace.outcomes import UpdateRecord
from deployctl.core.urls import redact_urls

_COMMANDS: dict[Path, auto.PulumiCommand] = {}
_COMMANDS_LOCK = threading.Lock()


class _KnownVersion(auto.PulumiCommand):
    """The Automation API's command for a CLI whose version is known (pulumicli.version_of: kept in
    the cache folder per binary). The base constructor does nothing but run `pulumi version` and parse
    what it prints (a CLI start, ~0.3 s, on the way to every update)."""

    def __init__(self, binary: Path, version: str) -> None:  # no super().__init__(): see above
        from semver import VersionInfo

        self.command = str(binary)  # where it is, in a bin/ folder or not (a release tarball's pulumi/pulumi)
        try:
            self.version = VersionInfo.parse(version.removeprefix("v"))
        except ValueError:  # a dev build's odd version: the Automation API then assumes the newest features
            self.version = None

    def run(self, args: list[str], cwd: str, additional_env: Mapping[str, str],
            on_output: Callable[[str], Any] | None = None,
            on_error: Callable[[str], Any] | None = None) -> CommandResult:
        """Every command the Automation API runs (up, stack output, history...), bounded: _run_bounded."""
        return _run_bounded(self.command, args, cwd, additional_env, on_output, on_error)


class EngineStalled(auto.errors.CommandError):
    """An engine run that did not end within its deadline, and was ended: `message` says which, after
    how long, and which variable sets the deadline; str() adds what the run printed before."""

    def __init__(self, message: str, result: CommandResult) -> None:
        super().__init__(result)
        self.message = message
        self.args = (f"{message}\n{result}",)


def _run_bounded(command: str, args: list[str], cwd: str, additional_env: Mapping[str, str],
                 on_output: Callable[[str], Any] | None, on_error: Callable[[str], Any] | None) -> CommandResult:
    """The Automation API's PulumiCommand.run (same arguments, environment, output callbacks and
    errors), with a deadline: past it the CLI gets SIGINT (it cancels, ends its plugins and releases
    what it can), then SIGKILL after a grace, and EngineStalled names the command and the deadline."""
    sep = args.index("--") if "--" in args else len(args)
    if "--non-interactive" not in args[:sep]:
        args.insert(0, "--non-interactive")  # fail rather than prompt (and so hang)
    seconds, variable = engine_deadline(args)
    env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
    if os.path.isabs(command):
        env["PATH"] = os.pathsep.join([os.path.dirname(command), env.get("PATH", "")])
    stdout_chunks: list[str] = []
    stderr_chunks: list[str] = []

    def consume(stream: Any, callback: Callable[[str], Any] | None, chunks: list[str]) -> None:
        for line in iter(stream.readline, ""):
            stripped = line.rstrip()
            if callback:
                callback(stripped)
            chunks.append(stripped)
        stream.close()

    stalled = threading.Event()
    with subprocess.Popen([command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                          encoding="utf-8") as process:
        def expire() -> None:
            stalled.set()
            end_process(process, STOP_GRACE)

        readers = [threading.Thread(target=consume, args=(process.stdout, on_output, stdout_chunks), daemon=True),
                   threading.Thread(target=consume, args=(process.stderr, on_error, stderr_chunks), daemon=True)]
        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        for reader in readers:
            reader.start()
        timer.start()
        try:
            process.wait()
            for reader in readers:  # a plugin left holding the pipes must not hold this run
                reader.join(timeout=STOP_GRACE if stalled.is_set() else None)
        finally:
            timer.cancel()
    result = CommandResult(stderr="\n".join(stderr_chunks), stdout="\n".join(stdout_chunks), code=process.returncode)
    if stalled.is_set():
        raise EngineStalled(stall_message(command_words(args), seconds, variable, env.get("PULUMI_BACKEND_URL", "")),
                            result)
    if result.code != 0:
        raise create_command_error(result)
    return result


class Named(auto.Stack):
    """A stack handle made without selecting the stack (see Engine._named). The base constructor does
    nothing else than run `pulumi stack select` (or `init`) and keep the three attributes set here."""

    def __init__(self, name: str, workspace: auto.Workspace) -> None:  # no super().__init__(): see above
        from pulumi.automation._stack import StackInitMode

        self.name, self.workspace, self._mode = name, workspace, StackInitMode.SELECT


def command_for(pulumi_bin: Path) -> auto.PulumiCommand:
    """The Automation API's command for this CLI, built once per process."""
    binary = pulumi_bin.resolve()
    with _COMMANDS_LOCK:
        if binary not in _COMMANDS:
            _COMMANDS[binary] = _KnownVersion(binary, version_of(pulumi_bin))
        return _COMMANDS[binary]


_MASKED = "[secret]"
"""What `pulumi stack output --json` prints for a secret output when not asked to show secrets."""


class _Workspace(auto.LocalWorkspace):
    """The Automation API's local workspace, reading outputs once, masked. Its own `stack_outputs`
    runs `pulumi stack output` twice, the second time decrypting every secret output
    (`--show-secrets`) only to tell which are secret. deployctl never uses a secret output's value,
    so the masked run says all it needs: one CLI start (~0.3 s) less, and nothing decrypted."""

    def stack_outputs(self, stack_name: str) -> auto.OutputMap:
        masked = json.loads(self._run_pulumi_cmd_sync(["stack", "output", "--json", "--stack", stack_name]).stdout)
        return {key: auto.OutputValue(value=None if value == _MASKED else value, secret=value == _MASKED)
                for key, value in masked.items()}


def workspace(root: Path, env_vars: dict[str, str], pulumi_bin: Path) -> auto.LocalWorkspace:
    """A workspace of the deploy repo: its folder, the CLI, and the engine's env as given (the very
    dict every run reads, which the switch-back's pin edits)."""
    return _Workspace(work_dir=str(root), env_vars=env_vars, pulumi_command=command_for(pulumi_bin))


def _utc(moment: datetime | None) -> datetime | None:
    """The Automation API reports naive UTC times; make them comparable with git's."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def update_record(env: str, s: auto.UpdateSummary) -> UpdateRecord:
    return UpdateRecord(
        env=env, version=s.version, kind=str(s.kind), result=str(s.result), message=s.message or "",
        start=_utc(s.start_time), end=_utc(s.end_time), environment=dict(s.environment or {}),
        counts=dict(s.resource_changes or {}),
    )


def collect(events: list[dict[str, Any]], sink: EventSink | None) -> Callable[[Any], None]:
    """The Automation API's on_event: each event in the wire shape, kept and passed to `sink`."""
    def on_event(event: Any) -> None:
        data = _event_dict(event)
        events.append(data)
        if sink is not None:
            sink(data)

    return on_event


def _state_dict(state: Any) -> dict[str, Any] | None:
    """A step's old or new state: the inputs and outputs the engine sent (secrets already blinded)."""
    if state is None:
        return None
    return {"urn": state.urn, "type": state.type, "custom": bool(state.custom), "inputs": dict(state.inputs or {}),
            "outputs": dict(state.outputs or {})}


def _meta_dict(meta: Any) -> dict[str, Any]:
    return {
        "op": str(getattr(meta.op, "value", meta.op)),
        "urn": meta.urn,
        "type": meta.type,
        "old": _state_dict(meta.old),
        "new": _state_dict(meta.new),
        "keys": list(meta.keys or []),
        "diffs": list(meta.diffs or []),
        "detailedDiff": {
            k: {"diffKind": str(getattr(d.diff_kind, "value", d.diff_kind)), "inputDiff": bool(d.input_diff)}
            for k, d in (meta.detailed_diff or {}).items()
        },
    }


def _event_dict(event: Any) -> dict[str, Any]:
    """Back to the wire JSON shape (`--event-log`), so live events and the preview's event log take one path."""
    out: dict[str, Any] = {"sequence": getattr(event, "sequence", None), "timestamp": getattr(event, "timestamp", None)}
    pre = getattr(event, "resource_pre_event", None)
    outs = getattr(event, "res_outputs_event", None)
    for key, value in (("resourcePreEvent", pre), ("resOutputsEvent", outs)):
        if value is not None:
            out[key] = {"metadata": _meta_dict(value.metadata), "planning": bool(value.planning)}
    failed = getattr(event, "res_op_failed_event", None)
    if failed is not None:
        out["resOpFailedEvent"] = {"metadata": _meta_dict(failed.metadata), "status": failed.status,
                                   "steps": failed.steps}
    diag = getattr(event, "diagnostic_event", None)
    if diag is not None:
        out["diagnosticEvent"] = {"message": diag.message, "severity": diag.severity, "urn": diag.urn or ""}
    summary = getattr(event, "summary_event", None)
    if summary is not None:
        out["summaryEvent"] = {"resourceChanges": dict(summary.resource_changes or {}),
                               "durationSeconds": summary.duration_seconds}
    if getattr(event, "cancel_event", None) is not None:
        out["cancelEvent"] = {}
    return out


def error_text(exc: auto.errors.CommandError) -> str:
    """The engine's whole output of a failed run, as the Automation API gives it (its exit code, then
    `stdout:` and `stderr:` sections), for the log file; outcomes.failure extracts the cause. Without
    credentials: the CLI quotes the backend's URL (a postgres:// one with its password parameter)."""
    return redact_urls(str(exc).strip(), [os.environ.get("PULUMI_BACKEND_URL", "")])
