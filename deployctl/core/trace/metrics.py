"""Delivery metrics: DORA's four keys per env and app, from the deploy trace and app commit times.

Pure: the input is a list of deploy lines (`Line`, built from `history` by `lines_from_history`)
and each app repository's commit dates and parents (`AppHistory`, parsed from one `git rev-list` per
repository); the output is a `Metrics` report whose JSON is a contract (fields are added, never
renamed; a figure without data is null, never 0). Every figure carries the counts behind it, so
it can be checked against `deployctl history`. Its views for people (the page's charts, the text)
are report/metrics.py.

Definitions (per env and app, in deploy-line order):
- deployment frequency: lines whose `up` succeeded, by the end time of that update;
- lead time: for each app commit that first ran in the env (the commits between what ran before
  and the newly deployed commit, i.e. git's old..new, each counted once per env), the end of the
  update minus the commit's committer date; a commit dated after its deploy counts 0 (clock skew,
  reported). The first deploy of an app in an env counts its head commit only;
- change failure rate: of the lines that were carried out (succeeded or failed), those that failed
  at `up`, or that a `[rollback]` or `[hotfix]` line followed before the app's next forward line;
- time to restore: from such a failed change to the next successful line of that app in that env.
Levels follow the 2023 Accelerate State of DevOps report (DORA); see LEVELS.
"""

from __future__ import annotations

import heapq
import statistics
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from math import ceil
from operator import eq, itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.model import Tag, parse_tags
from deployctl.core.trace.updatemessage import SWITCHED_BACK

if TYPE_CHECKING:
    from deployctl.core.trace.history import HistoryEntry

Bucket = Literal["day", "week", "month"]
Level = Literal["elite", "high", "medium", "low"]
BUCKETS: tuple[str, ...] = ("day", "week", "month")
DEFAULT_BUCKETS = 12
UNDOING = frozenset({Tag.ROLLBACK.value, Tag.HOTFIX.value})

PROPOSED_BY = "(deployctl propose)"
"""Ends the comment of every deploy line `propose --post` writes: how metrics tells proposals from
lines written by hand."""
SKEW_LISTED = 100
"""Clock-skewed commits listed one by one in the report (all are counted)."""
HOUR, DAY, WEEK, MONTH = 3600, 86400, 7 * 86400, 30 * 86400
REPORT = "DORA, Accelerate State of DevOps Report 2023"
LEVELS: dict[str, tuple[tuple[Level, float], ...]] = {
    # Each level's bound, best first; what no bound admits is `low`. Frequency is successful
    # deploys per day over the window (at least); the others are at most / below the bound.
    "frequency": (("elite", 1.0), ("high", 1 / 7), ("medium", 1 / 30)),
    "lead_time": (("elite", DAY), ("high", WEEK), ("medium", MONTH)),
    "change_failure_rate": (("elite", 0.05), ("high", 0.10), ("medium", 0.15)),
    "time_to_restore": (("elite", HOUR), ("high", DAY), ("medium", WEEK)),
}


# -- input ----------------------------------------------------------------------------------------


class Line(NamedTuple):
    """One deploy line of one env's file for one app: what the core needs to know about it. A named
    tuple, not a model: `metrics` makes one per deploy line (10,000s) from `history`'s entries,
    validated already; a model's construction cost a quarter of its time, a frozen dataclass's a tenth."""

    seq: int
    """Position in the deploy history, oldest first (orders lines of one file)."""
    env: str
    app: str
    commit: str | None
    """The app commit the line deploys (as written; may be abbreviated); None: the file was removed."""
    result: Literal["succeeded", "failed", "pending"]
    """`pending`: not (yet) carried out by an update of its own (in progress, skipped, superseded)."""
    time: datetime
    """The end of the update that carried the line out (its merge time while it has none)."""
    old: str | None = None
    tags: tuple[str, ...] = ()
    deploy_commit: str = ""

    @property
    def forward(self) -> bool:
        return UNDOING.isdisjoint(self.tags)


