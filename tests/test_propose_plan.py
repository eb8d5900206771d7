"""The pure planner of `deployctl propose` (core/deliver/propose.py) over in-memory commit graphs, traces and
artifact stores (tests/fakes.py): which step is due, which commit, what holds it. test_propose.py
proves the same on real repositories, the real engine and moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from deployctl.core.change.rules.artifact import ArtifactRef
from deployctl.core.deliver.proposal import Proposal, ProposalKind
from deployctl.core.deliver.propose import MAX_CANDIDATES, SOAK, UPSTREAM_UNHEALTHY, plan_proposals
from deployctl.core.repo.snapshot import build_snapshot
from deployctl.core.trace.history import DeployResult, HistoryEntry
from tests.fakes import FakeCommits, repo_files

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
API, WEB = "../apps/api", "../apps/web"


def sha(n: int, repo: str = "a") -> str:
    return f"{repo}{n:x}".ljust(40, "0")


class FakeBranches:
    """The planner's Branches oracle over FakeCommits: a branch's tip and its first parents."""

    def __init__(self, commits: FakeCommits):
        self.commits = commits
        self.asked: list[tuple[str, str]] = []

    def first_parents(self, repo: str, branch: str, limit: int) -> list[str] | None:
        self.asked.append((repo, branch))
        tip = self.commits.branches.get(repo, {}).get(branch)
        out: list[str] = []
        while tip is not None and len(out) < limit:
            out.append(tip)
            parents = self.commits.parents[repo][tip]
            tip = parents[0] if parents else None
        return out or None


class FakeArtifacts:
    """An artifact store holding exactly `built` (image tags, keys)."""

    def __init__(self, built: set[str]):
        self.built = built
        self.asked: list[ArtifactRef] = []

    def exists(self, ref: ArtifactRef) -> bool:
        self.asked.append(ref)
        return (ref.tag or ref.key) in self.built

    def prefetch(self, refs: list[ArtifactRef]) -> None:
        pass


def graph(n: int = 6) -> FakeCommits:
    """api's main: 1 - 2 - ... - n (tip n); web's main: 1 - 2 - 3."""
    g = FakeCommits()
    for i in range(1, n + 1):
        g.commit(API, sha(i), *([sha(i - 1)] if i > 1 else []), branch="main")
    for i in range(1, 4):
        g.commit(WEB, sha(i, "b"), *([sha(i - 1, "b")] if i > 1 else []), branch="main")
    return g


APPS: dict[str, dict[str, Any]] = {"api": {"kind": "local", "repo": API}, "web": {"kind": "local", "repo": WEB}}


def plan(envs: dict[str, dict], files: dict[str, str], commits: FakeCommits, apps: dict | None = None,
         at: datetime = NOW, **kwargs: Any) -> list[Proposal]:
    rf = repo_files(apps or APPS, envs, files)
    base = build_snapshot(rf)
    assert not base.config_errors, base.config_errors
    return plan_proposals(rf, base, sorted(envs), commits, FakeBranches(commits), at, **kwargs)


def test_auto_deploy_proposes_each_apps_branch_tip_with_its_evidence():
    files = {"staging/api": f"{sha(3)}\n", "staging/web": f"{sha(1, 'b')}\n"}
    (api, web) = plan({"staging": {"autoDeploy": True}}, files, graph())
    assert (api.env, api.kind, api.apps, api.blocked, api.auto_merge) == ("staging", ProposalKind.DEPLOY,
                                                                          {"api": sha(6)}, [], False)
    assert api.title == f"Deploy api {sha(6)[:12]} to staging"
    assert api.branch == "deployctl/propose/staging/api"
    assert f"api {sha(6)[:12]} is the tip of release branch 'main', after {sha(3)[:12]}, which staging has now" \
        in api.evidence
    assert web.apps == {"web": sha(3, "b")}


def test_nothing_is_proposed_for_an_env_that_has_the_newest_commit_or_a_newer_one_or_no_policy():
    commits = graph()
    assert plan({"staging": {"autoDeploy": True}}, {"staging/api": f"{sha(6)}\n", "staging/web": f"{sha(3, 'b')}\n"},
                commits) == []
    commits.commit(API, sha(7), sha(6), branch="feature")  # staging runs a commit newer than main's tip
    assert plan({"staging": {"autoDeploy": True}}, {"staging/api": f"{sha(7)}\n{sha(6)}\n"}, commits) == []
    assert plan({"staging": {}}, {"staging/api": f"{sha(1)}\n"}, commits) == []


def test_an_auto_deploy_list_names_its_apps_and_an_app_the_env_does_not_deploy_is_not_added():
    files = {"staging/api": f"{sha(1)}\n", "staging/web": f"{sha(1, 'b')}\n"}
    found = plan({"staging": {"autoDeploy": ["web"]}}, files, graph())
    assert [p.apps for p in found] == [{"web": sha(3, "b")}]
    assert plan({"staging": {"autoDeploy": ["web"]}}, {"staging/api": f"{sha(1)}\n"}, graph()) == []


def test_a_tip_the_safeguards_refuse_walks_back_to_the_newest_commit_that_passes():
    commits = graph()
    commits.paths = {(API, sha(i)): ({"svc"} if i <= 4 else set()) for i in range(1, 7)}  # `svc` gone at 5
    apps = {"api": {"kind": "local", "repo": API, "path": "svc"}}
    (p,) = plan({"staging": {"autoDeploy": True}}, {"staging/api": f"{sha(2)}\n"}, commits, apps)
    assert (p.apps, p.blocked) == ({"api": sha(4)}, [])
    assert any(f"the tip, {sha(6)[:12]}, is held by path-not-found) that passes of" in e for e in p.evidence)
    assert "api: a local app, released from its repository's tree (path 'svc' exists at " + sha(4)[:12] + ")" \
        in p.evidence


def test_when_no_newer_commit_passes_the_tip_is_proposed_blocked_with_the_rules_and_their_messages():
    commits = graph()
    commits.paths = {(API, sha(i)): ({"svc"} if i <= 2 else set()) for i in range(1, 7)}
    apps = {"api": {"kind": "local", "repo": API, "path": "svc"}}
    (p,) = plan({"staging": {"autoDeploy": True}}, {"staging/api": f"{sha(2)}\n"}, commits, apps)
    assert (p.apps, p.blocked) == ({"api": sha(6)}, ["path-not-found"])
    assert p.held and p.held[0].startswith("path-not-found: deploys/staging/api: path 'svc'")


def test_a_freeze_window_blocks_the_tip_without_walking_back():
    commits = graph()
    freeze = [{"start": "2026-11-30T00:00:00Z", "end": "2026-12-02T00:00:00Z", "reason": "launch"}]
    (p,) = plan({"staging": {"autoDeploy": True, "freeze": freeze}}, {"staging/api": f"{sha(1)}\n"}, commits)
    assert (p.apps, p.blocked) == ({"api": sha(6)}, ["freeze-window"])
    (later,) = plan({"staging": {"autoDeploy": True, "freeze": freeze}}, {"staging/api": f"{sha(1)}\n"}, commits,
                    at=NOW + timedelta(days=2))
    assert later.blocked == [] and f"no freeze window of staging at {(NOW + timedelta(days=2)).isoformat()}" \
        in later.evidence


def test_auto_deploy_downstream_proposes_the_newest_commit_that_ran_upstream():
    """In an env that promotes from another, promotion-order is one more safeguard the commit passes."""
    envs = {"staging": {}, "production": {"promoteFrom": "staging", "autoDeploy": True}}
    (p,) = plan(envs, {"staging/api": f"{sha(4)}\n{sha(3)}\n", "production/api": f"{sha(2)}\n"}, graph())
    assert (p.env, p.apps, p.blocked) == ("production", {"api": sha(4)}, [])


def test_a_walk_back_stops_after_max_candidates_and_names_what_holds_the_tip():
    commits = graph(MAX_CANDIDATES + 10)
    envs = {"staging": {}, "production": {"promoteFrom": "staging", "autoDeploy": True}}
    (p,) = plan(envs, {"staging/api": f"{sha(2)}\n", "production/api": f"{sha(1)}\n"}, commits)
    assert (p.apps, p.blocked) == ({"api": sha(MAX_CANDIDATES + 10)}, ["promotion-order"])


def test_a_co_deploy_group_is_one_proposal_with_every_member_in_dependency_order():
    apps = {"api": {"kind": "local", "repo": API, "group": "core"},
            "worker": {"kind": "local", "repo": API, "group": "core", "depends_on": ["api"]},
            "web": {"kind": "local", "repo": WEB, "depends_on": ["worker"]}}
    files = {"staging/api": f"{sha(2)}\n", "staging/worker": f"{sha(2)}\n", "staging/web": f"{sha(1, 'b')}\n"}
    found = plan({"staging": {"autoDeploy": ["worker", "web"]}}, files, graph(), apps)
    assert [(p.branch, list(p.apps)) for p in found] == [("deployctl/propose/staging/group.core", ["api", "worker"]),
                                                         ("deployctl/propose/staging/web", ["web"])]
    core = found[0]
    assert core.apps == {"api": sha(6), "worker": sha(6)} and core.blocked == []
    assert core.title == f"Deploy core (api {sha(6)[:12]}, worker {sha(6)[:12]}) to staging"


def test_a_group_member_with_nothing_newer_holds_the_group_as_the_group_rule_says():
    apps = {"api": {"kind": "local", "repo": API, "group": "core"},
            "web": {"kind": "local", "repo": WEB, "group": "core"}}
    (p,) = plan({"staging": {"autoDeploy": True}}, {"staging/api": f"{sha(2)}\n", "staging/web": f"{sha(3, 'b')}\n"},
                graph(), apps)
    assert p.blocked == ["group-incomplete"] and p.apps == {"api": sha(6), "web": sha(3, "b")}


def test_an_image_that_was_never_built_is_skipped_for_the_newest_one_that_was():
    apps = {"api": {"kind": "ecs-service", "repo": API, "settings": {
        "image_repository": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api", "cluster": "c", "subnets": ["s"],
        "execution_role_arn": "arn:aws:iam::123456789012:role/x"}}}
    store = FakeArtifacts({sha(2), sha(4)})
    (p,) = plan({"staging": {"autoDeploy": True}}, {"staging/api": f"{sha(2)}\n"}, graph(), apps, artifacts=store)
    assert (p.apps, p.blocked) == ({"api": sha(4)}, [])
    assert f"api: artifact found for {sha(4)[:12]} (image api:{sha(4)})" in p.evidence
    (none,) = plan({"staging": {"autoDeploy": True}}, {"staging/api": f"{sha(2)}\n"}, graph(), apps,
                   artifacts=FakeArtifacts(set()))
    assert (none.apps, none.blocked) == ({"api": sha(6)}, ["artifact-missing"])


# -- promotions ---------------------------------------------------------------------------------

PROMOTE = {"staging": {}, "production": {"promoteFrom": "staging", "autoPromote": {"soak": "2h"}}}


def ran(app: str, commit: str, result: str, ended: datetime, update: int = 3, env: str = "staging") -> HistoryEntry:
    return HistoryEntry(merged=ended - timedelta(minutes=5), time=ended, env=env, app=app, to=commit,
                        commit="d" * 40, author="Dana", deploy=DeployResult(result=result, update=update))


def promote(trace: list[HistoryEntry], deployed: dict | None = None, files: dict | None = None,
            envs: dict | None = None, at: datetime = NOW) -> list[Proposal]:
    files = files or {"staging/api": f"{sha(4)}\n{sha(3)}\n", "production/api": f"{sha(3)}\n"}
    deployed = {"staging": {"api": sha(4)}} if deployed is None else deployed
    return plan(envs or PROMOTE, files, graph(), deployed=deployed, trace=trace, at=at)


def test_a_promotion_after_the_soak_says_what_runs_upstream_since_when_and_the_soak():
    (p,) = promote([ran("api", sha(3), "succeeded", NOW - timedelta(days=2), 2),
                    ran("api", sha(4), "succeeded", NOW - timedelta(hours=3))])
    assert (p.env, p.kind, p.apps, p.blocked) == ("production", ProposalKind.PROMOTE, {"api": sha(4)}, [])
    assert p.title == f"Promote api {sha(4)[:12]} staging -> production"
    assert p.branch == "deployctl/propose/production/api"
    assert f"staging runs api {sha(4)[:12]} (Pulumi's `deployed` record)" in p.evidence
    assert (f"update 3 of staging deployed it and succeeded at {(NOW - timedelta(hours=3)).isoformat()}; "
            "api has no health check in staging") in p.evidence
    assert "soak: has run 3h in staging, at least the 2h required" in p.evidence


def test_a_promotion_inside_the_soak_is_held_with_when_it_is_due():
    (p,) = promote([ran("api", sha(4), "succeeded", NOW - timedelta(minutes=30))])
    assert (p.apps, p.blocked) == ({"api": sha(4)}, [SOAK])
    assert p.held == [f"soak: api {sha(4)[:12]} has run in staging for 30m of the 2h soak; due at "
                      f"{(NOW + timedelta(minutes=90)).isoformat()}"]


def test_a_failed_or_switched_back_deploy_upstream_holds_the_promotion():
    for result, said in (("failed, switched back", "failed its health check and was switched back"),
                         ("failed", "failed"), ("held back", "was held back")):
        (p,) = promote([ran("api", sha(4), "succeeded", NOW - timedelta(days=1), 2),
                        ran("api", sha(5), result, NOW - timedelta(hours=5))])
        assert p.blocked == [UPSTREAM_UNHEALTHY], result
        assert said in p.held[0] and sha(5)[:12] in p.held[0]


def test_a_commit_the_trace_never_saw_run_upstream_is_held_by_the_soak():
    (p,) = promote([])
    assert p.blocked == [SOAK] and "deployed outside `deployctl up`" in p.held[0]


def test_what_runs_upstream_is_read_from_pulumi_never_from_the_upstream_file():
    """The staging file has sha(4) on top, but Pulumi runs sha(3): production has that already."""
    assert promote([ran("api", sha(3), "succeeded", NOW - timedelta(days=1))], {"staging": {"api": sha(3)}}) == []
    assert promote([], deployed={}) == []  # staging never deployed: nothing runs there to promote


def test_nothing_to_promote_when_the_env_runs_has_or_is_ahead_of_what_upstream_runs():
    trace = [ran("api", sha(4), "succeeded", NOW - timedelta(days=1))]
    assert promote(trace, {"staging": {"api": sha(4)}, "production": {"api": sha(4)}}) == []
    assert promote(trace, files={"staging/api": f"{sha(4)}\n", "production/api": f"{sha(4)}\n"}) == []
    assert promote(trace, files={"staging/api": f"{sha(4)}\n", "production/api": f"{sha(5)}\n"}) == []


def test_a_due_promotion_in_a_freeze_is_held_by_the_freeze_and_auto_merge_is_carried():
    envs = {"staging": {}, "production": {"promoteFrom": "staging", "autoPromote": {"soak": "0s"}, "autoMerge": True,
                                          "freeze": [{"start": "2026-11-30T00:00:00Z", "end": "2026-12-02T00:00:00Z",
                                                      "reason": "launch"}]}}
    (p,) = promote([ran("api", sha(4), "succeeded", NOW - timedelta(hours=1))], envs=envs)
    assert (p.blocked, p.auto_merge) == (["freeze-window"], True)
    assert p.held[0].startswith("freeze-window: deploys/production/api: env 'production' is frozen until")


def test_a_promotion_of_a_commit_not_in_the_upstream_file_is_held_by_promotion_order():
    """Pulumi runs sha(5) in staging (an `up` by hand), which no merged staging file ever named."""
    (p,) = promote([ran("api", sha(5), "succeeded", NOW - timedelta(days=1))], {"staging": {"api": sha(5)}})
    assert p.blocked == ["promotion-order"]


def test_proposals_come_upstream_env_first():
    envs = {"staging": {"autoDeploy": True}, "production": {"promoteFrom": "staging", "autoPromote": {"soak": "1h"}}}
    trace = [ran("api", sha(4), "succeeded", NOW - timedelta(hours=2))]
    found = plan(envs, {"staging/api": f"{sha(4)}\n", "production/api": f"{sha(3)}\n"}, graph(),
                 deployed={"staging": {"api": sha(4)}}, trace=trace)
    assert [(p.env, p.kind) for p in found] == [("staging", ProposalKind.DEPLOY), ("production", ProposalKind.PROMOTE)]
    assert [p.blocked for p in found] == [[], []]
