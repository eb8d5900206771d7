"""`deployctl propose`: the next deploy and the next promotion of each env with a policy
(`deploys:autoDeploy`, `deploys:autoPromote` in its stack config), each as one proposed PR with its
evidence, planned by core/deliver/propose.py. Without `--post` nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl import console
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.commands.load import ordered_envs, readable
from deployctl.core.repo.model import short
from deployctl.core.violations import CannotJudge, ExitStatus

if TYPE_CHECKING:
    from deployctl.core.change.running import Deployed
    from deployctl.core.deliver.proposal import Proposal
    from deployctl.core.repo.snapshot import Snapshot
    from deployctl.core.trace.history import HistoryEntry


@dataclass(frozen=True)
class ProposeRequest:
    repo: Path
    envs: list[str] | None = None
    """Only these envs (default: each with a policy)."""
    post: bool = False
    """Open or refresh one PR per proposal; close those that became moot."""
    as_json: bool = False


def propose(request: ProposeRequest) -> ExitStatus:
    """Print the proposals (JSON, or lines), post them when asked: 1 when a due step is held."""
    envs = request.envs
    publish = poster() if request.post else None
    proposals, judged = run_propose(request.repo, envs, datetime.now(UTC))
    if request.as_json:
        console.as_json([p.to_json() for p in proposals])
    else:
        for line in proposal_lines(proposals):
            console.out(line)
        if not proposals:
            unset = f"{', '.join(envs)} has no" if envs else "no env has"
            console.out("nothing to propose" + (f": {', '.join(judged)} up to date" if judged
                                                 else f": {unset} deploys:autoDeploy or deploys:autoPromote"))
    if publish is not None:
        publish(request.repo, proposals, judged)
    return ExitStatus.VIOLATION if any(p.blocked for p in proposals) else ExitStatus.OK


class _Branches:
    """The planner's Branches oracle over the app-repository cache: each repository fetched once per
    run first, so the tip is the branch's tip now, not the cache's."""

    def __init__(self, repos: AppRepos):
        self.repos = repos
        self._chains: dict[tuple[str, str, int], list[str] | None] = {}

    def first_parents(self, repo: str, branch: str, limit: int) -> list[str] | None:
        key = (repo, branch, limit)
        if key not in self._chains:
            clone = self.repos.get(repo)
            clone.ensure_cloned()
            clone.fetch()
            self._chains[key] = clone.first_parents(branch, limit)
        return self._chains[key]


def run_propose(root: Path, envs: list[str] | None, at: datetime) -> tuple[list[Proposal], list[str]]:
    """The proposals of `envs` (default: every env with a policy), judged against the base CI judges
    a PR against (the merge base with the deploy repo's main branch), and the envs judged."""
    from deployctl.adapters.cloud.artifacts import artifact_oracle
    from deployctl.adapters.git.reads import commit_files
    from deployctl.adapters.git.repo import open_git
    from deployctl.commands.bump import authoring_base
    from deployctl.core.deliver.propose import plan_proposals
    from deployctl.core.repo.snapshot import build_snapshot

    base_sha = authoring_base(root)
    if base_sha is None:
        raise CannotJudge("the deploy repo has no commits yet, so there is no base to propose against; "
                          "commit the catalog, stack configs and deploy files first")
    files = commit_files(open_git(root), base_sha)
    base = readable(build_snapshot(files), f" at {short(base_sha)}")
    chosen = ordered_envs(base, envs)
    with_policy = [e for e in chosen if _has_policy(base, e)]
    for env in chosen:
        if envs and env not in with_policy:
            console.info(f"note: {env} has neither deploys:autoDeploy nor deploys:autoPromote in "
                         f"Pulumi.{env}.yaml: nothing is proposed for it")
    if not with_policy:
        return [], []
    deployed: Deployed = {}
    trace: list[HistoryEntry] = []
    promoting = [e for e in with_policy if base.stacks[e].settings.auto_promote is not None]
    if promoting:
        deployed, trace = _what_ran(root, base, base_sha, promoting)
    repos = AppRepos(root)
    with console.step("judging the next deploys and promotions"):
        proposals = plan_proposals(files, base, with_policy, repos, _Branches(repos), at,
                                   artifacts=artifact_oracle(offline=False), deployed=deployed, trace=trace)
    return proposals, with_policy


def _has_policy(base: Snapshot, env: str) -> bool:
    settings = base.stacks[env].settings
    return bool(settings.auto_deploy) or settings.auto_promote is not None


def _what_ran(root: Path, base: Snapshot, base_sha: str, envs: list[str]) -> tuple[Deployed, list[HistoryEntry]]:
    """Pulumi's record of what runs in each promoting env and its upstream, and the upstream envs'
    trace (the deploy history joined with their updates: each line's outcome and when its update
    ended). A promotion is judged on these alone, never on the files: without them, exit 2."""
    from deployctl.adapters.git.log import deploy_history, first_parent_order
    from deployctl.adapters.git.repo import open_git
    from deployctl.adapters.pulumi.cli import find_pulumi
    from deployctl.commands.load import open_engine, read_running
    from deployctl.core.trace.history import join

    why = ("no Pulumi.yaml here" if not (root / "Pulumi.yaml").is_file()
           else "no Pulumi CLI installed (`make engine` or `deployctl install-engine` installs it)"
           if find_pulumi() is None else None)
    if why is not None:
        raise CannotJudge(f"{', '.join(envs)}: deploys:autoPromote promotes what the upstream env runs, read "
                          f"from Pulumi, which cannot be read ({why})")
    engine = open_engine(root)
    with console.step("reading what runs (each stack's `deployed` output)"):
        running = read_running(engine, base, envs)
    upstream = sorted({u for e in envs if (u := base.stacks[e].settings.promote_from)})
    repo = open_git(root)
    with console.step("reading the trace of " + ", ".join(upstream)):
        updates = {env: engine.history(env) for env in upstream}
        entries = [e for e in deploy_history(repo, base_sha) if e.env in upstream]
        trace = join(entries, updates, first_parent_order(repo, base_sha)) if entries else []
    return running.deployed, trace


def poster(environ: Mapping[str, str] = os.environ) -> Callable[[Path, list[Proposal], list[str]], None]:
    """`--post`'s publisher: each proposal becomes one branch and one PR (commands/proposepost.py).
    Built before anything is read, so a missing GITHUB_TOKEN or GITHUB_REPOSITORY stops the run first.
    The PRs target the branch the run is on (GITHUB_REF_NAME: the default branch on a schedule)."""
    from deployctl.adapters.github import github_from_env, repository_from_env
    from deployctl.commands.proposepost import post_proposals

    client = github_from_env(environ)
    repository = repository_from_env(environ)
    base_branch = environ.get("GITHUB_REF_NAME") or "main"

    def publish(root: Path, proposals: list[Proposal], envs: list[str]) -> None:
        with client:
            done = post_proposals(root, proposals, client, repository, base_branch, envs=envs)
        for p in done.posted:
            where = f" #{p.number}" if p.number else ""
            console.info(f"{p.env}: {p.key}: PR{where} {p.action}")

    return publish


def proposal_lines(proposals: list[Proposal]) -> list[str]:
    """The proposals for a person: a title line each, then what holds it, then its evidence."""
    from deployctl.core.violations import one_line

    lines: list[str] = []
    for p in proposals:
        state = f"blocked ({', '.join(p.blocked)})" if p.blocked else "ready"
        lines.append(f"{p.env}: {one_line(p.title)} [{state}]")
        lines.append(f"  branch {p.branch}" + ("  (auto-merge)" if p.auto_merge else ""))
        lines.extend(f"  held: {one_line(h)}" for h in p.held)
        lines.extend(f"  - {one_line(e)}" for e in p.evidence)
    return lines
