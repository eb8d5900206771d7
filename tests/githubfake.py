"""GitHub's issue-comments API on a loopback pytest-httpserver, answering as GitHub answers the Actions
token (its comments are by `github-actions[bot]`, `GET /user` is refused): the one stand-in for the
tests that post and edit a PR's one comment."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

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
    """A loopback GitHub REST API for whole workflow runs (tests/actrunner.py), answering as GitHub
    answers the Actions token (what it writes is by `github-actions[bot]`, GET /user is refused), in
    GitHub's documented shapes. Every request is recorded (method, path, JSON body). Issue comments are
    listed, created and edited (`id`, `body`, `user.login`/`type`, `html_url`, `created_at`/`updated_at`);
    issues listed (`state`, `creator`, `sort`/`direction`, `per_page`/`page` with a Link header; pull
    requests among them, as GitHub lists them, with `pull_request`), created and edited (`state`,
    `state_reason`); pull requests listed (`state`, `base`, `head`), opened (`number`, `node_id`,
    `html_url`, `head` {ref, sha, repo}, `base`; a second open PR for one head branch, or a head branch
    `origin` lacks, is refused with 422) and edited; a PR's reviews; an environment's protection rules.
    Issues and pull requests share one numbering, as on GitHub."""

    BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}

    def __init__(self, server: HTTPServer, environments: dict[str, list[dict]] | None = None,
                 origin: Path | None = None) -> None:
        self.server = server
        self.requests: list[tuple[str, str, object]] = []
        self.comments: dict[tuple[str, int], list[dict]] = {}
        self.environments = environments or {}
        self.pulls: list[dict] = []
        self.issues: list[dict] = []
        self.origin = origin
        """The bare repository the workflows push to: a PR's head branch must exist there."""
        self._next_id = 1000
        self._next_number = 100
        server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def comments_of(self, number: int, repository: str = "acme/deploys") -> list[dict]:
        return self.comments.get((repository, number), [])

    def writes(self) -> list[tuple[str, str, object]]:
        """Every request that would change something on GitHub (anything but GET)."""
        return [r for r in self.requests if r[0] != "GET"]

    def _tip(self, ref: str) -> str | None:
        if self.origin is None:
            return None
        done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{ref}"], cwd=self.origin,
                              capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def _number(self) -> int:
        number, self._next_number = self._next_number, self._next_number + 1
        return number

    def _as_issue(self, pr: dict) -> dict:
        """A pull request as the issues API lists it."""
        return {k: pr[k] for k in ("number", "title", "body", "state", "user", "html_url", "created_at",
                                   "updated_at")} | {"labels": [], "pull_request": {"url": pr["url"],
                                                                                   "html_url": pr["html_url"]}}

    def _page(self, request: Request, items: list[dict]) -> Response:
        """One page of `items` (`per_page` default 30, at most 100; `page` from 1) with GitHub's Link header."""
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = {k: v for k, v in request.args.items() if k != "page"} | {"page": str(page + 1)}
            nxt = f"{self.url}{request.path}?" + "&".join(f"{k}={v}" for k, v in query.items())
            headers["Link"] = f'<{nxt}>; rel="next"'
        return Response(json.dumps(chunk), content_type="application/json", headers=headers)

    def _handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.data else None
        self.requests.append((request.method, request.path, body))
        stamp = "2026-12-07T09:00:00Z"

        def reply(data: object, status: int = 200) -> Response:
            return Response(json.dumps(data), status=status, content_type="application/json")

        def invalid(message: str) -> Response:
            return reply({"message": "Validation Failed", "errors": [{"message": message}],
                          "documentation_url": "https://docs.github.com/rest"}, 422)

        if request.path == "/user":
            return reply({"message": "Resource not accessible by integration"}, 403)
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", request.path):
            repo, number = m.group(1), int(m.group(2))
            listed = self.comments.setdefault((repo, number), [])
            if request.method == "GET":
                return reply(listed)
            if request.method == "POST" and isinstance(body, dict) and isinstance(body.get("body"), str):
                self._next_id += 1
                listed.append({"id": self._next_id, "node_id": f"IC_{self._next_id}", "body": body["body"],
                               "user": dict(self.BOT),
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
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues", request.path):
            repo = m.group(1)
            if request.method == "GET":
                state = request.args.get("state", "open")
                creator = request.args.get("creator")
                listed = [i for i in [*self.issues, *(self._as_issue(p) for p in self.pulls)]
                          if i["html_url"].startswith(f"https://github.com/{repo}/")
                          and (state == "all" or i["state"] == state)
                          and (creator is None or i["user"]["login"] == creator)]
                listed.sort(key=lambda i: i["number"], reverse=request.args.get("direction", "desc") == "desc")
                return self._page(request, listed)
            if request.method == "POST" and isinstance(body, dict) and isinstance(body.get("title"), str):
                number = self._number()
                self.issues.append({"id": 5000 + number, "node_id": f"I_{number}", "number": number,
                                    "title": body["title"], "body": body.get("body"), "state": "open",
                                    "state_reason": None, "user": dict(self.BOT),
                                    "labels": [{"name": name} for name in body.get("labels") or []],
                                    "html_url": f"https://github.com/{repo}/issues/{number}",
                                    "comments": 0, "created_at": stamp, "updated_at": stamp, "closed_at": None})
                return reply(self.issues[-1], 201)
        if (m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)", request.path)) and request.method == "PATCH" \
                and isinstance(body, dict) and set(body) <= {"title", "body", "state", "state_reason", "labels"}:
            issue = next((i for i in self.issues if i["number"] == int(m.group(2))), None)
            if issue is not None:
                issue.update({k: v for k, v in body.items() if k != "labels"})
                if "labels" in body:
                    issue["labels"] = [{"name": name} for name in body["labels"]]
                issue["updated_at"] = "2026-12-07T09:05:00Z"
                issue["closed_at"] = issue["updated_at"] if issue["state"] == "closed" else None
                return reply(issue)
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls", request.path):
            repo = m.group(1)
            if request.method == "GET":
                state = request.args.get("state", "open")
                for pr in self.pulls:
                    pr["head"]["sha"] = self._tip(pr["head"]["ref"]) or pr["head"]["sha"]
                listed = [p for p in self.pulls if p["base"]["repo"]["full_name"] == repo
                          and (state == "all" or p["state"] == state)
                          and request.args.get("base", p["base"]["ref"]) == p["base"]["ref"]
                          and request.args.get("head", f"{repo.split('/')[0]}:{p['head']['ref']}")
                          == f"{repo.split('/')[0]}:{p['head']['ref']}"]
                listed.sort(key=lambda p: p["number"], reverse=request.args.get("direction", "desc") == "desc")
                return self._page(request, listed)
            if request.method == "POST" and isinstance(body, dict) and {"title", "head", "base"} <= body.keys():
                if self.origin is not None and self._tip(body["head"]) is None:
                    return reply({"message": "Validation Failed", "errors": [
                        {"resource": "PullRequest", "field": "head", "code": "invalid"}]}, 422)
                if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in self.pulls):
                    return invalid(f"A pull request already exists for {repo.split('/')[0]}:{body['head']}.")
                number = self._number()
                self.pulls.append({
                    "id": 9000 + number, "node_id": f"PR_{number}", "number": number, "title": body["title"],
                    "body": body.get("body"), "state": "open", "user": dict(self.BOT), "auto_merge": None,
                    "draft": False, "merged": False,
                    "head": {"ref": body["head"], "sha": self._tip(body["head"]), "repo": {"full_name": repo}},
                    "base": {"ref": body["base"], "repo": {"full_name": repo}},
                    "url": f"{self.url}/repos/{repo}/pulls/{number}",
                    "html_url": f"https://github.com/{repo}/pull/{number}",
                    "created_at": stamp, "updated_at": stamp})
                return reply(self.pulls[-1], 201)
        if (m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/(\d+)", request.path)) and request.method == "PATCH" \
                and isinstance(body, dict) and set(body) <= {"title", "body", "state", "base"}:
            edited = next((p for p in self.pulls if p["number"] == int(m.group(2))), None)
            if edited is not None:
                edited.update({k: v for k, v in body.items() if k != "base"})
                edited["updated_at"] = "2026-12-07T09:05:00Z"
                return reply(edited)
        if re.fullmatch(r"/repos/[^/]+/[^/]+/pulls/\d+/reviews", request.path) and request.method == "GET":
            return reply([])
        if (m := re.fullmatch(r"/repos/[^/]+/[^/]+/environments/([^/]+)", request.path)) and request.method == "GET":
            name = m.group(1)
            return reply({"name": name, "protection_rules": self.environments.get(name, [])})
        return reply({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
