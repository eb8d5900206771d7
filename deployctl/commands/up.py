"""Deploying after a merge: safeguards first, then `pulumi up` of the affected stacks, in waves.

Upstream envs deploy before the envs that promote from them, independent envs side by side; a
downstream env never deploys after its upstream failed, and an older run never overwrites a newer
deploy. Each stack's result reaches Slack when DEPLOYCTL_SLACK_WEBHOOK is set.

One runner per command (as Atlantis has one per command): `main` takes the command line's `UpRequest`,
says the outcome and returns the exit status; `prepare` decides everything before the first update and
returns a frozen `UpRun`; `deploy_env` deploys (or skips) one stack of it; `deploy_all` runs the waves and
is the only place that talks to the terminal and Slack during them.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from deployctl import console
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.adapters.git.reads import changed_paths
from deployctl.adapters.git.repo import DeployRepo, open_git
from deployctl.adapters.pulumi.backend import Store
from deployctl.adapters.pulumi.cipolicy import enforce_ci_policy
from deployctl.adapters.pulumi.locks import DEFAULT_LOCK_TIMEOUT
from deployctl.adapters.pulumi.stalerun import DeployGuard, ran_since, stale_judge
from deployctl.adapters.pulumi.statereads import StateReads
from deployctl.commands.load import chosen_stacks, load_head, load_pair, open_engine, ordered_envs, read_running
from deployctl.core.change import rules
from deployctl.core.change.plan import PlanChange, affected_envs, runs_that_start
from deployctl.core.change.running import Running
from deployctl.core.repo.catalog import CATALOG_FILE
from deployctl.core.repo.model import MAX_BYTES, pr_number, short
from deployctl.core.repo.snapshot import RepoFiles, Snapshot
from deployctl.core.trace.outcomes import Outcome, UpdateRecord
from deployctl.core.trace.updatemessage import deploy_message
from deployctl.core.violations import CannotJudge, ExitStatus, InputError, errors, internal_error

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.engine import Engine
    from deployctl.adapters.pulumi.eventlog import EventSink

PARALLEL_VAR, DEFAULT_PARALLEL = "DEPLOYCTL_PARALLEL", 4


@dataclass(frozen=True)
class UpRequest:
    """One `deployctl up`, as its command line asks for it (cli.up builds it from the options)."""

    root: Path
    stacks: tuple[str, ...] | None = None
    """Only these envs (--stack); None: every env (or, with --base, every env the change affects)."""
    base: str | None = None
    head: str | None = None
    message: str | None = None
    branch: str = "origin/main"
    force: bool = False
    reason: str | None = None
    """Why --force: recorded in the update message; --force and --reason go together."""
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    post: bool = False
    as_json: bool = False

    def force_reason(self) -> str | None:
        """The reason --force overrides the stale-run guard with, None without --force; a half-given
        pair (--force alone, --reason alone or blank) is refused before anything runs."""
        if self.force != (self.reason is not None) or (self.reason is not None and not self.reason.strip()):
            raise CannotJudge("--force and --reason go together: --force --reason \"why this overrides the guard\"")
        return self.reason


def main(request: UpRequest) -> ExitStatus:
    """`deployctl up`: deploy, say each outcome (the people's lines on stderr with --json, and the
    outcomes as JSON on stdout), and return the exit status: 0 when every stack deployed or was rightly
    skipped, 1 otherwise."""
    request.force_reason()  # a bad pair of options is refused before anything is said
    with console.people_on_stderr(request.as_json):
        outcomes = run_up(request)
        shown = numbered(request.root, outcomes) if request.as_json else outcomes
    if request.as_json:
        console.as_json([o.model_dump(mode="json") for o in shown])
    return ExitStatus.OK if all(o.ok for o in outcomes) else ExitStatus.VIOLATION


@dataclass(frozen=True)
class UpRun:
    """One `up`, decided before its first update and never changed after: the waves and the worker
    threads only read it, so nothing they share can move under them."""

    root: Path
    envs: tuple[str, ...]
    """The stacks to deploy, upstream first."""
    upstream: Mapping[str, str | None]
    """Each env's `promoteFrom`: it waits for that env's wave, and is skipped when that env failed."""
    changes: tuple[PlanChange, ...]
    head: Snapshot
    planned: bool
    """--base was given: the update message names the plan's changes (else the apps deployed)."""
    merge: str | None
    pr: int | None
    message: str | None
    newer: Mapping[str, str]
    """Env -> a newer commit on the deploy branch that also changes it (its own run deploys it)."""
    guard: DeployGuard | None
    """The stale-run guard and lock, holding the engine; None when no stack deploys."""
    branch: str
    post: bool
    parallel: int = DEFAULT_PARALLEL
    """How many stacks of a wave deploy side by side (DEPLOYCTL_PARALLEL)."""
    upstream_refused: Mapping[str, str] = field(default_factory=dict)
    """Env -> why its upstream, which this merge also changes and another run (a CI job per stack)
    deploys, has not deployed this merge well: it is skipped as if that upstream failed here."""

    def changes_of(self, env: str) -> list[PlanChange]:
        return [c for c in self.changes if c.env == env]


