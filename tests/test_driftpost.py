"""`drift --post` against GitHub's issues API and a Slack webhook on loopback (real HTTP): one issue per
env with drift, created once, edited when it changes, not touched when unchanged, closed with a comment
when the env is back in sync; Slack hears about new drift only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from deployctl.adapters.github import GitHub
from deployctl.commands.driftpost import post_drift
from deployctl.core.trace.appstate import AppState, State
from deployctl.report.driftissue import drift_marker, drift_state_line, drift_state_of, render_drift_issue

REPO = "acme/deploys"
ACTIONS_TOKEN = "ghs_actionsInstallationToken01"
"""The Actions GITHUB_TOKEN's format: its issues are by the `github-actions[bot]` app user."""
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
A1, A2, A3 = "a" * 40, "b" * 40, "c" * 40


def bot() -> dict[str, Any]:
    return {"user": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
            "performed_via_github_app": {"id": 15368, "slug": "github-actions"}}


def person(login: str) -> dict[str, Any]:
    return {"user": {"login": login, "id": 7, "type": "User"}, "performed_via_github_app": None}


class Issues:
    """GitHub's issues API of one repository, as documented: GET /repos/{repo}/issues (open by
    default, `state`, `creator`, pull requests listed too, paged with Link), POST to create, PATCH
    to edit or close, POST .../comments. Every request is recorded; a POST can be made to fail after
    it took effect (a lost answer)."""

    def __init__(self, server: HTTPServer, author: dict[str, Any] | None = None, page_size: int = 100):
        self.issues: list[dict[str, Any]] = []
        self.comments: list[tuple[int, str]] = []
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.author = author or bot()
        self.page_size = page_size
        self.lose_next_post = False
        self.api_url = server.url_for("").rstrip("/")
        server.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(self.handle)

    def add(self, body: str, author: dict[str, Any], pull_request: bool = False, state: str = "open") -> int:
        number = len(self.issues) + 1
        issue = {"number": number, "title": "t", "body": body, "state": state,
                 "html_url": f"https://github.example/{REPO}/issues/{number}", **author}
        if pull_request:
            issue["pull_request"] = {"url": f"https://api.github.example/repos/{REPO}/pulls/{number}"}
        self.issues.append(issue)
        return number

    def writes(self) -> list[tuple[str, str, Any]]:
        return [(m, p, b) for m, p, _, b in self.requests if m != "GET"]

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        self.requests.append((request.method, request.path, dict(request.args), body))
        answer = self.route(request, body)
        if request.method == "POST" and self.lose_next_post:
            self.lose_next_post = False
            return Response(json.dumps({"message": "Server Error"}), 502, content_type="application/json")
        return answer

    def route(self, request: Request, body: Any) -> Response:
        def js(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
            return Response(json.dumps(data), status, headers, content_type="application/json")

        issues_path = f"/repos/{REPO}/issues"
        if request.method == "GET" and request.path == issues_path:
            state = request.args.get("state", "open")
            creator = request.args.get("creator")
            shown = [i for i in self.issues if (state == "all" or i["state"] == state)
                     and (creator is None or i["user"]["login"] == creator)]
            page = int(request.args.get("page", "1"))
            start = (page - 1) * self.page_size
            headers = {}
            if start + self.page_size < len(shown):
                args = {k: v for k, v in request.args.items() if k != "page"}
                query = "&".join(f"{k}={v}" for k, v in {**args, "page": page + 1}.items())
                headers["Link"] = f'<{request.host_url.rstrip("/")}{issues_path}?{query}>; rel="next"'
            return js(shown[start:start + self.page_size], headers=headers)
        if request.method == "POST" and request.path == issues_path:
            number = self.add(body["body"], self.author)
            self.issues[-1].update(title=body["title"], labels=[{"name": n} for n in body.get("labels", [])])
            return js(self.issues[number - 1], 201)
        if m := re.fullmatch(rf"{issues_path}/(\d+)", request.path):
            issue = self.issues[int(m.group(1)) - 1]
            issue.update({k: v for k, v in body.items() if k in ("title", "body", "state", "state_reason")})
            return js(issue)
        if request.method == "POST" and (m := re.fullmatch(rf"{issues_path}/(\d+)/comments", request.path)):
            self.comments.append((int(m.group(1)), body["body"]))
            return js({"id": len(self.comments), "body": body["body"], **self.author}, 201)
        return js({"message": "Not Found"}, 404)


@pytest.fixture
def gh(httpserver: HTTPServer) -> Issues:
    return Issues(httpserver)


@pytest.fixture
def slack(httpserver: HTTPServer) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (posted.append(r.get_json()), Response("ok"))[1])
    return posted


