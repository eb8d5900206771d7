"""What the engine did, as plain data: resource steps, outcomes, update records.

Pure and light (no Pulumi import), so rendering, history and status never pay for the engine.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel


class PropertyChange(LazyModel):
    """One changed property of a resource: its path, the diff kind, and the old and new values as text."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: str
    old: str | None = None
    new: str | None = None


class ResourceChange(LazyModel):
    """One resource's planned or applied step, from an engine event."""

    model_config = ConfigDict(frozen=True)

    urn: str
    type: str
    name: str
    op: str
    diffs: tuple[str, ...] = ()
    detailed: dict[str, str] = {}
    """Property path to diff kind (add, update, delete, *-replace)."""
    properties: tuple[PropertyChange, ...] = ()
    """Each changed property with its old and new value, from the step's old and new state."""


class Outcome(LazyModel):
    """What one preview or up of one stack did."""

    model_config = ConfigDict(frozen=True)

    env: str
    ok: bool
    counts: dict[str, int] = {}
    changes: tuple[ResourceChange, ...] = ()
    error: str | None = None
    outputs: dict[str, Any] = {}
    update: int | None = None
    skipped: str | None = None
    """Why this stack was not run (an upstream failed, or a newer run deploys it)."""
    warnings: tuple[str, ...] = ()
    """The engine's warning diagnostics, so a reviewer sees them in the comment."""
    failed_app: str | None = None
    """The app whose resource failed, when the failure is one app's (None: the program or the stack)."""
    log: str | None = None
    """The engine's full output of a failed run, for a log file; `error` is its one-line cause."""
    log_file: str | None = None
    """Where that full output was saved, once it was."""

    def failure_line(self) -> str:
        """One line for a person and for Slack: env, app, cause; never a traceback."""
        who = f"app {self.failed_app}" if self.failed_app else "the stack"
        return f"{self.env}: failed: {who}: {self.error or 'the engine failed without saying why'}"


class UpdateRecord(LazyModel):
    """One entry of `pulumi stack history`."""

    model_config = ConfigDict(frozen=True)

    env: str
    version: int | None
    kind: str
    result: str
    message: str
    start: datetime | None
    end: datetime | None
    environment: dict[str, str] = {}
    counts: dict[str, int] = {}

    @property
    def head(self) -> str | None:
        """The deploy-repo commit this update ran from: Pulumi's own `git.head`, recorded as data for
        every update run from a git checkout (which `up` requires); else the `merge <sha>` that
        deployctl's update message names, the only trace in records made without git metadata."""
        if head := self.environment.get("git.head"):
            return head
        from deployctl.core.trace.updatemessage import merge_of

        return merge_of(self.message)


def change_from_event(event: dict[str, Any]) -> ResourceChange | None:
    """A ResourceChange from an engine event as JSON (the `--event-log` and `on_event` shape)."""
    pre = event.get("resourcePreEvent") or event.get("resOutputsEvent")
    if not pre:
        return None
    meta = pre.get("metadata") or {}
    urn = meta.get("urn", "")
    detailed = {
        path: str(diff.get("diffKind") or diff.get("kind") or "update").lower()
        for path, diff in (meta.get("detailedDiff") or {}).items()
    }
    replace_keys = set(meta.get("keys") or ())
    if "replace" in str(meta.get("op", "")):
        # The engine names what forces a replacement in `keys`; say so on the property.
        detailed = {p: (k if k.endswith("-replace") or _top(p) not in replace_keys else f"{k}-replace")
                    for p, k in detailed.items()}
    return ResourceChange(
        urn=urn,
        type=meta.get("type", ""),
        name=urn.rsplit("::", 1)[-1],
        op=meta.get("op", ""),
        diffs=tuple(meta.get("diffs") or ()),
        detailed=detailed,
        properties=property_changes(meta, detailed),
    )


# -- property values ------------------------------------------------------------------------------

SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""The key Pulumi marks a secret value with; the engine's events carry only a blinded ciphertext."""
SECRET_TEXT = "[secret]"
VALUE_LIMIT = 120
_PATH_TOKEN = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.\[\]]+)')


def _top(path: str) -> str:
    m = _PATH_TOKEN.match(path)
    return next((g for g in m.groups() if g is not None), path) if m else path


def _path_keys(path: str) -> list[str | int]:
    """`a.b[0]["c.d"]` -> ["a", "b", 0, "c.d"] (the engine's property path syntax)."""
    keys: list[str | int] = []
    for quoted, index, plain in _PATH_TOKEN.findall(path):
        keys.append(int(index) if index else (quoted or plain))
    return keys