def lines_from_history(entries: Iterable[HistoryEntry], assume_deployed: bool = False) -> list[Line]:
    """Adapt `history` entries (newest first) to lines; the one place that knows history's shape.

    A line whose update also carried out a later line of the same file was superseded within that
    update (it never ran on its own): it is `pending`, not a deploy. `assume_deployed` (no engine)
    takes every line as deployed when it was merged.
    """
    ordered = list(entries)[::-1]
    later_update: dict[tuple[str, str], int | None] = {}
    superseded: set[int] = set()
    for i in range(len(ordered) - 1, -1, -1):  # newest first: does a later line share my update?
        e = ordered[i]
        key = (e.env, e.app)
        update = e.deploy.update
        if update is not None and later_update.get(key) == update:
            superseded.add(i)
        later_update[key] = update
    lines = []
    for i, e in enumerate(ordered):
        merged, ran = e.merged, e.time
        result: Literal["succeeded", "failed", "pending"]
        if assume_deployed:
            result, time = "succeeded", merged
        else:
            r = e.deploy.result  # a switched-back deploy failed its health check: a change failure
            result = "succeeded" if r == "succeeded" else "failed" if r in ("failed", SWITCHED_BACK) else "pending"
            if i in superseded:
                result = "pending"
            time = ran if result != "pending" and ran else merged
        lines.append(Line(seq=i, env=e.env, app=e.app, commit=e.to, old=e.from_,
                          tags=tuple(t.value for t in parse_tags(e.comment)), result=result, time=time,
                          deploy_commit=e.commit))
    return lines


class AppHistory:
    """An app repository's commits: committer date and parents, in topological order.

    Built from one `git rev-list --topo-order --timestamp --parents` (a line per commit: `<committer
    unix time> <commit> <parents>...`, children first), so a commit's line number is a topological
    index that bounds every walk.
    """

    def __init__(self, log_text: str):
        rows = [row for row in map(str.split, log_text.splitlines()) if len(row) >= 2]  # tens of thousands
        shas = [row[1] for row in rows]  # each dict built by zip, in C: a third of the time of comprehensions
        self.time: dict[str, int] = dict(zip(shas, [int(row[0]) for row in rows], strict=True))
        self.parents: dict[str, tuple[str, ...]] = dict(zip(shas, [tuple(row[2:]) for row in rows], strict=True))
        self.index: dict[str, int] = dict(zip(shas, range(len(shas)), strict=True))
        self._shas = shas
        self._sorted: list[str] | None = None
        # For each row, the last row reached from it by single parents, each the very next row: most
        # of a history between two merges. Between two rows of one such chain, old..new is a slice.
        only_parent = [row[2] if len(row) == 3 else None for row in rows]
        linked = list(map(eq, only_parent, shas[1:]))  # row k's only parent is row k + 1
        ends = list(range(len(shas)))
        for k in range(len(linked) - 1, -1, -1):
            if linked[k]:
                ends[k] = ends[k + 1]
        self._chain_end = ends

    def __contains__(self, sha: str) -> bool:
        return sha in self.time

    def resolve(self, prefix: str) -> str | None:
        """The one commit a (possibly abbreviated) hash names, None if none or several."""
        if prefix in self.time:
            return prefix
        if self._sorted is None:
            self._sorted = sorted(self.time)
        i = bisect_left(self._sorted, prefix)
        found = self._sorted[i:i + 2]
        matches = [s for s in found if s.startswith(prefix)]
        return matches[0] if len(matches) == 1 else None

    def between(self, old: str, new: str) -> list[str]:
        """git's old..new: commits reachable from `new` and not from `old`, by topological walk.

        Both sides are walked together, closest to the tips first; the walk ends once nothing left
        to visit can be new, so it costs the distance between the two, not the repository's size.
        """
        if old == new:
            return []
        index = self.index
        if old in index:
            first, last = index[new], index[old]
            if first < last <= self._chain_end[first]:
                return self._shas[first:last]  # one line of single parents from new down to old
        return self._walk(old, new)

    def _walk(self, old: str, new: str) -> list[str]:
        NEW, OLD = 1, 2
        index, parents = self.index, self.parents
        push, pop = heapq.heappush, heapq.heappop
        flags = {new: NEW}
        heap = [(index[new], new)]
        live = 1
        if old in index:
            flags[old] = OLD
            heap.append((index[old], old))
            heapq.heapify(heap)
        found = []
        while heap and live:
            _, sha = pop(heap)
            flag = flags[sha]
            if flag == NEW:
                live -= 1
                found.append(sha)
            for parent in parents.get(sha, ()):
                if parent not in index:
                    continue  # beyond what was read (a shallow or partial history)
                before = flags.get(parent, 0)
                after = before | flag
                if after == before:
                    continue
                flags[parent] = after
                if before == 0:
                    push(heap, (index[parent], parent))
                    live += after == NEW
                elif before == NEW:
                    live -= 1
        return found


# -- output ---------------------------------------------------------------------------------------


class Frame(LazyModel):
    model_config = ConfigDict(frozen=True)