def state(env: str, app: str, st: State, file: str | None = A2, running: str | None = A1, detail: str = "",
          fix: str = "", since: datetime | None = T0) -> AppState:
    return AppState(env=env, app=app, state=st, file=file, running=running if st != State.IN_SYNC else file,
                    detail=detail, since=since, fix=fix)


def post(gh: Issues, states: list[AppState], hook: str | None, token: str = ACTIONS_TOKEN,
         now: datetime = T0) -> list[dict[str, Any]]:
    with GitHub(token, api_url=gh.api_url, retries=2, sleep=lambda _: None) as client:
        return post_drift(Path("."), states, client, REPO, hook, now).to_json()


def actions(result: list[dict[str, Any]]) -> dict[str, str]:
    return {e["env"]: e["action"] for e in result}


def test_an_envs_drift_issue_is_created_once_edited_when_it_changes_and_closed_when_back_in_sync(
        gh: Issues, slack: list[dict[str, Any]], httpserver: HTTPServer) -> None:
    hook = httpserver.url_for("/hook")
    pending = state("staging", "api", State.PENDING, detail="merged, no update has run it",
                    fix="deployctl up --stack staging (Actions: deploy, Run workflow)")
    synced = [state("staging", "web", State.IN_SYNC), state("production", "api", State.IN_SYNC)]

    # 1. drift found: one issue for staging, none for production; Slack hears of api
    first = post(gh, [pending, *synced], hook)
    assert actions(first) == {"staging": "created", "production": "none"}
    assert [(m, p) for m, p, _ in gh.writes()] == [("POST", f"/repos/{REPO}/issues")]
    created = gh.writes()[0][2]
    assert set(created) == {"title", "body", "labels"} and created["labels"] == ["deployctl-drift"]
    assert created["body"].startswith(drift_marker("staging") + "\n")
    assert "**api**: pending since 2026-12-01 09:30 UTC" in created["body"]
    assert "fix: deployctl up --stack staging \\(Actions: deploy, Run workflow\\)" in created["body"]
    assert first[0]["issue"] == 1 and first[0]["new"] == ["api"] and first[0]["slack"] is True
    assert len(slack) == 1 and "staging: drift found" in slack[0]["text"] and "api pending" in slack[0]["text"]
    assert "/issues/1|drift issue>" in json.dumps(slack[0]["blocks"])

    # 2. the same drift again: nothing written, nobody told
    before = len(gh.requests)
    assert actions(post(gh, [pending, *synced], hook)) == {"staging": "unchanged", "production": "none"}
    assert [m for m, *_ in gh.requests[before:]] == ["GET"]  # one listing, no write
    assert len(slack) == 1

    # 3. web fails too: the same issue is edited in place; Slack hears of web only
    failed = state("staging", "web", State.FAILED, detail="the last update failed: exit 3",
                   fix="fix the app, then deployctl up --stack staging")
    third = post(gh, [pending, failed, synced[1]], hook)
    assert actions(third) == {"staging": "updated", "production": "none"}
    assert gh.writes()[-1][:2] == ("PATCH", f"/repos/{REPO}/issues/1") and len(gh.issues) == 1
    assert third[0]["new"] == ["web"]
    assert len(slack) == 2 and "web failed" in slack[1]["text"] and "api" not in slack[1]["text"]

    # 4. only a detail changes: edited, but no app is newly drifted, so Slack stays quiet
    failed_again = failed.model_copy(update={"detail": "the last update failed: exit 4"})
    fourth = post(gh, [pending, failed_again, synced[1]], hook)
    assert fourth[0]["action"] == "updated" and fourth[0]["new"] == [] and fourth[0]["slack"] is None
    assert "exit 4" in gh.issues[0]["body"] and len(slack) == 2

    # 5. back in sync: a comment, then closed as completed; no Slack
    fifth = post(gh, [state("staging", "api", State.IN_SYNC), *synced], hook, now=datetime(2026, 12, 3, tzinfo=UTC))
    assert actions(fifth) == {"staging": "closed", "production": "none"}
    assert [(m, p) for m, p, _ in gh.writes()[-2:]] == [("POST", f"/repos/{REPO}/issues/1/comments"),
                                                       ("PATCH", f"/repos/{REPO}/issues/1")]
    assert gh.writes()[-1][2] == {"state": "closed", "state_reason": "completed"}
    assert gh.comments == [(1, "**staging** is back in sync as of 2026-12-03 00:00 UTC: `api`, `web` run "
                               "what git says. Closing.\n")]
    assert gh.issues[0]["state"] == "closed" and len(slack) == 2

    # 6. in sync and no open issue: nothing at all
    before = len(gh.requests)
    assert actions(post(gh, [state("staging", "api", State.IN_SYNC), *synced], hook))["staging"] == "none"
    assert [m for m, *_ in gh.requests[before:]] == ["GET"]


