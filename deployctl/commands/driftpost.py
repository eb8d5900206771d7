"""`drift --post`: one GitHub issue per env with drift, edited in place, closed once the env is back in sync.

Told once: the issue is found again by its hidden marker (report/driftissue.py) and this token's
authorship, never by a search or a label, so an env never gets a second issue; it is edited only when
its rendered body changes, so a run that finds what the last one found writes nothing. Slack hears
about new drift only: an app drifted now whose state the issue did not already list.

    result = post_drift(root, states, github, "acme/deploys", os.environ.get("DEPLOYCTL_SLACK_WEBHOOK"),
                        datetime.now(UTC))

Each env that has states in `states` is judged; an env with none (not asked for: `drift staging
--post`) is left alone, its issue too. An env with an update in progress and no drift is left as it
is until a run sees how that update ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.trace.appstate import AppState, State

if TYPE_CHECKING:
    from deployctl.adapters.github import GitHub

Action = Literal["created", "updated", "unchanged", "closed", "none"]


class EnvPost(LazyModel):
    """What `drift --post` did for one env."""

    model_config = ConfigDict(frozen=True)

    env: str
    action: Action
    """created / updated (the body changed) / unchanged (nothing written) / closed (back in sync) /
    none (no drift and no open issue, or an update in progress and no drift)."""
    issue: int | None = None
    url: str | None = None
    new: list[str] = []
    """Apps newly drifted (absent from the issue's previous list, or in another state there)."""
    slack: bool | None = None
    """True: Slack was told of the new drift; False: that failed (a warning said why); None: nothing to tell."""


class DriftPost(LazyModel):
    model_config = ConfigDict(frozen=True)

    envs: list[EnvPost]

    def to_json(self) -> list[dict[str, object]]:
        return [e.model_dump(mode="json") for e in self.envs]


def post_drift(root: Path, states: Sequence[AppState], github: GitHub, repo: str, slack: str | None,
               now: datetime) -> DriftPost:
    """Post each env's drift from `states` (every app of each env judged, AppState.drifted) as its one
    issue in `repo` (owner/name) through `github`; tell Slack (`slack`: the incoming-webhook URL, or
    None) of new drift only. `now` dates the closing comment; `root` is the deploy repo (unused today;
    the caller has it). Raises CannotJudge (GitHubError) when GitHub refuses or cannot be reached:
    what was done before that stays done, and the next run carries on from the issues as they are."""
    del root
    from deployctl.report.driftissue import (
        LABEL,
        drift_marker,
        drift_state_of,
        drift_title,
        render_back_in_sync,
        render_drift_issue,
    )

    envs = list(dict.fromkeys(s.env for s in states))
    found = github.find_issues(repo, [drift_marker(env) for env in envs]) if envs else {}
    done: list[EnvPost] = []
    for env in envs:
        mine = [s for s in states if s.env == env]
        drifted = sorted((s for s in mine if s.drifted), key=lambda s: s.app)
        issue = found.get(drift_marker(env))
        if not drifted:
            if issue is None or any(s.state != State.IN_SYNC for s in mine):
                done.append(EnvPost(env=env, action="none", issue=_number(issue), url=_url(issue)))
                continue
            number = int(issue["number"])
            github.comment_issue(repo, number, render_back_in_sync(env, drift_state_of(str(issue.get("body") or "")),
                                                                   now))
            github.close_issue(repo, number)
            done.append(EnvPost(env=env, action="closed", issue=number, url=_url(issue)))
            continue
        body = render_drift_issue(env, drifted)
        before: dict[str, str] = {}
        action: Action
        if issue is None:
            issue = github.create_issue(repo, drift_title(env), body, labels=[LABEL])
            action = "created"
        elif str(issue.get("body") or "").replace("\r\n", "\n") == body:  # GitHub may answer CRLF
            done.append(EnvPost(env=env, action="unchanged", issue=_number(issue), url=_url(issue)))
            continue
        else:
            before = drift_state_of(str(issue.get("body") or ""))
            issue = github.edit_issue(repo, int(issue["number"]), title=drift_title(env), body=body)
            action = "updated"
        new = [s for s in drifted if before.get(s.app) != s.state.value]
        told = _tell(slack, env, new, _url(issue)) if new else None
        done.append(EnvPost(env=env, action=action, issue=_number(issue), url=_url(issue),
                            new=[s.app for s in new], slack=told))
    return DriftPost(envs=done)


def _number(issue: dict[str, object] | None) -> int | None:
    number = issue.get("number") if issue else None
    return number if isinstance(number, int) else None


def _url(issue: dict[str, object] | None) -> str | None:
    url = issue.get("html_url") if issue else None
    return url if isinstance(url, str) else None


def _tell(slack: str | None, env: str, new: list[AppState], url: str | None) -> bool | None:
    if not slack:
        return None
    from deployctl.adapters.notify import DriftNotice, post_slack

    return post_slack(slack, DriftNotice(env=env, apps=[(s.app, s.state.value, s.detail) for s in new],
                                         issue_url=url))


__all__ = ["DriftPost", "EnvPost", "post_drift"]