def run_up(request: UpRequest) -> list[Outcome]:
    """Deploy: safeguards first, then `pulumi up` per affected stack, upstream first. The GitHub token
    never reaches the engine (the [rollback] opener alone gets it); in Actions, the job summary and
    the environment URL are written at the end (commands/upsummary.py)."""
    from deployctl.adapters.pulumi.switchback import github_token_withheld
    from deployctl.commands.upsummary import tell_github

    with github_token_withheld():
        run = prepare(request)
        outcomes = deploy_all(run)
    tell_github(run, outcomes)
    return outcomes


# -- before the first update --------------------------------------------------------------------


def prepare(request: UpRequest) -> UpRun:
    """Everything decided before anything deploys, so that a refusal (CannotJudge, InputError) leaves
    every stack as it was. The deploy repo is opened once, and only when a ref or a stack needs it.

    One judgement on every path (a merge's `up --base`, a retry or dispatch with --head, a local
    `up`): the safeguards judge each stack being deployed from what runs there (Pulumi's record) to
    what the head says, with every rule; --base only decides which stacks the change affects. So a
    retry can never deploy what the merge's `up` refused. What git alone refuses (the change as its
    pull request was judged, every file's own rules) is refused first, before Pulumi is asked."""
    root, base, head, branch = request.root, request.base, request.head, request.branch
    stacks = list(request.stacks) if request.stacks is not None else None
    force_reason = request.force_reason()
    parallel = parallelism()
    _preload_engine(root)
    repos = AppRepos(root)
    base_snap, head_snap, plan = (load_pair(root, base, head, whole=True) if base is not None
                                  else (None, load_head(root), None))
    envs = chosen_stacks(plan, head_snap, stacks) if plan else ordered_envs(head_snap, stacks)
    repo = open_git(root) if head is not None or envs else None  # nothing in git to read otherwise
    merge = plan.head if plan else None
    if repo is not None and head is not None:
        _require_checkout(root, repo, merge or repo.resolve(head))
    guard = None
    running = None
    upstream_refused: dict[str, str] = {}
    if envs:  # what git alone refuses is refused before Pulumi is asked anything (a hostile env name, say)
        _safeguards(head_snap, repos, base_snap, None, say=False)
    newer = newer_commit_stacks(repo, merge, branch, head_snap) if repo is not None and merge else {}
    forced: set[str] = set()
    if envs and repo is not None:
        enforce_ci_policy(root, {e: head_snap.stacks[e].settings.protected for e in envs})
        guard = _start_engine(root, repo, open_engine(root), merge, force_reason, request.lock_timeout)
        reads = guard.reads(_store_of(guard))  # the backend's files in place, else the CLI
        judged = [e for e in envs if e not in newer]  # a stack a newer run deploys: that run judges it
        stale = _stale_stacks(repo, reads, judged, guard.deploying)
        forced = stale if force_reason is not None else set()
        with console.step("reading what runs (each stack's `deployed` output)"):  # a stale stack: the guard
            running = read_running(cast("Engine", reads), head_snap,  # refuses it
                                   [e for e in judged if e not in stale - forced])
        if plan is not None and merge is not None:
            upstream_refused = _upstream_not_deployed(repo, guard.engine, envs, plan.stacks, head_snap, merge)
    _safeguards(head_snap, repos, base_snap, running, forced=forced, reason=force_reason)
    pr = pr_number(repo.message(merge)) if repo is not None and merge else None
    return UpRun(root=root, envs=tuple(envs), upstream={e: head_snap.stacks[e].settings.promote_from for e in envs},
                 changes=tuple(plan.changes) if plan else (), head=head_snap, planned=plan is not None,
                 merge=merge, pr=pr, message=request.message, newer=newer, guard=guard, branch=branch,
                 post=request.post, parallel=parallel, upstream_refused=upstream_refused)


