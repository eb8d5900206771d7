"""Delivery metrics: exact figures from histories with known times.

The core is tested on constructed deploy lines and app histories (every figure worked out by hand
in the comments); the command is tested on real git repositories (dates set through
GIT_COMMITTER_DATE), once without the engine and once with real `local` deploys whose update times
are read back from `deployctl history`.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployctl.core.trace.history import DeployResult, HistoryEntry
from deployctl.core.trace.metrics import (
    AppHistory,
    Line,
    Metrics,
    bucket_start,
    compute,
    default_since,
    level,
    lines_from_history,
)
from deployctl.report.metrics import render_text
from tests.builders import AppRepo, DeployRepo
from tests.scenario import run_cli

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
UNTIL = T0 + timedelta(weeks=4)
H, D = 3600, 86400


def sha(i: int) -> str:
    return f"{i:02d}" * 20


def linear(times: dict[int, float]) -> AppHistory:
    """A linear app history c1 <- c2 <- ... with committer times (unix seconds), as git lists it."""
    n = max(times)
    rows = [f"{int(times[i])} {sha(i)} {sha(i - 1) if i > 1 else ''}".rstrip() for i in range(n, 0, -1)]
    return AppHistory("\n".join(rows) + "\n")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> float:
    return at(seconds).timestamp()


class Lines:
    """Deploy lines in order, as `history` would give them after the adapter."""

    def __init__(self) -> None:
        self.lines: list[Line] = []

    def add(self, env: str, app: str, commit: int | None, when: float, result: str = "succeeded",
            tags: tuple[str, ...] = ()) -> Lines:
        self.lines.append(Line(seq=len(self.lines), env=env, app=app, commit=sha(commit) if commit else None,
                               tags=tags, result=result, time=at(when)))  # type: ignore[arg-type]
        return self


def run(lines: Lines, histories: dict[str, AppHistory], envs: list[str], **kw) -> Metrics:
    return compute(lines.lines, histories, envs, kw.pop("since", T0), kw.pop("until", UNTIL),
                   kw.pop("bucket", "week"), **kw)


# commit times of api's c1..c6: c1 a day before T0; c2..c4 on day 6; c5, c6 on day 8
API = linear({1: ts(-D), 2: ts(6 * D), 3: ts(6 * D + H), 4: ts(6 * D + 2 * H), 5: ts(8 * D), 6: ts(8 * D + H)})


# -- the core, exact figures ------------------------------------------------------------------------


def test_no_deploys_at_all():
    m = run(Lines(), {}, ["staging"])
    s = m.to_json()["envs"]["staging"]
    assert s["deploys"] == 0
    assert [b["count"] for b in s["frequency"]] == [0, 0, 0, 0]
    assert s["lead_time_s"] is None and s["change_failure_rate"] is None and s["time_to_restore_s"] is None
    assert s["levels"] == {"frequency": None, "lead_time": None, "change_failure_rate": None,
                           "time_to_restore": None}
    assert s["apps"] == {}
    assert run(Lines(), {}, []).to_json()["envs"] == {}


def test_one_env_only():
    lines = Lines().add("staging", "api", 1, D).add("staging", "api", 4, 7 * D)
    m = run(lines, {"api": API}, ["staging", "production"]).to_json()
    s, p = m["envs"]["staging"], m["envs"]["production"]
    # first deploy: its head only (c1: 2 days); then c2, c3, c4 at day 7: 24 h, 23 h, 22 h
    assert s["lead_time_s"] == {"median": (D + 23 * H) / 2, "p90": 2 * D, "n": 4, "clock_skew": 0}
    assert s["deploys"] == 2 and [b["count"] for b in s["frequency"]] == [1, 1, 0, 0]
    assert s["change_failure_rate"] == {"rate": 0.0, "failed": 0, "total": 2, "failed_at_up": 0, "undone": 0,
                                        "unrestored": 0}
    assert s["time_to_restore_s"] is None
    # 2 deploys in 28 days: between once a month and once a week; the median lead time is under a day
    assert s["levels"] == {"frequency": "medium", "lead_time": "elite", "change_failure_rate": "elite",
                           "time_to_restore": None}
    assert p["deploys"] == 0 and p["lead_time_s"] is None and p["apps"] == {}
    assert s["apps"]["api"]["lead_time_s"] == s["lead_time_s"]


def test_failed_up_then_a_fix():
    lines = (Lines().add("staging", "api", 1, D)
             .add("staging", "api", 3, 7 * D, result="failed")
             .add("staging", "api", 4, 7 * D + 1800))
    s = run(lines, {"api": API}, ["staging"]).to_json()["envs"]["staging"]
    assert s["deploys"] == 2
    assert s["change_failure_rate"] == {"rate": 1 / 3, "failed": 1, "total": 3, "failed_at_up": 1, "undone": 0,
                                        "unrestored": 0}
    assert s["time_to_restore_s"] == {"median": 1800, "n": 1}
    # c2, c3 never ran before the fix: they first ran with c4, at day 7 + 30 min
    end = 7 * D + 1800
    leads = sorted([2 * D, end - 6 * D, end - 6 * D - H, end - 6 * D - 2 * H])
    assert s["lead_time_s"]["n"] == 4
    assert s["lead_time_s"]["median"] == (leads[1] + leads[2]) / 2
    assert s["levels"]["change_failure_rate"] == "low" and s["levels"]["time_to_restore"] == "elite"


def test_a_rollback():
    lines = (Lines().add("staging", "api", 1, D).add("staging", "api", 3, 7 * D)
             .add("staging", "api", 1, 7 * D + H, tags=("rollback",)))
    s = run(lines, {"api": API}, ["staging"]).to_json()["envs"]["staging"]
    assert s["deploys"] == 3
    assert s["change_failure_rate"] == {"rate": 1 / 3, "failed": 1, "total": 3, "failed_at_up": 0, "undone": 1,
                                        "unrestored": 0}
    assert s["time_to_restore_s"] == {"median": H, "n": 1}
    assert s["lead_time_s"]["n"] == 3  # c1; c2, c3; going back to c1 brings nothing new


def test_a_rollback_of_a_rollback():
    lines = (Lines().add("staging", "api", 1, D).add("staging", "api", 3, 7 * D)
             .add("staging", "api", 1, 7 * D + H, tags=("rollback",))
             .add("staging", "api", 3, 7 * D + 3 * H, tags=("rollback",)))
    s = run(lines, {"api": API}, ["staging"]).to_json()["envs"]["staging"]
    # c3 was undone by the rollback; the rollback was undone by the next: 2 of 4
    assert s["change_failure_rate"] == {"rate": 0.5, "failed": 2, "total": 4, "failed_at_up": 0, "undone": 2,
                                        "unrestored": 0}
    assert s["time_to_restore_s"] == {"median": (H + 2 * H) / 2, "n": 2}
    # c2 and c3 first ran at day 7; running them again adds no lead time
    assert s["lead_time_s"] == {"median": D, "p90": 2 * D, "n": 3, "clock_skew": 0}  # c1 2 d, c2 1 d, c3 23 h


def test_a_hotfix():
    lines = (Lines().add("staging", "api", 1, D).add("staging", "api", 3, 7 * D)
             .add("staging", "api", 5, 8 * D + 2 * H, tags=("hotfix",)))
    s = run(lines, {"api": API}, ["staging"]).to_json()["envs"]["staging"]
    assert s["change_failure_rate"]["failed"] == 1 and s["change_failure_rate"]["undone"] == 1
    assert s["change_failure_rate"]["total"] == 3
    assert s["time_to_restore_s"] == {"median": D + 2 * H, "n": 1}
    assert s["levels"]["time_to_restore"] == "medium"
    # the hotfix brings c4 (committed day 6 + 2 h) and c5 (day 8): 2 days and 2 hours
    assert s["lead_time_s"]["n"] == 5
    assert sorted(s["series"][1]["lead_time_s"].items()) == sorted(
        {"median": (23 * H + D) / 2, "p90": 2 * D, "n": 4, "clock_skew": 0}.items())  # c2, c3; c4, c5
    assert s["series"][0]["lead_time_s"] == {"median": 2 * D, "p90": 2 * D, "n": 1, "clock_skew": 0}


def test_one_commit_reaching_several_envs_counts_once_per_env():
    lines = (Lines().add("staging", "api", 1, -3 * D).add("production", "api", 1, -2 * D)
             .add("staging", "api", 3, 7 * D).add("production", "api", 3, 9 * D))
    m = run(lines, {"api": API}, ["staging", "production"]).to_json()
    s, p = m["envs"]["staging"]["lead_time_s"], m["envs"]["production"]["lead_time_s"]
    # c2 (day 6) and c3 (day 6 + 1 h) reached staging on day 7 and production on day 9
    assert s == {"median": (D + 23 * H) / 2, "p90": D, "n": 2, "clock_skew": 0}
    assert p == {"median": (3 * D + 3 * D - H) / 2, "p90": 3 * D, "n": 2, "clock_skew": 0}
    assert m["envs"]["staging"]["deploys"] == 1  # the first deploys were before the window


def test_an_app_commit_dated_after_its_deploy_counts_zero_and_is_reported():
    skewed = linear({1: ts(0), 2: ts(2 * D + H)})  # c2 claims to be an hour younger than its deploy
    lines = Lines().add("staging", "api", 1, H).add("staging", "api", 2, 2 * D)
    m = run(lines, {"api": skewed}, ["staging"])
    lead = m.to_json()["envs"]["staging"]["lead_time_s"]
    assert lead == {"median": H / 2, "p90": H, "n": 2, "clock_skew": 1}
    assert [(s.commit, s.committed, s.deployed) for s in m.clock_skew] == [(sha(2), at(2 * D + H), at(2 * D))]
    assert m.clock_skew_total == 1 and "clock skew: 1 app commit" in render_text(m)


def test_lead_time_walks_merges_and_abbreviated_commits():
    # c1 <- c2 <- m4 (merge of c3, whose parent is c1); deployed c1, then m4 by a short hash
    log = "\n".join([f"{int(ts(3 * H))} {sha(4)} {sha(2)} {sha(3)}", f"{int(ts(2 * H))} {sha(3)} {sha(1)}",
                     f"{int(ts(H))} {sha(2)} {sha(1)}", f"{int(ts(0))} {sha(1)}"])
    lines = Lines().add("dev", "api", 1, 0)
    lines.lines.append(Line(seq=1, env="dev", app="api", commit=sha(4)[:10], result="succeeded", time=at(4 * H)))
    lead = run(lines, {"api": AppHistory(log)}, ["dev"]).to_json()["envs"]["dev"]["lead_time_s"]
    assert lead == {"median": 1.5 * H, "p90": 3 * H, "n": 4, "clock_skew": 0}  # c1 0; m4 1 h, c3 2 h, c2 3 h


def test_unknown_commit_and_unknown_repo_give_no_lead_time():
    lines = Lines().add("dev", "api", 1, H).add("dev", "web", 9, H)
    m = run(lines, {"api": API}, ["dev"]).to_json()["envs"]["dev"]
    assert m["deploys"] == 2 and m["unknown_commits"] == 1
    assert m["apps"]["web"]["lead_time_s"] is None and m["apps"]["web"]["unknown_commits"] == 1


def test_a_failed_deploy_with_no_fix_yet_is_unrestored():
    lines = Lines().add("dev", "api", 1, H).add("dev", "api", 3, 2 * D, result="failed")
    s = run(lines, {"api": API}, ["dev"]).to_json()["envs"]["dev"]
    assert s["change_failure_rate"]["unrestored"] == 1 and s["time_to_restore_s"] is None


def test_window_and_app_selection():
    lines = (Lines().add("dev", "api", 1, -D).add("dev", "api", 3, 7 * D).add("dev", "web", 1, 7 * D)
             .add("dev", "api", 5, 40 * D))
    m = run(lines, {"api": API, "web": API}, ["dev"], apps=["api"]).to_json()["envs"]["dev"]
    assert set(m["apps"]) == {"api"} and m["deploys"] == 1  # before and after the window do not count
    assert m["lead_time_s"]["n"] == 2


# -- buckets, levels, the adapter ---------------------------------------------------------------------


def test_buckets_and_default_window():
    moment = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    assert bucket_start(moment, "day") == datetime(2026, 3, 5, tzinfo=UTC)
    assert bucket_start(moment, "week") == datetime(2026, 3, 2, tzinfo=UTC)
    assert bucket_start(moment, "month") == datetime(2026, 3, 1, tzinfo=UTC)
    assert default_since(moment, "week") == datetime(2025, 12, 15, tzinfo=UTC)
    assert default_since(moment, "month") == datetime(2025, 4, 1, tzinfo=UTC)
    m = run(Lines(), {}, ["dev"], since=datetime(2025, 11, 15, tzinfo=UTC), until=moment, bucket="month")
    assert [b.start.month for b in m.envs["dev"].frequency] == [11, 12, 1, 2, 3]


def test_levels_at_the_bounds():
    assert level("frequency", 1.0) == "elite" and level("frequency", 0.99) == "high"
    assert level("frequency", 1 / 30) == "medium" and level("frequency", 0.03) == "low"
    assert level("lead_time", D - 1) == "elite" and level("lead_time", D) == "high"
    assert level("lead_time", 30 * D) == "low"
    assert level("change_failure_rate", 0.05) == "elite" and level("change_failure_rate", 0.15) == "medium"
    assert level("change_failure_rate", 0.16) == "low"
    assert level("time_to_restore", H - 1) == "elite" and level("time_to_restore", 7 * D) == "low"
    assert level("lead_time", None) is None


def entry(env: str, app: str, to: str, minute: int, result: str = "succeeded", update: int | None = None,
          comment: str = "") -> HistoryEntry:
    """A history entry merged at `minute` whose update (if any) ended 2 minutes later, in either shape of
    history: per-line outcomes (`merged`, `time` = the update's end) or the earlier one (`deploy.time`)."""
    when, ran = at(minute * 60), at(minute * 60 + 120) if update is not None else None
    fields = dict(env=env, app=app, to=to, comment=comment, commit=f"{minute:040x}", author="A")
    if "merged" in HistoryEntry.model_fields:
        return HistoryEntry(merged=when, time=ran, deploy=DeployResult(result=result, update=update), **fields)
    return HistoryEntry(time=when, deploy=DeployResult(result=result, time=ran, update=update), **fields)


def test_adapter_maps_results_tags_and_superseded_lines():
    newest_first = [
        entry("dev", "api", sha(3), 30, "in-progress", 4),
        entry("dev", "api", sha(2), 20, "succeeded", 3, "back [rollback]"),
        entry("dev", "api", sha(4), 15, "succeeded", 3),  # carried out by update 3 with the next line
        entry("dev", "api", sha(1), 10, "failed", 2),
        entry("dev", "web", sha(1), 5, "not-deployed"),
    ]
    lines = lines_from_history(newest_first)
    assert [(ln.app, ln.result, ln.tags) for ln in lines] == [
        ("web", "pending", ()), ("api", "failed", ()), ("api", "pending", ()),
        ("api", "succeeded", ("rollback",)), ("api", "pending", ())]
    assert lines[1].time == at(10 * 60 + 120)  # the update's end
    assert lines[0].time == at(5 * 60)  # not deployed: when it merged
    one_failed_up = [entry("dev", "api", sha(2), 20, "failed", 7), entry("dev", "api", sha(1), 10, "failed", 7)]
    assert [ln.result for ln in lines_from_history(one_failed_up)] == ["pending", "failed"]  # one failure
    assumed = lines_from_history(newest_first, assume_deployed=True)
    assert {ln.result for ln in assumed} == {"succeeded"} and assumed[0].time == at(5 * 60)


def test_text_table_shows_every_key_with_counts():
    lines = (Lines().add("staging", "api", 1, D).add("staging", "api", 3, 7 * D, result="failed")
             .add("staging", "api", 4, 7 * D + 1800))
    text = render_text(run(lines, {"api": API}, ["staging", "production"]))
    assert "levels: DORA, Accelerate State of DevOps Report 2023" in text
    assert "33% (1/3) low" in text and "30 min (n=1) elite" in text and "(n=4)" in text
    assert "staging: deploys per week from 2026-03-02: 1 1 0 0" in text
    assert "\n  api " in text


# -- the command, on real repositories ------------------------------------------------------------------


def git_at(repo: Path, when: datetime, *args: str) -> str:
    stamp = f"@{int(when.timestamp())} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_NAME": "Dana Dev",
           "GIT_AUTHOR_EMAIL": "dana@example.com", "GIT_COMMITTER_NAME": "Dana Dev",
           "GIT_COMMITTER_EMAIL": "dana@example.com"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


def dated_app_commit(app: AppRepo, name: str, when: datetime, files: dict[str, str] | None = None) -> str:
    for rel, text in (files or {f"changes/{name}.txt": name}).items():
        (app.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (app.path / rel).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=app.path, check=True)
    return git_at(app.path, when, "commit", "-q", "-m", name)


def test_app_commit_dates_come_from_one_git_log_of_hashes_only(tmp_path: Path):
    from deployctl.adapters.git.apprepos import AppRepos

    api = AppRepo(tmp_path / "apps" / "api")
    c1 = dated_app_commit(api, "c1", at(0))
    c2 = dated_app_commit(api, "c2", at(H))
    dated_app_commit(api, "c3", at(2 * H))
    repo = AppRepos(tmp_path, cache_dir=tmp_path / "cache").get(str(api.path))
    history = AppHistory(repo.dated_log(["--all", "0" * 40, c2[:12]]))  # an option, an unknown commit
    assert history.time == {c1: int(ts(0)), c2: int(ts(H))}  # c2 and its ancestors, nothing else
    assert history.parents[c2] == (c1,) and history.between(c1, c2) == [c2]
    assert history.resolve(c2[:12]) == c2 and history.resolve("f" * 12) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["line", "line", "line", "merge", "fork"]), st.integers(0, 10**6)),
                min_size=1, max_size=40),
       st.integers(0, 10**6), st.integers(0, 10**6))
