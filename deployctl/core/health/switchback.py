"""The switch-back's decisions (adapters/pulumi/switchback.py runs them): which apps failed their health
check, which apps depend on them, what the second update pins, and why an app is left as it is.

Pure over the provider's progress lines, the catalog and what ran before and after the failed
update. The pin itself, as the program reads it, is core/health/pins.py (its own module: the program
imports that one, never this).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from deployctl.core.health.healthmessage import failed_app, failure_of
from deployctl.core.repo.catalog import Catalog
from deployctl.core.repo.model import short

if TYPE_CHECKING:
    from deployctl.core.repo.snapshot import Snapshot


def has_health(snapshot: Snapshot, env: str) -> bool:
    """Does any app of `env` have a health check (so a failed update may be switched back)?"""
    return any(f.app in snapshot.catalog.apps and snapshot.has_health(env, f.app) for f in snapshot.tree.in_env(env))


def failed_apps(progress: list[str]) -> list[str]:
    """Apps whose health check failed, from the provider's progress lines (core/health/healthmessage.py)."""
    found: list[str] = []
    for line in progress:
        if (failure := failure_of(line)) is not None and (app := failed_app(failure)) not in found:
            found.append(app)
    return found


def dependents(catalog: Catalog, apps: list[str], present: set[str]) -> list[str]:
    """Every app of the env that depends on one of `apps`, directly or not, in name order."""
    out: set[str] = set()
    frontier = set(apps)
    while frontier:
        nxt = {name for name, spec in catalog.apps.items()
               if name in present and name not in out and name not in apps and frontier & set(spec.depends_on)}
        out |= nxt
        frontier = nxt
    return sorted(out)


def plan_pins(failed: list[str], held: list[str], before: Mapping[str, str],
              now: Mapping[str, str]) -> tuple[dict[str, str | None], list[str]]:
    """The pins of the second update, and the failed apps with nothing to go back to.

    A failed app goes back to what ran before; on its first deploy it stays where it is (pinned to
    its new commit, so the check does not run again). A held-back dependent stays on what it ran,
    or stays out when it never ran.
    """
    pins: dict[str, str | None] = {}
    stuck: list[str] = []
    for app in failed:
        if app in before and before[app] != now.get(app):
            pins[app] = before[app]
        else:
            stuck.append(app)
            if app in now:
                pins[app] = now[app]
    for app in held:
        pins[app] = before.get(app)
    return pins, stuck


def stuck_reason(env: str, app: str, before: Mapping[str, str], now: Mapping[str, str]) -> str:
    """Why a failed app stays where it is."""
    if app not in before:
        return (f"; {app} failed on its first deploy to {env}: nothing to switch back to, left failed on "
                f"{short(now[app])}: fix it and deploy a new commit")
    return (f"; {app} fails its check on {short(now[app])}, which already ran before this update: nothing to "
            "switch back to, left as it is: fix the app or its health settings")


def rollback_branch(env: str, moves: Mapping[str, tuple[str, str]]) -> str:
    """The [rollback] PR's branch: the env and each app's failed commit (app -> (failed, back))."""
    return f"deployctl/rollback-{env}-" + "-".join(f"{app}-{short(failed)}"
                                                   for app, (failed, _) in sorted(moves.items()))


__all__ = ["dependents", "failed_apps", "has_health", "plan_pins", "rollback_branch", "stuck_reason"]