_MISSING = object()


def _lookup(values: Any, path: str) -> Any:
    for key in _path_keys(path):
        if isinstance(values, dict) and values.get(SECRET_SIG):
            return values  # inside a secret: the whole value is secret
        if isinstance(key, int) and isinstance(values, list) and 0 <= key < len(values):
            values = values[key]
        elif isinstance(values, dict) and str(key) in values:
            values = values[str(key)]
        else:
            return _MISSING
    return values


def _has_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get(SECRET_SIG)) or any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return bool(value == SECRET_TEXT)


def show_value(value: Any) -> str | None:
    """A property value as short text; a secret (or anything holding one) is only `[secret]`."""
    if value is _MISSING:
        return None
    if _has_secret(value):
        return SECRET_TEXT
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def property_changes(meta: dict[str, Any], detailed: dict[str, str]) -> tuple[PropertyChange, ...]:
    """Old and new value of each changed property: the detailed diff's paths (else `diffs`), looked up
    in the step's old and new inputs (or outputs, for a diff the provider computed on outputs)."""
    old_state, new_state = meta.get("old") or {}, meta.get("new") or {}
    raw = meta.get("detailedDiff") or {}
    paths = dict(detailed) or dict.fromkeys(meta.get("diffs") or (), "update")
    out = []
    for path, kind in sorted(paths.items()):
        if path.startswith("__"):
            continue  # the dynamic provider's own plumbing (`__provider`), not a property
        side = "inputs" if (raw.get(path) or {}).get("inputDiff", True) else "outputs"
        old = _lookup(old_state.get(side) or {}, path)
        new = _lookup(new_state.get(side) or {}, path)
        out.append(PropertyChange(path=path, kind=kind, old=show_value(old), new=show_value(new)))
    return tuple(out)


def changes_from_events(events: list[dict[str, Any]]) -> list[ResourceChange]:
    """The planned step of each resource (pre events; outputs events only fill gaps)."""
    seen: dict[str, ResourceChange] = {}
    for event in events:
        change = change_from_event(event)
        if change is None:
            continue
        old = seen.get(change.urn)
        if old is None or ("resourcePreEvent" in event and _RANK.get(change.op, 1) >= _RANK.get(old.op, 1)):
            seen[change.urn] = change
    return list(seen.values())


# A replacement arrives as create-replacement, replace and delete-replaced steps: report `replace`.
_RANK = {"create-replacement": 0, "delete-replaced": 0, "replace": 2}


def warnings_from_events(events: list[dict[str, Any]]) -> tuple[str, ...]:
    """The engine's warnings, each once, with the resource they are about."""
    seen: dict[str, None] = {}
    for event in events:
        diag = event.get("diagnosticEvent")
        if diag and diag.get("severity") == "warning":
            message = str(diag.get("message", "")).strip()
            name = str(diag.get("urn") or "").rsplit("::", 1)[-1]
            if message:
                seen[f"{name}: {message}" if name else message] = None
    return tuple(seen)


# -- failures: one line out of the engine's output ---------------------------------------------

_GENERIC = re.compile(
    r"^(update failed|preview failed|refresh failed|destroy failed|resource monitor has terminated.*|"
    r"\d+ errors? occurred.*|an unhandled error occurred.*|program failed.*)$", re.IGNORECASE)
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?(?:[A-Z]\w*(?:Error|Exception|Judge|Exit)|Exception)"
                             r"(?::\s*(?P<msg>.*))?$")
_DIAG_HEAD = re.compile(r"^\s{2}(?P<type>\S+) \((?P<name>[^)]*)\):\s*$")
MAX_CAUSE = 400


def cause_of(message: str) -> str | None:
    """The one line that says why, from a diagnostic: a traceback's final exception message (its
    class name dropped), else the first line that is not generic; None when nothing specific."""
    lines = [ln.strip() for ln in message.replace("\r", "").splitlines() if ln.strip()]
    lines = [ln[len("stderr:"):].strip() if ln.startswith("stderr:") else ln for ln in lines]  # a CommandError's
    lines = [ln[len("error:"):].strip() if ln.lower().startswith("error:") else ln for ln in lines]
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        for line in reversed(lines):
            if (m := _EXCEPTION_LINE.match(line)) is not None:
                return _clip(m.group("msg") or line)
        return None
    for line in lines:
        if not _GENERIC.match(line):
            return _clip(line)
    return None


