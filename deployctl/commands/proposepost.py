"""`propose --post`: each proposal becomes one branch and one pull request, found again by its marker.

One PR per proposal key (env and app or group): the first run opens it; a later run with a newer
commit rewrites its branch (the new line prepended to the base's file, a commit made without touching
the working tree, pushed with force-with-lease to that branch only) and edits its title and body in
place, never a second PR. A marked PR whose key is no longer proposed (deployed by hand, superseded)
is closed with a comment. A blocked proposal opens nothing and leaves an open PR as it is, its body
saying it is held and why. Auto-merge is set through GitHub's GraphQL API for an unprotected env only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict

from deployctl import console
from deployctl.adapters.github import GitHub
from deployctl.core.deliver.proposal import BRANCH_PREFIX, Proposal
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import FULL_HASH_RE, deploy_path, is_valid_name, short
from deployctl.core.repo.safegit import branch_problem
from deployctl.core.violations import CannotJudge
from deployctl.report.proposalbody import (
    MARKER_PREFIX,
    line_comment,
    marker,
    moot_comment,
    parse_marker,
    render_body,
    title,
)

Action = Literal["created", "refreshed", "unchanged", "held", "closed", "skipped"]
MERGE_METHODS = ("MERGE", "SQUASH", "REBASE")
"""The only branches `--post` writes (README, SECURITY.md): never a release branch, `main` or a person's."""
COMMIT_TRAILER = "Proposed by deployctl propose"
"""In every proposal branch commit's message: how a later run knows the branch tip is its own."""


class Posted(LazyModel):
    """What `--post` did for one proposal key."""

    model_config = ConfigDict(frozen=True)

    key: str
    env: str
    action: Action
    """created, refreshed (branch rewritten and/or title and body edited), unchanged, held (blocked:
    no new PR; an open one keeps its branch, its body says why), closed (moot)."""
    number: int | None = None
    url: str | None = None
    head: str | None = None
    """The branch's commit after this run (None: no branch written)."""
    auto_merge: bool = False
    """Auto-merge was enabled by this run."""


class PostResult(LazyModel):
    model_config = ConfigDict(frozen=True)

    posted: list[Posted]

    def to_json(self) -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in self.posted]


def _validate(proposals: list[Proposal]) -> None:
    """A proposal is the planner's, but its names reach git, a branch and a marker: checked first."""
    seen: set[str] = set()
    for p in proposals:
        problem = branch_problem(p.branch)
        if problem is None and not p.branch.startswith(f"{BRANCH_PREFIX}/"):
            problem = f"its branch is not under {BRANCH_PREFIX}/ (the only branches propose writes)"
        if problem is None:
            try:
                marker(p.key, p.env)
            except ValueError as exc:
                problem = str(exc)
        if problem is None and not is_valid_name(p.env):
            problem = f"env {p.env!r} is not a valid name"
        for app, commit in p.apps.items():
            if problem is None and not is_valid_name(app):
                problem = f"app {app!r} is not a valid name"
            if problem is None and not FULL_HASH_RE.match(commit):
                problem = f"{app}'s commit {commit!r} is not a full hash"
        if problem is None and not p.apps:
            problem = "it names no app"
        if problem is None and p.key in seen:
            problem = "two proposals share this key (one PR each)"
        if problem is not None:
            raise CannotJudge(f"cannot post the proposal {p.branch!r} for {p.env}: {problem}; nothing was posted")
        seen.add(p.key)


def _head_ref(pr: dict[str, Any]) -> str:
    return str((pr.get("head") or {}).get("ref") or "")


def _head_repo(pr: dict[str, Any]) -> str:
    return str(((pr.get("head") or {}).get("repo") or {}).get("full_name") or "")


def _enabled_by_a_bot(pr: dict[str, Any] | None) -> bool:
    """Auto-merge a bot (this workflow's) enabled, not a person (GitHub's `auto_merge.enabled_by`)."""
    by = ((pr or {}).get("auto_merge") or {}).get("enabled_by") or {}
    return isinstance(by, dict) and (by.get("type") == "Bot" or str(by.get("login") or "").endswith("[bot]"))