class BucketCount(Frame):
    start: datetime
    count: int


class LeadTime(Frame):
    median: float
    p90: float
    n: int
    """App commits behind the figures (each counted once per env)."""
    clock_skew: int = 0
    """Commits dated after the update that first ran them: counted as 0 s."""


class FailureRate(Frame):
    rate: float
    failed: int
    total: int
    """Lines carried out by `up` (succeeded or failed) in the window."""
    failed_at_up: int = 0
    undone: int = 0
    """Lines followed by a [rollback] or [hotfix] line before the next forward line."""
    unrestored: int = 0
    """Failed changes with no successful deploy after them (yet)."""


class Restore(Frame):
    median: float
    n: int


class Levels(Frame):
    frequency: Level | None = None
    lead_time: Level | None = None
    change_failure_rate: Level | None = None
    time_to_restore: Level | None = None


class BucketFigures(Frame):
    start: datetime
    deploys: int
    lead_time_s: LeadTime | None = None
    change_failure_rate: FailureRate | None = None
    time_to_restore_s: Restore | None = None


class Figures(Frame):
    deploys: int
    """Successful deploys in the window (the sum of `frequency`)."""
    per_day: float
    """Successful deploys per day over the window's whole buckets (12 weeks: 84 days)."""
    frequency: list[BucketCount]
    lead_time_s: LeadTime | None = None
    change_failure_rate: FailureRate | None = None
    time_to_restore_s: Restore | None = None
    levels: Levels
    unknown_commits: int = 0
    """Successful lines whose commit is not in the app repository: no lead time for them."""


class EnvFigures(Figures):
    series: list[BucketFigures]
    """Every key per bucket (what the status page charts); for the env only, to keep the JSON small."""
    apps: dict[str, Figures] = {}


class SkewedCommit(Frame):
    env: str
    app: str
    commit: str
    committed: datetime
    deployed: datetime


class Wait(Frame):
    median: float
    p90: float
    n: int


class WaitSplit(Frame):
    """Lead time split at the deploy PR: before it existed, and while it waited for review."""

    lines: int
    """Deploy lines merged in the window."""
    waiting_for_pr_s: Wait | None = None
    """From the deployed commit's time in its app repository to the PR's first commit of the line."""
    waiting_for_review_s: Wait | None = None
    """From that first commit (the PR's opening) to its merge."""


class Waiting(Frame):
    """One env's split, for lines `propose` wrote and for lines written by hand."""

    proposed: WaitSplit
    by_hand: WaitSplit


class Metrics(Frame):
    since: datetime
    until: datetime
    bucket: Bucket
    report: str = REPORT
    envs: dict[str, EnvFigures]
    clock_skew: list[SkewedCommit] = []
    """The app commits dated after the deploy that first ran them (the first SKEW_LISTED, in deploy order)."""
    clock_skew_total: int = 0
    waiting: dict[str, Waiting] = {}
    """Per env: how long deploys waited for a PR and for its review, proposals vs by hand (`waiting`)."""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def json_text(self, indent: int | None = None) -> str:
        """`to_json` as one JSON document, serialized in one call (megabytes for a busy repo)."""
        return self.model_dump_json(indent=indent)


REPORT_MODELS: tuple[type[Frame], ...] = (BucketCount, LeadTime, FailureRate, Restore, Levels, BucketFigures, Figures,
                                          EnvFigures, SkewedCommit, Wait, WaitSplit, Waiting, Metrics)
"""Every model of the report, for `build_now` (their validators: ~30 ms)."""


# -- time buckets ---------------------------------------------------------------------------------


def bucket_start(moment: datetime, bucket: Bucket) -> datetime:
    """The UTC day, ISO week (from Monday) or calendar month that holds `moment`."""
    m = moment.astimezone(UTC)
    day = datetime(m.year, m.month, m.day, tzinfo=UTC)
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    return datetime(m.year, m.month, 1, tzinfo=UTC)


def next_bucket(start: datetime, bucket: Bucket) -> datetime:
    if bucket == "day":
        return start + timedelta(days=1)
    if bucket == "week":
        return start + timedelta(days=7)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def default_since(until: datetime, bucket: Bucket, buckets: int = DEFAULT_BUCKETS) -> datetime:
    """The start of the bucket `buckets - 1` before the one holding `until`: the last N buckets."""
    start = bucket_start(until, bucket)
    for _ in range(buckets - 1):
        start = bucket_start(start - timedelta(seconds=1), bucket)
    return start