def test_between_is_gits_old_dot_dot_new_on_any_history(steps: list[tuple[str, int]], pick_old: int, pick_new: int):
    """Long single-parent lines (the slice), merges and forks (the walk): always the commits reachable
    from new and not from old, in the history's order (children first)."""
    parents: dict[int, list[int]] = {0: []}
    for n, (step, pick) in enumerate(steps, start=1):
        other = pick % n
        parents[n] = [n - 1] if step == "line" else [n - 1, other] if step == "merge" and other != n - 1 else [other]
    rows = [f"{1000 + n} {sha(n + 1)} {' '.join(sha(p + 1) for p in parents[n])}".rstrip() for n in reversed(parents)]
    history = AppHistory("\n".join(rows) + "\n")

    def reachable(n: int) -> set[int]:
        seen, todo = set(), [n]
        while todo:
            if (c := todo.pop()) not in seen:
                seen.add(c)
                todo += parents[c]
        return seen

    old, new = pick_old % len(parents), pick_new % len(parents)
    expected = sorted(reachable(new) - reachable(old), reverse=True)  # rows are children first
    assert history.between(sha(old + 1), sha(new + 1)) == [sha(n + 1) for n in expected]
    assert history.between("f" * 40, sha(new + 1)) == [sha(n + 1) for n in sorted(reachable(new), reverse=True)]
    for n, ps in parents.items():  # each commit against its first parent: a merge's other side is new too
        if ps:
            mine = sorted(reachable(n) - reachable(ps[0]), reverse=True)
            assert history.between(sha(ps[0] + 1), sha(n + 1)) == [sha(c + 1) for c in mine]