def _git(root: Path, *args: str, data: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, input=data, capture_output=True, check=check, timeout=60)


def _base_commit(root: Path, remote: str, base_branch: str) -> str:
    """The base branch's tip as this checkout knows it: the remote's, else the local branch."""
    for ref in (f"refs/remotes/{remote}/{base_branch}", f"refs/heads/{base_branch}"):
        done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if done.returncode == 0:
            return done.stdout.decode().strip()
    raise CannotJudge(f"the base branch '{base_branch}' is not in {root} (neither {remote}/{base_branch} nor "
                      f"{base_branch}); fetch it, or name the deploy repo's main branch")


def _blob(root: Path, rev: str, path: str) -> bytes | None:
    done = _git(root, "cat-file", "blob", f"{rev}:{path}", check=False)
    return done.stdout if done.returncode == 0 else None


def _protected(root: Path) -> dict[str, bool]:
    from deployctl.adapters.git.reads import worktree_files
    from deployctl.commands.load import readable
    from deployctl.core.repo.snapshot import build_snapshot

    config = readable(build_snapshot(worktree_files(root, paths=set())))
    return {env: bool(stack.settings.protected) for env, stack in config.stacks.items()}


def _remote_url(root: Path, remote: str) -> str:
    done = _git(root, "remote", "get-url", "--", remote, check=False)
    if done.returncode != 0:
        raise CannotJudge(f"the deploy repo has no remote '{remote}' to push proposal branches to")
    return done.stdout.decode().strip()