def _preload_engine(root: Path) -> None:
    """Make the S3 backend's client (backend.s3_client: botocore's, where the settings need it, takes
    ~0.4 s) in a thread while git and the safeguards run, instead of between the judgement and the
    update. s3_client's lock makes a store opened meanwhile wait for this client, never make a second."""
    import threading

    from deployctl.adapters.pulumi.backend import backend_url, preload_s3_client

    url = backend_url(root)
    if url.startswith("s3://"):
        threading.Thread(target=preload_s3_client, args=(url,), name="deployctl-preload", daemon=True).start()


def parallelism() -> int:
    """How many stacks of a wave deploy side by side: DEPLOYCTL_PARALLEL, a whole number from 1
    (default 4); anything else is refused before anything deploys."""
    text = os.environ.get(PARALLEL_VAR, "").strip()
    if not text:
        return DEFAULT_PARALLEL
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        shown = console.inert(text[:40])
        raise CannotJudge(f"{PARALLEL_VAR} is '{shown}'; it takes a whole number, 1 or more: how many stacks "
                          f"deploy side by side (default {DEFAULT_PARALLEL}); set it so, or unset it")
    return int(text)


def _require_checkout(root: Path, repo: DeployRepo, head_sha: str) -> None:
    """The program runs from the working tree and the safeguards judged --head, so the checkout must be
    exactly --head: the commit, no tracked change, and the program's inputs (`deploys/`, `apps.yaml`,
    `Pulumi.*.yaml`) equal to --head's, untracked and ignored files included."""
    if repo.head_sha() != head_sha or repo.is_dirty():
        raise CannotJudge(f"the working tree is not a clean checkout of --head {short(head_sha)}; "
                          f"run `git checkout {head_sha}` first (Pulumi deploys what is checked out)")
    differ, extra = checkout_differences(root, repo, head_sha)
    if not differ and not extra:
        return
    differ, extra = [console.inert(p) for p in differ], [console.inert(p) for p in extra]  # names from the disk
    listed = [*differ, *extra]
    shown = ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
    todo = [f"`git checkout {head_sha} -- {' '.join(map(shlex.quote, differ))}`"] if differ else []
    todo += [f"`git clean -fdx -- {' '.join(map(shlex.quote, extra))}` (files --head does not have)"] if extra else []
    raise CannotJudge(f"the checkout differs from --head {short(head_sha)} in {shown}: the safeguards judged "
                      f"--head, and Pulumi deploys what is checked out; run " + " and ".join(todo)
                      + ", or deploy from a fresh checkout")


def checkout_differences(root: Path, repo: DeployRepo, head_sha: str) -> tuple[list[str], list[str]]:
    """The program's inputs that differ between the working tree and `head_sha`: (paths --head has,
    changed or missing here; paths here that --head lacks). Hidden entries (`.gitkeep`) are ignored,
    as the program ignores them."""
    from deployctl.adapters.git.reads import commit_files, worktree_files
    from deployctl.core.repo.envconfig import stack_config_file

    here, there = worktree_files(root), commit_files(repo, head_sha)
    differ: list[str] = []
    extra: list[str] = []

    def compare(path: str, mine: object, theirs: object) -> None:
        if mine != theirs:
            (extra if theirs is None else differ).append(path)

    compare(CATALOG_FILE, here.catalog, there.catalog)
    for env in sorted(set(here.stack_configs) | set(there.stack_configs)):
        compare(stack_config_file(env), here.stack_configs.get(env), there.stack_configs.get(env))
    cap = MAX_BYTES + 1  # the working tree is read up to this many bytes

    def entries(files: RepoFiles) -> dict[str, tuple[str, bytes | None]]:
        return {e.path: (e.kind.value, e.data[:cap] if e.data is not None else None) for e in files.entries
                if "/" in e.path and not any(part.startswith(".") for part in e.path.split("/")[1:])}

    mine, theirs = entries(here), entries(there)
    for path in sorted(set(mine) | set(theirs)):
        compare(path, mine.get(path), theirs.get(path))
    return differ, _tops(extra)


def _tops(paths: list[str]) -> list[str]:
    """Paths without those inside another one listed (an untracked folder is named once)."""
    return [p for p in paths if not any(p.startswith(q + "/") for q in paths)]


FORCED_BACK = frozenset({"backward-deploy", "history-rewritten"})
"""What going back to an older deploy-repo commit is, against what runs: the commit is older, and its
file lacks the newer lines. --force --reason waives these two in the stacks the stale-run guard
refuses, and nothing else (a freeze window, half a group, promotion order still refuse)."""