def test_a_cached_clone_is_read_from_the_deploy_files_heads_and_a_commit_below_none_is_read_by_hash(tmp_path: Path):
    """`cached_histories` reads a clone already cached from the commits the deploy files name first
    (before the history says what was deployed); `app_histories` takes it when it holds every deployed
    commit, and reads by those commits when not (a hotfix branch's commit below no file's head)."""
    from deployctl.adapters.git.apprepos import AppRepos
    from deployctl.commands.metrics import app_histories, cached_histories
    from deployctl.core.repo.catalog import App, Catalog

    api = AppRepo(tmp_path / "apps" / "api")
    c1 = dated_app_commit(api, "c1", at(0))
    api.branch("hotfix")
    c2 = dated_app_commit(api, "c2", at(H))
    api.checkout("main")
    c3 = dated_app_commit(api, "c3", at(2 * H))
    catalog = Catalog(apps={"api": App(repo=str(api.path)), "web": App(repo=str(tmp_path / "apps" / "web"))})
    root = tmp_path / "deploy"
    for rel, text in (("deploys/dev/api", f"{c3} third\n{c2} the hotfix\n{c1} first\n"),
                      ("deploys/prod/api", "--all\n"),  # not a commit id: never reaches git
                      ("deploys/dev/web", "0" * 40 + "\n")):  # a repository never cloned
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    cache = tmp_path / "cache"
    assert cached_histories(root, AppRepos(root, cache_dir=cache), catalog) == {}  # nothing cached: nothing cloned
    assert not list(cache.rglob("*.git"))

    def deployed(*commits: str) -> list[Line]:
        return [Line(seq=i, env="dev", app="api", commit=c, result="succeeded", time=at(3 * H + i))
                for i, c in enumerate(commits)]

    AppRepos(root, cache_dir=cache).get(str(api.path)).ensure_cloned()
    repos = AppRepos(root, cache_dir=cache, offline=True)
    heads = cached_histories(root, repos, catalog)
    assert set(heads) == {str(api.path)} and set(heads[str(api.path)].time) == {c1, c3}  # below c3 only
    assert app_histories(repos, catalog, deployed(c1, c3[:10]), heads)["api"] is heads[str(api.path)]
    read = app_histories(repos, catalog, deployed(c1, c2, c3), heads)
    assert read["api"] is not heads[str(api.path)] and set(read["api"].time) == {c1, c2, c3}
    assert read["api"].between(c2, c3) == [c3]


