"""The edge of `deployctl metrics`: the trace from `history`, commit dates from the app repositories.

Git is asked once per app repository (one `git rev-list`: below the deploy files' heads for a cached
clone, beside the history, else below every deployed commit), never once per commit; the deploy
repo's history is the one `history` reads, not parsed again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl import console
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.core.lazymodel import build_now
from deployctl.core.repo.catalog import Catalog
from deployctl.core.trace.metrics import (
    REPORT_MODELS,
    AppHistory,
    Bucket,
    Handoff,
    Line,
    Metrics,
    compute,
    default_since,
    is_proposed,
    lines_from_history,
    waiting,
)
from deployctl.core.violations import CannotJudge, ExitStatus

if TYPE_CHECKING:
    from deployctl.adapters.git.repo import DeployRepo
    from deployctl.core.repo.snapshot import Snapshot
    from deployctl.core.trace.history import HistoryEntry

_HEX = re.compile(r"[0-9a-f]{4,64}")


def app_histories(repos: AppRepos, catalog: Catalog, lines: Iterable[Line],
                  cached: Mapping[str, AppHistory] | None = None) -> dict[str, AppHistory | None]:
    """Each app's repository commits (dates, parents) reachable from what its lines deploy.

    Apps sharing a repository share one read. A repository read already, beside the history
    (`cached_histories`, by `repo` as the catalog writes it), is used when it holds every deployed
    commit. A deployed commit the cache lacks makes it fetch once (never offline); an unreachable
    repository leaves its apps without lead times (None).
    """
    tips_by_repo: dict[str, set[str]] = {}
    apps_by_repo: dict[str, list[str]] = {}
    for app in sorted({ln.app for ln in lines if ln.commit}):
        spec = catalog.apps.get(app)
        if spec is None:
            continue
        apps_by_repo.setdefault(spec.repo, []).append(app)
    wanted = {app: catalog.apps[app].repo for names in apps_by_repo.values() for app in names}
    for ln in lines:
        if ln.commit and ln.result == "succeeded" and ln.app in wanted and _HEX.fullmatch(ln.commit):
            tips_by_repo.setdefault(wanted[ln.app], set()).add(ln.commit)

    def read(spec: str) -> AppHistory | None:
        tips = sorted(tips_by_repo.get(spec, ()))
        early = (cached or {}).get(spec)
        if early is not None and all(early.resolve(t) is not None for t in tips):
            return early
        try:
            repo = repos.get(spec)
            history = AppHistory(repo.dated_log(tips))
            if any(history.resolve(t) is None for t in tips) and repo.fetch():
                history = AppHistory(repo.dated_log(tips))
            return history
        except CannotJudge as exc:
            console.info(f"no lead times for {', '.join(apps_by_repo[spec])}: {exc}")
            return None

    specs = sorted(apps_by_repo)
    with console.step(f"reading commit dates of {len(specs)} app repositories"), \
            ThreadPoolExecutor(max_workers=min(4, max(1, len(specs)))) as pool:  # one git process each
        histories = dict(zip(specs, pool.map(read, specs), strict=True))
    return {app: histories[spec] for spec in specs for app in apps_by_repo[spec]}


def cached_histories(root: Path, repos: AppRepos, catalog: Catalog, app: str | None = None) -> dict[str, AppHistory]:
    """Each app repository the cache holds, by catalog `repo`, read from the commits the deploy files
    name first now (where each app is at; what ran before is nearly always below it): read before the
    deploy history says which commits were deployed, so beside it. `app_histories` reads again, after
    the history, any repository this misses a deployed commit of. Neither clones nor fetches; a
    repository that cannot be read here is read there. `app` narrows it to that app's repository."""
    from deployctl.adapters.git.reads import worktree_entries

    heads: dict[str, set[str]] = {}
    for entry in worktree_entries(root):
        parts = entry.path.split("/")  # deploys/<env>/<app>
        spec = catalog.apps.get(parts[2]) if len(parts) == 3 and app in (None, parts[2]) else None
        if spec is not None and entry.data and (first := entry.data.split(maxsplit=1)):
            heads.setdefault(spec.repo, set()).add(first[0].decode(errors="replace"))

    def read(spec: str) -> AppHistory | None:
        try:
            text = repos.get(spec).cached_dated_log(sorted(heads[spec]))
        except CannotJudge:
            return None
        return AppHistory(text) if text is not None else None

    specs = sorted(heads)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="cached-repo") as pool:  # one git process each
        return {spec: history for spec, history in zip(specs, pool.map(read, specs), strict=True) if history}