def _store_of(guard: DeployGuard) -> Store | None:
    """The backend's store the guard holds (its locks' reader), None when it cannot be opened here:
    then outputs and history are read through the CLI, and the guard says what it cannot read."""
    try:
        return guard.store()
    except Exception:
        return None


def _upstream_not_deployed(repo: DeployRepo, engine: Engine, envs: list[str], affected: list[str],
                           head: Snapshot, merge: str) -> dict[str, str]:
    """`up --stack ENV` of a merge that also changes the env ENV promotes from (CI runs a job per stack,
    upstream first): that env's newest update must have deployed this merge (or a newer commit) and
    not been switched back. On GitHub, `fail-fast` cancels the downstream job when the upstream's
    fails; this holds on any runner, and when a job is re-run by hand."""
    refused: dict[str, str] = {}
    for env in envs:
        upstream = head.stacks[env].settings.promote_from
        if not upstream or upstream not in affected or upstream in envs:
            continue
        records = engine.history(upstream, page_size=1, enough=lambda found: bool(found))
        newest = records[0] if records else None
        why = _upstream_problem(repo, newest, merge)
        if why is not None:
            refused[env] = (f"{upstream}, which {env} promotes from and this merge also changes, {why}; "
                            f"deploy {upstream} first (re-run its job), then {env}")
    return refused


def _upstream_problem(repo: DeployRepo, newest: UpdateRecord | None, merge: str) -> str | None:
    from deployctl.core.trace.updatemessage import switch_marks

    if newest is None or newest.head is None:
        return "has not deployed it"
    if newest.head != merge:
        newer = ran_since(repo, newest.head, merge)
        return None if newer else f"has not deployed it (its last update ran {short(newest.head)})"
    if newest.result != "succeeded":
        return f"failed to deploy it ({newest.result})"
    switched, held = switch_marks(newest.message)
    if switched or held:
        return "deployed it, then its health check failed and it was switched back"
    return None


def _stale_stacks(repo: DeployRepo, reads: StateReads, envs: list[str], deploying: str) -> set[str]:
    """The stacks the stale-run guard refuses now (a newer deploy-repo commit runs there): its update
    refuses them with its own words, so the judgement from what runs leaves them to it; with --force
    they are judged from what runs, but for going back (FORCED_BACK), which --force --reason is."""
    stale = set()
    for env in envs:
        try:
            if stale_judge(repo, reads.engine, env, deploying, reads.store, reads.memo)() is not None:
                stale.add(env)
        except CannotJudge:  # an unreadable history: judged from what runs; its update says it alone
            continue
    return stale


def _safeguards(head: Snapshot, repos: AppRepos, base: Snapshot | None, running: Running | None,
                say: bool = True, forced: set[str] | frozenset[str] = frozenset(), reason: str | None = None) -> None:
    """Nothing deploys that the safeguards refuse; their warnings are said once (`say`), and the run
    goes on. In a stack the stale-run guard refuses and --force overrides (`forced`), going back to
    what the older deploy-repo commit says is what --force --reason asked: FORCED_BACK is waived."""
    with console.step("running the safeguards" + (" against what runs" if running is not None else "")):
        violations = rules.check(head, repos, base, datetime.now(UTC), running=running)
    waived = [v for v in violations if v.rule in FORCED_BACK and v.env in forced]
    for v in waived:
        console.info(f"{v.file}: {v.rule} waived by --force ({reason}): {v.message}")
    violations = [v for v in violations if v not in waived]
    if errors(violations):
        raise InputError(violations)  # the CLI says each once, warnings included
    for v in violations if say else ():
        console.violation(v, err=True)


def _start_engine(root: Path, repo: DeployRepo, engine: Engine, merge: str | None, force_reason: str | None,
                  lock_timeout: float) -> DeployGuard:
    """The engine, behind the guard every update goes through. A stack that exists is updated by name
    (no `pulumi stack select`); one never created is created by its update, one at a time (Engine.stack)."""
    deploying = merge or repo.head_sha()
    if deploying is None:
        raise CannotJudge(f"{root} has no commits yet; commit the deploy files first")
    return DeployGuard(root, repo, engine, deploying, force_reason, lock_timeout)


