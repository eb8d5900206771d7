"""The GitHub client against a fake GitHub on loopback (real HTTP), and the run context from real payloads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from deployctl.adapters.github import (
    MAX_WAIT,
    PREVIEW_MARKER,
    GitHub,
    GitHubError,
    pull_request_context,
)
from deployctl.core.violations import CannotJudge
from tests.builders import FIXTURES

EVENTS = FIXTURES / "github-events"
TOKEN = "ghs_s3cr3tT0kenValue0123456789"
REPO, NUMBER = "octo/deploys", 7
COMMENTS_PATH = f"/repos/{REPO}/issues/{NUMBER}/comments"


@dataclass
class Failure:
    method: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    applied: bool = False
    """The server acts on the call, then answers with the failure anyway (a lost answer)."""


class FakeGitHub:
    """Issue comments of one PR, paged like GitHub (Link: rel="next"), with failures to inject."""

    def __init__(self, server: HTTPServer, page_size: int = 100):
        self.comments: list[dict[str, Any]] = []
        self.next_id = 1000
        self.page_size = page_size
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.api_url = server.url_for("").rstrip("/")
        server.expect_request("/user").respond_with_json({"login": "someone"})  # the token's identity
        server.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(self.handle)

    def add(self, body: str, author: str = "someone") -> int:
        self.next_id += 1
        self.comments.append({"id": self.next_id, "body": body, "user": {"login": author}})
        return self.next_id

    def count(self, method: str) -> int:
        return sum(1 for m, *_ in self.requests if m == method)

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path, dict(request.args), dict(request.headers)))
        if self.failures and self.failures[0].method == request.method:
            failure = self.failures.pop(0)
            if failure.applied:
                self.route(request)
            return Response(json.dumps({"message": "failure"}), failure.status, failure.headers,
                            content_type="application/json")
        return self.route(request)

    def route(self, request: Request) -> Response:
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
            comment_id = self.add(request.get_json()["body"])
            return Response(json.dumps({"id": comment_id}), 201, content_type="application/json")
        if request.method == "PATCH" and (m := re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", request.path)):
            comment = next(c for c in self.comments if c["id"] == int(m.group(1)))
            comment["body"] = request.get_json()["body"]
            return Response(json.dumps(comment), 200, content_type="application/json")
        return Response(json.dumps({"message": "Not Found"}), 404, content_type="application/json")


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
                             "user": {"login": "someone"}}]


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
    assert len(waits) == 2 and all(0 <= w <= MAX_WAIT for w in waits)


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


def test_retry_after_is_capped(fake: FakeGitHub) -> None:
    waits: list[float] = []
    fake.failures = [Failure("GET", 403, {"Retry-After": "3600"})]
    client(fake, waits).list_issue_comments(REPO, NUMBER)
    assert waits == [MAX_WAIT]


def test_retries_exhausted_is_a_clean_error_without_the_token(fake: FakeGitHub) -> None:
    waits: list[float] = []
    fake.failures = [Failure("GET", 502)] * 10
    with pytest.raises(GitHubError) as info:
        client(fake, waits, retries=3).upsert_comment(REPO, NUMBER, "preview")
    message = str(info.value)
    assert isinstance(info.value, CannotJudge)
    assert "GET" in message and COMMENTS_PATH in message and "502" in message
    assert TOKEN not in message and TOKEN not in repr(info.value)
    assert fake.count("GET") == 4 and waits == [1.0, 2.0, 4.0]
    assert fake.count("POST") == 0


def test_permission_errors_are_not_retried(fake: FakeGitHub) -> None:
    fake.failures = [Failure("GET", 403)]
    with pytest.raises(GitHubError, match=r"403.*pull-requests: write") as info:
        client(fake, []).upsert_comment(REPO, NUMBER, "preview")
    assert fake.count("GET") == 1 and TOKEN not in str(info.value)


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