def test_command_without_engine_on_a_real_repo(tmp_path: Path):
    api = AppRepo(tmp_path / "apps" / "api")
    c = {i: dated_app_commit(api, f"c{i}", t) for i, t in
         ((1, at(-D)), (2, at(6 * D)), (3, at(6 * D + H)), (4, at(6 * D + 2 * H)))}
    d = DeployRepo(tmp_path / "deploy")
    d.catalog({"api": {"kind": "local", "repo": "../apps/api"}})
    d.env("staging").env("production", promoteFrom="staging")
    d.deploy("staging", "api", c[1], "first")
    d.repo.git.add("-A")
    git_at(d.path, at(D), "commit", "-q", "-m", "first deploy (#1)")
    for when, commit, comment in ((7 * D, c[3], "three"), (7 * D + H, c[1], "back [rollback]"),
                                  (7 * D + 3 * H, c[4], "four")):
        d.deploy("staging", "api", commit, comment)
        git_at(d.path, at(when), "commit", "-q", "-am", comment)
    env = {**os.environ, "DEPLOYCTL_CACHE": str(tmp_path / "cache"), "CI": "1"}
    window = ("--since", T0.isoformat(), "--until", UNTIL.isoformat())
    code, out, err = run_cli(d.path, "metrics", "--no-engine", "--json", *window, env=env)
    assert code == 0, err
    m = json.loads(out)
    assert (m["since"], m["until"], m["bucket"]) == ("2026-03-02T00:00:00Z", "2026-03-30T00:00:00Z", "week")
    s = m["envs"]["staging"]
    assert s["deploys"] == 4 and [b["count"] for b in s["frequency"]] == [1, 3, 0, 0]
    # c1: 2 days; c2, c3 at day 7: 24 h, 23 h; c4 at day 7 + 3 h: 25 h (c2, c3 already ran)
    assert s["lead_time_s"] == {"median": 24 * H + H // 2, "p90": 2 * D, "n": 4, "clock_skew": 0}
    assert s["change_failure_rate"] == {"rate": 0.25, "failed": 1, "total": 4, "failed_at_up": 0, "undone": 1,
                                        "unrestored": 0}
    assert s["time_to_restore_s"] == {"median": H, "n": 1}
    assert m["envs"]["production"]["lead_time_s"] is None and m["envs"]["production"]["deploys"] == 0

    code, out, _ = run_cli(d.path, "metrics", "staging", "api", "--no-engine", "--json", *window, env=env)
    assert json.loads(out)["envs"]["staging"]["apps"]["api"]["lead_time_s"] == s["lead_time_s"]
    code, text, _ = run_cli(d.path, "metrics", "--no-engine", *window, env=env)
    assert code == 0 and "25% (1/4)" in text and "1.0 h (n=1)" in text

    for bad, says in ((("nowhere",), "no env 'nowhere'"), (("--bucket", "year"), "--bucket 'year'"),
                      (("--since", "yesterday"), "--since 'yesterday'"),
                      (("--since", UNTIL.isoformat(), "--until", T0.isoformat()), "must be before")):
        code, out, err = run_cli(d.path, "metrics", "--no-engine", *bad, env=env)
        assert code == 2 and says in err and "Traceback" not in err, (bad, err)


@pytest.mark.engine
def test_command_with_the_real_engine(tmp_path: Path):
    """Real `local` deploys: a release with a commit from the future, its rollback, a failed up.

    Update end times come from `deployctl history` (Pulumi's own record), commit dates from git.
    """
    from tests.engine_world import build_world
    from tests.test_trace import merged_pr

    w = build_world(tmp_path, production=False)
    assert w.cli("up")[0] == 0
    w.deploy.commit("stack configs as Pulumi writes them")
    now = datetime.now(UTC).replace(microsecond=0)
    a4 = dated_app_commit(w.api, "api 4", now - timedelta(hours=6), {"app.py": "print(4)\n"})
    a5 = dated_app_commit(w.api, "api 5", now + timedelta(days=2), {"app.py": "print(5)\n"})
    merged_pr(w, 21, "staging", "api", a5, "api 4 and 5")
    merged_pr(w, 22, "staging", "api", w.shas["api"][0], "back [rollback]")
    web_broken = dated_app_commit(w.web, "web 3", now - timedelta(hours=3), {"site/index.html": "<h1>3</h1>"})
    w.block_release("staging", "web", web_broken, "site")  # its release cannot be installed: a failed up
    merged_pr(w, 23, "staging", "web", web_broken, "oops")

    code, out, err = w.cli("history", "staging", "--json")
    assert code == 0, err
    hist = {(r["app"], r["pr"]): r for r in json.loads(out)}
    assert hist["web", 23]["deploy"]["result"] == "failed"
    # the update's end: `time` in history with per-line outcomes, `deploy.time` before it
    end = {k: datetime.fromisoformat(r["deploy"]["time"] if "time" in r["deploy"] else r["time"])
           for k, r in hist.items()}

    def committed(repo: AppRepo, commit: str) -> datetime:
        return repo.repo.commit(commit).committed_datetime

    code, out, err = w.cli("metrics", "staging", "--json")
    assert code == 0, err
    m = json.loads(out)
    api, web = m["envs"]["staging"]["apps"]["api"], m["envs"]["staging"]["apps"]["web"]
    # api: its first deploy counts its head; PR 21 brings api 1..3, api 4 and api 5 (dated after: 0)
    leads = sorted([(end["api", None] - committed(w.api, w.shas["api"][0])).total_seconds(),
                    *((end["api", 21] - committed(w.api, c)).total_seconds() for c in (*w.shas["api"][1:], a4)),
                    0.0])
    assert api["lead_time_s"] == {"median": (leads[2] + leads[3]) / 2, "p90": leads[5], "n": 6, "clock_skew": 1}
    assert api["deploys"] == 3 and sum(b["count"] for b in api["frequency"]) == 3
    assert api["change_failure_rate"] == {"rate": 1 / 3, "failed": 1, "total": 3, "failed_at_up": 0,
                                          "undone": 1, "unrestored": 0}
    assert api["time_to_restore_s"] == {"median": (end["api", 22] - end["api", 21]).total_seconds(), "n": 1}
    assert [(x["app"], x["commit"]) for x in m["clock_skew"]] == [("api", a5)]
    # web: the failed up is a failed change with no fix yet
    assert web["deploys"] == 1
    assert web["change_failure_rate"] == {"rate": 0.5, "failed": 1, "total": 2, "failed_at_up": 1, "undone": 0,
                                          "unrestored": 1}
    assert web["time_to_restore_s"] is None
    assert m["envs"]["staging"]["deploys"] == 4

    # the status page prints the same figures as `metrics --json` (same default window)
    page = tmp_path / "status.html"
    code, _, err = w.cli("status", "--html", str(page))
    assert code == 0, err
    code, out, err = w.cli("metrics", "--json")
    assert code == 0, err
    assert_page_equals_json(page_figures(page.read_text(encoding="utf-8")), json.loads(out))


# -- the status page, in a real browser ---------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit, non-interlaced RGB(A) PNG."""
    import struct
    import zlib

    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, ctype, _, _, interlace = header
    assert depth == 8 and ctype in (2, 6) and interlace == 0, header
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def count_colour(png: bytes, rgb: tuple[int, int, int]) -> int:
    width, _, rows, bpp = png_pixels(png)
    want = bytes(rgb)
    return sum(1 for row in rows for x in range(width) if row[x * bpp:x * bpp + 3] == want)


class _Figures(HTMLParser):
    """The metrics section as the browser shows it: each printed figure and each chart's bars."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, str]] = []
        self.bars: dict[tuple[str, str], int] = {}
        self._key: tuple[str, str] | None = None
        self._fig: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "figure" and "m-key" in a.get("class", ""):
            self._key = (a["data-env"], a["data-key"])
            self.bars[self._key] = 0
        if tag == "rect" and "m-bar" in a.get("class", "") and self._key:
            self.bars[self._key] += 1
        if tag == "dd" and "m-fig" in a.get("class", ""):
            self._fig = {**a, "text": ""}
            self.figures.append(self._fig)

    def handle_endtag(self, tag: str) -> None:
        if tag == "dd":
            self._fig = None

    def handle_data(self, data: str) -> None:
        if self._fig is not None:
            self._fig["text"] += data


def page_figures(html: str) -> _Figures:
    parser = _Figures()
    parser.feed(html)
    parser.close()
    return parser


def lookup(data: dict, path: str) -> object:
    for part in path.split("."):
        data = data[part]
    return data


def assert_page_equals_json(page: _Figures, report: dict) -> None:
    """Every figure printed is the JSON's value at its path; every key of every env is printed."""
    assert page.figures
    for fig in page.figures:
        expected = lookup(report["envs"][fig["data-env"]], fig["data-field"])
        assert json.loads(fig["data-value"]) == expected, fig
        if isinstance(expected, int) and not isinstance(expected, bool):
            assert fig["text"].split()[0] == str(expected), fig
    printed = {(f["data-env"], f["data-field"].split(".")[0]) for f in page.figures}
    for env in report["envs"]:
        assert {"deploys", "lead_time_s", "change_failure_rate", "time_to_restore_s"} <= {
            k for e, k in printed if e == env}


def _metrics_page(tmp_path: Path) -> tuple[Path, Metrics]:
    """A status page with two envs' metrics over three weeks of merges, written into a site folder."""
    from deployctl.adapters.git.apprepos import AppRepos
    from deployctl.adapters.git.log import deploy_history, first_parent_order
    from deployctl.adapters.git.reads import commit_snapshot
    from deployctl.commands.metrics import status_metrics
    from deployctl.core.trace.history import join
    from deployctl.core.trace.outcomes import UpdateRecord
    from deployctl.core.trace.statusdata import build_status
    from deployctl.report.status import render_html

    api = AppRepo(tmp_path / "apps" / "api")
    c = {i: dated_app_commit(api, f"c{i}", t) for i, t in
         ((1, at(-D)), (2, at(6 * D)), (3, at(6 * D + H)), (4, at(13 * D)), (5, at(14 * D + 2 * H)))}
    d = DeployRepo(tmp_path / "deploy")
    d.catalog({"api": {"kind": "local", "repo": "../apps/api"}})
    d.env("staging").env("production", promoteFrom="staging")
    merges: list[tuple[str, str, float]] = []

    def merge(env: str, commit: str, comment: str, when: float) -> None:
        d.deploy(env, "api", commit, comment)
        d.repo.git.add("-A")
        merges.append((env, git_at(d.path, at(when), "commit", "-q", "-m", f"{comment} (#{len(merges) + 1})"),
                       when))

    merge("staging", c[1], "first", D)
    merge("production", c[1], "first", D + H)
    merge("staging", c[3], "three", 7 * D)
    merge("staging", c[1], "back [rollback]", 7 * D + 2 * H)
    merge("staging", c[4], "four", 14 * D)
    merge("production", c[4], "four", 15 * D)
    merge("staging", c[5], "five [hotfix]", 15 * D + H)
    updates: dict[str, list[UpdateRecord]] = {"staging": [], "production": []}
    for env, head, when in merges:  # the recorded trace: each merge's up ends 10 minutes after it
        n = len(updates[env]) + 1
        updates[env].append(UpdateRecord(env=env, version=n, kind="update", result="succeeded", message="",
                                         start=at(when), end=at(when + 600), environment={"git.head": head}))
    history = join(deploy_history(d.repo, "HEAD"), updates, first_parent_order(d.repo, "HEAD"))
    snapshot = commit_snapshot(d.repo, "HEAD")
    now = at(20 * D)
    metrics = status_metrics(snapshot, history, AppRepos(d.path, cache_dir=tmp_path / "cache"), now)
    assert metrics is not None
    report = build_status(snapshot, {}, history, lambda *a: None, lambda *a: None, now)
    html = render_html(report.model_copy(update={"metrics": metrics}))
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(html, encoding="utf-8")
    return site, metrics


def test_status_page_charts_the_four_keys_in_headless_chromium(tmp_path: Path):
    from tests import browser

    site, metrics = _metrics_page(tmp_path)
    with browser.serve(site) as base:
        dom = browser.dump_dom(base + "index.html")
        png = browser.screenshot(base + "index.html", tmp_path / "status.png", 1000, 1100).read_bytes()

    data = metrics.to_json()
    s = data["envs"]["staging"]
    assert s["deploys"] == 5 and s["change_failure_rate"]["failed"] == 2  # three (rolled back), four (hotfixed)
    page = page_figures(dom)
    assert_page_equals_json(page, data)
    # a bar per bucket with a figure above 0: staging deployed in 3 of the 12 weeks, production in 2;
    # staging failed in 2 of them (week 1: three rolled back; week 2: four hotfixed)
    assert page.bars["staging", "frequency"] == 3 and page.bars["production", "frequency"] == 2
    assert page.bars["staging", "change_failure_rate"] == 2 and page.bars["staging", "time_to_restore"] == 2
    assert 'id="metrics"' in dom and "<script src" not in dom
    # the screenshot is not blank: the charts' bars are drawn in their colour
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert count_colour(png, (0x2F, 0x81, 0xF7)) > 500


@pytest.mark.engine
def test_failed_up_then_a_fix_with_the_real_engine(tmp_path: Path):
    from tests.engine_world import build_world
    from tests.test_trace import merged_pr

    w = build_world(tmp_path, production=False)
    assert w.cli("up")[0] == 0
    w.deploy.commit("stack configs as Pulumi writes them")
    now = datetime.now(UTC).replace(microsecond=0)
    broken = dated_app_commit(w.web, "web 3", now - timedelta(hours=3), {"site/index.html": "<h1>3</h1>"})
    w.block_release("staging", "web", broken, "site")  # its release cannot be installed: a failed up
    merged_pr(w, 31, "staging", "web", broken, "oops")
    fixed = dated_app_commit(w.web, "site back", now - timedelta(hours=1), {"site/index.html": "<h1>ok</h1>"})
    merged_pr(w, 32, "staging", "web", fixed, "fixed")

    code, out, err = w.cli("history", "staging", "web", "--json")
    assert code == 0, err
    hist = {r["pr"]: r for r in json.loads(out)}
    assert [hist[31]["deploy"]["result"], hist[32]["deploy"]["result"]] == ["failed", "succeeded"]
    end = {pr: datetime.fromisoformat(r["time"]) for pr, r in hist.items()}
    code, out, err = w.cli("metrics", "staging", "web", "--json")
    assert code == 0, err
    web = json.loads(out)["envs"]["staging"]["apps"]["web"]
    assert web["deploys"] == 2
    assert web["change_failure_rate"] == {"rate": 1 / 3, "failed": 1, "total": 3, "failed_at_up": 1, "undone": 0,
                                          "unrestored": 0}
    assert web["time_to_restore_s"] == {"median": (end[32] - end[31]).total_seconds(), "n": 1}
    # the fix first ran web 1, web 2 and the broken commit too (the failed up ran nothing)
    first = (end[None] - w.web.repo.commit(w.shas["web"][0]).committed_datetime).total_seconds()
    later = [(end[32] - w.web.repo.commit(c).committed_datetime).total_seconds()
             for c in (*w.shas["web"][1:], broken, fixed)]
    leads = sorted([first, *later])
    assert web["lead_time_s"] == {"median": leads[2], "p90": leads[4], "n": 5, "clock_skew": 0}


_MEASURE = """<script>
document.body.setAttribute("data-pills", JSON.stringify(Array.from(document.querySelectorAll("#metrics .lvl"),
  e => { const r = e.getBoundingClientRect();
         return [r.width, r.height, e.parentElement.getBoundingClientRect().height]; })));
</script>"""
"""Added to a copy of the page by the test only: the browser's own layout of every level pill and its caption."""


@pytest.mark.parametrize("width", [1280, 330])
def test_level_pills_keep_their_shape_at_any_card_width_in_headless_chromium(tmp_path: Path, width: int):
    from tests import browser

    site, _ = _metrics_page(tmp_path)
    page = site / "index.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = browser.dump_dom(page, width=width)
    pills = json.loads(html_unescape(dom.split('data-pills="', 1)[1].split('"', 1)[0]))
    assert len(pills) == 8  # 2 envs x 4 keys
    for w, h, _caption in pills:
        assert 14 <= h <= 22 and w > h  # one line, wider than tall: never a tall blob
    if width == 330:  # a narrow card: the caption wraps beside its pill, which keeps its shape
        assert any(caption > 1.8 * h for _, h, caption in pills)


def test_durations_read_in_human_units_never_in_exponent_notation():
    from deployctl.report.metrics import duration

    assert [duration(s) for s in (None, 0, 45.4, 600, 5400, 86_400 * 2, 2.93723e7)] == [
        "-", "0 s", "45 s", "10 min", "1.5 h", "2.0 d", "340 d"]
    assert all("e+" not in duration(10.0 ** k) for k in range(12))


# -- waiting for a PR, waiting for review: proposals vs by hand ----------------------------------------


def test_waiting_splits_lead_time_at_the_pr_for_proposals_and_lines_by_hand():
    from deployctl.core.trace.metrics import Handoff, waiting

    def h(app: str, proposed: bool, committed: float | None, opened: float, merged: float) -> Handoff:
        return Handoff(env="staging", app=app, proposed=proposed, committed=at(committed) if committed is not None
                       else None, opened=at(opened), merged=at(merged))

    rows = [h("api", True, 0, 600, 600 + H), h("api", True, D, D + 60, D + 60 + 3 * H),  # 10 min, 1 min
            h("web", False, 0, 5 * H, 6 * H), h("web", False, None, D, D + 30),  # unknown commit: review only
            h("web", False, 2 * D, 2 * D - 100, 2 * D + 50),  # the PR before its commit (a clock): 0
            h("api", True, -D, -D + 5, -D + 9)]  # merged before the window: not counted
    got = waiting(rows, ["staging", "production"], T0, UNTIL)
    s = got["staging"]
    assert s.proposed.lines == 2 and s.proposed.waiting_for_pr_s.model_dump() == {"median": 330, "p90": 600, "n": 2}
    assert s.proposed.waiting_for_review_s.model_dump() == {"median": 2 * H, "p90": 3 * H, "n": 2}
    assert s.by_hand.lines == 3 and s.by_hand.waiting_for_pr_s.model_dump() == {"median": 2.5 * H, "p90": 5 * H,
                                                                                "n": 2}
    assert s.by_hand.waiting_for_review_s.model_dump() == {"median": 150, "p90": H, "n": 3}
    assert got["production"].proposed.lines == 0 and got["production"].proposed.waiting_for_pr_s is None
    assert waiting(rows, ["staging"], T0, UNTIL, apps=["web"])["staging"].proposed.lines == 0


def test_the_command_splits_waiting_on_a_real_repo_with_merged_prs(tmp_path: Path):
    """Two PRs merged into the deploy repo, one written by `propose` and one by hand; each PR's first
    commit that touches the deploy file is its opening (an earlier one that does not is not), its
    merge commit its merge."""
    from deployctl.core.trace.metrics import PROPOSED_BY

    api = AppRepo(tmp_path / "apps" / "api")
    c1 = dated_app_commit(api, "c1", at(0))
    c2 = dated_app_commit(api, "c2", at(D))
    d = DeployRepo(tmp_path / "deploy")
    d.catalog({"api": {"kind": "local", "repo": "../apps/api"}})
    d.env("staging")
    d.repo.git.add("-A")
    git_at(d.path, at(-H), "commit", "-q", "-m", "catalog")

    def merged_pr(number: int, commit: str, comment: str, opened: float, fixup: float, merged: float) -> None:
        git_at(d.path, at(opened - H), "checkout", "-q", "-b", f"pr{number}")
        d.write(f"notes/{number}-plan.txt", "an earlier commit of the PR, not touching the deploy file\n")
        d.repo.git.add("-A")
        git_at(d.path, at(opened - H), "commit", "-q", "-m", "plan")  # not the opening: no deploy file
        d.deploy("staging", "api", commit, comment)
        d.repo.git.add("-A")
        git_at(d.path, at(opened), "commit", "-q", "-m", f"deploy api (#{number})")
        d.write(f"notes/{number}.txt", "a later commit of the PR, not touching the deploy file\n")
        d.repo.git.add("-A")
        git_at(d.path, at(fixup), "commit", "-q", "-m", "fixup")
        git_at(d.path, at(merged), "checkout", "-q", "main")
        git_at(d.path, at(merged), "merge", "-q", "--no-ff", "-m", f"Merge pull request #{number} from acme/pr{number}",
               f"pr{number}")

    merged_pr(1, c1, "by hand", opened=5 * H, fixup=6 * H, merged=8 * H)  # 5 h for a PR, 3 h of review
    merged_pr(2, c2, f"deploy to staging {PROPOSED_BY}", opened=D + 600, fixup=D + H, merged=D + 600 + 2 * H)
    env = {**os.environ, "DEPLOYCTL_CACHE": str(tmp_path / "cache"), "CI": "1"}
    window = ("--since", T0.isoformat(), "--until", UNTIL.isoformat())
    code, out, err = run_cli(d.path, "metrics", "--no-engine", "--json", *window, env=env)
    assert code == 0, err
    s = json.loads(out)["waiting"]["staging"]
    assert s["by_hand"] == {"lines": 1, "waiting_for_pr_s": {"median": 5 * H, "p90": 5 * H, "n": 1},
                            "waiting_for_review_s": {"median": 3 * H, "p90": 3 * H, "n": 1}}
    assert s["proposed"] == {"lines": 1, "waiting_for_pr_s": {"median": 600, "p90": 600, "n": 1},
                             "waiting_for_review_s": {"median": 2 * H, "p90": 2 * H, "n": 1}}
    code, text, err = run_cli(d.path, "metrics", "--no-engine", *window, env=env)
    assert code == 0, err
    assert "staging proposed: 10 min (n=1) / 2.0 h (n=1), 1 line(s)" in text
    assert "staging by hand: 5.0 h (n=1) / 3.0 h (n=1), 1 line(s)" in text


def test_a_squashed_or_pushed_line_opens_at_its_commits_author_time(tmp_path: Path):
    """Without merge commits there are no PR branches to read: the landing commit's author time (it
    comes with the history) is the opening, its committer time the merge."""
    from deployctl.commands.metrics import pr_openings

    api = AppRepo(tmp_path / "apps" / "api")
    c1 = dated_app_commit(api, "c1", at(0))
    d = DeployRepo(tmp_path / "deploy")
    d.catalog({"api": {"kind": "local", "repo": "../apps/api"}})
    d.env("staging")
    d.repo.git.add("-A")
    git_at(d.path, at(-H), "commit", "-q", "-m", "catalog")
    d.deploy("staging", "api", c1, "by hand")
    d.repo.git.add("-A")
    env = {**os.environ, "GIT_AUTHOR_DATE": f"@{int(ts(2 * H))} +0000",  # written at 2 h, landed at 5 h
           "GIT_COMMITTER_DATE": f"@{int(ts(5 * H))} +0000"}
    subprocess.run(["git", "commit", "-q", "-m", "deploy api (#3)"], cwd=d.path, env=env, check=True)
    assert pr_openings(d.path) == {}
    env = {**os.environ, "DEPLOYCTL_CACHE": str(tmp_path / "cache"), "CI": "1"}
    code, out, err = run_cli(d.path, "metrics", "--no-engine", "--json", "--since", T0.isoformat(),
                             "--until", UNTIL.isoformat(), env=env)
    assert code == 0, err
    assert json.loads(out)["waiting"]["staging"]["by_hand"] == {
        "lines": 1, "waiting_for_pr_s": {"median": 2 * H, "p90": 2 * H, "n": 1},
        "waiting_for_review_s": {"median": 3 * H, "p90": 3 * H, "n": 1}}
