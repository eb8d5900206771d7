"""GitHub's issue-comments API on a loopback pytest-httpserver, answering as GitHub answers the Actions
token (its comments are by `github-actions[bot]`, `GET /user` is refused): the one stand-in for the
tests that post and edit a PR's one comment."""

from __future__ import annotations

import json

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def serve_pr_comments(httpserver: HTTPServer, repository: str = "acme/deploys", number: int = 7) -> list[dict]:
    """List, create and edit the PR's comments on `httpserver`; returns the live list of comments."""
    comments: list[dict] = []

    def handle(request: Request) -> Response:
        if request.method == "GET":
            return Response(json.dumps(comments), content_type="application/json")
        data = request.get_json()
        if request.method == "POST":
            comments.append({"id": len(comments) + 1, "body": data["body"],
                             "user": {"login": "github-actions[bot]", "type": "Bot"}})
            return Response(json.dumps(comments[-1]), status=201, content_type="application/json")
        comment = next(c for c in comments if request.path.endswith(f"/{c['id']}"))
        comment["body"] = data["body"]
        return Response(json.dumps(comment), content_type="application/json")

    httpserver.expect_request("/user").respond_with_json(  # an Actions token cannot read /user
        {"message": "Resource not accessible by integration"}, status=403)
    httpserver.expect_request(f"/repos/{repository}/issues/{number}/comments").respond_with_handler(handle)
    httpserver.expect_request(f"/repos/{repository}/issues/comments/1", method="PATCH").respond_with_handler(handle)
    return comments


class GitHubApi:
    """A loopback GitHub REST API for whole workflow runs (tests/actrunner.py): every request recorded
    (method, path, JSON body); issue comments listed, created and edited in GitHub's documented shapes
    (`id`, `body`, `user.login`/`type`, `html_url`, `created_at`/`updated_at`), pull requests opened
    (`number`, `html_url`), a PR's reviews, an
    environment's protection rules, and GET /user refused as it is for the Actions token."""

    def __init__(self, server: HTTPServer, environments: dict[str, list[dict]] | None = None) -> None:
        import re

        self.server = server
        self.requests: list[tuple[str, str, object]] = []
        self.comments: dict[tuple[str, int], list[dict]] = {}
        self.environments = environments or {}
        self.pulls: list[dict] = []
        self._next_id = 1000
        server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def comments_of(self, number: int, repository: str = "acme/deploys") -> list[dict]:
        return self.comments.get((repository, number), [])

    def _handle(self, request: Request) -> Response:
        import re

        body = request.get_json(silent=True) if request.data else None
        self.requests.append((request.method, request.path, body))

        def reply(data: object, status: int = 200) -> Response:
            return Response(json.dumps(data), status=status, content_type="application/json")

        if request.path == "/user":
            return reply({"message": "Resource not accessible by integration"}, 403)
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", request.path):
            repo, number = m.group(1), int(m.group(2))
            listed = self.comments.setdefault((repo, number), [])
            if request.method == "GET":
                return reply(listed)
            if request.method == "POST" and isinstance(body, dict) and isinstance(body.get("body"), str):
                self._next_id += 1
                stamp = "2026-12-07T09:00:00Z"
                listed.append({"id": self._next_id, "node_id": f"IC_{self._next_id}", "body": body["body"],
                               "user": {"login": "github-actions[bot]", "type": "Bot"},
                               "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{self._next_id}",
                               "created_at": stamp, "updated_at": stamp})
                return reply(listed[-1], 201)
        if (m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", request.path)) \
                and request.method == "PATCH" and isinstance(body, dict) and isinstance(body.get("body"), str):
            for (repo, _), listed in self.comments.items():
                for comment in listed:
                    if repo == m.group(1) and comment["id"] == int(m.group(2)):
                        comment["body"] = body["body"]
                        comment["updated_at"] = "2026-12-07T09:05:00Z"
                        return reply(comment)
        if (m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls", request.path)) and request.method == "POST" \
                and isinstance(body, dict) and {"title", "head", "base"} <= body.keys():
            number = len(self.pulls) + 100
            self.pulls.append({"number": number, "title": body["title"], "body": body.get("body"),
                               "head": {"ref": body["head"]}, "base": {"ref": body["base"]}, "state": "open",
                               "html_url": f"https://github.com/{m.group(1)}/pull/{number}"})
            return reply(self.pulls[-1], 201)
        if re.fullmatch(r"/repos/[^/]+/[^/]+/pulls/\d+/reviews", request.path) and request.method == "GET":
            return reply([])
        if (m := re.fullmatch(r"/repos/[^/]+/[^/]+/environments/([^/]+)", request.path)) and request.method == "GET":
            name = m.group(1)
            return reply({"name": name, "protection_rules": self.environments.get(name, [])})
        return reply({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
