"""GitHub: the Actions run's context (event payload and environment) and the REST calls deployctl makes.

Every failure becomes CannotJudge with a message that says what to do, never a traceback, and the token
never appears in an error or a log line. The preview comment is upserted by a marker AND its author (the
token's own identity, for every kind of token), so a PR carries exactly one, edited in place on every
push, and a comment anyone else writes with the marker is never taken for it.

Every wait has a deadline, as GitHub documents its limits: each request ends within a total deadline
(DEPLOYCTL_GITHUB_TIMEOUT, not per read), and the command's calls, waits for rate limits included, within
DEPLOYCTL_GITHUB_DEADLINE; a wait GitHub asks for is never cut short, and one that does not fit fails at
once, saying when to retry.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import ConfigDict

from deployctl.adapters.deadline import DeadlineExceeded, bounded_client, request_within
from deployctl.adapters.seconds import seconds_from_env
from deployctl.core.change.prcomment import MAX_COMMENT_CHARS, PREVIEW_MARKER
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import FULL_HASH_RE
from deployctl.core.violations import CannotJudge

T = TypeVar("T")

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
ACTIONS_BOT = "github-actions[bot]"
"""Who comments with the Actions GITHUB_TOKEN (an installation token of the GitHub Actions app)."""
SECONDARY_WAIT = 60.0
"""GitHub: a secondary rate limit without retry-after (or any 429 without it) waits at least a minute,
longer (doubling) each time it comes back."""
DEADLINE_VAR, DEFAULT_DEADLINE = "DEPLOYCTL_GITHUB_DEADLINE", 300.0
"""The command's budget for GitHub, waits for rate limits included: a wait that does not fit fails at
once, saying when to retry (never earlier than GitHub asked)."""
TIMEOUT_VAR, DEFAULT_TIMEOUT = "DEPLOYCTL_GITHUB_TIMEOUT", 30.0
"""A total deadline per request (connect, headers, body), not per read."""
AUTHOR_VAR = "DEPLOYCTL_GITHUB_AUTHOR"
"""The login the token's comments carry, when it must be said (e.g. `<app-slug>[bot]`)."""
USER_TOKEN_PREFIXES = ("ghp_", "github_pat_", "gho_", "ghu_")
"""GitHub's documented token formats of a user's own tokens (classic and fine-grained personal access
tokens, OAuth and user-to-server tokens): GET /user names who their comments are by."""
INSTALLATION_TOKEN_PREFIX = "ghs_"
"""A GitHub App installation access token (the Actions GITHUB_TOKEN is one): its comments are by the
app's bot, `<app-slug>[bot]`, which GET /user cannot tell (403) and GET /app needs a JWT for."""

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
    """GitHub's `message`, and for a validation failure (422) each of its `errors[]` (their `message`,
    else resource, field and code), e.g. "Validation Failed: A pull request already exists for ..."."""
    try:
        data = resp.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    said = [str(data["message"])[:200]] if data.get("message") else []
    errors = data.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            text = error.get("message") or " ".join(str(error[k]) for k in ("resource", "field", "code")
                                                    if error.get(k))
        else:
            text = str(error)
        if text:
            said.append(str(text)[:300])
    return (": " + "; ".join(said[:6])) if said else ""


def _rate_limited(resp: httpx.Response) -> bool:
    """GitHub's rate limits, as documented: a 429; a 403 with retry-after or x-ratelimit-remaining 0
    (primary), or whose message names a secondary rate limit. Any other 403 is a permission."""
    if resp.status_code == 429:
        return True
    if resp.status_code != 403:
        return False
    if "retry-after" in resp.headers or resp.headers.get("x-ratelimit-remaining") == "0":
        return True
    return "rate limit" in _github_message(resp).lower()


def _json(resp: httpx.Response, method: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise GitHubError(method, urlsplit(str(resp.url)).path, resp.status_code, "the answer is not JSON") from None


def _login(comment: dict[str, Any]) -> str | None:
    user = comment.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) and login else None


def _by_an_app(comment: dict[str, Any]) -> bool:
    """Written with an installation token: a bot user (`type: Bot`, login `<slug>[bot]`), and GitHub
    names the app in `performed_via_github_app` where it says it."""
    user = comment.get("user")
    login = _login(comment) or ""
    return (isinstance(user, dict) and user.get("type") == "Bot") or login.endswith("[bot]")


