"""The GitHub client against a fake GitHub on loopback (real HTTP), and the run context from real payloads."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from deployctl.adapters.github import (
    PREVIEW_MARKER,
    GitHub,
    GitHubError,
    pull_request_context,
)
from deployctl.core.violations import CannotJudge
from tests.builders import FIXTURES
from tests.loopback import MODES, Mode, elapsed, stalling_server

EVENTS = FIXTURES / "github-events"
TOKEN = "ghp_s3cr3tT0kenValue0123456789"
"""A personal access token (GitHub's documented `ghp_` format): its comments are by GET /user's login."""
APP_TOKEN = "ghs_s3cr3tInstallationToken0123"
REPO, NUMBER = "octo/deploys", 7
COMMENTS_PATH = f"/repos/{REPO}/issues/{NUMBER}/comments"


@dataclass
class Failure:
    method: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    applied: bool = False
    """The server acts on the call, then answers with the failure anyway (a lost answer)."""
    body: dict[str, Any] | None = None


class FakeGitHub:
    """Issue comments of one PR, paged like GitHub (Link: rel="next"), with failures to inject. Comments
    have GitHub's documented shape: `user` with `login` and `type`, and `performed_via_github_app` (the
    app, for a comment made with an installation token; else null)."""

    def __init__(self, server: HTTPServer, page_size: int = 100):
        self.comments: list[dict[str, Any]] = []
        self.next_id = 1000
        self.page_size = page_size
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.api_url = server.url_for("").rstrip("/")
        self.user_login: str | None = "someone"
        """What GET /user answers; None: 403, as for an installation token."""
        self.installation = False
        """Whether GET /installation/repositories answers (only an installation token may call it)."""
        self.poster = user("someone")
        """Who a POST comments as: the token's own identity."""
        server.expect_request(re.compile(r"^/.*")).respond_with_handler(self.handle)

    def add(self, body: str, author: str = "someone", app: str | None = None) -> int:
        self.next_id += 1
        self.comments.append({"id": self.next_id, "body": body, **(bot(app) if app else user(author))})
        return self.next_id

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for m, p, *_ in self.requests if m == method and (path is None or p == path))

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path, dict(request.args), dict(request.headers)))
        if self.failures and self.failures[0].method == request.method and request.path.startswith("/repos/"):
            failure = self.failures.pop(0)
            if failure.applied:
                self.route(request)
            return Response(json.dumps(failure.body or {"message": "failure"}), failure.status, failure.headers,
                            content_type="application/json")
        return self.route(request)

    def route(self, request: Request) -> Response:
        forbidden = Response(json.dumps({"message": "Resource not accessible by integration",
                                         "documentation_url": "https://docs.github.com/rest", "status": "403"}),
                             403, content_type="application/json")
        if request.path == "/user":
            return (Response(json.dumps({"login": self.user_login, "id": 1, "type": "User"}), 200,
                             content_type="application/json") if self.user_login else forbidden)
        if request.path == "/installation/repositories":
            return (Response(json.dumps({"total_count": 1, "repositories": [{"full_name": REPO}]}), 200,
                             content_type="application/json") if self.installation else forbidden)
        if request.method == "GET" and request.path == COMMENTS_PATH:
            page = int(request.args.get("page", "1"))
            start = (page - 1) * self.page_size
            headers = {}
            if start + self.page_size < len(self.comments):
                query = urlencode({"per_page": 100, "page": page + 1})
                headers["Link"] = (f'<{request.host_url.rstrip("/")}{COMMENTS_PATH}?{query}>; rel="next", '
                                   f'<{request.host_url.rstrip("/")}{COMMENTS_PATH}?page=1>; rel="first"')
            return Response(json.dumps(self.comments[start : start + self.page_size]), 200, headers,
                            content_type="application/json")
        if request.method == "POST" and request.path == COMMENTS_PATH:
            self.next_id += 1
            comment = {"id": self.next_id, "body": request.get_json()["body"], **self.poster}
            self.comments.append(comment)
            return Response(json.dumps(comment), 201, content_type="application/json")
        if request.method == "PATCH" and (m := re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", request.path)):
            comment = next(c for c in self.comments if c["id"] == int(m.group(1)))
            comment["body"] = request.get_json()["body"]
            return Response(json.dumps(comment), 200, content_type="application/json")
        return Response(json.dumps({"message": "Not Found"}), 404, content_type="application/json")


def user(login: str) -> dict[str, Any]:
    return {"user": {"login": login, "id": 1, "type": "User"}, "performed_via_github_app": None}


def bot(slug: str) -> dict[str, Any]:
    """A comment's author fields when an app's installation token wrote it."""
    return {"user": {"login": f"{slug}[bot]", "id": 2, "type": "Bot"},
            "performed_via_github_app": {"id": 15368, "slug": slug, "name": slug}}


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeGitHub:
    return FakeGitHub(httpserver)


def client(fake: FakeGitHub, waits: list[float], retries: int = 5) -> GitHub:
    return GitHub(TOKEN, api_url=fake.api_url, retries=retries, sleep=waits.append)


def marked(fake: FakeGitHub) -> list[dict[str, Any]]:
    return [c for c in fake.comments if c["body"].startswith(PREVIEW_MARKER)]


# -- comments ---------------------------------------------------------------------------------------


def test_marker_on_the_third_page_is_edited_not_posted(fake: FakeGitHub) -> None:
    fake.page_size = 2
    for text in ("lgtm", "nit: spacing", "ship it", "one more"):
        fake.add(text)
    ours = fake.add(f"{PREVIEW_MARKER}\nold preview")
    waits: list[float] = []
    gh = client(fake, waits)

    assert len(gh.list_issue_comments(REPO, NUMBER)) == 5
    assert gh.upsert_comment(REPO, NUMBER, f"{PREVIEW_MARKER}\nnew preview") == ("updated", ours)

    gets = [(path, args) for m, path, args, _ in fake.requests if m == "GET"]
    assert [a.get("page") for _, a in gets[-3:]] == [None, "2", "3"]
    assert gets[-3][1]["per_page"] == "100"
    assert fake.count("POST") == 0 and fake.count("PATCH") == 1
    assert [c["body"] for c in marked(fake)] == [f"{PREVIEW_MARKER}\nnew preview"]
    assert waits == []


def test_no_comment_yet_posts_once_and_adds_the_marker(fake: FakeGitHub) -> None:
    fake.add("a human comment")
    status, comment_id = client(fake, []).upsert_comment(REPO, NUMBER, "## Preview\nno changes")
    assert status == "created"
    assert fake.count("POST") == 1 and fake.count("PATCH") == 0
    assert marked(fake) == [{"id": comment_id, "body": f"{PREVIEW_MARKER}\n## Preview\nno changes",
                             **user("someone")}]


def test_the_oldest_marked_comment_is_the_one_kept(fake: FakeGitHub) -> None:
    oldest = fake.add(f"{PREVIEW_MARKER}\none")
    fake.add(f"{PREVIEW_MARKER}\ntwo")
    fake.add(f"> {PREVIEW_MARKER} quoted by a human")
    assert client(fake, []).upsert_comment(REPO, NUMBER, "three") == ("updated", oldest)


def test_a_marked_comment_by_someone_else_is_never_ours(fake: FakeGitHub) -> None:
    forged = fake.add(f"{PREVIEW_MARKER}\n## ✅ deployctl preview: all passed", author="mallory")
    status, comment_id = client(fake, []).upsert_comment(REPO, NUMBER, "the real preview")
    assert status == "created" and comment_id != forged
    assert fake.count("PATCH") == 0
    assert next(c for c in fake.comments if c["id"] == forged)["body"].endswith("all passed")


def test_unchanged_body_is_not_patched(fake: FakeGitHub) -> None:
    ours = fake.add(f"{PREVIEW_MARKER}\nsame")
    assert client(fake, []).upsert_comment(REPO, NUMBER, "same") == ("unchanged", ours)
    assert fake.count("PATCH") == 0 and fake.count("POST") == 0


def test_rate_limits_and_5xx_are_retried_without_duplicates(fake: FakeGitHub) -> None:
    waits: list[float] = []
    gh = client(fake, waits)

    # First push: a secondary rate limit (Retry-After: 0) and a 502, then the list answers.
    fake.failures = [Failure("GET", 429, {"Retry-After": "0"}), Failure("GET", 502)]
    status, comment_id = gh.upsert_comment(REPO, NUMBER, "preview 1")
    assert status == "created"
    assert fake.count("POST") == 1
    assert waits == [0.0, 2.0]

    # Second push: a primary rate limit whose reset is already past, a 502, then one edit.
    waits.clear()
    fake.failures = [Failure("GET", 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000"}),
                     Failure("GET", 502)]
    assert gh.upsert_comment(REPO, NUMBER, "preview 2") == ("updated", comment_id)
    assert fake.count("POST") == 1 and fake.count("PATCH") == 1
    assert [c["body"] for c in marked(fake)] == [f"{PREVIEW_MARKER}\npreview 2"]
    assert waits == [1.0, 2.0]  # the reset second is past: one second more, never earlier


def test_a_post_whose_answer_is_lost_is_not_repeated_blindly(fake: FakeGitHub) -> None:
    # GitHub created the comment but answered 502: deployctl looks again instead of posting again.
    fake.failures = [Failure("POST", 502, applied=True)]
    status, comment_id = client(fake, []).upsert_comment(REPO, NUMBER, "preview")
    assert status == "created"
    assert fake.count("POST") == 1
    assert [c["id"] for c in marked(fake)] == [comment_id]


def test_a_post_that_failed_is_repeated_once_it_is_known_absent(fake: FakeGitHub) -> None:
    waits: list[float] = []
    fake.failures = [Failure("POST", 503)]
    status, _ = client(fake, waits).upsert_comment(REPO, NUMBER, "preview")
    assert status == "created"
    assert fake.count("POST") == 2 and len(marked(fake)) == 1
    assert waits == [1.0]


def test_retries_exhausted_is_a_clean_error_without_the_token(fake: FakeGitHub) -> None:
    waits: list[float] = []
    fake.failures = [Failure("GET", 502)] * 10
    with pytest.raises(GitHubError) as info:
        client(fake, waits, retries=3).upsert_comment(REPO, NUMBER, "preview")
    message = str(info.value)
    assert isinstance(info.value, CannotJudge)
    assert "GET" in message and COMMENTS_PATH in message and "502" in message
    assert TOKEN not in message and TOKEN not in repr(info.value)
    assert fake.count("GET", COMMENTS_PATH) == 4 and waits == [1.0, 2.0, 4.0]
    assert fake.count("POST") == 0


def test_permission_errors_are_not_retried(fake: FakeGitHub) -> None:
    fake.failures = [Failure("GET", 403)]
    with pytest.raises(GitHubError, match=r"403.*pull-requests: write") as info:
        client(fake, []).upsert_comment(REPO, NUMBER, "preview")
    assert fake.count("GET", COMMENTS_PATH) == 1 and TOKEN not in str(info.value)


def test_network_errors_are_retried_then_reported(fake: FakeGitHub) -> None:
    waits: list[float] = []
    gh = GitHub(TOKEN, api_url="http://127.0.0.1:9", retries=2, sleep=waits.append)
    with pytest.raises(GitHubError, match="network") as info:
        gh.list_issue_comments(REPO, NUMBER)
    assert waits == [1.0, 2.0] and TOKEN not in str(info.value)


def test_headers_are_sent(fake: FakeGitHub) -> None:
    client(fake, []).list_issue_comments(REPO, NUMBER)
    headers = fake.requests[0][3]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-Github-Api-Version"] == "2022-11-28"
    assert headers["User-Agent"].startswith("deployctl")


def test_a_link_to_another_host_is_not_followed(httpserver: HTTPServer) -> None:
    other = httpserver.url_for(COMMENTS_PATH).replace("localhost", "127.0.0.1") + "?page=2"
    httpserver.expect_request(COMMENTS_PATH).respond_with_json([], headers={"Link": f'<{other}>; rel="next"'})
    gh = GitHub(TOKEN, api_url=httpserver.url_for("").rstrip("/"), sleep=lambda _: None)
    with pytest.raises(GitHubError, match="another host"):
        gh.list_issue_comments(REPO, NUMBER)
    assert len(httpserver.log) == 1


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(CannotJudge, match="GITHUB_TOKEN"):
        GitHub("")


# -- the run's context ------------------------------------------------------------------------------


def env(name: str, **extra: str) -> dict[str, str]:
    return {"GITHUB_EVENT_PATH": str(EVENTS / name), **extra}


def changed(tmp_path: Path, name: str, **fields: Any) -> dict[str, str]:
    """A payload with some fields changed (dotted keys), as GitHub sends for another case."""
    payload = json.loads((EVENTS / name).read_text())
    for dotted, value in fields.items():
        *parents, leaf = dotted.split(".")
        target = payload
        for key in parents:
            target = target[key]
        target[leaf] = value
    path = tmp_path / name
    path.write_text(json.dumps(payload))
    return {"GITHUB_EVENT_PATH": str(path)}


BASE_SHA = "9b2c4f0e1d7a6b5c3e8f9a0b1c2d3e4f5a6b7c8d"
HEAD1, HEAD2 = "4e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d", "c7a8b9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f70"


@pytest.mark.parametrize(("name", "head"), [("pull_request.opened.json", HEAD1),
                                            ("pull_request.synchronize.json", HEAD2),
                                            ("pull_request.closed.json", HEAD2)])
def test_pull_request_context_from_payloads_of_githubs_schema(name: str, head: str) -> None:
    ctx = pull_request_context(env(name, GITHUB_REPOSITORY="acme/deploys"))
    assert ctx.repository == "acme/deploys"
    assert ctx.number == 7
    assert ctx.base_sha == BASE_SHA
    assert ctx.head_sha == head
    assert ctx.html_url == "https://github.com/acme/deploys/pull/7"
    assert ctx.api_url == "https://api.github.com"
    pushed = {"pull_request.opened.json": "2026-03-02T09:58:10+00:00",
              "pull_request.synchronize.json": "2026-03-02T10:14:58+00:00", "pull_request.closed.json": None}[name]
    assert (ctx.pushed_at.isoformat() if ctx.pushed_at else None) == pushed


def test_a_null_body_is_fine(tmp_path: Path) -> None:
    ctx = pull_request_context(changed(tmp_path, "pull_request.opened.json", **{"pull_request.body": None}))
    assert ctx.number == 7


def test_pull_request_context_falls_back_to_the_payload_repository(tmp_path: Path) -> None:
    fork = changed(tmp_path, "pull_request.opened.json", **{"repository.full_name": "octo/Hello-World"})
    ctx = pull_request_context({**fork, "GITHUB_API_URL": "https://ghe.example/api/v3/"})
    assert ctx.repository == "octo/Hello-World"
    assert ctx.api_url == "https://ghe.example/api/v3"


def test_missing_event_path_says_what_to_do() -> None:
    with pytest.raises(CannotJudge, match="GITHUB_EVENT_PATH is not set"):
        pull_request_context({})
    with pytest.raises(CannotJudge, match="no such file"):
        pull_request_context({"GITHUB_EVENT_PATH": "/nonexistent/event.json"})


def test_unreadable_payload(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    with pytest.raises(CannotJudge, match="not JSON"):
        pull_request_context({"GITHUB_EVENT_PATH": str(bad)})


def test_the_wrong_event_is_named() -> None:
    with pytest.raises(CannotJudge, match="push event, not a pull request"):
        pull_request_context(env("push.json"))


def test_a_bad_repository_name_is_refused() -> None:
    with pytest.raises(CannotJudge, match="owner/name"):
        pull_request_context(env("pull_request.opened.json", GITHUB_REPOSITORY="nope"))


def test_a_fork_read_only_token_puts_the_preview_in_the_job_summary(httpserver: HTTPServer, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    from deployctl.commands.preview import post_comment

    httpserver.expect_request("/user").respond_with_json({"message": "Resource not accessible by integration"},
                                                         status=403)
    httpserver.expect_request("/repos/acme/deploys/issues/7/comments", method="GET").respond_with_json([])
    httpserver.expect_request("/repos/acme/deploys/issues/7/comments", method="POST").respond_with_json(
        {"message": "Resource not accessible by integration"}, status=403)
    summary = tmp_path / "summary.md"
    for key, value in {"GITHUB_EVENT_PATH": str(EVENTS / "pull_request.opened.json"),
                       "GITHUB_REPOSITORY": "acme/deploys", "GITHUB_API_URL": httpserver.url_for("").rstrip("/"),
                       "GITHUB_TOKEN": "ghs_read_only", "GITHUB_STEP_SUMMARY": str(summary)}.items():
        monkeypatch.setenv(key, value)
    post_comment("<!-- deployctl:preview -->\nthe preview")
    assert "the preview" in summary.read_text()
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    with pytest.raises(CannotJudge):
        post_comment("<!-- deployctl:preview -->\nthe preview")


# -- rate limits, as GitHub documents them ------------------------------------------------------------


class Clock:
    """Time for a client that never really waits: each sleep moves both clocks on."""

    def __init__(self) -> None:
        self.t, self.epoch = 0.0, 1_800_000_000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return self.epoch + self.t

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


def timed(fake: FakeGitHub, clock: Clock, token: str = TOKEN, deadline: float = 300.0, **kwargs: Any) -> GitHub:
    return GitHub(token, api_url=fake.api_url, sleep=clock.sleep, clock=clock.monotonic, now=clock.time,
                  deadline=deadline, **kwargs)


SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
             "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}


def test_retry_after_is_waited_in_full_when_it_fits_the_deadline(fake: FakeGitHub) -> None:
    clock = Clock()
    fake.failures = [Failure("GET", 403, {"retry-after": "120"}, body=SECONDARY)]
    timed(fake, clock).list_issue_comments(REPO, NUMBER)
    assert clock.waits == [120.0] and fake.count("GET", COMMENTS_PATH) == 2


def test_a_wait_past_the_deadline_fails_at_once_saying_when_to_retry(fake: FakeGitHub) -> None:
    clock = Clock()
    fake.failures = [Failure("GET", 429, {"retry-after": "3600"})]
    with pytest.raises(GitHubError, match=r"wait 3600 s, past this command's deadline \(300 s, "
                                          r"DEPLOYCTL_GITHUB_DEADLINE\): retry after 2027-01-15 09:00:00 UTC"):
        timed(fake, clock).list_issue_comments(REPO, NUMBER)
    assert clock.waits == [] and fake.count("GET", COMMENTS_PATH) == 1  # never retried early


def test_an_exhausted_primary_limit_waits_for_its_reset_or_fails_naming_it(fake: FakeGitHub) -> None:
    clock = Clock()
    reset = str(int(clock.time()) + 30)
    fake.failures = [Failure("GET", 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
                             body={"message": "API rate limit exceeded for installation ID 1."})]
    timed(fake, clock).list_issue_comments(REPO, NUMBER)
    assert clock.waits == [31.0]  # past the reset second, never before it

    clock = Clock()
    reset = str(int(clock.time()) + 3600)
    fake.failures = [Failure("GET", 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})] * 6
    before = fake.count("GET", COMMENTS_PATH)
    with pytest.raises(GitHubError, match="retry after 2027-01-15 09:00:01 UTC") as info:
        timed(fake, clock).list_issue_comments(REPO, NUMBER)
    assert info.value.status is None  # a limit, not a permission: never taken for a fork's read-only token
    assert clock.waits == [] and fake.count("GET", COMMENTS_PATH) == before + 1


def test_a_429_without_retry_after_waits_at_least_a_minute_or_fails_clearly(fake: FakeGitHub) -> None:
    clock = Clock()
    fake.failures = [Failure("GET", 429)]
    timed(fake, clock).list_issue_comments(REPO, NUMBER)
    assert clock.waits == [60.0]

    clock = Clock()
    fake.failures = [Failure("GET", 429)]
    with pytest.raises(GitHubError, match=r"rate limited \(HTTP 429\).*wait 60 s"):
        timed(fake, clock, deadline=30).list_issue_comments(REPO, NUMBER)
    assert clock.waits == []


def test_a_403_secondary_limit_is_recognised_and_backs_off_from_a_minute(fake: FakeGitHub) -> None:
    clock = Clock()
    fake.failures = [Failure("GET", 403, body=SECONDARY), Failure("GET", 403, body=SECONDARY)]
    comments = timed(fake, clock, deadline=600).list_issue_comments(REPO, NUMBER)
    assert comments == [] and clock.waits == [60.0, 120.0]


def test_a_422_shows_githubs_error_messages(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/repos/{REPO}/pulls", method="POST").respond_with_json(
        {"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest/pulls/pulls",
         "errors": [{"resource": "PullRequest", "code": "custom",
                     "message": "A pull request already exists for octo:deploy/rollback-web."},
                    {"resource": "PullRequest", "field": "base", "code": "invalid"}]}, status=422)
    gh = GitHub(TOKEN, api_url=httpserver.url_for("").rstrip("/"), sleep=lambda _: None)
    with pytest.raises(GitHubError) as info:
        gh.create_pull_request(REPO, "rollback", "deploy/rollback-web", "main", "body")
    assert info.value.status == 422
    assert ("Validation Failed; A pull request already exists for octo:deploy/rollback-web.; "
            "PullRequest base invalid") in str(info.value)


# -- whose comment: every kind of token, no guess ------------------------------------------------------


def test_an_installation_tokens_comment_is_found_again_by_the_next_run(fake: FakeGitHub) -> None:
    fake.user_login, fake.poster = None, bot("acme-deployer")
    fake.add(f"{PREVIEW_MARKER}\nforged", author="mallory")
    first = GitHub(APP_TOKEN, api_url=fake.api_url, sleep=lambda _: None)
    status, ours = first.upsert_comment(REPO, NUMBER, "preview 1")
    assert status == "created"
    second = GitHub(APP_TOKEN, api_url=fake.api_url, sleep=lambda _: None)  # the next push: a new process
    assert second.upsert_comment(REPO, NUMBER, "preview 2") == ("updated", ours)
    assert fake.count("POST") == 1 and fake.count("GET", "/user") == 0  # ghs_: GET /user is never asked
    assert [c["body"] for c in marked(fake) if c["user"]["type"] == "Bot"] == [f"{PREVIEW_MARKER}\npreview 2"]


def test_the_actions_token_edits_github_actions_bots_comment(fake: FakeGitHub) -> None:
    fake.user_login, fake.poster = None, bot("github-actions")
    ours = fake.add(f"{PREVIEW_MARKER}\nold", app="github-actions")
    gh = GitHub("ghs_actionsToken", api_url=fake.api_url, sleep=lambda _: None)
    assert gh.upsert_comment(REPO, NUMBER, "new") == ("updated", ours)
    assert fake.count("POST") == 0


def test_a_token_of_no_known_format_is_told_by_the_installation_endpoint(fake: FakeGitHub) -> None:
    fake.user_login, fake.installation, fake.poster = None, True, bot("acme-deployer")
    ours = fake.add(f"{PREVIEW_MARKER}\nold", app="acme-deployer")
    gh = GitHub("v1.0123456789abcdef", api_url=fake.api_url, sleep=lambda _: None)
    assert gh.upsert_comment(REPO, NUMBER, "new") == ("updated", ours)
    assert fake.count("GET", "/user") == 1 and fake.count("GET", "/installation/repositories") == 1

    fake.installation = False  # neither a user's token nor an installation's: say so, never guess
    gh = GitHub("v1.0123456789abcdef", api_url=fake.api_url, sleep=lambda _: None)
    with pytest.raises(GitHubError, match=r"cannot tell whose comments are this token's.*DEPLOYCTL_GITHUB_AUTHOR"):
        gh.upsert_comment(REPO, NUMBER, "new")
    assert fake.count("POST") == 0


def test_marked_comments_of_several_apps_need_the_author_named(fake: FakeGitHub,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake.user_login = None
    fake.add(f"{PREVIEW_MARKER}\nby actions", app="github-actions")
    ours = fake.add(f"{PREVIEW_MARKER}\nby our app", app="acme-deployer")
    with pytest.raises(GitHubError, match=r"several apps \(acme-deployer\[bot\], github-actions\[bot\]\)"):
        GitHub(APP_TOKEN, api_url=fake.api_url, sleep=lambda _: None).upsert_comment(REPO, NUMBER, "new")
    monkeypatch.setenv("GITHUB_TOKEN", APP_TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", fake.api_url)
    from deployctl.adapters.github import github_from_env

    named = github_from_env({"GITHUB_TOKEN": APP_TOKEN, "GITHUB_API_URL": fake.api_url,
                             "DEPLOYCTL_GITHUB_AUTHOR": "acme-deployer[bot]"}, sleep=lambda _: None)
    assert named.upsert_comment(REPO, NUMBER, "new") == ("updated", ours)
    assert fake.count("POST") == 0


# -- deadlines: an API that never answers, or dribbles an endless header -------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_stalling_api_fails_within_the_requests_total_deadline(mode: Mode) -> None:
    with stalling_server(mode) as port:
        gh = GitHub(TOKEN, api_url=f"http://127.0.0.1:{port}", retries=0, request_timeout=1.5,
                    sleep=lambda _: None)
        started = time.monotonic()
        with pytest.raises(GitHubError) as info:
            gh.upsert_comment(REPO, NUMBER, "preview")
        took = elapsed(started)
    assert took < 1.5 + 1.0, took
    if mode == "dribble":  # every read succeeded: only the total deadline ends it
        assert "no complete answer within 1.5 s (DEPLOYCTL_GITHUB_TIMEOUT)" in str(info.value)
    assert TOKEN not in str(info.value)


def test_the_commands_deadline_bounds_every_retry(fake: FakeGitHub) -> None:
    clock = Clock()
    fake.failures = [Failure("GET", 502)] * 10
    with pytest.raises(GitHubError, match="502"):
        timed(fake, clock, deadline=5).list_issue_comments(REPO, NUMBER)
    assert sum(clock.waits) <= 5 and clock.waits == [1.0, 2.0]
