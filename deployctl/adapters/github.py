"""GitHub: the Actions run's context (event payload and environment) and the REST calls deployctl makes.

Every failure becomes CannotJudge with a message that says what to do, never a traceback, and the token
never appears in an error or a log line. The preview comment is upserted by a marker AND its author (the
token's own identity), so a PR carries exactly one, edited in place on every push, and a comment anyone
else writes with the marker is never taken for it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.model import FULL_HASH_RE
from deployctl.core.prcomment import MAX_COMMENT_CHARS, PREVIEW_MARKER
from deployctl.core.violations import CannotJudge

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
ACTIONS_BOT = "github-actions[bot]"
"""Who comments with the Actions GITHUB_TOKEN, which may not read GET /user (403)."""
MAX_WAIT = 60.0
"""No single wait between retries is longer, whatever Retry-After or the rate-limit reset ask for."""

_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_TRUNCATED = "\n\n… (cut to fit a GitHub comment; the workflow run's log has the full preview)"


# -- the run's context ----------------------------------------------------------------------------


class PullRequestContext(LazyModel):
    """The pull request a `pull_request` workflow run is for."""

    model_config = ConfigDict(frozen=True)

    repository: str
    number: int
    base_sha: str
    head_sha: str
    api_url: str
    html_url: str
    pushed_at: datetime | None = None
    """When the head was pushed: the PR's `updated_at` in an opened/synchronize/reopened event."""