_NO_CREDENTIALS = re.compile(
    r"NoCredentialProviders|no valid providers in chain|failed to refresh cached credentials|no EC2 IMDS role found|"
    r"Unable to locate credentials|could not find default credentials|DefaultAzureCredential failed", re.IGNORECASE)
NO_CREDENTIALS = ("no cloud credentials were found for the backend (in GitHub: the job's role through "
                  "configure-aws-credentials; elsewhere AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")


def cli_cause(text: str) -> str | None:
    """Why a Pulumi CLI read failed, in one whole line: missing cloud credentials said as such, else its
    last `error:` line (never an SDK's warning printed before it, such as a fallback to IMDSv1)."""
    if _NO_CREDENTIALS.search(text):
        return NO_CREDENTIALS
    lines = [re.sub(r"^(stdout|stderr):\s*", "", ln.strip()) for ln in text.replace("\r", "").splitlines()]
    lines = [ln for ln in lines if ln and not re.fullmatch(r"code: -?\d+", ln)]  # the Automation API's frame
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    quiet = [ln for ln in lines if not re.search(r"\bWARN(ING)?\b", ln)]
    return cause_of("\n".join(errors[-1:] or quiet or lines))


def _clip(text: str, limit: int = MAX_CAUSE) -> str:
    """One line of at most `limit` characters, cut at a word and marked, never mid-word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def app_of_resource(name: str, apps: list[str]) -> str | None:
    """The app a resource belongs to: components name their resources `<app>` or `<app>-<part>`."""
    found = [a for a in apps if name == a or name.startswith(a + "-")]
    return max(found, key=len) if found else None


def apps_in(events: list[dict[str, Any]]) -> list[str]:
    """The apps the program registered: one `deploys:apps:<Kind>` component each, named after it."""
    apps = set()
    for event in events:
        meta = (event.get("resourcePreEvent") or event.get("resOutputsEvent") or {}).get("metadata") or {}
        if str(meta.get("type", "")).startswith("deploys:apps:"):
            apps.add(str(meta.get("urn", "")).rsplit("::", 1)[-1])
    return sorted(apps)


def failure(events: list[dict[str, Any]], text: str, apps: list[str] | None = None) -> tuple[str | None, str]:
    """(app, cause) of a failed preview or up: the first resource error wins over the stack's own
    generic ones; from the engine's events, else from its Diagnostics section."""
    apps = apps_in(events) if apps is None else apps
    found: list[tuple[str | None, str]] = []
    for event in events:
        diag = event.get("diagnosticEvent") or {}
        if diag.get("severity") != "error":
            continue
        cause = cause_of(str(diag.get("message", "")))
        if cause:
            urn = str(diag.get("urn") or "")
            name = urn.rsplit("::", 1)[-1] if urn else ""
            is_stack = "::pulumi:pulumi:Stack::" in urn
            found.append((None if is_stack or not name else app_of_resource(name, apps), cause))
    if not found:
        found = _from_diagnostics(text, apps)
    if not found:  # no event, no Diagnostics: the CLI stopped before the engine ran (a backend, credentials)
        return None, cli_cause(text) or "the engine failed; see its log"
    with_app = [f for f in found if f[0] is not None]
    return (with_app or found)[0]


def _from_diagnostics(text: str, apps: list[str]) -> list[tuple[str | None, str]]:
    """The `Diagnostics:` section of the engine's output: a resource heading, then its messages."""
    if "Diagnostics:" not in text:
        return []
    section = text.split("Diagnostics:", 1)[1].split("\nResources:", 1)[0]
    blocks: list[tuple[str, str, list[str]]] = []
    for line in section.splitlines():
        if (m := _DIAG_HEAD.match(line)) is not None:
            blocks.append((m.group("type"), m.group("name"), []))
        elif blocks:
            blocks[-1][2].append(line)
    out: list[tuple[str | None, str]] = []
    for type_, name, body in blocks:
        cause = cause_of("\n".join(body))
        if cause:
            out.append((None if type_ == "pulumi:pulumi:Stack" else app_of_resource(name, apps), cause))
    return out


def failed_outcome(env: str, events: list[dict[str, Any]], text: str) -> Outcome:
    """The Outcome of a run the engine reported as failed: a one-line cause, the app, the full log."""
    app, cause = failure(events, text)
    return Outcome(env=env, ok=False, changes=tuple(changes_from_events(events)), error=cause,
                   failed_app=app, log=text)
