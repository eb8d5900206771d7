"""Out-of-band drift, judged from the engine's own refresh: what really runs against Pulumi's record.

`pulumi preview --refresh` reads every resource back through its provider (the `local` kind's own
`read`: its `current` link and release folder; the AWS provider for the rest) and reports each
refresh step with the recorded state (`old`) and the state read back (`new`), which this module turns
into one `OutOfBand` per app whose resources differ. Which commit runs is read per kind from where
the kind keeps the commit (core/kinds/artifactnames.py): the `local` release's `commit`, the ECS task
definition's image tag, the Lambda function's image tag or zip key (the one `live` alias points at),
the CloudFront distribution's origin path. A pointer moved by hand (the service onto a task definition
revision Pulumi never registered, the alias onto another version) runs a commit the refresh cannot
name: `runs` is then None. Pure: the events are plain data (adapters/pulumi/refresh.py runs the refresh).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import short
from deployctl.core.trace.appstate import OutOfBand
from deployctl.core.trace.outcomes import PropertyChange, app_of_resource, change_from_event, show_value

DYNAMIC = "pulumi-python:dynamic:Resource"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"

POINTERS = {SERVICE: "taskDefinition", ALIAS: "functionVersion"}
"""Resources that point at what runs: moved by hand, they run something Pulumi never recorded."""
MAX_PROPERTIES = 4
"""Changed properties named per resource in a detail; the rest are counted."""
_INTERNAL = ("__provider", "__meta")


class Refreshed(LazyModel):
    """One resource as the refresh read it back, beside Pulumi's record."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    recorded: dict[str, Any]
    """Its outputs in the state."""
    read: dict[str, Any] | None
    """Its outputs as read back now (None: the provider found it gone)."""
    properties: tuple[PropertyChange, ...] = ()
    """What the engine's refresh diff names as changed (recorded -> read)."""

    @property
    def differs(self) -> bool:
        if self.read is None:
            return True
        if self.properties:
            return True
        return _plain(self.recorded) != _plain(self.read)

    @property
    def is_local_release(self) -> bool:
        return self.type == DYNAMIC and "release_dir" in self.recorded


def _plain(outputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outputs.items() if k not in _INTERNAL}


def refreshed_from_events(events: list[dict[str, Any]]) -> list[Refreshed]:
    """Every resource the refresh read back (its refresh step's outputs event: old = record, new = read)."""
    out: dict[str, Refreshed] = {}
    for event in events:
        done = event.get("resOutputsEvent")
        if not done:
            continue
        meta = done.get("metadata") or {}
        if meta.get("op") != "refresh" or not (meta.get("old") or {}).get("custom"):
            continue  # components and the stack are not read back
        change = change_from_event(event)
        if change is None:
            continue
        old, new = meta.get("old") or {}, meta.get("new")
        out[change.urn] = Refreshed(name=change.name, type=change.type, recorded=dict(old.get("outputs") or {}),
                                    read=None if new is None else dict(new.get("outputs") or {}),
                                    properties=change.properties)
    return list(out.values())


# -- which commit a resource names ---------------------------------------------------------------


def _tag(image: Any) -> str | None:
    """`<repository>:<commit>` -> commit (a digest or an untagged image names none)."""
    if not isinstance(image, str) or "@" in image:
        return None
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag and tag else None


def _zip_commit(key: Any) -> str | None:
    """`<prefix>/<commit>.zip` -> commit."""
    if not isinstance(key, str) or not key.endswith(".zip"):
        return None
    return key.rsplit("/", 1)[-1].removesuffix(".zip") or None


def commit_named(type_: str, outputs: dict[str, Any] | None) -> str | None:
    """The commit a resource's state names, where its kind keeps it (core/kinds/artifactnames.py); None for a
    resource that names none, a secret (blinded) value, or a resource gone."""
    if not outputs:
        return None
    if type_ == DYNAMIC:
        commit = outputs.get("commit")
        return commit if isinstance(commit, str) else None
    if type_ == TASK:
        try:
            containers = json.loads(outputs.get("containerDefinitions") or "")
        except (TypeError, ValueError):
            return None  # a secret document arrives blinded
        return _tag(containers[0].get("image")) if isinstance(containers, list) and containers \
            and isinstance(containers[0], dict) else None
    if type_ == FUNCTION:
        return _tag(outputs.get("imageUri")) or _zip_commit(outputs.get("s3Key"))
    if type_ == DISTRIBUTION:
        origins = outputs.get("origins")
        paths = [o.get("originPath") for o in origins if isinstance(o, dict)] if isinstance(origins, list) else []
        commits = [p.rstrip("/").rsplit("/", 1)[-1] for p in paths if isinstance(p, str) and p.count("/") >= 2]
        return commits[0] if commits else None
    return None