def _remote_tip(root: Path, url: str, remote: str, branch: str) -> str | None:
    """The branch's commit on the remote now (None: no such branch): the lease of the push."""
    from deployctl.adapters.git.apprepos import run_network_git
    from deployctl.adapters.git.repourl import display_url

    done = run_network_git(["-C", str(root), "ls-remote", "--heads", "--", remote, f"refs/heads/{branch}"], url,
                           "read the branches of")
    if done.returncode != 0:
        raise CannotJudge(f"cannot read the branches of {display_url(url)}: "
                          f"{done.stderr.decode(errors='replace').strip()[-300:]}")
    for line in done.stdout.decode().splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def _fetch(root: Path, url: str, remote: str, sha: str) -> bool:
    """The objects of a remote branch's tip (no ref written), to compare it with what we would write."""
    from deployctl.adapters.git.apprepos import run_network_git

    if _git(root, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0:
        return True
    done = run_network_git(["-C", str(root), "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--",
                            remote, sha], url, "fetch from")
    return done.returncode == 0


def _written_by_propose(root: Path, sha: str) -> bool:
    """A branch tip `propose` wrote: one parent and its message's trailer (a person's push is theirs)."""
    done = _git(root, "log", "-1", "--format=%P%n%B", sha, "--", check=False)
    parents, _, message = done.stdout.decode(errors="replace").partition("\n")
    return done.returncode == 0 and len(parents.split()) == 1 and COMMIT_TRAILER in message


def _push(root: Path, url: str, remote: str, sha: str, branch: str, lease: str | None) -> None:
    """Force the proposal's branch (and only it) to `sha`, if it is still at `lease` (None: absent)."""
    from deployctl.adapters.git.apprepos import run_network_git
    from deployctl.adapters.git.repourl import display_url

    ref = f"refs/heads/{branch}"
    done = run_network_git(["-C", str(root), "push", "--quiet", f"--force-with-lease={ref}:{lease or ''}", "--",
                            remote, f"{sha}:{ref}"], url, "push to")
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise CannotJudge(f"cannot push {branch} to {display_url(url)}: {said[0]} (another run may have "
                          "moved it: the next run refreshes it)")


def proposal_files(root: Path, base: str, p: Proposal) -> dict[str, bytes]:
    """Each app's deploy file on the base with the proposal's line prepended (a file that already
    names the commit on top is left out: nothing to write there)."""
    from deployctl.core.change.authoring import prepend
    from deployctl.core.repo.model import parse_base, same_commit

    out: dict[str, bytes] = {}
    for app, commit in sorted(p.apps.items()):
        path = deploy_path(p.env, app)
        old = _blob(root, base, path)
        current = parse_base(p.env, app, old) if old else None
        if current is not None and same_commit(current.commit, commit):
            continue
        out[path] = prepend(old, commit, line_comment(p, app))
    return out


def post_proposals(root: Path, proposals: list[Proposal], github: GitHub, repo: str, base_branch: str, *,
                   envs: Collection[str] | None = None, remote: str = "origin", merge_method: str = "SQUASH",
                   say: Callable[[str], None] | None = None) -> PostResult:
    """Open, refresh, hold or close one PR per proposal key; returns what was done for each.

    `envs`: the envs this run proposed for (a marked PR of another env is never closed as moot; None:
    every env). `merge_method` is what auto-merge uses. GitHub is asked for the open marked PRs once;
    each branch write is a commit on the base's tip made through a private index (the checkout is never
    touched) and a push with force-with-lease to that branch only.
    """
    from deployctl.adapters.pulumi.switchback import _commit_files

    say = say or console.info
    if merge_method not in MERGE_METHODS:
        raise CannotJudge(f"merge method '{merge_method}' is not one of {', '.join(MERGE_METHODS)}")
    _validate(proposals)
    scope = set(envs) if envs is not None else None
    protected = _protected(root)
    base = _base_commit(root, remote, base_branch)
    url = _remote_url(root, remote)
    open_prs = github.open_pull_requests(repo)
    ours = github.marked_pull_requests(repo, MARKER_PREFIX, prs=[pr for pr in open_prs
                                                                 if (pr.get("base") or {}).get("ref") == base_branch])
    foreign = {_head_ref(pr): int(pr["number"]) for pr in open_prs
               if not any(pr is mine for mine in ours) and _head_repo(pr).lower() == repo.lower()}
    existing: dict[str, dict[str, Any]] = {}
    for pr in ours:
        found = parse_marker(pr.get("body"))
        if found is None or found[0] != _head_ref(pr) or found[0] in existing:
            continue  # the marker must name the PR's own branch; the oldest PR of a key wins
        existing[found[0]] = pr
    posted: list[Posted] = []
    for p in proposals:
        if p.branch in foreign and p.key not in existing:
            say(f"{p.env}: #{foreign[p.branch]}, not opened by deployctl propose, uses the branch {p.branch}: "
                "left alone (close it, or delete that branch, to let propose post this step)")
            posted.append(Posted(key=p.key, env=p.env, action="skipped", number=foreign[p.branch]))
            continue
        posted.append(_post_one(root, p, github, repo, base_branch, base, url, remote, existing.get(p.key),
                                protected.get(p.env, True), merge_method, _commit_files, say))
    wanted = {p.key for p in proposals}
    for key, pr in existing.items():
        env = (parse_marker(pr.get("body")) or ("", ""))[1]
        if key in wanted or (scope is not None and env not in scope):
            continue
        number = int(pr["number"])
        github.close_pull_request(repo, number, moot_comment(env, key))
        say(f"{env}: closed #{number} ({key}): no longer proposed")
        posted.append(Posted(key=key, env=env, action="closed", number=number, url=pr.get("html_url")))
    return PostResult(posted=posted)


def _post_one(root: Path, p: Proposal, github: GitHub, repo: str, base_branch: str, base: str, url: str,
              remote: str, pr: dict[str, Any] | None, protected: bool, merge_method: str,
              commit_files: Callable[..., str], say: Callable[[str], None]) -> Posted:
    auto = p.auto_merge and not protected  # the planner never asks it for a protected env; refused again here
    if p.auto_merge and protected:
        say(f"{p.env}: auto-merge refused for {p.key}: {p.env} is protected (its reviewers merge)")
    body = render_body(p, protected, auto)
    number = int(pr["number"]) if pr else None
    if p.blocked:
        if pr is None:
            say(f"{p.env}: {p.key} is held ({', '.join(p.blocked)}): no pull request opened")
            return Posted(key=p.key, env=p.env, action="held")
        if pr.get("body") != body:
            github.update_pull_request(repo, int(pr["number"]), body=body)
        if pr.get("auto_merge") is not None and pr.get("node_id"):  # a held step never merges itself
            github.disable_auto_merge(str(pr["node_id"]))
            say(f"{p.env}: auto-merge off for #{number} while it is held")
        say(f"{p.env}: #{number} ({p.key}) is held ({', '.join(p.blocked)}): left open, its body says why")
        return Posted(key=p.key, env=p.env, action="held", number=number, url=pr.get("html_url"),
                      head=(pr.get("head") or {}).get("sha"))
    files = proposal_files(root, base, p)
    if not files and pr is not None:  # deployed by hand meanwhile: moot (its branch would only conflict)
        github.close_pull_request(repo, int(pr["number"]), moot_comment(p.env, p.key))
        say(f"{p.env}: closed #{number} ({p.key}): the base already names what it proposes")
        return Posted(key=p.key, env=p.env, action="closed", number=number, url=pr.get("html_url"))
    if not files:
        say(f"{p.env}: {p.key}: the base already runs what it proposes; nothing to post")
        return Posted(key=p.key, env=p.env, action="unchanged")
    tip = _remote_tip(root, url, remote, p.branch)
    fetched = tip is not None and _fetch(root, url, remote, tip)
    if fetched and not _written_by_propose(root, str(tip)):
        say(f"{p.env}: someone pushed to {p.branch} ({short(tip)}): left alone, never overwritten (close its "
            "pull request and delete the branch to let propose post this step again)")
        return Posted(key=p.key, env=p.env, action="skipped", number=number, url=pr.get("html_url") if pr else None,
                      head=tip)
    same = (pr is not None and fetched and all(_blob(root, str(tip), path) == data for path, data in files.items()))
    head = tip
    if not same:
        message = f"{title(p)}\n\n{COMMIT_TRAILER} ({p.kind.value}, {p.env}): " + ", ".join(
            f"{app} {short(c)}" for app, c in sorted(p.apps.items()))
        head = commit_files(root, files, message, parent=base)
        _push(root, url, remote, head, p.branch, tip)
    enabled = False
    if pr is None:
        created = github.create_pull_request(repo, title=title(p), head=p.branch, base=base_branch, body=body)
        number, node, auto_on = int(created["number"]), created.get("node_id"), False
        action: Action = "created"
        html = created.get("html_url")
        say(f"{p.env}: opened #{number} ({p.key})")
    else:
        changes = {k: v for k, v in (("title", title(p)), ("body", body)) if pr.get(k) != v}
        if changes:
            github.update_pull_request(repo, int(pr["number"]), **changes)
        action = "unchanged" if same and not changes else "refreshed"
        node, auto_on, html = pr.get("node_id"), pr.get("auto_merge") is not None, pr.get("html_url")
        say(f"{p.env}: {action} #{number} ({p.key})")
    # A protected env's reviewers merge; elsewhere auto-merge we set goes once autoMerge does, a person's stays.
    if auto_on and not auto and node and (protected or _enabled_by_a_bot(pr)):
        github.disable_auto_merge(str(node))
        say(f"{p.env}: auto-merge off for #{number}: "
            + (f"{p.env} is protected" if protected else f"{p.env} no longer sets deploys:autoMerge"))
    if auto and not auto_on:
        if not node:
            raise CannotJudge(f"GitHub gave no node_id for #{number}: cannot enable its auto-merge")
        github.enable_auto_merge(str(node), merge_method)
        enabled = True
        say(f"{p.env}: auto-merge on for #{number}")
    return Posted(key=p.key, env=p.env, action=action, number=number, url=html, head=head,
                  auto_merge=enabled)


__all__ = ["BRANCH_PREFIX", "PostResult", "Posted", "post_proposals", "proposal_files"]