def bucket_starts(since: datetime, until: datetime, bucket: Bucket) -> list[datetime]:
    starts = []
    start = bucket_start(since, bucket)
    while start < until:
        starts.append(start)
        start = next_bucket(start, bucket)
    return starts


# -- statistics -----------------------------------------------------------------------------------


def _num(value: float) -> float:
    """Whole seconds as int in JSON (1800, not 1800.0); a half from an even median stays."""
    return int(value) if float(value).is_integer() else value


def median(values: list[float]) -> float:
    return _median_of_sorted(sorted(values))


def p90(values: list[float]) -> float:
    """The nearest-rank 90th percentile: the smallest value at or above 90% of the samples."""
    return _p90_of_sorted(sorted(values))


def _median_of_sorted(ordered: list[float]) -> float:
    """statistics.median's own arithmetic, on values sorted once for both figures."""
    n = len(ordered)
    if n == 0:
        raise statistics.StatisticsError("no median for empty data")
    return _num(ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2)


def _p90_of_sorted(ordered: list[float]) -> float:
    return _num(ordered[max(0, ceil(0.9 * len(ordered)) - 1)])


def level(key: str, value: float | None) -> Level | None:
    if value is None:
        return None
    for name, bound in LEVELS[key]:
        if (value >= bound) if key == "frequency" else (value <= bound if key == "change_failure_rate"
                                                        else value < bound):
            return name
    return "low"


# -- the computation -------------------------------------------------------------------------------


class _Samples:
    """What one (env, app) contributes, each sample stamped with the time it belongs to."""

    def __init__(self) -> None:  # times as unix seconds
        self.first, self.last = float("inf"), float("-inf")  # every sample's time lies in between
        self.deploys: list[float] = []
        self.lead: list[tuple[float, float, bool]] = []  # (deploy end, seconds, clock skew)
        self.attempts: list[tuple[float, str | None]] = []  # (time, None | "up" | "undone")
        self.restores: list[tuple[float, float | None]] = []  # (failure time, seconds | None: open)
        self.unknown: list[float] = []

    def extend(self, other: _Samples) -> None:
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)
        self.deploys += other.deploys
        self.lead += other.lead
        self.attempts += other.attempts
        self.restores += other.restores
        self.unknown += other.unknown


def _pair_samples(lines: list[Line], history: AppHistory | None,
                  skewed: list[tuple[float, Line, str, int]]) -> _Samples:
    """Samples of one env's file for one app, its lines oldest first."""
    out = _Samples()
    deploys = [ln for ln in lines if ln.commit is not None]
    stamps = [ln.time.timestamp() for ln in deploys]
    if stamps:
        out.first, out.last = min(stamps), max(stamps)
    running: str | None = None
    counted: set[str] = set()
    times = history.time if history is not None else {}
    lead = out.lead.append  # tens of thousands of commits: the loop below is most of compute's time
    at = -1  # ln's position in deploys
    for ln in lines:
        if ln.commit is None:
            running = None  # the file was removed: the next deploy starts afresh
            continue
        at += 1
        if ln.result != "succeeded":
            continue
        end = stamps[at]
        out.deploys.append(end)
        full = history.resolve(ln.commit) if history is not None else None
        if full is None:
            out.unknown.append(end)
            running = None
            continue
        fresh = [full] if running is None else history.between(running, full)  # type: ignore[union-attr]  # full: history is set
        for sha in fresh:
            if sha in counted:
                continue  # it first ran earlier (a rollback of a rollback, a roll-forward)
            counted.add(sha)
            committed = times[sha]
            if committed > end:
                lead((end, 0.0, True))
                skewed.append((end, ln, sha, committed))  # a model only for those the report lists
            else:
                lead((end, end - committed, False))
        running = full
    for i, ln in enumerate(deploys):
        if ln.result == "pending":
            continue
        following = deploys[i + 1] if i + 1 < len(deploys) else None  # before any later forward line
        cause = "up" if ln.result == "failed" else "undone" if following and not following.forward else None
        when = stamps[i]
        out.attempts.append((when, cause))
        if cause is not None:
            fix = next((k for k in range(i + 1, len(deploys)) if deploys[k].result == "succeeded"), None)
            seconds = max(0.0, stamps[fix] - when) if fix is not None else None
            out.restores.append((when, seconds))
    return out


