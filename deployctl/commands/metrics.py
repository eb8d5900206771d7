"""The edge of `deployctl metrics`: the trace from `history`, commit dates from the app repositories.

Git is asked once per app repository (one `git log` over every deployed commit), never once per
commit; the deploy repo's history is the one `history` reads, not parsed again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl import console
from deployctl.adapters.apprepos import AppRepos
from deployctl.core.catalog import Catalog
from deployctl.core.metrics import AppHistory, Bucket, Line, Metrics, compute, default_since, lines_from_history
from deployctl.core.violations import CannotJudge

if TYPE_CHECKING:
    from deployctl.core.history import HistoryEntry
    from deployctl.core.snapshot import Snapshot

_HEX = re.compile(r"[0-9a-f]{4,64}")


def app_histories(repos: AppRepos, catalog: Catalog, lines: Iterable[Line]) -> dict[str, AppHistory | None]:
    """Each app's repository commits (dates, parents) reachable from what its lines deploy.

    Apps sharing a repository share one read. A deployed commit the cache lacks makes it fetch
    once (never offline); an unreachable repository leaves its apps without lead times (None).
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


def window(since: datetime | None, until: datetime | None, bucket: Bucket, now: datetime) -> tuple[datetime, datetime]:
    """[since, until): by default the last 12 buckets up to now."""
    end = until or now
    start = since or default_since(end, bucket)
    if start >= end:
        raise CannotJudge(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    return start, end


def run_metrics(root: Path, env: str | None, app: str | None, since: datetime | None, until: datetime | None,
                bucket: Bucket, now: datetime, with_engine: bool = True, offline: bool = False) -> Metrics:
    """The four keys from the joined trace (`history`) and the app repositories' commit dates."""
    from deployctl.adapters.gitaccess import worktree_files
    from deployctl.commands.history import run_history
    from deployctl.commands.load import no_env, readable
    from deployctl.core.names import unknown
    from deployctl.core.snapshot import build_snapshot

    config = readable(build_snapshot(worktree_files(root, paths=set())))  # catalog and stack configs only
    envs = config.ordered_envs(sorted(config.stacks))  # every stack config, deploy folder or not
    if env is not None and env not in envs:
        raise no_env([env], config, envs)
    if app is not None and app not in config.catalog.apps:
        raise unknown("app", app, config.catalog.apps, "apps.yaml")
    start, end = window(since, until, bucket, now)
    entries = run_history(root, env, app, None, with_engine=with_engine)
    return metrics_from_history(entries, config.catalog, [env] if env else envs, start, end, bucket,
                                AppRepos(root, offline=offline), apps=[app] if app else None,
                                assume_deployed=not with_engine)


def metrics_from_history(entries: list[HistoryEntry], catalog: Catalog, envs: list[str], since: datetime,
                         until: datetime, bucket: Bucket, repos: AppRepos, apps: list[str] | None = None,
                         assume_deployed: bool = False) -> Metrics:
    """Metrics from `history` entries already read (the status page reuses its own)."""
    lines = lines_from_history(entries, assume_deployed=assume_deployed)
    histories = app_histories(repos, catalog, lines)
    with console.step("computing delivery metrics"):
        return compute(lines, histories, envs, since, until, bucket, apps=apps)


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
