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