def window(since: datetime | None, until: datetime | None, bucket: Bucket, now: datetime) -> tuple[datetime, datetime]:
    """[since, until): by default the last 12 buckets up to now."""
    end = until or now
    start = since or default_since(end, bucket)
    if start >= end:
        raise CannotJudge(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    return start, end


@dataclass(frozen=True)
class MetricsRequest:
    repo: Path
    env: str | None = None
    app: str | None = None
    since: str | None = None
    """The window's start, ISO-8601, as typed (default: 12 buckets ago)."""
    until: str | None = None
    """The window's end, exclusive, as typed (default: now)."""
    bucket: str = "week"
    with_engine: bool = True
    offline: bool = False
    as_json: bool = False


def metrics(request: MetricsRequest) -> ExitStatus:
    """Print the four keys: JSON, or the text view with its charts."""
    from deployctl.commands.options import parse_time
    from deployctl.core.trace.metrics import BUCKETS
    from deployctl.report.metrics import render_text

    if request.bucket not in BUCKETS:
        raise CannotJudge(f"--bucket '{request.bucket}' is not one of {', '.join(BUCKETS)}")
    window = {name: parse_time(value, name) if value else None for name, value in (("since", request.since),
                                                                                 ("until", request.until))}
    result = run_metrics(request.repo, request.env, request.app, window["since"], window["until"],
                         request.bucket,  # type: ignore[arg-type]  # one of BUCKETS, checked above
                         datetime.now(UTC), with_engine=request.with_engine, offline=request.offline)
    if request.as_json:
        console.json_text(result.json_text(console.json_indent()))
    else:
        console.out(render_text(result))
    return ExitStatus.OK


def run_metrics(root: Path, env: str | None, app: str | None, since: datetime | None, until: datetime | None,
                bucket: Bucket, now: datetime, with_engine: bool = True, offline: bool = False) -> Metrics:
    """The four keys from the joined trace (`history`) and the app repositories' commit dates."""
    from deployctl.adapters.git.reads import worktree_files
    from deployctl.commands.history import run_history
    from deployctl.commands.load import no_env, readable
    from deployctl.core.repo.names import unknown
    from deployctl.core.repo.snapshot import build_snapshot

    config = readable(build_snapshot(worktree_files(root, paths=set())))  # catalog and stack configs only
    envs = config.ordered_envs(sorted(config.stacks))  # every stack config, deploy folder or not
    if env is not None and env not in envs:
        raise no_env([env], config, envs)
    if app is not None and app not in config.catalog.apps:
        raise unknown("app", app, config.catalog.apps, "apps.yaml")
    start, end = window(since, until, bucket, now)
    # Beside the history's own read (git-bound): the PR openings (merges' sides, if any), the cached
    # app repositories (which need no deployed commit), and the report's validators.
    repos = AppRepos(root, offline=offline)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="beside-history") as beside:
        openings = beside.submit(pr_openings, root)
        cached = beside.submit(cached_histories, root, repos, config.catalog, app)
        built = beside.submit(build_now, *REPORT_MODELS)
        entries = run_history(root, env, app, None, with_engine=with_engine)
        built.result()  # before the first report model is made here
        return metrics_from_history(entries, config.catalog, [env] if env else envs, start, end, bucket, repos,
                                    apps=[app] if app else None, assume_deployed=not with_engine, root=root,
                                    openings=openings.result, cached=cached.result())


def metrics_from_history(entries: list[HistoryEntry], catalog: Catalog, envs: list[str], since: datetime,
                         until: datetime, bucket: Bucket, repos: AppRepos, apps: list[str] | None = None,
                         assume_deployed: bool = False, root: Path | None = None,
                         openings: Callable[[], Openings] | None = None,
                         cached: Mapping[str, AppHistory] | None = None) -> Metrics:
    """Metrics from `history` entries already read (the status page reuses its own). With the deploy
    repo's `root`, also the wait for a PR and for review, proposals vs by hand (`waiting`), from
    `openings` (pr_openings of `root`, when already started)."""
    lines = lines_from_history(entries, assume_deployed=assume_deployed)
    histories = app_histories(repos, catalog, lines, cached)
    with console.step("computing delivery metrics"):
        result = compute(lines, histories, envs, since, until, bucket, apps=apps)
    if root is None:
        return result
    opened = openings() if openings is not None else pr_openings(root)
    split = waiting(handoffs(opened, entries, histories), envs, since, until, apps)
    return result.model_copy(update={"waiting": split})


SIDE_WALK = 1000
"""Commits walked back from one merge's side before giving up (a PR branch is a few commits)."""