def _figures(s: _Samples, since: datetime, until: datetime, starts: list[datetime], edges: list[float],
             env_level: bool, cells: dict[tuple[int, int], BucketCount]) -> dict[str, Any]:
    """The window's figures of some samples (and, for an env, every key per bucket), as model fields.

    Bucket i holds the times t with edges[i] <= t < edges[i + 1]; the edges span the window, so
    every sample in it has a bucket. No figure depends on the order of its samples."""
    lo, hi = since.timestamp(), until.timestamp()

    def cell(i: int, n: int) -> BucketCount:
        """Frozen, so shared: most apps have the same few counts per bucket (0, mostly)."""
        if (found := cells.get((i, n))) is None:
            found = cells[i, n] = BucketCount(start=starts[i], count=n)
        return found

    def per_bucket(times: list[float]) -> list[tuple[int, int]]:
        """Each bucket's [start, end) positions in `times` (sorted)."""
        at = [bisect_left(times, edge) for edge in edges]
        return list(pairwise(at))

    def lead_of(samples: list[tuple[float, float, bool]]) -> LeadTime | None:
        if not samples:
            return None
        values = sorted(map(itemgetter(1), samples))  # in C: called per app, env and bucket
        return LeadTime(median=_median_of_sorted(values), p90=_p90_of_sorted(values), n=len(values),
                        clock_skew=sum(map(itemgetter(2), samples)))

    def rate_of(attempts: list[tuple[float, str | None]],
                restores: list[tuple[float, float | None]]) -> FailureRate | None:
        if not attempts:
            return None
        causes = list(map(itemgetter(1), attempts))
        up, undone = causes.count("up"), causes.count("undone")
        return FailureRate(rate=(up + undone) / len(attempts), failed=up + undone, total=len(attempts),
                           failed_at_up=up, undone=undone,
                           unrestored=sum(1 for _, v in restores if v is None))

    def restore_of(restores: list[tuple[float, float | None]]) -> Restore | None:
        values = [v for _, v in restores if v is not None]
        return Restore(median=median(values), n=len(values)) if values else None

    if lo <= s.first and s.last < hi:  # all in the window (copies: the series sorts them)
        deploys, lead, attempts, restores = sorted(s.deploys), list(s.lead), list(s.attempts), list(s.restores)
    else:
        deploys = sorted(t for t in s.deploys if lo <= t < hi)
        lead = [x for x in s.lead if lo <= x[0] < hi]
        attempts = [x for x in s.attempts if lo <= x[0] < hi]
        restores = [x for x in s.restores if lo <= x[0] < hi]
    counts = [end - start for start, end in per_bucket(deploys)]
    span = (edges[-1] - edges[0]) if starts else hi - lo
    days = max(span / DAY, 1 / 24)  # whole buckets: the figure holds all bucket long
    lead_fig, rate_fig, restore_fig = lead_of(lead), rate_of(attempts, restores), restore_of(restores)
    per_day = len(deploys) / days
    fields: dict[str, Any] = dict(
        deploys=len(deploys), per_day=per_day,
        frequency=[cell(i, n) for i, n in enumerate(counts)],
        lead_time_s=lead_fig, change_failure_rate=rate_fig, time_to_restore_s=restore_fig,
        levels=Levels(frequency=level("frequency", per_day) if deploys else None,
                      lead_time=level("lead_time", lead_fig.median) if lead_fig else None,
                      change_failure_rate=level("change_failure_rate", rate_fig.rate) if rate_fig else None,
                      time_to_restore=level("time_to_restore", restore_fig.median) if restore_fig else None),
        unknown_commits=sum(1 for t in s.unknown if lo <= t < hi),
    )
    if env_level:
        first = itemgetter(0)
        lead.sort(key=first)
        attempts.sort(key=first)
        restores.sort(key=first)
        spans = [per_bucket(list(map(first, items))) for items in (lead, attempts, restores)]
        fields["series"] = [
            BucketFigures(start=start, deploys=n, lead_time_s=lead_of(lead[a:b]),
                          change_failure_rate=rate_of(attempts[c:d], restores[e:f]),
                          time_to_restore_s=restore_of(restores[e:f]))
            for start, n, (a, b), (c, d), (e, f) in zip(starts, counts, *spans, strict=True)]
    return fields