def _comment_matches(comment: dict[str, Any], marker: str, author: str | None = None, app: bool = False) -> bool:
    """Marked, and by `author` (a login), or, for an installation token whose app is not named, by an app."""
    body = comment.get("body")
    if author is not None:
        login = _login(comment)
        if login is None or login.lower() != author.lower():
            return False
    elif app and not _by_an_app(comment):
        return False
    return isinstance(body, str) and body.lstrip().startswith(marker)


def _normalize(body: str) -> str:
    return body.replace("\r\n", "\n")


class GitHub:
    """The few REST calls deployctl makes, retried through rate limits, 5xx answers and network errors,
    within the command's deadline (waits included) and a total deadline per request."""

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, client: httpx.Client | None = None,
                 retries: int = 5, sleep: Callable[[float], None] = time.sleep, author: str | None = None,
                 deadline: float | None = None, request_timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], float] = time.time):
        if not token:
            raise CannotJudge("no GitHub token; pass GITHUB_TOKEN to the step "
                              "(env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }})")
        self.api_url = api_url.rstrip("/")
        self._origin = urlsplit(self.api_url)[:2]
        self._request_timeout = (seconds_from_env(TIMEOUT_VAR, DEFAULT_TIMEOUT) if request_timeout is None
                                 else request_timeout)
        self._deadline = seconds_from_env(DEADLINE_VAR, DEFAULT_DEADLINE) if deadline is None else deadline
        self._client = client or bounded_client(self._request_timeout)
        self._own_client = client is None
        self._retries = max(0, retries)
        self._sleep, self._clock, self._now = sleep, clock, now
        self._started = clock()
        self._secondary_waits = 0
        self._author = author or None
        self._installation = token.startswith(INSTALLATION_TOKEN_PREFIX)
        self._user_token = token.startswith(USER_TOKEN_PREFIXES)
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
        return float(2**attempt)

    def _left(self) -> float:
        return self._deadline - (self._clock() - self._started)

    def _rate_limit_wait(self, resp: httpx.Response) -> float:
        """How long GitHub asks to wait, never less (docs: "Rate limits for the REST API"): retry-after
        seconds; else, with x-ratelimit-remaining 0, until x-ratelimit-reset (epoch seconds); else at
        least a minute, doubling each time a secondary limit comes back."""
        retry_after = resp.headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(float(retry_after), 0.0)
            except ValueError:
                try:  # an HTTP date is allowed too
                    from email.utils import parsedate_to_datetime

                    return max(parsedate_to_datetime(retry_after).timestamp() - self._now(), 0.0) + 1.0
                except (TypeError, ValueError):
                    pass
        reset = resp.headers.get("x-ratelimit-reset")
        if resp.headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            try:
                return max(float(reset) - self._now(), 0.0) + 1.0  # the reset second itself is still limited
            except ValueError:
                pass
        wait = SECONDARY_WAIT * 2**self._secondary_waits
        self._secondary_waits += 1
        return wait

    def _wait_or_fail(self, wait: float, method: str, shown: str, problem: str) -> None:
        """Sleep `wait` s when it fits the command's deadline; else fail now, saying when to retry."""
        if wait > self._left():
            when = datetime.fromtimestamp(self._now() + wait, UTC)
            raise GitHubError(method, shown, None, f"{problem}; GitHub asks to wait {wait:.0f} s, past this command's "
                              f"deadline ({self._deadline:g} s, {DEADLINE_VAR}): retry after "
                              f"{when:%Y-%m-%d %H:%M:%S} UTC, not before")
        self._sleep(wait)

    def _request(self, method: str, path: str, *, json_body: Any = None,
                 params: dict[str, Any] | None = None, repeatable: bool | None = None) -> httpx.Response:
        """One API call, each try within a total deadline, retried within the command's deadline.

        Rate limits are retried after exactly the wait GitHub asks for (GitHub did not act on the call),
        or fail at once when that wait does not fit. 5xx answers and lost answers are retried only for
        calls that are safe to repeat (GET, PATCH); for others (POST) they raise _MaybeApplied, so the
        caller can look before it repeats and never creates a thing twice.
        """
        url = self._url(path)
        shown = urlsplit(url).path
        repeatable = method in ("GET", "HEAD", "PATCH", "PUT", "DELETE") if repeatable is None else repeatable
        problem, status = "no attempt made", None
        for attempt in range(self._retries + 1):
            budget = min(self._request_timeout, self._left())
            if budget <= 0:
                raise GitHubError(method, shown, status, f"{problem}; out of time ({self._deadline:g} s, "
                                  f"{DEADLINE_VAR})")
            try:
                resp = request_within(self._client, method, url, budget, headers=self._headers, json=json_body,
                                      params=params, follow_redirects=True)
            except httpx.TransportError as exc:
                problem, status = (f"no complete answer within {budget:g} s ({TIMEOUT_VAR})"
                                   if isinstance(exc, DeadlineExceeded) else f"{type(exc).__name__} (network)"), None
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if sent and not repeatable:
                    raise _MaybeApplied(problem, None) from None
                wait = self._backoff(attempt)
            else:
                status = resp.status_code
                if status < 400:
                    return resp
                problem = f"HTTP {status}{_github_message(resp)}"
                if _rate_limited(resp):
                    problem = f"rate limited (HTTP {status}){_github_message(resp)}"
                    if attempt == self._retries:
                        break
                    self._wait_or_fail(self._rate_limit_wait(resp), method, shown, problem)
                    continue
                if status >= 500:
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
                if wait > self._left():
                    break
                self._sleep(wait)
        raise GitHubError(method, shown, None if "rate limited" in problem else status,
                          f"{problem}, after {attempt + 1} attempt(s)")

    # -- comments ---------------------------------------------------------------------------------

    def list_issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Every comment of an issue or PR, oldest first."""
        return self._all_pages(f"/repos/{repo}/issues/{number}/comments", "comments")

    def pull_request_reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Every review of a PR, oldest first (GET /repos/{repo}/pulls/{n}/reviews)."""
        return self._all_pages(f"/repos/{repo}/pulls/{number}/reviews", "reviews")

    def _all_pages(self, path: str, what: str) -> list[dict[str, Any]]:
        """A list endpoint's every page, following the Link header (a page seen twice ends the walk)."""
        return self._all_pages_with(path, what, {"per_page": 100})

    def _all_pages_with(self, path: str, what: str, first: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = path
        params: dict[str, Any] | None = first
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

    def identity(self) -> str | None:
        """The login the comments made with this token carry, or None for a GitHub App installation
        token whose app is not named (its comments are then known by being an app's, never guessed).

        Told by GitHub's documented token formats: a user's token (ghp_, github_pat_, gho_, ghu_) is
        whoever GET /user names; an installation token (ghs_, the Actions GITHUB_TOKEN too) comments as
        its app's bot. A token of neither format asks GET /user, and on a 403 shows it is an installation
        token by GET /installation/repositories (which only those may call); anything else is an error
        saying to name the author (DEPLOYCTL_GITHUB_AUTHOR), never a guess."""
        if self._author is not None or self._installation:
            return self._author
        try:
            resp = self._request("GET", "/user")
        except GitHubError as exc:
            if exc.status != 403 or self._user_token:
                raise
            try:
                self._request("GET", "/installation/repositories", params={"per_page": 1})
            except GitHubError as again:
                raise GitHubError("GET", "/user", 403, f"cannot tell whose comments are this token's: GET /user "
                                  f"answered 403 and GET /installation/repositories {again.status or 'failed'}; set "
                                  f"{AUTHOR_VAR} to the login its comments carry (a GitHub App's: "
                                  "`<app-slug>[bot]`)") from None
            self._installation = True
            return None
        data = _json(resp, "GET")
        login = data.get("login") if isinstance(data, dict) else None
        if not isinstance(login, str) or not login:
            raise GitHubError("GET", "/user", resp.status_code, "the answer has no login")
        self._author = login
        return self._author

    def _find_comment(self, repo: str, number: int, marker: str) -> dict[str, Any] | None:
        author = self.identity()
        ours = [c for c in self.list_issue_comments(repo, number)
                if _comment_matches(c, marker, author, app=author is None)]
        if author is None:
            bots = sorted({(_login(c) or "?") for c in ours})
            if len(bots) > 1:
                raise GitHubError("GET", f"/repos/{repo}/issues/{number}/comments", None,
                                  f"marked comments by several apps ({', '.join(bots)}), and this installation "
                                  f"token does not say which app it is; set {AUTHOR_VAR} to its login "
                                  "(e.g. actions/create-github-app-token's `app-slug` output plus `[bot]`)")
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

        def again(attempt: int) -> tuple[str, int] | None:
            existing = self._find_comment(repo, number, marker)
            if existing is None:
                return None
            comment_id = int(existing["id"])
            if _normalize(str(existing.get("body", ""))) == _normalize(body):
                # After a lost answer, our own POST did take effect.
                return ("unchanged" if attempt == 0 else "created"), comment_id
            self._request("PATCH", f"/repos/{repo}/issues/comments/{comment_id}", json_body={"body": body})
            return "updated", comment_id

        found, created = self._create_once(create_path, {"body": body}, "id", "comment id", again)
        if found is not None:
            return found
        if self._author is None and (login := _login(created)):
            self._author = login  # who this token comments as, from GitHub's own answer
        return "created", created["id"]

    def _create_once(self, path: str, payload: dict[str, Any], key: str, what: str,
                     again: Callable[[int], T | None]) -> tuple[T | None, dict[str, Any]]:
        """POST `payload` to `path`, never blindly twice: before each try, `again(attempt)` looks for
        what an earlier run, or a try whose answer was lost, already made; when it finds it, that is
        returned (first) and nothing is posted. Else (None, the created object, which has `key`)."""
        problem, status = "no attempt made", None
        for attempt in range(self._retries + 1):
            if (existing := again(attempt)) is not None:
                return existing, {}
            try:
                resp = self._request("POST", path, json_body=payload)
            except _MaybeApplied as exc:
                problem, status = exc.detail, exc.status
                if attempt < self._retries:
                    self._sleep(self._backoff(attempt))
                continue
            created = _json(resp, "POST")
            if not isinstance(created, dict) or not isinstance(created.get(key), int):
                raise GitHubError("POST", path, resp.status_code, f"the answer has no {what}")
            return None, created
        raise GitHubError("POST", path, status, f"{problem}, after {self._retries + 1} attempts")

    # -- pull requests ----------------------------------------------------------------------------

    def create_pull_request(self, repo: str, title: str, head: str, base: str, body: str) -> dict[str, Any]:
        """Open a pull request (the [rollback] one after a switch-back). Not retried on a lost answer:
        a second POST would fail anyway, GitHub refuses two PRs for one branch."""
        return self._post_or_fail(f"/repos/{repo}/pulls",
                                  {"title": title, "head": head, "base": base, "body": body}, "pull request")

    def _post_or_fail(self, path: str, payload: dict[str, Any], what: str) -> dict[str, Any]:
        """POST once; an answer that was lost is an error saying the object may exist already (the
        caller's next run finds it), never a second POST."""
        try:
            resp = self._request("POST", path, json_body=payload)
        except _MaybeApplied as exc:
            raise GitHubError("POST", path, exc.status, f"{exc.detail}; the {what} may exist already") from None
        created = _json(resp, "POST")
        if not isinstance(created, dict):
            raise GitHubError("POST", path, resp.status_code, f"the answer is not a {what}")
        return created

    # -- proposal pull requests (`propose --post`) ---------------------------------------------------

    def open_pull_requests(self, repo: str, base: str | None = None) -> list[dict[str, Any]]:
        """Every open pull request of the repository (into `base`, when given), oldest first, every
        page (GET /repos/{repo}/pulls?state=open&sort=created&direction=asc)."""
        params: dict[str, Any] = {"state": "open", "sort": "created", "direction": "asc", "per_page": 100}
        if base:
            params["base"] = base
        items: list[dict[str, Any]] = []
        url: str | None = f"/repos/{repo}/pulls"
        seen: set[str] = set()
        first: dict[str, Any] | None = params
        while url is not None and url not in seen:
            resp = self._request("GET", url, params=first)
            page = _json(resp, "GET")
            if not isinstance(page, list):
                raise GitHubError("GET", urlsplit(str(resp.url)).path, resp.status_code,
                                  "the answer is not a list of pull requests")
            items.extend(i for i in page if isinstance(i, dict))
            seen.add(str(resp.url))
            url, first = resp.links.get("next", {}).get("url"), None  # the next link carries its own query
        return items

    def marked_pull_requests(self, repo: str, marker: str, base: str | None = None,
                             prs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The open PRs this token opened whose body holds `marker`, from a branch of this repository
        (never a fork's, whose branch we could not and must not rewrite). A PR someone else opens with
        the marker is not taken for ours: its author must be this token's identity (for an installation
        token whose app is not named: an app). `prs`: the open PRs already listed."""
        author = self.identity()
        ours = []
        for pr in self.open_pull_requests(repo, base) if prs is None else prs:
            head = pr.get("head")
            head_repo = head.get("repo") if isinstance(head, dict) else None
            full_name = head_repo.get("full_name") if isinstance(head_repo, dict) else None
            if str(full_name or "").lower() != repo.lower():
                continue
            if not _comment_matches({**pr, "body": marker}, marker, author, app=author is None):
                continue
            if marker in str(pr.get("body") or ""):
                ours.append(pr)
        return ours

    def update_pull_request(self, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        """Edit a PR's title, body or state (PATCH /repos/{repo}/pulls/{n}; safe to repeat)."""
        return self._patch(f"/repos/{repo}/pulls/{number}", fields, "a pull request")

    def close_pull_request(self, repo: str, number: int, comment: str) -> None:
        """Say why in a comment, then close the PR. A comment whose answer was lost is not posted again
        (it may be there): the PR is closed all the same."""
        with contextlib.suppress(_MaybeApplied):
            self._request("POST", f"/repos/{repo}/issues/{number}/comments", json_body={"body": comment})
        self.update_pull_request(repo, number, state="closed")

    def graphql_url(self) -> str:
        """GitHub's GraphQL endpoint beside this REST API: /graphql on api.github.com, /api/graphql on
        GitHub Enterprise Server (whose REST API is /api/v3)."""
        if self.api_url.endswith("/api/v3"):
            return self.api_url[: -len("/v3")] + "/graphql"
        return f"{self.api_url}/graphql"

    def _graphql(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        """One GraphQL call; GraphQL answers 200 with `errors` when it refuses: a GitHubError naming it."""
        url = self.graphql_url()
        resp = self._request("POST", url, json_body={"query": query, "variables": variables},
                             repeatable=True)  # enabling or disabling twice is no harm
        data = _json(resp, "POST")
        if not isinstance(data, dict):
            raise GitHubError("POST", urlsplit(url).path, resp.status_code, "the answer is not a GraphQL response")
        if data.get("errors"):
            errors = data["errors"] if isinstance(data["errors"], list) else [data["errors"]]
            said = "; ".join(str(e.get("message") if isinstance(e, dict) else e)[:300] for e in errors[:4])
            raise GitHubError("POST", urlsplit(url).path, resp.status_code, f"{what} refused: {said}")
        return data.get("data") or {}

    def disable_auto_merge(self, node_id: str) -> dict[str, Any]:
        """Undo auto-merge on a PR (GraphQL's `disablePullRequestAutoMerge`)."""
        query = ("mutation($pullRequestId: ID!) { disablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId})"
                 " { pullRequest { number } } }")
        return self._graphql(query, {"pullRequestId": node_id}, "disablePullRequestAutoMerge")

    def enable_auto_merge(self, node_id: str, merge_method: str = "SQUASH") -> dict[str, Any]:
        """Set a PR to merge itself once its requirements pass: GraphQL's `enablePullRequestAutoMerge`
        with the PR's node_id (REST has no such call). GraphQL answers 200 with `errors` when it
        refuses (auto-merge not allowed in the repository, the PR already clean): a GitHubError."""
        if merge_method not in ("MERGE", "SQUASH", "REBASE"):
            raise ValueError(f"merge method {merge_method!r} is not MERGE, SQUASH or REBASE")
        query = ("mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!) {"
                 " enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod})"
                 " { pullRequest { number autoMergeRequest { enabledAt mergeMethod } } } }")
        return self._graphql(query, {"pullRequestId": node_id, "mergeMethod": merge_method},
                             "enablePullRequestAutoMerge")


    # -- issues (the drift issue of each env: found by its marker and author, edited in place) -------

    def find_issues(self, repo: str, markers: list[str]) -> dict[str, dict[str, Any]]:
        """The open issues this token wrote whose body starts with one of `markers`, by marker.

        One listing for every marker (GET /repos/{repo}/issues?state=open, paged; pull requests, which
        GitHub lists there too, are left out), filtered by the token's own login when it is known
        (`creator`), else by being an app's (an installation token's issues are its app's bot's), as
        the preview comment is found. Never by a label: GitHub drops the labels of a token that may not
        set them, so a label would not find the issue again. The oldest marked issue wins, so an env
        that somehow has two keeps editing the same one."""
        author = self.identity()
        params: dict[str, Any] = {"state": "open", "per_page": 100, "sort": "created", "direction": "asc"}
        if author is not None:
            params["creator"] = author
        found: dict[str, dict[str, Any]] = {}
        for issue in self._all_pages_with(f"/repos/{repo}/issues", "issues", params):
            if "pull_request" in issue or not isinstance(issue.get("number"), int):
                continue
            for marker in markers:
                if marker not in found and _comment_matches(issue, marker, author, app=author is None):
                    found[marker] = issue
        return found

    def find_issue(self, repo: str, marker: str) -> dict[str, Any] | None:
        """The open issue this token wrote whose body starts with `marker`, or None (find_issues)."""
        return self.find_issues(repo, [marker]).get(marker)

    def create_issue(self, repo: str, title: str, body: str, labels: list[str] | None = None) -> dict[str, Any]:
        """POST /repos/{repo}/issues. A lost answer is never blindly repeated: the open issues are
        listed again first (by the marker the body starts with), so the issue is never created twice."""
        path = f"/repos/{repo}/issues"
        marker = body.split("\n", 1)[0]
        payload: dict[str, Any] = {"title": title, "body": body}
        if labels:
            payload["labels"] = labels
        found, created = self._create_once(
            path, payload, "number", "issue number",
            lambda attempt: self.find_issue(repo, marker) if attempt else None)  # our own POST took effect
        return found if found is not None else created

    def edit_issue(self, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        """PATCH /repos/{repo}/issues/{number} with `fields` (title, body, state, state_reason)."""
        return self._patch(f"/repos/{repo}/issues/{number}", fields, "an issue")

    def _patch(self, path: str, fields: dict[str, Any], what: str) -> dict[str, Any]:
        """PATCH `fields` onto the object at `path` (safe to repeat); the object as GitHub now has it."""
        edited = _json(self._request("PATCH", path, json_body=fields), "PATCH")
        if not isinstance(edited, dict):
            raise GitHubError("PATCH", path, None, f"the answer is not {what}")
        return edited

    def comment_issue(self, repo: str, number: int, body: str) -> dict[str, Any]:
        """POST /repos/{repo}/issues/{number}/comments. Not repeated on a lost answer (a second comment
        would say the same twice); the caller's next run finds the issue as it left it."""
        return self._post_or_fail(f"/repos/{repo}/issues/{number}/comments", {"body": body}, "comment")

    def close_issue(self, repo: str, number: int) -> dict[str, Any]:
        """Close as completed (PATCH state: closed, state_reason: completed)."""
        return self.edit_issue(repo, number, state="closed", state_reason="completed")


def repository_from_env(environ: Mapping[str, str]) -> str:
    """The deploy repository (owner/name) a scheduled run posts to: GITHUB_REPOSITORY, checked."""
    repo = environ.get("GITHUB_REPOSITORY") or ""
    if not _REPO_RE.match(repo):
        raise CannotJudge(f"GITHUB_REPOSITORY is {repo!r}, not 'owner/name'; set it to the deploy repository's "
                          "full name (GitHub Actions sets it)")
    return repo


def github_from_env(environ: Mapping[str, str], **kwargs: Any) -> GitHub:
    """A client for this run: GITHUB_TOKEN (or GH_TOKEN) and GITHUB_API_URL."""
    token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN") or ""
    if not token:
        raise CannotJudge("GITHUB_TOKEN is not set; pass it to the step "
                          "(env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}) to post the preview comment")
    kwargs.setdefault("author", environ.get(AUTHOR_VAR) or None)
    kwargs.setdefault("deadline", seconds_from_env(DEADLINE_VAR, DEFAULT_DEADLINE, environ))
    kwargs.setdefault("request_timeout", seconds_from_env(TIMEOUT_VAR, DEFAULT_TIMEOUT, environ))
    return GitHub(token, api_url=_api_url(environ), **kwargs)