_CODE = ("codeSha256", "sourceCodeHash")
"""A Lambda function's code as AWS reports it: changed with the key unchanged, the code is not the commit's."""


def runs(resources: list[Refreshed]) -> str | None:
    """The commit one app runs, from its resources as read back; None when nothing runs or the refresh
    cannot tell. A pointer moved by hand (POINTERS) runs what Pulumi never recorded: unknown. Else the
    commit the kind's artifact-naming resource names as read (a Lambda's code replaced under the same
    key: unknown)."""
    for r in resources:
        pointer = POINTERS.get(r.type)
        if pointer is not None and (r.read is None or r.read.get(pointer) != r.recorded.get(pointer)):
            return None
    for r in resources:
        if r.type not in (TASK, FUNCTION, DISTRIBUTION) and not r.is_local_release:
            continue
        if r.type == FUNCTION and r.read is not None and any(r.read.get(k) != r.recorded.get(k) for k in _CODE) \
                and commit_named(r.type, r.read) == commit_named(r.type, r.recorded):
            return None
        return commit_named(r.type, r.read)
    return None


# -- what differs, for a person --------------------------------------------------------------------


def _local_detail(r: Refreshed) -> str:
    read, recorded = r.read or {}, r.recorded
    was = short(recorded.get("commit"), "nothing")
    if read.get("commit"):
        return f"release: `current` runs {short(read['commit'])}, Pulumi recorded {was}"
    if read.get("release_dir"):
        gone = str(read["release_dir"]).replace("\\", "/").rsplit("/", 1)[-1]
        return f"release: `current` points at releases/{gone}, which is gone; Pulumi recorded {was}"
    if read.get("current"):
        return f"release: `current` points outside its releases; Pulumi recorded {was}"
    return f"release: nothing runs (no `current` link of this env's); Pulumi recorded {was}"


def _shown(value: Any) -> str | None:
    """A value as text; a whole number as the engine's JSON writes it (2, not 2.0: gRPC has only doubles)."""
    return show_value(int(value) if isinstance(value, float) and value.is_integer() else value)


def _property_detail(r: Refreshed) -> str:
    if r.read is None:
        return f"{r.name}: gone (Pulumi records it)"
    shown = [f"{p.path}: runs {p.new if p.new is not None else 'nothing'}, Pulumi recorded "
             f"{p.old if p.old is not None else 'nothing'}" for p in r.properties[:MAX_PROPERTIES]]
    if not r.properties:
        keys = sorted(k for k in _plain(r.recorded).keys() | _plain(r.read).keys()
                      if r.recorded.get(k) != r.read.get(k))
        shown = [f"{k}: runs {_shown(r.read.get(k))}, Pulumi recorded {_shown(r.recorded.get(k))}"
                 for k in keys[:MAX_PROPERTIES]]
        more = len(keys) - len(shown)
    else:
        more = len(r.properties) - len(shown)
    return f"{r.name}: " + "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def out_of_band(resources: list[Refreshed], apps: list[str]) -> dict[str, OutOfBand]:
    """Each app with a resource whose state read back differs from Pulumi's record: what differs and,
    when the refresh can tell, the commit that runs. A resource of no app (the stack's own) is left out."""
    by_app: dict[str, list[Refreshed]] = {}
    for r in resources:
        app = app_of_resource(r.name, apps)
        if app is not None:
            by_app.setdefault(app, []).append(r)
    found: dict[str, OutOfBand] = {}
    for app in sorted(by_app):
        drifted = [r for r in by_app[app] if r.differs]
        if not drifted:
            continue
        detail = "; ".join(_local_detail(r) if r.is_local_release else _property_detail(r) for r in drifted)
        found[app] = OutOfBand(detail=detail, runs=runs(by_app[app]))
    return found