def newer_commit_stacks(repo: DeployRepo, head_sha: str, branch: str, head: Snapshot) -> dict[str, str]:
    """Stacks that a commit after `head` on the deploy branch (its first-parent line: what a push ends
    at) also changes: its own run deploys them. A commit whose run may never start (it, or a commit
    between this one and it, carries a CI-skip marker such as `[skip ci]`: core/plan.runs_that_start)
    is not counted: this run deploys the stack, and the stale-run guard still refuses to overwrite a
    newer deploy."""
    _fetch_branch(repo, branch)
    try:
        tip = repo.resolve(branch)
    except CannotJudge:
        return {}
    if tip == head_sha or not repo.is_ancestor(head_sha, tip):
        return {}
    log = repo.run("log", "--topo-order", "--format=%H%x00%P%x00%B%x1e", "--end-of-options", f"{head_sha}..{tip}",
                   "--")
    commits = [(sha, parents.split(), message) for record in log.split("\x1e")
               if record.strip() for sha, parents, message in [record.strip("\n").split("\x00", 2)]]
    starting = runs_that_start(commits)
    newer: dict[str, str] = {}
    first_parents = repo.run("rev-list", "--first-parent", "--end-of-options", f"{head_sha}..{tip}", "--")
    for sha in first_parents.split():  # what a push can end at
        if sha not in starting:
            continue
        envs, _ = affected_envs(changed_paths(repo, f"{sha}^", sha), head)
        for env in envs:
            newer.setdefault(env, sha)
    return newer


def _fetch_branch(repo: DeployRepo, branch: str) -> None:
    """Bring `remote/name` up to date through the bounded network git (DeployRepo.fetch). An unreachable
    remote must not stop a deploy: say so, and judge from the local ref."""
    remote, _, name = branch.partition("/")
    if not name or name.startswith("-") or remote not in repo.remotes():
        return
    if (why := repo.fetch(remote, name)) is not None:
        console.info(f"could not fetch {branch} ({why}); judging staleness from the local ref")


# -- the updates --------------------------------------------------------------------------------


def deploy_all(run: UpRun) -> list[Outcome]:
    """The envs wave by wave (DEPLOYCTL_PARALLEL side by side). The terminal and Slack hear from this
    thread only, in deploy order, so lines never interleave and a message never races another."""
    parallel = run.parallel
    failed: set[str] = set()
    done: dict[str, Outcome] = {}
    for wave in deploy_waves(run.envs, run.upstream):
        deploy = partial(deploy_env, run, failed=frozenset(failed))
        with ThreadPoolExecutor(max_workers=min(parallel, len(wave))) as pool:
            for env, outcome in zip(wave, pool.map(deploy, wave), strict=True):
                _say(outcome)
                notify(env, outcome, run.changes_of(env), run.pr, run.merge)
                done[env] = outcome
                if not outcome.ok:
                    failed.add(env)
    return [done[env] for env in run.envs]


def deploy_env(run: UpRun, env: str, failed: frozenset[str]) -> Outcome:
    """One stack, in a worker thread: skipped when the env it promotes from failed in an earlier wave
    (`failed`), or when a newer commit's run deploys it; else updated. Its outcome is returned, not
    said: deploy_all says it (live progress lines aside)."""
    upstream = run.upstream[env]
    if upstream in failed:
        return Outcome(env=env, ok=False, skipped=f"{upstream}, which {env} promotes from, failed")
    if env in run.upstream_refused:
        return Outcome(env=env, ok=False, skipped=run.upstream_refused[env])
    if env in run.newer:
        return Outcome(env=env, ok=True, skipped=f"newer commit {short(run.newer[env])} also changes "
                       f"{env}; its run deploys it")
    assert run.guard is not None  # prepare starts the engine whenever a stack deploys
    try:
        outcome = _update(run, run.guard, env)
    except CannotJudge as exc:  # e.g. the stale-run guard cannot read the stack's history: not deployed
        outcome = Outcome(env=env, ok=False, error=f"cannot judge: {exc}")
    except Exception as exc:  # one stack's surprise: the stacks beside it are still said and notified
        if os.environ.get("DEPLOYCTL_DEBUG"):
            raise
        outcome = Outcome(env=env, ok=False, error=internal_error(exc))
    if not outcome.ok and outcome.error:  # the terminal and Slack never see a secret config value
        from deployctl.report.render import redact

        outcome = outcome.model_copy(update={"error": redact(outcome.error, run.guard.engine.secret_values(env))})
    return outcome