def test_an_update_in_progress_leaves_the_issue_as_it_is(gh: Issues, httpserver: HTTPServer) -> None:
    post(gh, [state("staging", "api", State.FAILED)], None)
    deploying = state("staging", "api", State.IN_PROGRESS)
    assert post(gh, [deploying], None)[0]["action"] == "none"
    assert gh.issues[0]["state"] == "open" and len(gh.writes()) == 1  # the create only


def test_an_env_not_judged_keeps_its_issue(gh: Issues) -> None:
    post(gh, [state("production", "api", State.PENDING)], None)
    assert actions(post(gh, [state("staging", "api", State.IN_SYNC)], None)) == {"staging": "none"}
    assert gh.issues[0]["state"] == "open"


def test_a_marked_issue_by_someone_else_or_a_pull_request_is_never_taken_for_ours(gh: Issues) -> None:
    marker = drift_marker("staging")
    forged = gh.add(f"{marker}\nall in sync, nothing to see", person("mallory"))
    pr = gh.add(f"{marker}\na pull request quoting it", bot(), pull_request=True)
    quoted = gh.add(f"> {marker}\nquoted by the bot in another issue", bot())
    result = post(gh, [state("staging", "api", State.PENDING)], None)
    assert result[0]["action"] == "created" and result[0]["issue"] not in (forged, pr, quoted)
    assert [w[0] for w in gh.writes()] == ["POST"]
    assert gh.issues[forged - 1]["body"].endswith("nothing to see")


def test_a_user_tokens_issues_are_listed_by_their_creator(httpserver: HTTPServer) -> None:
    gh = Issues(httpserver, author=person("release-bot"))
    httpserver.expect_request("/user").respond_with_json({"login": "release-bot", "id": 7, "type": "User"})
    first = post(gh, [state("staging", "api", State.PENDING)], None, token="ghp_personalAccessToken01234")
    assert first[0]["action"] == "created"
    listing = next(args for m, p, args, _ in gh.requests if m == "GET" and p.endswith("/issues"))
    assert listing["creator"] == "release-bot" and listing["state"] == "open"
    assert post(gh, [state("staging", "api", State.PENDING)], None,
                token="ghp_personalAccessToken01234")[0]["action"] == "unchanged"


def test_the_issue_is_found_on_a_later_page(httpserver: HTTPServer) -> None:
    gh = Issues(httpserver, page_size=2)
    for n in range(5):
        gh.add(f"issue {n}", bot())
    post(gh, [state("staging", "api", State.PENDING)], None)
    assert post(gh, [state("staging", "api", State.FAILED)], None)[0]["action"] == "updated"
    assert len(gh.issues) == 6 and [w[0] for w in gh.writes()] == ["POST", "PATCH"]


def test_a_lost_answer_to_the_create_never_makes_a_second_issue(gh: Issues) -> None:
    gh.lose_next_post = True  # GitHub creates the issue, then the answer is a 502
    result = post(gh, [state("staging", "api", State.PENDING)], None)
    assert result[0]["action"] == "created" and result[0]["issue"] == 1
    assert len(gh.issues) == 1 and [w[0] for w in gh.writes()] == ["POST"]


def test_hostile_names_and_details_stay_inert_in_the_issue() -> None:
    app = "x`<!-- -->@acme/admins\n- [x] all good |"
    body = render_drift_issue("staging", [state("staging", app, State.OUT_OF_BAND, detail="</details> <b>hi</b> @here",
                                                fix="[click](javascript:alert(1))")])
    lines = body.splitlines()
    assert lines[0] == drift_marker("staging")
    assert len(lines) == 10  # marker, heading, blank, one item of three lines, blank, footer, blank, state
    assert body.count("<!--") == 2 and body.count("-->") == 2  # the marker and the state line only
    assert "@acme" not in body and "@here" not in body  # mentions broken with a zero-width joiner
    assert "</details>" not in body and "<b>" not in body
    assert "](javascript" not in body
    assert drift_state_of(body) == {app: "out-of-band"}  # the data round-trips, whatever the name
    assert drift_state_line({"a-->b": "pending"}).count("-->") == 1


def test_slack_is_told_of_new_drift_once_and_escapes_names(gh: Issues, slack: list[dict[str, Any]],
                                                           httpserver: HTTPServer) -> None:
    hostile = state("staging", "<!channel>", State.SWITCHED_BACK, detail="@here look")
    post(gh, [hostile], httpserver.url_for("/hook"))
    post(gh, [hostile], httpserver.url_for("/hook"))
    assert len(slack) == 1
    text = json.dumps(slack[0])
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "@here" not in text
