"""The Pulumi engine at the edge, through the Automation API (never by parsing CLI text).

Defaults make a fresh clone work with no account: a file backend inside the repo
(`.pulumi-state/`, git-ignored) and the empty passphrase. Both are overridable with Pulumi's own
variables (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from deployctl.adapters.backend import STATE_DIR
from deployctl.adapters.pulumicli import find_pulumi, version_of
from deployctl.core.outcomes import Outcome, UpdateRecord, changes_from_events, failed_outcome
from deployctl.core.violations import CannotJudge


def engine_env(root: Path, pulumi_bin: Path | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if not os.environ.get("PULUMI_BACKEND_URL"):
        env["PULUMI_BACKEND_URL"] = (root / STATE_DIR).resolve().as_uri()
    if not (os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None
            or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    # The language host built here predates Pulumi.yaml's `virtualenv` option: name the python.
    env["PULUMI_PYTHON_CMD"] = os.environ.get("PULUMI_PYTHON_CMD") or sys.executable
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    # The language host, the dynamic provider and this venv's python must be found first.
    dirs = [str(Path(sys.executable).parent)]
    if pulumi_bin is not None:
        dirs.append(str(pulumi_bin.resolve().parent))
    env["PATH"] = os.pathsep.join([*dirs, os.environ.get("PATH", "")])
    return {k: v for k, v in env.items() if k not in os.environ or k in ("PATH", "PULUMI_PYTHON_CMD")}


EventSink = Callable[[dict[str, Any]], None]
_COMMANDS: dict[Path, auto.PulumiCommand] = {}
_COMMANDS_LOCK = threading.Lock()


class _KnownVersion(auto.PulumiCommand):
    """The Automation API's command for a CLI whose `pulumi version` already ran (pulumicli.version_of,
    started before Pulumi was even imported). The base constructor does nothing but run it again and
    parse what it prints (a CLI start, ~0.3 s, on the way to every preview)."""

    def __init__(self, binary: Path, version: str) -> None:  # no super().__init__(): see above
        from semver import VersionInfo

        self.command = str(binary)  # where it is, in a bin/ folder or not (a release tarball's pulumi/pulumi)
        try:
            self.version = VersionInfo.parse(version.removeprefix("v"))
        except ValueError:  # a dev build's odd version: the Automation API then assumes the newest features
            self.version = None


class _Named(auto.Stack):
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


class Engine:
    """Pulumi stacks of the deploy repo, one per env folder."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        pulumi_bin = find_pulumi()
        if pulumi_bin is None:
            raise CannotJudge(
                "the Pulumi CLI is not installed; run `make setup` (it builds or finds it) "
                "or put `pulumi` on PATH"
            )
        self.env_vars = engine_env(self.root, pulumi_bin)
        if "PULUMI_BACKEND_URL" in self.env_vars:
            (self.root / STATE_DIR).mkdir(exist_ok=True)
        self.command = command_for(pulumi_bin)
        self._stacks: dict[str, auto.Stack] = {}
        self._creating = threading.Lock()

    def _options(self) -> auto.LocalWorkspaceOptions:
        """The one workspace every stack of the deploy repo runs in: its folder, the engine's env, the CLI."""
        return auto.LocalWorkspaceOptions(work_dir=str(self.root), env_vars=self.env_vars, pulumi_command=self.command)

    def _workspace(self) -> _Workspace:
        return _Workspace(**self._options().__dict__)

    def stack(self, env: str) -> auto.Stack:
        """The stack, created when it does not exist yet (only `up` and `preview` create), one at a
        time: stacks update side by side, and creating them must not race."""
        with self._creating:
            if env not in self._stacks:
                self._stacks[env] = auto.Stack.create_or_select(env, self._workspace())
            return self._stacks[env]

    def preview(self, env: str, sink: EventSink | None = None) -> Outcome:
        """`pulumi preview` of the stack; a stack never created (a new env) is created first."""
        events: list[dict[str, Any]] = []
        try:
            result = self._named(env).preview(
                on_event=_collect(events, sink), diff=True, color="never", suppress_progress=True
            )
        except auto.errors.StackNotFoundError:
            if env in self._stacks:
                raise
            self.stack(env)  # creates it, as `up` would
            return self.preview(env, sink)
        except auto.errors.CommandError as exc:
            return failed_outcome(env, events, _error_text(exc))
        return Outcome(env=env, ok=True, counts=dict(result.change_summary),
                       changes=tuple(changes_from_events(events)))

    def _named(self, env: str) -> auto.Stack:
        """The stack, without the `pulumi stack select` that selecting it runs (a CLI start, ~0.3 s):
        every command the Automation API runs on a stack names it (`--stack`), so a stack that exists
        needs none, and one that does not fails with StackNotFoundError before anything runs."""
        if env in self._stacks:
            return self._stacks[env]
        return _Named(env, self._workspace())

    def up(self, env: str, message: str, sink: EventSink | None = None) -> Outcome:
        """`pulumi up` of the stack; a stack never created (a new env) is created first."""
        events: list[dict[str, Any]] = []
        try:
            result = self._named(env).up(
                on_event=_collect(events, sink), message=message, color="never",
                suppress_progress=True,
            )
        except auto.errors.StackNotFoundError:
            if env in self._stacks:
                raise
            self.stack(env)  # creates it
            return self.up(env, message, sink)
        except auto.errors.CommandError as exc:
            return failed_outcome(env, events, _error_text(exc))
        return Outcome(
            env=env, ok=True, counts=dict(result.summary.resource_changes or {}),
            changes=tuple(changes_from_events(events)),
            outputs={k: v.value for k, v in result.outputs.items() if not v.secret},
            update=result.summary.version,
        )

    def secret_values(self, env: str) -> list[str]:
        """Plain values of the stack's secret config, to redact from anything we print or post.

        A stack config file without a `secure` value or an `environment` (ESC) import has none: the
        engine is not asked (a CLI run of its own, a fifth of a small preview)."""
        try:
            text = (self.root / f"Pulumi.{env}.yaml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        if text is not None and "secure" not in text and "environment" not in text:
            return []
        try:
            config = self._named(env).get_all_config()  # names the stack: no `pulumi stack select`
        except auto.errors.CommandError:
            return []
        return [leaf for v in config.values() if v.secret and v.value for leaf in _leaves(v.value)]

    def existing(self, env: str) -> auto.Stack | None:
        """The stack, or None when it was never created: reading never creates one in the backend."""
        if env not in self._stacks:
            try:
                self._stacks[env] = auto.Stack.select(env, self._workspace())
            except auto.errors.StackNotFoundError:
                return None
        return self._stacks[env]

    def existing_outputs(self, env: str) -> dict[str, Any] | None:
        """The stack's outputs but its secret ones, or None when the stack was never created (never
        deployed): one `pulumi stack output`, which names the stack (no `pulumi stack select`)."""
        try:
            outputs = self._named(env).outputs()
        except auto.errors.StackNotFoundError:
            return None
        return {k: v.value for k, v in outputs.items() if not v.secret}

    def outputs(self, env: str) -> dict[str, Any]:
        """The stack's outputs, none for a stack never created: reading never creates one."""
        return self.existing_outputs(env) or {}

    def history(self, env: str, page_size: int = 100,
                enough: Callable[[list[UpdateRecord]], bool] | None = None) -> list[UpdateRecord]:
        """The stack's updates, newest first (none for a stack never created): every page, or the pages
        up to the first after which `enough` holds (the stale-run guard wants the newest success only).
        A backend that does not number its updates gets them numbered when every page was read."""
        stack = self._named(env)  # names the stack: no `pulumi stack select`
        records: list[UpdateRecord] = []
        page = 1
        while True:
            try:
                batch = stack.history(page_size=page_size, page=page, show_secrets=False)  # config never read
            except auto.errors.StackNotFoundError:
                return []
            records.extend(_record(env, s) for s in batch)
            if len(batch) < page_size:
                break
            if enough is not None and enough(records):
                return records
            page += 1
        if records and not any(r.version for r in records):
            # A file backend does not number updates; number them as the Cloud does, oldest first.
            records = [r.model_copy(update={"version": len(records) - i}) for i, r in enumerate(records)]
        return records


def _utc(moment: datetime | None) -> datetime | None:
    """The Automation API reports naive UTC times; make them comparable with git's."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _leaves(value: str) -> list[str]:
    """A secret's plain value and, for structured config, every string inside it."""
    try:
        data = json.loads(value)
    except ValueError:
        return [value]
    out = [value]
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str | int | float) and not isinstance(item, bool):
            out.append(str(item))
    return out


def _record(env: str, s: auto.UpdateSummary) -> UpdateRecord:
    return UpdateRecord(
        env=env, version=s.version, kind=str(s.kind), result=str(s.result), message=s.message or "",
        start=_utc(s.start_time), end=_utc(s.end_time), environment=dict(s.environment or {}),
        counts=dict(s.resource_changes or {}),
    )


def _collect(events: list[dict[str, Any]], sink: EventSink | None) -> Callable[[Any], None]:
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
    """Back to the wire JSON shape (`--event-log`), so live events and recorded streams take one path."""
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


def _error_text(exc: auto.errors.CommandError) -> str:
    """The engine's whole output of a failed run (for the log file; outcomes extracts the cause)."""
    text = ((getattr(exc, "stdout", "") or "") + "\n" + (getattr(exc, "stderr", "") or "")).strip()
    return text or str(exc)