def _load_event(environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    path = environ.get("GITHUB_EVENT_PATH", "")
    if not path:
        raise CannotJudge("GITHUB_EVENT_PATH is not set; run this in a GitHub Actions job, or set "
                          "GITHUB_EVENT_PATH to a file holding the event's JSON payload")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CannotJudge(f"GITHUB_EVENT_PATH={path}: no such file; point it at the event's JSON payload") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CannotJudge(f"GITHUB_EVENT_PATH={path}: cannot read: {exc}") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CannotJudge(f"GITHUB_EVENT_PATH={path}: not JSON ({exc.msg} at line {exc.lineno}); "
                          "it must be the event payload GitHub Actions writes") from None
    if not isinstance(payload, dict):
        raise CannotJudge(f"GITHUB_EVENT_PATH={path}: the payload is not a JSON object")
    return path, payload


def _event_name(environ: Mapping[str, str], payload: dict[str, Any]) -> str:
    """The event the payload is from: its shape decides, GITHUB_EVENT_NAME names it where it agrees."""
    declared = environ.get("GITHUB_EVENT_NAME", "")
    if isinstance(payload.get("pull_request"), dict):
        return declared if declared.startswith("pull_request") else "pull_request"
    if all(k in payload for k in ("ref", "before", "after")):
        return "push"
    return declared or "unknown"


def _field(payload: dict[str, Any], dotted: str, path: str, event: str) -> Any:
    value: Any = payload
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        raise CannotJudge(f"GITHUB_EVENT_PATH={path}: the {event} payload has no '{dotted}'; "
                          "is it the event payload GitHub Actions wrote for this run?")
    return value


def _sha(payload: dict[str, Any], dotted: str, path: str, event: str) -> str:
    value = _field(payload, dotted, path, event)
    if not isinstance(value, str) or not FULL_HASH_RE.match(value):
        raise CannotJudge(f"GITHUB_EVENT_PATH={path}: '{dotted}' is {value!r}, not a full commit hash")
    return value


def _repository(environ: Mapping[str, str], payload: dict[str, Any], path: str) -> str:
    repo = environ.get("GITHUB_REPOSITORY") or (payload.get("repository") or {}).get("full_name") or ""
    if not repo:
        raise CannotJudge(f"GITHUB_REPOSITORY is not set and {path} has no 'repository.full_name'; "
                          "set GITHUB_REPOSITORY=owner/name")
    if not isinstance(repo, str) or not _REPO_RE.match(repo):
        raise CannotJudge(f"GITHUB_REPOSITORY is {repo!r}, not 'owner/name'; set it to the repository's full name")
    return repo


def _api_url(environ: Mapping[str, str]) -> str:
    url = (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise CannotJudge(f"GITHUB_API_URL is {url!r}, not an http(s) URL; unset it to use {DEFAULT_API_URL}")
    return url


def pull_request_context(environ: Mapping[str, str]) -> PullRequestContext:
    """The PR this run is for, from GITHUB_EVENT_PATH, GITHUB_REPOSITORY and GITHUB_API_URL."""
    path, payload = _load_event(environ)
    event = _event_name(environ, payload)
    if not isinstance(payload.get("pull_request"), dict):
        raise CannotJudge(f"GITHUB_EVENT_PATH={path} is a {event} event, not a pull request; "
                          "run this step only on pull_request events")
    number = payload.get("number", (payload["pull_request"]).get("number"))
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise CannotJudge(f"GITHUB_EVENT_PATH={path}: the {event} payload has no valid PR number ('number')")
    html_url = _field(payload, "pull_request.html_url", path, event)
    return PullRequestContext(
        repository=_repository(environ, payload, path),
        number=number,
        base_sha=_sha(payload, "pull_request.base.sha", path, event),
        head_sha=_sha(payload, "pull_request.head.sha", path, event),
        api_url=_api_url(environ),
        html_url=str(html_url),
        pushed_at=_pushed_at(payload),
    )


def _pushed_at(payload: dict[str, Any]) -> datetime | None:
    """In these events `updated_at` is the push's time; other actions (a label, a review) move it too."""
    if payload.get("action") not in ("opened", "synchronize", "reopened"):
        return None
    value = payload["pull_request"].get("updated_at")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


# -- the REST API ---------------------------------------------------------------------------------


class GitHubError(CannotJudge):
    """A GitHub API call failed for good: names the call and its status, never the token."""

    def __init__(self, method: str, path: str, status: int | None, detail: str):
        self.method, self.path, self.status = method, path, status
        super().__init__(f"GitHub API {method} {path} failed: {detail}")


class _MaybeApplied(Exception):
    """A call that is not safe to repeat failed in a way that may have taken effect (5xx, lost answer)."""

    def __init__(self, detail: str, status: int | None):
        self.detail, self.status = detail, status
        super().__init__(detail)


def _github_message(resp: httpx.Response) -> str:
    try:
        message = resp.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return f": {str(message)[:200]}" if message else ""


def _json(resp: httpx.Response, method: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise GitHubError(method, urlsplit(str(resp.url)).path, resp.status_code, "the answer is not JSON") from None


def _is_rate_limited(resp: httpx.Response) -> bool:
    if resp.status_code == 429:
        return True
    return resp.status_code == 403 and (
        "retry-after" in resp.headers or resp.headers.get("x-ratelimit-remaining") == "0"
    )


def _comment_matches(comment: dict[str, Any], marker: str, author: str | None = None) -> bool:
    body = comment.get("body")
    if author is not None:
        user = comment.get("user")
        login = user.get("login") if isinstance(user, dict) else None
        if not isinstance(login, str) or login.lower() != author.lower():
            return False
    return isinstance(body, str) and body.lstrip().startswith(marker)


def _normalize(body: str) -> str:
    return body.replace("\r\n", "\n")


class GitHub:
    """The few REST calls deployctl makes, retried through rate limits, 5xx answers and network errors."""

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, client: httpx.Client | None = None,
                 retries: int = 5, sleep: Callable[[float], None] = time.sleep, author: str | None = None):
        if not token:
            raise CannotJudge("no GitHub token; pass GITHUB_TOKEN to the step "
                              "(env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }})")
        self.api_url = api_url.rstrip("/")
        self._origin = urlsplit(self.api_url)[:2]
        self._client = client or httpx.Client(timeout=30.0)
        self._own_client = client is None
        self._retries = max(0, retries)
        self._sleep = sleep
        self._author = author
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "deployctl (deploy-by-code)",
        }

    def __repr__(self) -> str:
        return f"GitHub(api_url={self.api_url!r})"

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            if urlsplit(path)[:2] != self._origin:
                # The token goes only to the API it was given for, whatever a Link header says.
                raise GitHubError("GET", urlsplit(path).path, None,
                                  f"refusing to follow a link to another host ({urlsplit(path).hostname})")
            return path
        return f"{self.api_url}/{path.lstrip('/')}"

    def _backoff(self, attempt: int) -> float:
        return min(2.0**attempt, MAX_WAIT)

    def _rate_limit_wait(self, resp: httpx.Response, attempt: int) -> float:
        retry_after = resp.headers.get("retry-after")
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), MAX_WAIT)
            except ValueError:
                pass
        reset = resp.headers.get("x-ratelimit-reset")
        if resp.headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            try:
                return min(max(float(reset) - time.time(), 0.0) + 1.0, MAX_WAIT)
            except ValueError:
                pass
        return self._backoff(attempt)

    def _request(self, method: str, path: str, *, json_body: Any = None,
                 params: dict[str, Any] | None = None, repeatable: bool | None = None) -> httpx.Response:
        """One API call, retried with capped exponential backoff.

        Rate limits are always retried (GitHub did not act on the call). 5xx answers and lost answers
        are retried only for calls that are safe to repeat (GET, PATCH); for others (POST) they raise
        _MaybeApplied, so the caller can look before it repeats and never creates a thing twice.
        """
        url = self._url(path)
        shown = urlsplit(url).path
        repeatable = method in ("GET", "HEAD", "PATCH", "PUT", "DELETE") if repeatable is None else repeatable
        problem, status = "no attempt made", None
        for attempt in range(self._retries + 1):
            try:
                resp = self._client.request(method, url, headers=self._headers, json=json_body, params=params,
                                            follow_redirects=True)
            except httpx.TransportError as exc:
                problem, status = f"{type(exc).__name__} (network)", None
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if sent and not repeatable:
                    raise _MaybeApplied(problem, None) from None
                wait = self._backoff(attempt)
            else:
                status = resp.status_code
                if status < 400:
                    return resp
                problem = f"HTTP {status}{_github_message(resp)}"
                if _is_rate_limited(resp):
                    problem = f"rate limited (HTTP {status}){_github_message(resp)}"
                    wait = self._rate_limit_wait(resp, attempt)
                elif status >= 500:
                    if not repeatable:
                        raise _MaybeApplied(problem, status)
                    wait = self._backoff(attempt)
                else:
                    hint = ""
                    if status in (401, 403):
                        hint = ("; check that the token is valid and the workflow grants "
                                "`permissions: pull-requests: write`")
                    elif status == 404:
                        hint = "; check the repository name and that the token can see it"
                    raise GitHubError(method, shown, status, problem + hint)
            if attempt < self._retries:
                self._sleep(wait)
        raise GitHubError(method, shown, status, f"{problem}, after {self._retries + 1} attempts")

    # -- comments ---------------------------------------------------------------------------------

    def list_issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Every comment of an issue or PR, oldest first."""
        return self._all_pages(f"/repos/{repo}/issues/{number}/comments", "comments")

    def pull_request_reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Every review of a PR, oldest first (GET /repos/{repo}/pulls/{n}/reviews)."""
        return self._all_pages(f"/repos/{repo}/pulls/{number}/reviews", "reviews")

    def _all_pages(self, path: str, what: str) -> list[dict[str, Any]]:
        """A list endpoint's every page, following the Link header (a page seen twice ends the walk)."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": 100}
        seen: set[str] = set()
        while url is not None and url not in seen:
            resp = self._request("GET", url, params=params)
            page = _json(resp, "GET")
            if not isinstance(page, list):
                raise GitHubError("GET", urlsplit(str(resp.url)).path, resp.status_code,
                                  f"the answer is not a list of {what}")
            items.extend(i for i in page if isinstance(i, dict))
            seen.add(str(resp.url))
            url, params = resp.links.get("next", {}).get("url"), None  # the next link carries its own query
        return items

    def identity(self) -> str:
        """The login comments made with this token carry: GET /user, or, for a GitHub App installation
        token such as Actions' GITHUB_TOKEN (GET /user answers 403), `github-actions[bot]`."""
        if self._author is None:
            try:
                resp = self._request("GET", "/user")
            except GitHubError as exc:
                if exc.status != 403:
                    raise
                self._author = ACTIONS_BOT
            else:
                data = _json(resp, "GET")
                login = data.get("login") if isinstance(data, dict) else None
                if not isinstance(login, str) or not login:
                    raise GitHubError("GET", "/user", resp.status_code, "the answer has no login")
                self._author = login
        return self._author

    def _find_comment(self, repo: str, number: int, marker: str) -> dict[str, Any] | None:
        author = self.identity()
        ours = [c for c in self.list_issue_comments(repo, number) if _comment_matches(c, marker, author)]
        return min(ours, key=lambda c: c.get("id", 0)) if ours else None

    def upsert_comment(self, repo: str, number: int, body: str,
                       marker: str = PREVIEW_MARKER) -> tuple[str, int]:
        """Create or edit the PR's one comment that starts with marker and that this token wrote.

        Returns ("created" | "updated" | "unchanged", comment id). The oldest marked comment wins, so a
        PR that somehow has two keeps editing the same one. A POST whose answer is lost is never blindly
        repeated: the comments are listed again first, so the comment is never duplicated.
        """
        if not body.startswith(marker):
            body = f"{marker}\n{body}"
        if len(body) > MAX_COMMENT_CHARS:
            body = body[: MAX_COMMENT_CHARS - len(_TRUNCATED)] + _TRUNCATED
        create_path = f"/repos/{repo}/issues/{number}/comments"
        problem, status = "no attempt made", None
        for attempt in range(self._retries + 1):
            existing = self._find_comment(repo, number, marker)
            if existing is not None:
                comment_id = int(existing["id"])
                if _normalize(str(existing.get("body", ""))) == _normalize(body):
                    # After a lost answer, our own POST did take effect.
                    return ("unchanged" if attempt == 0 else "created"), comment_id
                self._request("PATCH", f"/repos/{repo}/issues/comments/{comment_id}", json_body={"body": body})
                return "updated", comment_id
            try:
                resp = self._request("POST", create_path, json_body={"body": body})
            except _MaybeApplied as exc:
                problem, status = exc.detail, exc.status
                if attempt < self._retries:
                    self._sleep(self._backoff(attempt))
                continue
            created = _json(resp, "POST")
            if not isinstance(created, dict) or not isinstance(created.get("id"), int):
                raise GitHubError("POST", create_path, resp.status_code, "the answer has no comment id")
            return "created", created["id"]
        raise GitHubError("POST", create_path, status, f"{problem}, after {self._retries + 1} attempts")

    # -- pull requests ----------------------------------------------------------------------------

    def create_pull_request(self, repo: str, title: str, head: str, base: str, body: str) -> dict[str, Any]:
        """Open a pull request (the [rollback] one after a switch-back). Not retried on a lost answer:
        a second POST would fail anyway, GitHub refuses two PRs for one branch."""
        path = f"/repos/{repo}/pulls"
        try:
            resp = self._request("POST", path, json_body={"title": title, "head": head, "base": base, "body": body})
        except _MaybeApplied as exc:
            raise GitHubError("POST", path, exc.status, f"{exc.detail}; the pull request may exist already") from None
        created = _json(resp, "POST")
        if not isinstance(created, dict):
            raise GitHubError("POST", path, resp.status_code, "the answer is not a pull request")
        return created


def github_from_env(environ: Mapping[str, str], **kwargs: Any) -> GitHub:
    """A client for this run: GITHUB_TOKEN (or GH_TOKEN) and GITHUB_API_URL."""
    token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN") or ""
    if not token:
        raise CannotJudge("GITHUB_TOKEN is not set; pass it to the step "
                          "(env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}) to post the preview comment")
    return GitHub(token, api_url=_api_url(environ), **kwargs)
