"""The Pulumi engine at the edge: `preview` and `up` run as the CLI with its event log
(adapters/pulumi/eventlog.py), every other command through the Automation API (adapters/pulumi/automation.py);
never by parsing CLI text.

Defaults make a fresh clone work with no account: a file backend inside the repo
(`.pulumi-state/`, git-ignored) and the empty passphrase. Both are overridable with Pulumi's own
variables (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl.adapters.pulumi.backend import STATE_DIR
from deployctl.adapters.pulumi.cli import find_pulumi
from deployctl.adapters.pulumi.eventlog import CliRun, CliStalled, EventSink, run_preview, run_up
from deployctl.core.trace.outcomes import Outcome, UpdateRecord, changes_from_events, cli_cause, failed_outcome
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from pulumi import automation as auto

CLI_ADVICE = "is it a Pulumi 3 CLI? `make setup` installs the pinned one, or set DEPLOYCTL_PULUMI to one"


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
    # A variable set empty means unset (a workflow's `${{ vars.X }}` that the repository lacks): an empty
    # PULUMI_BACKEND_URL inherited as is would mean Pulumi Cloud. The passphrase is the exception: Pulumi
    # reads an empty one as the empty passphrase, and so does `passphrase()`.
    return {k: v for k, v in env.items()
            if not os.environ.get(k) or k in ("PATH", "PULUMI_PYTHON_CMD")}


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
        self.binary = pulumi_bin.resolve()  # one path for the preview (run in the repo) and the Automation API
        self.env_vars = engine_env(self.root, pulumi_bin)
        if "PULUMI_BACKEND_URL" in self.env_vars:
            (self.root / STATE_DIR).mkdir(exist_ok=True)
        self._stacks: dict[str, auto.Stack] = {}
        self._creating = threading.Lock()

    def _workspace(self) -> auto.LocalWorkspace:
        from deployctl.adapters.pulumi.automation import workspace

        return workspace(self.root, self.env_vars, self.binary)

    def stack(self, env: str) -> auto.Stack:
        """The stack, created when it does not exist yet (only `up` and `preview` create), one at a
        time: stacks update side by side, and creating them must not race."""
        from pulumi import automation as auto

        from deployctl.adapters.pulumi.automation import EngineStalled

        with self._creating:
            if env not in self._stacks:
                try:
                    self._stacks[env] = auto.Stack.create_or_select(env, self._workspace())
                except EngineStalled as exc:
                    raise CannotJudge(f"cannot select or create stack {env}: {exc.message}") from None
            return self._stacks[env]

    def preview(self, env: str, sink: EventSink | None = None, stop: threading.Event | None = None) -> Outcome:
        """`pulumi preview` of the stack, run as the CLI (adapters/pulumi/eventlog.py: no Pulumi import); a
        stack never created (a new env) is created first. `stop` set cancels it (CannotJudge)."""
        run = run_preview(self.binary, self.root, self.env_vars, env, sink, stop)
        if stop is not None and stop.is_set():
            raise CannotJudge(f"`pulumi preview` of {env} was cancelled")
        if run.code < 0:
            by = signal.Signals(-run.code).name
            raise CannotJudge(f"`pulumi preview` of {env} was stopped before it ended, by {by} (out of memory? "
                              "a runner's timeout?); run it again")
        if run.events:
            if run.code != 0:
                return failed_outcome(env, run.events, run.output.strip())
            summary = run.summary()
            if summary is None:
                raise CannotJudge(f"`pulumi preview` of {env} ended without its summary; it printed:\n{run.tail()}\n"
                                  f"({CLI_ADVICE})")
            return Outcome(env=env, ok=True, counts=dict(summary.get("resourceChanges") or {}),
                           changes=tuple(changes_from_events(run.events)))
        if run.code == 0:
            raise CannotJudge(f"`pulumi preview` of {env} wrote no engine event; it printed:\n{run.tail()}\n"
                              f"({CLI_ADVICE})")
        # The engine never started (no such stack yet, an unreadable backend, a wrong passphrase):
        # the Automation API says which, as for every other command.
        return self._preview_through_api(env, sink, stop)

    def _preview_through_api(self, env: str, sink: EventSink | None, stop: threading.Event | None = None) -> Outcome:
        from pulumi import automation as auto

        from deployctl.adapters.pulumi.automation import EngineStalled, collect, error_text

        events: list[dict[str, Any]] = []
        try:
            result = self._named(env).preview(
                on_event=collect(events, sink), diff=True, color="never", suppress_progress=True
            )
        except EngineStalled as exc:
            raise CannotJudge(f"the preview of {env}: {exc.message}") from None
        except auto.errors.StackNotFoundError:
            if env in self._stacks:
                raise
            self.stack(env)  # creates it, as `up` would
            return self.preview(env, sink, stop)
        except auto.errors.CommandError as exc:
            return failed_outcome(env, events, error_text(exc))
        return Outcome(env=env, ok=True, counts=dict(result.change_summary),
                       changes=tuple(changes_from_events(events)))

    def refreshed(self, env: str, sink: EventSink | None = None) -> list[dict[str, Any]] | None:
        """The engine events of `pulumi preview --refresh` of the stack: each resource read back through
        its provider (a refresh step: `old` the record, `new` what was read), then the program's diff
        against it. A preview: nothing is written to the state or its history (nor, on a self-managed
        backend, a lock).
        None for a stack never created (nothing recorded, nothing to read back); reading never creates
        one. A run that failed or stalled is a CannotJudge naming the stack, the app and the cause."""
        from pulumi import automation as auto

        from deployctl.adapters.pulumi.automation import EngineStalled, collect, error_text

        events: list[dict[str, Any]] = []
        try:
            self._named(env).preview(on_event=collect(events, sink), refresh=True, diff=True, color="never",
                                     suppress_progress=True)
        except EngineStalled as exc:
            raise CannotJudge(f"the refresh of {env}: {exc.message}") from None
        except auto.errors.StackNotFoundError:
            return None
        except auto.errors.CommandError as exc:
            failed = failed_outcome(env, events, error_text(exc))
            raise CannotJudge(f"cannot read back what runs in {env} (`pulumi preview --refresh`): "
                              f"{failed.failure_line()}") from None
        return events

    def _named(self, env: str) -> auto.Stack:
        """The stack, without the `pulumi stack select` that selecting it runs (a CLI start, ~0.3 s):
        every command the Automation API runs on a stack names it (`--stack`), so a stack that exists
        needs none, and one that does not fails with StackNotFoundError before anything runs."""
        from deployctl.adapters.pulumi.automation import Named

        if env in self._stacks:
            return self._stacks[env]
        return Named(env, self._workspace())

    def up(self, env: str, message: str, sink: EventSink | None = None,
           outputs: Callable[[str], dict[str, Any] | None] | None = None) -> Outcome:
        """`pulumi up` of the stack, run as the CLI with its event log (adapters/eventlog.run_up: no
        Pulumi import, no gRPC server in this process for the CLI to stream each event to); a stack
        never created (a new env) is created first. With `outputs` (the stack's outputs read where the
        backend keeps them: statereads.StateReads), the update is the only CLI run: its counts come from
        its summary event; else its result is read through the Automation API after it."""
        try:
            run = run_up(self.binary, self.root, self.env_vars, env, message, sink)
        except CliStalled as exc:
            return Outcome(env=env, ok=False, changes=tuple(changes_from_events(exc.run.events)),
                           log=exc.run.framed(),
                           error=f"{exc.message}; if {env} stays locked, `deployctl unlock {env}` clears it")
        if run.code != 0:
            if not run.events and env not in self._stacks and self._not_found(run):
                self.stack(env)  # creates it, as the Automation API's `up` did on StackNotFoundError
                return self.up(env, message, sink, outputs)
            return failed_outcome(env, run.events, run.framed())
        summary = run.summary()
        changes = tuple(changes_from_events(run.events))
        if outputs is not None and summary is not None:
            return Outcome(env=env, ok=True, counts=dict(summary.get("resourceChanges") or {}), changes=changes,
                           outputs=outputs(env) or {},
                           update=0)  # a self-managed backend does not number updates (commands/up.numbered)
        # No store to read the outputs from (Pulumi Cloud), or no summary event: as the Automation API
        # reads an update's result (masked outputs, the newest history record without secrets).
        info = self._named(env).info(show_secrets=False)
        stack_outputs = self._named(env).outputs()
        return Outcome(env=env, ok=True, counts=dict(info.resource_changes or {}) if info else {}, changes=changes,
                       outputs={k: v.value for k, v in stack_outputs.items() if not v.secret},
                       update=info.version if info else 0)

    @staticmethod
    def _not_found(run: CliRun) -> bool:
        """The stack does not exist: the Automation API's own classification of a failed run."""
        from pulumi.automation._cmd import CommandResult
        from pulumi.automation.errors import StackNotFoundError, create_command_error

        return isinstance(create_command_error(CommandResult(run.output, run.errors, run.code)), StackNotFoundError)

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
        from pulumi import automation as auto

        try:
            config = self._named(env).get_all_config()  # names the stack: no `pulumi stack select`
        except auto.errors.CommandError:
            return []
        return [leaf for v in config.values() if v.secret and v.value for leaf in _leaves(v.value)]

    def existing(self, env: str) -> auto.Stack | None:
        """The stack, or None when it was never created: reading never creates one in the backend."""
        from pulumi import automation as auto

        if env not in self._stacks:
            try:
                self._stacks[env] = auto.Stack.select(env, self._workspace())
            except auto.errors.StackNotFoundError:
                return None
            except auto.errors.CommandError as exc:
                raise unreadable(env, "stack", exc) from None
        return self._stacks[env]

    def existing_outputs(self, env: str) -> dict[str, Any] | None:
        """The stack's outputs but its secret ones, or None when the stack was never created (never
        deployed): one `pulumi stack output`, which names the stack (no `pulumi stack select`)."""
        from pulumi import automation as auto

        try:
            outputs = self._named(env).outputs()
        except auto.errors.StackNotFoundError:
            return None
        except auto.errors.CommandError as exc:
            raise unreadable(env, "outputs", exc) from None
        return {k: v.value for k, v in outputs.items() if not v.secret}

    def outputs(self, env: str) -> dict[str, Any]:
        """The stack's outputs, none for a stack never created: reading never creates one."""
        return self.existing_outputs(env) or {}

    def history(self, env: str, page_size: int = 100,
                enough: Callable[[list[UpdateRecord]], bool] | None = None) -> list[UpdateRecord]:
        """The stack's updates, newest first (none for a stack never created): every page, or the pages
        up to the first after which `enough` holds (the stale-run guard wants the newest success only).
        A backend that does not number its updates gets them numbered when every page was read."""
        from pulumi import automation as auto

        from deployctl.adapters.pulumi.automation import update_record

        stack = self._named(env)  # names the stack: no `pulumi stack select`
        records: list[UpdateRecord] = []
        page = 1
        while True:
            try:
                batch = stack.history(page_size=page_size, page=page, show_secrets=False)  # config never read
            except auto.errors.StackNotFoundError:
                return []
            except auto.errors.CommandError as exc:  # an unreadable backend or history file
                raise unreadable(env, "update history", exc) from None
            records.extend(update_record(env, s) for s in batch)
            if len(batch) < page_size:
                break
            if enough is not None and enough(records):
                return records
            page += 1
        if records and not any(r.version for r in records):
            # A file backend does not number updates; number them as the Cloud does, oldest first.
            records = [r.model_copy(update={"version": len(records) - i}) for i, r in enumerate(records)]
        return records


def unreadable(env: str, what: str, exc: auto.errors.CommandError) -> CannotJudge:
    """A read the CLI failed (an unreadable backend or state file, a wrong passphrase), said in one
    line with what to check."""
    from deployctl.adapters.pulumi.automation import EngineStalled, error_text

    if isinstance(exc, EngineStalled):
        return CannotJudge(f"cannot read {env}'s {what}: {exc.message}")
    why = cli_cause(error_text(exc)) or "the Pulumi CLI failed"
    return CannotJudge(f"cannot read {env}'s {what}: {why}; check the Pulumi backend (PULUMI_BACKEND_URL) and "
                       "the passphrase (`deployctl doctor` checks both)")


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