def update_message(run: UpRun, env: str) -> str:
    """The update's message: the one codec (deploy_message) after a merge, the apps deployed without
    --base, or --message as given."""
    if run.message is None and not run.planned:
        apps = ", ".join(f"{f.app} {short(f.commit)}" for f in run.head.tree.in_env(env))
        return f"deployctl: {env}: {apps or 'no apps'}"
    return run.message or deploy_message(env, [(c.app, c.old, c.new) for c in run.changes_of(env)], run.pr,
                                         run.merge)


def _update(run: UpRun, guard: DeployGuard, env: str) -> Outcome:
    """`pulumi up` of one stack through the guard (stale run, lock), with its health checks and
    switch-back; a failure keeps its full log in a file (deploy_env redacts what it says)."""
    from deployctl.adapters.pulumi.progress import ResourceProgress
    from deployctl.adapters.pulumi.switchback import rollback_opener, up_with_health  # health checks, switch-back

    text = update_message(run, env)
    console.info(f"pulumi up {env} ...")
    progress = ResourceProgress(env)

    def guarded(text: str, sink: EventSink | None) -> Outcome:  # each update, the switch-back's too
        return save_engine_log(guard.up(env, text, sink=_both(progress, sink)))

    opener = rollback_opener(run.root, env, run.branch, console.error) if run.post else None
    return up_with_health(guard.engine, env, text, run.head, console.out, opener, run=guarded)


def _both(first: EventSink, second: EventSink | None) -> EventSink:
    """One event stream to two readers: live progress and the health checks' own lines."""
    if second is None:
        return first

    def sink(event: dict[str, Any]) -> None:
        first(event)
        second(event)

    return sink


def deploy_waves(envs: Sequence[str], upstream: Mapping[str, str | None]) -> list[list[str]]:
    """Envs in waves: each after the wave holding the env it promotes from; a wave runs side by side."""
    level: dict[str, int] = {}
    for env in envs:  # already in deploy order, upstream first
        up = upstream.get(env)
        level[env] = level[up] + 1 if up in level else 0
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for env in envs:
        waves[level[env]].append(env)
    return waves


def notify(env: str, outcome: Outcome, changes: list[PlanChange], pr: int | None, merge: str | None) -> None:
    url = os.environ.get("DEPLOYCTL_SLACK_WEBHOOK")
    if not url:
        return
    from deployctl.adapters.notify import DeployNotice, post_slack

    result = "skipped" if outcome.skipped else ("succeeded" if outcome.ok else "failed")
    post_slack(url, DeployNotice(
        env=env, result=result, apps=[{"app": c.app, "old": c.old, "new": c.new} for c in changes],
        pr=pr, merge_commit=merge, run_url=run_url(),
        message=outcome.skipped or (outcome.failure_line() if not outcome.ok else ""),
    ))


def run_url() -> str | None:
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def _say(outcome: Outcome) -> None:
    if outcome.skipped:
        (console.out if outcome.ok else console.error)(f"{outcome.env}: skipped: {outcome.skipped}")
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items())) or "no changes"
    if outcome.ok:
        console.out(f"{outcome.env}: ok ({counts})")
    else:
        saved = f" (full engine log: {outcome.log_file})" if outcome.log_file else ""
        console.error(outcome.failure_line() + saved)


def save_engine_log(outcome: Outcome) -> Outcome:
    """A failed run's full engine output goes to a file (DEPLOYCTL_LOG_DIR, else the temp dir), so
    the terminal and Slack get one line and a person still has every detail."""
    if outcome.ok or not outcome.log:
        return outcome
    import tempfile

    folder = Path(os.environ.get("DEPLOYCTL_LOG_DIR") or Path(tempfile.gettempdir()) / "deployctl-logs")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{outcome.env}-{stamp}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(outcome.log)
    except OSError as exc:
        console.info(f"could not save the engine log of {outcome.env} ({exc.strerror or exc})")
        return outcome
    return outcome.model_copy(update={"log_file": str(path)})


def numbered(root: Path, outcomes: list[Outcome]) -> list[Outcome]:
    """Each update with the number `history` shows. A self-managed backend (file, S3) does not number
    its updates, so the engine answers 0; `Engine.history` numbers them oldest first, as the Cloud
    does, and this update is the newest there. Read for --json only: people read `history`."""
    todo = [o.env for o in outcomes if o.update == 0 and not o.skipped]
    if not todo:
        return outcomes
    engine = open_engine(root)
    newest = {env: (records[0].version if (records := engine.history(env)) else None) for env in todo}
    return [o.model_copy(update={"update": newest[o.env]}) if o.env in newest else o for o in outcomes]