Openings = dict[str, list[tuple[int, frozenset[str]]]]
"""Per merge on HEAD's first-parent chain, its side's commits: (author time, deploy files touched)."""


def pr_openings(root: Path) -> Openings:
    """Each merge's side (`Openings`), from the deploy repo's log (parents and author times) and the
    diffs of those side commits alone. A history without merges (squash or rebase merges, pushes) has
    no sides: one `rev-list` of the first-parent chain says so, and nothing else is read (the landing
    commits' author times come with the history, `HistoryEntry.authored`)."""
    from deployctl.adapters.git.repo import open_git, run_git

    repo = open_git(root)
    try:
        head = run_git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except CannotJudge:
        return {}
    if not run_git(repo, "rev-list", "--first-parent", "--merges", "--max-count=1", "HEAD", "--"):
        return {}
    authored: dict[str, int] = {}
    parents: dict[str, list[str]] = {}
    for line in run_git(repo, "log", "--format=%H %at %P", "HEAD", "--").splitlines():  # no diffs: fast
        sha, at, *ps = line.split()
        authored[sha], parents[sha] = int(at), ps
    chain: set[str] = set()
    at_: str | None = head
    while at_ is not None and at_ not in chain:
        chain.add(at_)
        first = parents.get(at_) or []
        at_ = first[0] if first else None
    side_commits: dict[str, set[str]] = {}
    for merge in chain:
        if len(parents.get(merge, ())) < 2:
            continue
        seen: set[str] = set()
        todo = [p for p in parents[merge][1:] if p not in chain]
        while todo and len(seen) < SIDE_WALK:
            sha = todo.pop()
            if sha in seen or sha not in authored:
                continue
            seen.add(sha)
            todo += [p for p in parents[sha] if p not in chain]
        side_commits[merge] = seen
    files = _deploy_files_touched(repo, set().union(*side_commits.values()))
    return {merge: [(authored[sha], files.get(sha, frozenset())) for sha in seen]
            for merge, seen in side_commits.items()}


def _deploy_files_touched(repo: DeployRepo, commits: set[str]) -> dict[str, frozenset[str]]:
    """The deploy files each of these commits changed (against its first parent), by one `git diff-tree`
    of these commits alone: a merge's side is a few commits, and a repo without merges asks for none."""
    from deployctl.adapters.git.repo import run_git

    if not commits:
        return {}
    touched = run_git(repo, "diff-tree", "--stdin", "-r", "--root", "--no-renames", "--name-only",
                      "--format=%x1e%H", "--", "deploys/", stdin="".join(f"{sha}\n" for sha in sorted(commits)))
    files: dict[str, frozenset[str]] = {}
    for chunk in touched.split("\x1e")[1:]:  # only the commits that touch deploys/ are printed
        sha, *names = chunk.splitlines()
        files[sha.strip()] = frozenset(n for n in names if n)
    return files


def handoffs(openings: Openings, entries: list[HistoryEntry], histories: dict[str, AppHistory | None]) -> list[Handoff]:
    """Each deploy line as a hand-off: its app commit's time, its PR's opening (`pr_openings`), its merge.

    The opening is the author time of the PR branch's first commit that touched the deploy file (a
    merge commit's side); for a squash or rebase merge, or a push, the landing commit's author time."""
    out = []
    committed: dict[tuple[str, str], datetime | None] = {}  # a commit promoted to every env: resolved once
    for e in entries:
        if e.to is None or (opened_at := e.authored) is None:
            continue
        if side := openings.get(e.commit):
            path = f"deploys/{e.env}/{e.app}"
            opened_at = min([at for at, names in side if path in names] or [at for at, _ in side])
        key = (e.app, e.to)
        if key not in committed:
            history = histories.get(e.app)
            full = history.resolve(e.to) if history is not None else None
            committed[key] = (datetime.fromtimestamp(history.time[full], tz=UTC)
                              if history is not None and full is not None else None)
        out.append(Handoff(env=e.env, app=e.app, proposed=is_proposed(e.comment), committed=committed[key],
                           opened=datetime.fromtimestamp(opened_at, tz=UTC), merged=e.merged))
    return out


def status_metrics(snapshot: Snapshot, history: list[HistoryEntry], repos: AppRepos,
                   now: datetime) -> Metrics | None:
    """The status page's metrics: the default window (12 weeks), from the history it already read."""
    envs = snapshot.ordered_envs(sorted(snapshot.stacks))
    since, until = window(None, None, "week", now)
    try:
        return metrics_from_history(history, snapshot.catalog, envs, since, until, "week", repos)
    except CannotJudge as exc:
        console.info(f"no delivery metrics on the page: {exc}")
        return None