def compute(lines: Iterable[Line], histories: Mapping[str, AppHistory | None], envs: Iterable[str],
            since: datetime, until: datetime, bucket: Bucket, apps: Iterable[str] | None = None) -> Metrics:
    """The four keys for every env in `envs` (and each app with lines there) over [since, until).

    `histories` maps an app to its repository's commits (None or absent: lead time unknown).
    Lines outside the window still count for what ran before it and for what undid a change,
    so a window's figures do not depend on where it starts. `apps` narrows the report (and the
    env figures) to those apps.
    """
    wanted_envs = list(dict.fromkeys(envs))
    wanted_apps = set(apps) if apps is not None else None
    by_pair: dict[tuple[str, str], list[Line]] = {}
    for ln in lines:
        if ln.env in wanted_envs and (wanted_apps is None or ln.app in wanted_apps):
            by_pair.setdefault((ln.env, ln.app), []).append(ln)
    starts = bucket_starts(since, until, bucket)
    edges = [t.timestamp() for t in starts] + ([next_bucket(starts[-1], bucket).timestamp()] if starts else [])
    skewed: list[tuple[float, Line, str, int]] = []
    cells: dict[tuple[int, int], BucketCount] = {}  # shared by every app's `frequency`
    out: dict[str, EnvFigures] = {}
    apps_of: dict[str, list[str]] = {}
    for env, app in by_pair:
        apps_of.setdefault(env, []).append(app)
    for env in wanted_envs:
        env_samples = _Samples()
        app_figs: dict[str, Figures] = {}
        for app in sorted(apps_of.get(env, ())):
            pair = sorted(by_pair[env, app], key=lambda ln: ln.seq)
            samples = _pair_samples(pair, histories.get(app), skewed)
            env_samples.extend(samples)
            app_figs[app] = Figures(**_figures(samples, since, until, starts, edges, False, cells))
        out[env] = EnvFigures(**_figures(env_samples, since, until, starts, edges, True, cells), apps=app_figs)
    lo, hi = since.timestamp(), until.timestamp()
    window_skew = [s for s in skewed if lo <= s[0] < hi]
    listed = [SkewedCommit(env=ln.env, app=ln.app, commit=sha, deployed=ln.time,
                           committed=datetime.fromtimestamp(committed, tz=UTC))
              for _, ln, sha, committed in window_skew[:SKEW_LISTED]]
    return Metrics(since=since, until=until, bucket=bucket, envs=out, clock_skew=listed,
                   clock_skew_total=len(window_skew))


# -- waiting for a PR, waiting for review: what `propose` saves ------------------------------------------


class Handoff(NamedTuple):
    """One deploy line merged through the deploy repo: when its commit was made, its PR opened, merged.
    A named tuple like `Line`: one per deploy line, from values checked already."""

    env: str
    app: str
    proposed: bool
    """The line's comment names `propose` (PROPOSED_BY): `propose --post` wrote it."""
    committed: datetime | None
    """The deployed commit's committer time in its app repository (None: not known)."""
    opened: datetime
    """The PR's first commit that touched the deploy file (its author time): when the PR was opened."""
    merged: datetime


def is_proposed(comment: str) -> bool:
    """Written by `propose` (README: the comment ends in PROPOSED_BY), not a comment quoting it."""
    return comment.rstrip().endswith(PROPOSED_BY)


def waiting(handoffs: Iterable[Handoff], envs: Iterable[str], since: datetime, until: datetime,
            apps: Iterable[str] | None = None) -> dict[str, Waiting]:
    """Per env, the lines merged in [since, until), split into proposals and lines written by hand:
    the wait for a PR (commit -> PR opened) and for its review (opened -> merged), each clamped at 0
    (a clock ahead of another)."""
    wanted_apps = set(apps) if apps is not None else None

    def split(rows: list[Handoff]) -> WaitSplit:
        before = [max(0.0, (h.opened - h.committed).total_seconds()) for h in rows if h.committed is not None]
        review = [max(0.0, (h.merged - h.opened).total_seconds()) for h in rows]

        def wait(values: list[float]) -> Wait | None:
            return Wait(median=median(values), p90=p90(values), n=len(values)) if values else None

        return WaitSplit(lines=len(rows), waiting_for_pr_s=wait(before), waiting_for_review_s=wait(review))

    by_env: dict[tuple[str, bool], list[Handoff]] = {}
    for h in handoffs:
        if since <= h.merged < until and (wanted_apps is None or h.app in wanted_apps):
            by_env.setdefault((h.env, h.proposed), []).append(h)
    return {env: Waiting(proposed=split(by_env.get((env, True), [])), by_hand=split(by_env.get((env, False), [])))
            for env in dict.fromkeys(envs)}


__all__ = [
    "AppHistory",
    "Handoff",
    "Line",
    "Metrics",
    "bucket_start",
    "compute",
    "default_since",
    "lines_from_history",
    "waiting",
]
