"""`propose --post` on a real deploy repo with a bare git remote, against GitHub's pulls, issue-comments
and GraphQL APIs on loopback (pytest-httpserver), answering in their documented shapes: one PR per
proposal key, refreshed in place, closed when moot, auto-merge only for an unprotected env, a blocked
step left alone."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import git
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from deployctl.adapters.github import GitHub, GitHubError
from deployctl.commands.proposepost import post_proposals
from deployctl.core.deliver.proposal import Proposal, ProposalKind
from deployctl.core.trace.metrics import PROPOSED_BY
from deployctl.core.violations import CannotJudge
from deployctl.report.proposalbody import marker, parse_marker, render_body
from tests.builders import AppRepo, DeployRepo

REPO = "acme/deploys"
TOKEN = "ghs_installationTokenForTests0123"
"""An installation token (the Actions GITHUB_TOKEN's format): its PRs are by the app's bot."""
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


class FakePulls:
    """GitHub's pulls API for one repository, as documented: a PR has `number`, `node_id`, `html_url`,
    `state`, `title`, `body`, `user`, `head` {ref, sha, repo.full_name}, `base` {ref}, `auto_merge`;
    GitHub refuses a second open PR for one head branch (422). Every request is recorded."""

    def __init__(self, server: HTTPServer, origin: Path):
        self.origin = origin
        self.prs: list[dict[str, Any]] = []
        self.comments: list[tuple[int, str]] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.graphql_errors: list[dict[str, Any]] = []
        self.lose_next_create = False
        """GitHub opens the next PR, but its answer is lost (a 502 from a proxy)."""
        self.api_url = server.url_for("").rstrip("/")
        server.expect_request(re.compile(r"^/.*")).respond_with_handler(self.handle)

    def add(self, ref: str, body: str, user: dict[str, Any] | None = None, fork: bool = False) -> dict[str, Any]:
        """A PR somebody else opened (a person, or from a fork)."""
        pr = self._pr(ref, "someone's", body, user or {"login": "mallory", "id": 7, "type": "User"},
                      "mallory/deploys" if fork else REPO)
        self.prs.append(pr)
        return pr

    def _pr(self, ref: str, title: str, body: str, user: dict[str, Any], head_repo: str = REPO) -> dict[str, Any]:
        number = len(self.prs) + 1
        return {"number": number, "node_id": f"PR_kwDOtest{number}", "state": "open", "title": title, "body": body,
                "html_url": f"https://github.com/{REPO}/pull/{number}", "user": user, "auto_merge": None,
                "head": {"ref": ref, "sha": self.tip(ref), "repo": {"full_name": head_repo}},
                "base": {"ref": "main", "repo": {"full_name": REPO}}}

    def tip(self, ref: str) -> str | None:
        try:
            return git.Repo(self.origin).git.rev_parse(f"refs/heads/{ref}")
        except git.GitCommandError:
            return None

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)

    def json(self, data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status, content_type="application/json")

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        self.requests.append((request.method, request.path, body))
        if request.path == "/user":
            return self.json({"message": "Resource not accessible by integration"}, 403)
        if request.path == f"/repos/{REPO}/pulls" and request.method == "GET":
            assert request.args["state"] == "open"
            for pr in self.prs:
                pr["head"]["sha"] = self.tip(pr["head"]["ref"]) or pr["head"]["sha"]
            return self.json([pr for pr in self.prs if pr["state"] == "open"
                              and request.args.get("base", "main") == pr["base"]["ref"]])
        if request.path == f"/repos/{REPO}/pulls" and request.method == "POST":
            if self.tip(body["head"]) is None:
                return self.json({"message": "Validation Failed", "errors": [
                    {"resource": "PullRequest", "field": "head", "code": "invalid"}]}, 422)
            if any(pr["head"]["ref"] == body["head"] and pr["head"]["repo"]["full_name"] == REPO
                   and pr["state"] == "open" for pr in self.prs):  # `head` is a branch of this repository
                return self.json({"message": "Validation Failed", "errors": [
                    {"message": f"A pull request already exists for acme:{body['head']}."}]}, 422)
            pr = self._pr(body["head"], body["title"], body["body"], BOT)
            self.prs.append(pr)
            if self.lose_next_create:
                self.lose_next_create = False
                return self.json({"message": "Bad Gateway"}, 502)
            return self.json(pr, 201)
        if m := re.fullmatch(rf"/repos/{REPO}/pulls/(\d+)", request.path):
            pr = self.prs[int(m.group(1)) - 1]
            assert set(body) <= {"title", "body", "state"}
            pr.update(body)
            return self.json(pr)
        if (m := re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", request.path)) and request.method == "POST":
            self.comments.append((int(m.group(1)), body["body"]))
            return self.json({"id": len(self.comments), "body": body["body"], "user": BOT}, 201)
        if request.path == "/graphql" and request.method == "POST":
            if self.graphql_errors:
                return self.json({"data": None, "errors": self.graphql_errors})
            node = body["variables"]["pullRequestId"]
            pr = next(pr for pr in self.prs if pr["node_id"] == node)
            if "disablePullRequestAutoMerge" in body["query"]:
                pr["auto_merge"] = None
                return self.json({"data": {"disablePullRequestAutoMerge": {"pullRequest": {"number": pr["number"]}}}})
            assert "enablePullRequestAutoMerge" in body["query"]
            pr["auto_merge"] = {"merge_method": body["variables"]["mergeMethod"].lower(), "enabled_by": BOT}
            return self.json({"data": {"enablePullRequestAutoMerge": {"pullRequest": {
                "number": pr["number"], "autoMergeRequest": {"enabledAt": "2026-12-07T05:00:00Z",
                                                             "mergeMethod": body["variables"]["mergeMethod"]}}}}})
        return self.json({"message": "Not Found"}, 404)

    def graphql_nodes(self, mutation: str = "enablePullRequestAutoMerge") -> list[str]:
        return [b["variables"]["pullRequestId"] for m, p, b in self.requests if p == "/graphql"
                and mutation in b["query"]]


class World:
    def __init__(self, tmp_path: Path, httpserver: HTTPServer):
        self.api = AppRepo(tmp_path / "apps" / "api")
        self.c = [self.api.commit(f"api {i}") for i in range(4)]
        self.deploy = DeployRepo(tmp_path / "deploy")
        self.deploy.catalog({"api": {"kind": "local", "repo": "../apps/api"},
                             "web": {"kind": "local", "repo": "../apps/api"}})
        self.deploy.env("staging").env("production", promoteFrom="staging", protected=True,
                                       reviewers=["@acme/release"])
        self.deploy.deploy("staging", "api", self.c[0], "first")
        self.deploy.deploy("production", "api", self.c[0], "first")
        self.base = self.deploy.commit("first deploys")
        self.origin = tmp_path / "origin.git"
        git.Repo.init(self.origin, bare=True)
        self.deploy.repo.create_remote("origin", str(self.origin))
        self.deploy.repo.git.push("origin", "main")
        self.fake = FakePulls(httpserver, self.origin)
        self.said: list[str] = []

    def post(self, proposals: list[Proposal], **kw: Any):
        with GitHub(TOKEN, api_url=self.fake.api_url, sleep=lambda s: None) as client:
            return post_proposals(self.deploy.path, proposals, client, REPO, "main", say=self.said.append, **kw)

    def on_origin(self, branch: str, path: str) -> list[str]:
        return git.Repo(self.origin).git.show(f"refs/heads/{branch}:{path}").splitlines()


def proposal(env: str, app: str, commit: str, kind: ProposalKind = ProposalKind.DEPLOY, **kw: Any) -> Proposal:
    return Proposal(env=env, kind=kind, apps={app: commit}, title=f"Deploy {app} {commit[:12]} to {env}",
                    branch=f"deployctl/propose/{env}/{app}", evidence=kw.pop("evidence", ["artifact found"]), **kw)


@pytest.fixture
def world(tmp_path: Path, httpserver: HTTPServer) -> World:
    return World(tmp_path, httpserver)


def test_one_pr_per_key_created_refreshed_in_place_then_closed_when_moot(world: World):
    w = world
    worktree_before = (w.deploy.path / "deploys/staging/api").read_bytes()
    staging = proposal("staging", "api", w.c[1], auto_merge=True,
                       evidence=["artifact found: image api:c1", "@acme/everyone <b>ping</b> [x](javascript:1)"])
    promote = proposal("production", "api", w.c[1], ProposalKind.PROMOTE, evidence=["ran in staging 3h, healthy"])
    result = w.post([staging, promote])
    assert [(p.key, p.action, p.number) for p in result.posted] == [
        ("deployctl/propose/staging/api", "created", 1), ("deployctl/propose/production/api", "created", 2)]
    # each branch: the base's file with the one new line on top, written by `propose`
    lines = w.on_origin("deployctl/propose/staging/api", "deploys/staging/api")
    assert lines[0] == f"{w.c[1]} deploy to staging {PROPOSED_BY}" and lines[1:] == [f"{w.c[0]} first"]
    assert w.on_origin("deployctl/propose/production/api", "deploys/production/api")[0] == \
        f"{w.c[1]} promote to production {PROPOSED_BY}"
    branch_commit = git.Repo(w.origin).commit("refs/heads/deployctl/propose/staging/api")
    assert [c.hexsha for c in branch_commit.parents] == [w.base]  # on the base's tip
    assert [d.a_path for d in branch_commit.diff(w.base)] == ["deploys/staging/api"]  # that file only
    # the checkout is untouched: same HEAD, same file, nothing staged
    assert w.deploy.repo.head.commit.hexsha == w.base
    assert (w.deploy.path / "deploys/staging/api").read_bytes() == worktree_before
    assert not w.deploy.repo.is_dirty(untracked_files=True)
    # the PR in GitHub's shape, its body marked and escaped
    created = [b for m, p, b in w.fake.requests if m == "POST" and p == f"/repos/{REPO}/pulls"]
    assert created[0]["head"] == "deployctl/propose/staging/api" and created[0]["base"] == "main"
    body = w.fake.prs[0]["body"]
    assert parse_marker(body) == ("deployctl/propose/staging/api", "staging")
    assert "@\u200dacme/everyone" in body and "<b>" not in body and "](javascript" not in body
    assert f"`{w.c[1]}`" in body and "Auto-merge is on" in body
    # auto-merge: for the unprotected env only
    assert w.fake.graphql_nodes() == [w.fake.prs[0]["node_id"]]
    assert [p.auto_merge for p in result.posted] == [True, False]

    # the same proposals again: nothing pushed, nothing edited, no second PR, auto-merge not asked again
    tips = [w.fake.tip(f"deployctl/propose/{e}/api") for e in ("staging", "production")]
    again = w.post([staging, promote])
    assert [p.action for p in again.posted] == ["unchanged", "unchanged"]
    assert [w.fake.tip(f"deployctl/propose/{e}/api") for e in ("staging", "production")] == tips
    assert w.fake.count("POST", f"/repos/{REPO}/pulls") == 2 and w.fake.count("PATCH", f"/repos/{REPO}/pulls/1") == 0
    assert len(w.fake.graphql_nodes()) == 1

    # a newer commit: the same PR, its branch rewritten on the base (c1's line gone), title and body edited
    newer = proposal("staging", "api", w.c[2], auto_merge=True)
    refreshed = w.post([newer, promote])
    assert [(p.action, p.number) for p in refreshed.posted] == [("refreshed", 1), ("unchanged", 2)]
    lines = w.on_origin("deployctl/propose/staging/api", "deploys/staging/api")
    assert lines == [f"{w.c[2]} deploy to staging {PROPOSED_BY}", f"{w.c[0]} first"]
    assert w.fake.prs[0]["title"] == f"Deploy api {w.c[2][:12]} to staging" and f"`{w.c[2]}`" in w.fake.prs[0]["body"]
    assert w.fake.count("POST", f"/repos/{REPO}/pulls") == 2 and len(w.fake.prs) == 2
    assert refreshed.posted[0].head == w.fake.tip("deployctl/propose/staging/api") != tips[0]

    # staging's step became moot (deployed by hand); production's is held by a freeze: left open, says why
    held = promote.model_copy(update={"blocked": ["freeze-window"]})
    production_tip = w.fake.tip("deployctl/propose/production/api")
    last = w.post([held])
    assert [(p.key, p.action, p.number) for p in last.posted] == [
        ("deployctl/propose/production/api", "held", 2), ("deployctl/propose/staging/api", "closed", 1)]
    assert w.fake.prs[0]["state"] == "closed" and w.fake.prs[1]["state"] == "open"
    assert [(n, "no longer needs this step" in text) for n, text in w.fake.comments] == [(1, True)]
    assert "**Held**" in w.fake.prs[1]["body"] and "`freeze-window`" in w.fake.prs[1]["body"]
    assert w.fake.tip("deployctl/propose/production/api") == production_tip  # its branch left alone


def test_a_blocked_proposal_opens_nothing_and_moot_prs_of_other_envs_stay(world: World):
    w = world
    w.post([proposal("staging", "api", w.c[1])])
    result = w.post([proposal("production", "web", w.c[1], blocked=["soak"])], envs=["production"])
    assert [(p.key, p.action, p.number) for p in result.posted] == [("deployctl/propose/production/web", "held", None)]
    assert w.fake.tip("deployctl/propose/production/web") is None  # no branch pushed
    assert w.fake.count("POST", f"/repos/{REPO}/pulls") == 1
    assert w.fake.prs[0]["state"] == "open"  # staging was not in this run's envs: its PR is not moot
    assert any("held (soak)" in line for line in w.said)


def test_auto_merge_is_refused_for_a_protected_env_even_when_asked(world: World):
    w = world
    result = w.post([proposal("production", "api", w.c[1], ProposalKind.PROMOTE, auto_merge=True)])
    assert result.posted[0].action == "created" and result.posted[0].auto_merge is False
    assert w.fake.graphql_nodes() == []
    assert "auto-merge is off: never for a protected env" in w.fake.prs[0]["body"]
    assert any("auto-merge refused" in line for line in w.said)


def test_a_graphql_refusal_is_an_error_naming_it(world: World):
    w = world
    w.fake.graphql_errors = [{"type": "UNPROCESSABLE", "message": "Pull request Auto merge is not allowed for this "
                              "repository"}]
    with pytest.raises(GitHubError, match="enablePullRequestAutoMerge refused: Pull request Auto merge is not allowed"):
        w.post([proposal("staging", "api", w.c[1], auto_merge=True)])


def test_only_our_marked_prs_from_this_repository_are_ours(world: World):
    w = world
    # a person (or a fork) opens a PR carrying the marker of staging/api: never refreshed, closed or pushed to
    w.fake.add("deployctl/propose/staging/api", marker("deployctl/propose/staging/api", "staging") + "\nmine")
    w.fake.add("deployctl/propose/staging/web", marker("deployctl/propose/staging/web", "staging"), user=BOT,
               fork=True)
    # our bot's PR whose marker names another branch than its own: not taken for that key
    w.fake.add("elsewhere", marker("deployctl/propose/staging/api", "staging"), user=BOT)
    result = w.post([proposal("staging", "api", w.c[1]), proposal("staging", "web", w.c[1])])
    # the person's PR holds our branch name: left alone, never pushed to; the fork's does not hold ours
    assert [(p.key, p.action, p.number) for p in result.posted] == [
        ("deployctl/propose/staging/api", "skipped", 1), ("deployctl/propose/staging/web", "created", 4)]
    assert w.fake.tip("deployctl/propose/staging/api") is None
    assert [pr["state"] for pr in w.fake.prs] == ["open"] * 4 and w.fake.comments == []
    assert w.fake.prs[0]["body"].endswith("mine") and w.fake.count("PATCH", f"/repos/{REPO}/pulls/1") == 0
    assert any("not opened by deployctl propose" in line for line in w.said)
    # nothing proposed any more: only our own PR is moot; the marked PRs of others stay open, uncommented
    result = w.post([])
    assert [(p.action, p.number) for p in result.posted] == [("closed", 4)]
    assert [pr["state"] for pr in w.fake.prs] == ["open", "open", "open", "closed"]
    assert [n for n, _ in w.fake.comments] == [4]


def test_a_proposal_that_cannot_stand_in_git_or_a_marker_is_refused_before_any_call(world: World):
    w = world
    bad = [proposal("staging", "api", w.c[1]).model_copy(update={"branch": "--upload-pack=x"}),
           proposal("staging", "api", w.c[1]).model_copy(update={"branch": "deployctl/a--b"}),
           proposal("staging", "api", w.c[1]).model_copy(update={"apps": {"api": w.c[1][:12]}}),
           proposal("staging", "api", w.c[1]).model_copy(update={"apps": {"../x": w.c[1]}})]
    for p in bad:
        with pytest.raises(CannotJudge, match="nothing was posted"):
            w.post([p])
    with pytest.raises(CannotJudge, match="share this key"):
        w.post([proposal("staging", "api", w.c[1]), proposal("staging", "api", w.c[2])])
    assert w.fake.requests == []


def test_the_body_renders_held_evidence_and_merge_mode():
    p = Proposal(env="staging", kind=ProposalKind.DEPLOY, apps={"api": "a" * 40, "web": "b" * 40}, title="t",
                 branch="deployctl/propose/staging/g", evidence=["`x` </details> <!-- y"], blocked=["freeze-window"])
    body = render_body(p, protected=False, auto_merge=False)
    assert body.startswith(marker("deployctl/propose/staging/g", "staging") + "\n")
    assert "</details>" not in body and "<!-- y" not in body and "**Held**" in body
    assert "| `api` | `" + "a" * 40 + "` |" in body and "auto-merge is off)" in body


def test_graphql_url_beside_the_rest_api():
    assert GitHub(TOKEN, api_url="https://api.github.com").graphql_url() == "https://api.github.com/graphql"
    assert GitHub(TOKEN, api_url="https://ghe.acme.test/api/v3").graphql_url() == "https://ghe.acme.test/api/graphql"


def test_auto_merge_is_taken_off_a_held_step_and_a_protected_envs_pr(world: World):
    w = world
    staging = proposal("staging", "api", w.c[1], auto_merge=True)
    production = proposal("production", "api", w.c[1], ProposalKind.PROMOTE)
    w.post([staging, production])
    assert w.fake.prs[0]["auto_merge"] is not None
    w.fake.prs[1]["auto_merge"] = {"merge_method": "merge"}  # someone set it on production's PR by hand
    w.post([staging.model_copy(update={"blocked": ["freeze-window"]}), production])
    assert w.fake.prs[0]["auto_merge"] is None and w.fake.prs[1]["auto_merge"] is None
    assert sorted(w.fake.graphql_nodes("disablePullRequestAutoMerge")) == sorted(
        [w.fake.prs[0]["node_id"], w.fake.prs[1]["node_id"]])
    # once the freeze lifts, the unprotected env's PR merges itself again; production's never does
    w.post([staging, production])
    assert w.fake.prs[0]["auto_merge"] is not None and w.fake.prs[1]["auto_merge"] is None
    assert w.fake.graphql_nodes() == [w.fake.prs[0]["node_id"]] * 2


def test_a_pr_whose_creation_answer_was_lost_is_found_again_never_opened_twice(world: World):
    w = world
    w.fake.lose_next_create = True
    staging = proposal("staging", "api", w.c[1])
    with pytest.raises(GitHubError, match="may exist already"):
        w.post([staging])
    assert w.fake.count("POST", f"/repos/{REPO}/pulls") == 1  # a POST is not blindly repeated
    result = w.post([staging])  # the next run finds it by its marker
    assert [(p.action, p.number) for p in result.posted] == [("unchanged", 1)]
    assert len(w.fake.prs) == 1 and w.fake.count("POST", f"/repos/{REPO}/pulls") == 1


def test_long_evidence_is_cut_to_fit_a_pr_body():
    p = Proposal(env="staging", kind=ProposalKind.DEPLOY, apps={"api": "a" * 40}, title="t",
                 branch="deployctl/propose/staging/api", evidence=["x" * 5000] * 200)
    body = render_body(p, protected=False, auto_merge=False)
    assert len(body) < 65536 and "and 150 more" in body


def test_a_branch_someone_pushed_to_is_never_overwritten(world: World, tmp_path: Path):
    w = world
    w.post([proposal("staging", "api", w.c[1])])
    person = git.Repo.clone_from(str(w.origin), tmp_path / "person")
    person.git.checkout("deployctl/propose/staging/api")
    (tmp_path / "person" / "deploys/staging/api").write_text(f"{w.c[1]} deploy to staging [hotfix]\n{w.c[0]} first\n")
    person.git.commit("-qam", "a person's fix", "--author", "Dana Dev <dana@example.com>")
    person.git.push("origin", "deployctl/propose/staging/api")
    theirs = w.fake.tip("deployctl/propose/staging/api")
    result = w.post([proposal("staging", "api", w.c[2])])
    assert [(p.action, p.number, p.head) for p in result.posted] == [("skipped", 1, theirs)]
    assert w.fake.tip("deployctl/propose/staging/api") == theirs
    assert w.fake.count("PATCH", f"/repos/{REPO}/pulls/1") == 0
    assert any("never overwritten" in line for line in w.said)


def test_the_command_posts_one_pr_per_proposal_and_a_second_run_opens_no_second(world: World):
    """`deployctl propose --post` end to end: the planner's proposal for staging's autoDeploy becomes one
    branch and PR on the loopback GitHub; run again, nothing new is opened or pushed."""
    from tests.scenario import run_cli
    from tests.test_propose import set_policy

    set_policy(world.deploy.path, "staging", autoDeploy=True)
    world.deploy.commit("staging deploys api's newest commit by itself")
    world.deploy.repo.git.push("origin", "main")
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": world.fake.api_url,
           "GITHUB_REF_NAME": "main"}
    code, out, err = run_cli(world.deploy.path, "propose", "--post", env=env)
    assert code == 0, err
    (pr,) = world.fake.prs
    assert pr["head"]["ref"] == "deployctl/propose/staging/api" and world.c[3][:12] in pr["title"]
    assert world.on_origin("deployctl/propose/staging/api", "deploys/staging/api")[0].split()[0] == world.c[3]
    assert "staging: deployctl/propose/staging/api: PR #1 created" in err
    code, out, err = run_cli(world.deploy.path, "propose", "--post", env=env)
    assert code == 0, err
    assert "Deploy api" in out  # the proposal is still printed
    assert len(world.fake.prs) == 1 and world.fake.count("POST", f"/repos/{REPO}/pulls") == 1
    assert "PR #1 unchanged" in err


# -- hostile input: the branches propose --post writes, credentials in evidence, a stale auto-merge ---


def test_propose_post_writes_only_deployctl_propose_branches(tmp_path: Path):
    """README: it writes only `deployctl/propose/...` branches. A proposal naming another branch (a
    release branch, a person's `deploy/api`, `main`) is refused before git or GitHub is touched."""
    from deployctl.commands.proposepost import post_proposals
    from deployctl.core.deliver.proposal import Proposal, ProposalKind

    untouched = GitHub("t", api_url="http://127.0.0.1:9", deadline=1, request_timeout=1)
    for branch in ("main", "release/1.x", "deploy/api", "deployctl/proposex/staging/api"):
        p = Proposal(env="staging", kind=ProposalKind.DEPLOY, apps={"api": "a" * 40}, title="Deploy api",
                     branch=branch, evidence=["artifact found"])
        with pytest.raises(CannotJudge, match="deployctl/propose/"):
            post_proposals(tmp_path, [p], untouched, "acme/deploys", "main")


def test_a_proposal_body_never_shows_credentials_of_a_url_in_its_evidence_or_title():
    """Evidence quotes the planner's sources (an app repository's URL, an artifact's): a token in one
    never reaches the PR body or title, which every reader of the repository sees."""
    from deployctl.core.deliver.proposal import Proposal, ProposalKind
    from deployctl.report.proposalbody import render_body, title

    url = "https://ci-bot:ghp_s3cretT0ken@github.example/acme/api.git?token=abcdef123456"
    p = Proposal(env="staging", kind=ProposalKind.DEPLOY, apps={"api": "a" * 40}, title=f"Deploy api from {url}",
                 branch="deployctl/propose/staging/api", evidence=[f"on main of {url}", f"artifact {url}"])
    shown = render_body(p, protected=False, auto_merge=False) + title(p)
    assert "ghp_s3cretT0ken" not in shown and "abcdef123456" not in shown and "ci-bot" not in shown
    assert "github.example/acme/api.git" in shown  # the place is still named


def test_auto_merge_is_taken_off_a_proposal_pr_once_the_env_no_longer_asks_for_it(tmp_path: Path,
                                                                                 httpserver: HTTPServer):
    """A team turns `deploys:autoMerge` off for an unprotected env: the proposal PR opened while it was
    on must stop merging itself on the next run, whether refreshed with a newer commit or unchanged."""
    world = World(tmp_path, httpserver)
    world.post([proposal("staging", "api", world.c[1], auto_merge=True)])
    (pr,) = world.fake.prs
    assert pr["auto_merge"] is not None
    world.post([proposal("staging", "api", world.c[1])])  # same step, autoMerge now off
    assert pr["auto_merge"] is None and world.fake.graphql_nodes("disablePullRequestAutoMerge") == [pr["node_id"]]
    world.post([proposal("staging", "api", world.c[2], auto_merge=True)])
    assert pr["auto_merge"] is not None
    world.post([proposal("staging", "api", world.c[3])])  # refreshed with a newer commit, autoMerge off
    assert pr["auto_merge"] is None and len(world.fake.prs) == 1
    pr["auto_merge"] = {"merge_method": "squash", "enabled_by": {"login": "ann", "type": "User"}}
    world.post([proposal("staging", "api", world.c[3])])  # a reviewer's own choice on an unprotected env stays
    assert pr["auto_merge"] is not None


def test_a_line_counts_as_proposed_only_when_its_comment_ends_with_the_propose_mark():
    """README: lines `propose` wrote are those whose comment ends in `(deployctl propose)`; a person's
    comment quoting it elsewhere is a line by hand, so the saving `metrics` shows is not inflated."""
    from deployctl.core.deliver.proposal import Proposal, ProposalKind
    from deployctl.core.trace.metrics import PROPOSED_BY, is_proposed
    from deployctl.report.proposalbody import line_comment

    p = Proposal(env="staging", kind=ProposalKind.PROMOTE, apps={"api": "a" * 40}, title="t",
                 branch="deployctl/propose/staging/api", evidence=[])
    assert is_proposed(line_comment(p, "api")) and is_proposed(f"deploy to staging {PROPOSED_BY} ")
    assert not is_proposed(f"undo what {PROPOSED_BY} shipped, by hand [rollback]")


def test_a_proposal_pr_whose_step_main_already_made_by_hand_is_closed_not_left_open(tmp_path: Path,
                                                                                    httpserver: HTTPServer):
    """Someone deploys the proposed commit by hand: the base's file names it on top. If that step is
    proposed again, its open PR (whose branch now conflicts with main) is closed as moot, never left."""
    world = World(tmp_path, httpserver)
    step = proposal("staging", "api", world.c[1], auto_merge=True)
    world.post([step])
    (pr,) = world.fake.prs
    world.deploy.deploy("staging", "api", world.c[1], "by hand")
    world.deploy.commit("deploy api by hand")
    world.deploy.repo.git.push("origin", "main")
    (done,) = world.post([step]).posted
    assert (done.action, done.number) == ("closed", pr["number"])
    assert pr["state"] == "closed" and world.fake.comments and "deployctl propose" in world.fake.comments[-1][1]
