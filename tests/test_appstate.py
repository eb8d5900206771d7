"""The one classification of every app in every env (core/appstate.classify), state by state, over
plain data: a snapshot built in memory (tests/fakes.py), Pulumi's record and the joined trace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployctl.core.trace.appstate import (
    AppState,
    InFlight,
    OutOfBand,
    StackRecord,
    State,
    classify,
    exit_status,
)
from deployctl.core.trace.history import DeployResult, HistoryEntry, mark_in_flight
from deployctl.core.violations import ExitStatus
from tests.fakes import snapshot

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
APPS = {"api": {"kind": "local", "repo": "../apps/api"}, "web": {"kind": "local", "repo": "../apps/web"}}
ENVS = {"staging": {}, "production": {"promoteFrom": "staging"}}


def sha(n: int) -> str:
    return f"{n:x}" + "0" * 39


def line(env: str, app: str, to: str | None, result: str, day: int, pr: int | None = None,
         update: int | None = None, ran: bool = True) -> HistoryEntry:
    """A deploy line of the joined trace, merged on day `day`; `ran`: an update ended an hour later."""
    merged = T0 + timedelta(days=day)
    return HistoryEntry(merged=merged, time=merged + timedelta(hours=1) if ran else None, env=env, app=app,
                        to=to, commit=f"{day:x}" * 40, author="Ann", pr=pr,
                        deploy=DeployResult(result=result, update=update))


def one(states: list[AppState], env: str, app: str) -> AppState:
    (found,) = [s for s in states if (s.env, s.app) == (env, app)]
    return found


def judge(files: dict[str, str], stacks: dict[str, StackRecord], trace: list[HistoryEntry]) -> list[AppState]:
    return classify(snapshot(APPS, ENVS, files), stacks, trace)


def test_in_sync_when_the_record_names_what_the_file_names():
    states = judge({"staging/api": f"{sha(2)}\n{sha(1)}\n"}, {"staging": StackRecord(deployed={"api": sha(2)[:12]})},
                   [line("staging", "api", sha(2), "succeeded", 1, pr=4, update=2)])
    s = one(states, "staging", "api")
    assert (s.state, s.file, s.running, s.detail, s.fix) == (State.IN_SYNC, sha(2), sha(2)[:12], "", "")
    assert s.since == T0 + timedelta(days=1, hours=1)  # when the update that ran it ended
    assert not s.drifted and exit_status(states) == ExitStatus.OK


def test_pending_when_merged_and_no_update_ran_it_points_at_the_retry():
    trace = [line("staging", "api", sha(2), "pending", 3, pr=7, ran=False),
             line("staging", "api", sha(1), "succeeded", 1)]
    states = judge({"staging/api": f"{sha(2)}\n{sha(1)}\n"}, {"staging": StackRecord(deployed={"api": sha(1)})}, trace)
    s = one(states, "staging", "api")
    assert s.state == State.PENDING and s.drifted
    assert s.since == T0 + timedelta(days=3)  # the merge
    assert s.detail == f"the file says {sha(2)[:12]}, Pulumi runs {sha(1)[:12]}: merged, no update has run it yet"
    assert s.fix == "re-run the deploy workflow (workflow_dispatch) or `deployctl up --stack staging`"
    assert exit_status(states) == ExitStatus.VIOLATION


def test_pending_for_a_stack_never_deployed_and_for_a_removed_file():
    states = judge({"staging/api": f"{sha(1)}\n", "production/api": f"{sha(1)}\n"},
                   {"staging": StackRecord(deployed={"api": sha(1), "web": sha(9)})},
                   [line("staging", "web", None, "pending", 2, ran=False),
                    line("production", "api", sha(1), "pending", 1, ran=False)])
    never = one(states, "production", "api")
    assert never.state == State.PENDING and never.running is None
    assert "the stack was never deployed" in never.detail and "--stack production" in never.fix
    removed = one(states, "staging", "web")
    assert (removed.state, removed.file, removed.running) == (State.PENDING, None, sha(9))
    assert removed.detail == f"its deploy file was removed; Pulumi still runs {sha(9)[:12]}"
    assert removed.since == T0 + timedelta(days=2)
    assert removed.fix.endswith("`deployctl up --stack staging`: that removes it")
    assert [(s.env, s.app) for s in states] == [("staging", "api"), ("staging", "web"), ("production", "api")]


def test_failed_when_the_last_update_that_tried_it_failed():
    trace = [line("production", "api", sha(3), "failed", 4, pr=9, update=5),
             line("production", "api", sha(1), "succeeded", 1)]
    s = one(judge({"production/api": f"{sha(3)}\n{sha(1)}\n"},
                  {"production": StackRecord(deployed={"api": sha(1)})}, trace), "production", "api")
    assert s.state == State.FAILED
    assert s.detail == f"the file says {sha(3)[:12]}, Pulumi runs {sha(1)[:12]}: the update that tried it failed (v5)"
    assert s.since == T0 + timedelta(days=4, hours=1)  # when the failed update ended
    assert "workflow_dispatch" in s.fix and "deployctl up --stack production" in s.fix
    assert "deployctl rollback production api" in s.fix


def test_switched_back_points_at_the_rollback_pr_and_a_held_back_dependent_too():
    trace = [line("staging", "api", sha(3), "failed, switched back", 4, update=6),
             line("staging", "web", sha(8), "held back", 4, update=6),
             line("staging", "api", sha(1), "succeeded", 1), line("staging", "web", sha(7), "succeeded", 1)]
    states = judge({"staging/api": f"{sha(3)}\n{sha(1)}\n", "staging/web": f"{sha(8)}\n{sha(7)}\n"},
                   {"staging": StackRecord(deployed={"api": sha(1), "web": sha(7)})}, trace)
    api, web = one(states, "staging", "api"), one(states, "staging", "web")
    assert api.state == web.state == State.SWITCHED_BACK
    assert api.detail.endswith("its health check failed and the previous commit runs again")
    assert api.fix == f"merge the [rollback] pull request (`deployctl rollback staging api --to {sha(1)}`)"
    assert "held back while an app it depends on was switched back" in web.detail
    assert api.since == T0 + timedelta(days=4, hours=1)


def test_in_progress_while_an_update_of_the_stack_runs_never_drift():
    started = T0 + timedelta(days=5, minutes=1)
    flight = InFlight(since=started, by="runner@gha-7")
    trace = mark_in_flight([line("staging", "api", sha(2), "pending", 5, pr=12, ran=False),
                            line("staging", "api", sha(3), "pending", 6, pr=13, ran=False),  # merged after it began
                            line("staging", "api", sha(1), "succeeded", 1)], {"staging": started})
    assert [e.deploy.result for e in trace] == ["in-progress", "pending", "succeeded"]
    states = judge({"staging/api": f"{sha(3)}\n{sha(2)}\n{sha(1)}\n", "staging/web": f"{sha(7)}\n"},
                   {"staging": StackRecord(deployed={"api": sha(1), "web": sha(7)}, in_flight=flight)}, trace)
    api, web = one(states, "staging", "api"), one(states, "staging", "web")
    assert api.state == web.state == State.IN_PROGRESS and not api.drifted
    assert api.in_flight == web.in_flight == InFlight(since=started, by="runner@gha-7", pr=12)  # what it carries out
    assert api.detail == ("an update of staging is running by runner@gha-7 since 2026-12-06 09:01:00 UTC (PR #12): "
                          f"{sha(1)[:12]} -> {sha(3)[:12]}")
    assert api.since == started and exit_status(states) == ExitStatus.OK
    # the PR the update's own message names wins over the guess from the trace
    named = judge({"staging/api": f"{sha(3)}\n"},
                  {"staging": StackRecord(deployed={}, in_flight=flight.model_copy(update={"pr": 40}))}, trace)
    assert one(named, "staging", "api").in_flight.pr == 40  # type: ignore[union-attr]


def test_out_of_band_when_what_runs_differs_from_the_record_offers_both_ways_out():
    oob = OutOfBand(detail=f"release: runs {sha(5)[:7]}, Pulumi recorded {sha(2)[:7]}", runs=sha(5))
    states = judge({"staging/api": f"{sha(2)}\n", "staging/web": f"{sha(7)}\n"},
                   {"staging": StackRecord(deployed={"api": sha(2), "web": sha(7)}, out_of_band={"api": oob})},
                   [line("staging", "api", sha(2), "succeeded", 1)])
    api = one(states, "staging", "api")
    assert (api.state, api.detail) == (State.OUT_OF_BAND, oob.detail)
    assert api.fix == (f"`deployctl up --stack staging` restores what git says ({sha(2)[:12]}), or change "
                       f"deploys/staging/api to what runs ({sha(5)[:12]})")
    assert one(states, "staging", "web").state == State.IN_SYNC  # refreshed, found as recorded
    assert exit_status(states) == ExitStatus.VIOLATION
    # a record that already differs from the file is pending: what the refresh adds is not the first fix
    moved = judge({"staging/api": f"{sha(3)}\n"},
                  {"staging": StackRecord(deployed={"api": sha(2)}, out_of_band={"api": oob})}, [])
    assert one(moved, "staging", "api").state == State.PENDING


def test_a_line_that_ran_but_a_later_update_replaced_is_pending_and_json_has_the_contract_fields():
    s = one(judge({"staging/api": f"{sha(2)}\n"}, {"staging": StackRecord(deployed={"api": sha(1)})},
                  [line("staging", "api", sha(2), "succeeded", 2, update=3)]), "staging", "api")
    assert s.state == State.PENDING and s.detail.endswith(": it ran (v3), and a later update changed it")
    data = s.to_json()
    assert {"env", "app", "state", "file", "running", "detail"} <= set(data)
    assert data["state"] == "pending" and data["file"] == sha(2) and data["running"] == sha(1)
