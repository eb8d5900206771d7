"""`deployctl drift`: every app of every env classified (core/appstate.py), with the engine's refresh
to find what runs differing from Pulumi's record. Exit 0 when all is in sync or deploying, 1 when
anything drifted, 2 when it cannot judge.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl import console
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.adapters.engine import Engine
    from deployctl.core.appstate import AppState, OutOfBand

Refresh = Callable[[str], "dict[str, OutOfBand]"]
"""env -> app -> what the engine's refresh found differing from Pulumi's record (absent: as recorded)."""


def engine_refresh(engine: Engine) -> Refresh:
    """The engine's own refresh (`pulumi preview --refresh` through the Automation API), per stack. Its
    adapter loads on the first stack that needs it (none does while every stack is being updated)."""

    def refresh(env: str) -> dict[str, OutOfBand]:
        try:
            from deployctl.adapters.refresh import out_of_band  # type: ignore[import-not-found,unused-ignore]  # merged separately
        except ImportError:
            raise CannotJudge("the engine's refresh is not available in this build (deployctl.adapters.refresh); "
                              "run `deployctl drift --no-refresh` to judge from Pulumi's record alone") from None
        found: dict[str, OutOfBand] = out_of_band(engine, env)
        return found

    return refresh


def poster() -> Callable[..., Any]:
    """`drift --post`'s publisher (an issue per env with drift), found before anything is read."""
    try:
        from deployctl.commands.driftpost import post_drift  # type: ignore[import-not-found,unused-ignore]  # merged separately
    except ImportError:
        raise CannotJudge("posting drift is not available in this build (deployctl.commands.driftpost); "
                          "run `deployctl drift` without --post") from None
    found: Callable[..., Any] = post_drift
    return found


def run_drift(root: Path, envs: list[str] | None, refresh: Refresh | None,
              engine: Engine | None = None) -> list[AppState]:
    """Each app of `envs` (default every env), in deploy order, in one of the six states. `refresh`
    (None: Pulumi's record is taken as what runs) is asked only of stacks that were deployed and
    that no update is changing right now."""
    from deployctl.commands.status import read_what_runs
    from deployctl.core.appstate import StackRecord, classify
    from deployctl.core.running import deployed_commits

    runs = read_what_runs(root, envs or None, engine)
    records: dict[str, StackRecord] = {}
    for env in runs.envs:
        flight = runs.trace.in_flight.get(env)
        deployed = runs.deployed.get(env)
        commits = None if deployed is None else deployed_commits({"deployed": deployed})
        found = None
        if refresh is not None and commits and (flight is None or flight.stale):
            with console.step(f"{env}: refreshing (the engine reads back what runs)"):
                found = refresh(env)
        records[env] = StackRecord(deployed=commits, in_flight=flight, out_of_band=found)
    return classify(runs.head, records, runs.trace.entries, runs.envs)


__all__ = ["Refresh", "engine_refresh", "poster", "run_drift"]
