"""Delivery metrics for people: the status page's charts and figures, and `deployctl metrics`'s text.

Pure views of core/trace/metrics.py's `Metrics` (the JSON contract stays there): the charts are geometry
only (templates/metrics.html.j2 draws them), and every figure printed is a `--json` value.
"""

from __future__ import annotations

from collections.abc import Callable

from deployctl.core.repo.model import short
from deployctl.core.trace.metrics import (
    DAY,
    DEFAULT_BUCKETS,
    HOUR,
    SKEW_LISTED,
    BucketFigures,
    EnvFigures,
    Figures,
    Frame,
    Metrics,
    Wait,
)

# -- charts for the status page ---------------------------------------------------------------------

CHART_W, CHART_H, CHART_BASE = 200, 64, 50
"""An inline SVG's size and the y of its baseline (bars grow up from it; dates sit below)."""


class Bar(Frame):
    x: float
    y: float
    width: float
    height: float
    title: str
    """The bucket and its figure with counts, shown as the bar's tooltip."""
    empty: bool = False
    """No data in this bucket (drawn as a dot, not a bar)."""
    zero: bool = False


class Chart(Frame):
    key: str
    title: str
    bars: list[Bar]
    first: str
    last: str
    top: str
    """The tallest bar's value, printed at the top left as the scale."""


def _bar_value(key: str, b: BucketFigures) -> tuple[float | None, str]:
    if key == "frequency":
        return b.deploys, f"{b.deploys} deploy{'s' if b.deploys != 1 else ''}"
    if key == "lead_time":
        lt = b.lead_time_s
        return (lt.median, f"median {duration(lt.median)} of {lt.n} commit{'s' if lt.n != 1 else ''}") if lt \
            else (None, "no data")
    if key == "change_failure_rate":
        r = b.change_failure_rate
        return (r.rate, f"{r.rate:.0%} ({r.failed}/{r.total})") if r else (None, "no data")
    t = b.time_to_restore_s
    return (t.median, f"median {duration(t.median)} of {t.n}") if t else (None, "no data")


CHART_TITLES = {"frequency": "Deployment frequency", "lead_time": "Lead time for changes",
                "change_failure_rate": "Change failure rate", "time_to_restore": "Time to restore"}


def chart(key: str, f: EnvFigures, buckets: int = DEFAULT_BUCKETS) -> Chart:
    """One key over the last `buckets` buckets as bars: geometry only, the template draws it."""
    series = f.series[-buckets:]
    values = [_bar_value(key, b) for b in series]
    top = max((v for v, _ in values if v is not None), default=0) or 1
    slot = CHART_W / max(len(series), 1)
    bars = []
    for i, (b, (value, text)) in enumerate(zip(series, values, strict=True)):
        height = 0.0 if value is None else max(1.0, value / top * (CHART_BASE - 6)) if value else 1.0
        bars.append(Bar(x=round(i * slot + slot * 0.15, 2), y=round(CHART_BASE - height, 2),
                        width=round(slot * 0.7, 2), height=round(height, 2), empty=value is None, zero=value == 0,
                        title=f"{b.start:%Y-%m-%d}: {text}"))
    scales: dict[str, Callable[[float], str]] = {"frequency": lambda v: f"{v:g}",
                                                  "change_failure_rate": lambda v: f"{v:.0%}"}
    scale = scales.get(key, duration)
    return Chart(key=key, title=CHART_TITLES[key], bars=bars, top=scale(top) if values else "",
                 first=f"{series[0].start:%b %d}" if series else "", last=f"{series[-1].start:%b %d}" if series else "")


class Shown(Frame):
    """One figure as the page prints it: `field` is its path in the JSON, `value` its JSON value."""

    field: str
    label: str
    value: float | int | str | None
    text: str


def shown(key: str, f: Figures) -> list[Shown]:
    """The figures printed beside a key's chart: exactly the `--json` values, with their counts."""
    if key == "frequency":
        return [Shown(field="deploys", label="deploys", value=f.deploys, text=str(f.deploys)),
                Shown(field="per_day", label="per week", value=f.per_day, text=f"{f.per_day * 7:.2f}"),
                Shown(field="levels.frequency", label="level", value=f.levels.frequency,
                      text=f.levels.frequency or "no data")]
    if key == "lead_time":
        lt = f.lead_time_s
        if lt is None:
            return [Shown(field="lead_time_s", label="lead time", value=None, text="no data")]
        return [Shown(field="lead_time_s.median", label="median", value=lt.median,
                      text=duration(lt.median)),
                Shown(field="lead_time_s.p90", label="p90", value=lt.p90, text=duration(lt.p90)),
                Shown(field="lead_time_s.n", label="commits", value=lt.n, text=str(lt.n)),
                Shown(field="lead_time_s.clock_skew", label="clock skew", value=lt.clock_skew,
                      text=str(lt.clock_skew)),
                Shown(field="levels.lead_time", label="level", value=f.levels.lead_time, text=str(f.levels.lead_time))]
    if key == "change_failure_rate":
        r = f.change_failure_rate
        if r is None:
            return [Shown(field="change_failure_rate", label="failure rate", value=None, text="no data")]
        return [Shown(field="change_failure_rate.rate", label="rate", value=r.rate, text=f"{r.rate:.1%}"),
                Shown(field="change_failure_rate.failed", label="failed", value=r.failed, text=str(r.failed)),
                Shown(field="change_failure_rate.total", label="of deploys", value=r.total, text=str(r.total)),
                Shown(field="levels.change_failure_rate", label="level", value=f.levels.change_failure_rate,
                      text=str(f.levels.change_failure_rate))]
    t = f.time_to_restore_s
    if t is None:
        return [Shown(field="time_to_restore_s", label="time to restore", value=None, text="no data")]
    return [Shown(field="time_to_restore_s.median", label="median", value=t.median,
                  text=duration(t.median)),
            Shown(field="time_to_restore_s.n", label="restores", value=t.n, text=str(t.n)),
            Shown(field="levels.time_to_restore", label="level", value=f.levels.time_to_restore,
                  text=str(f.levels.time_to_restore))]


# -- text for people ------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """A short human duration: 45 s, 12 min, 3.5 h, 2.0 d, 340 d; never exponent notation (the exact
    seconds stay in `--json` and in the page's data-value)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < DAY:
        return f"{seconds / HOUR:.1f} h"
    days = seconds / DAY
    return f"{days:.1f} d" if days < 10 else f"{days:,.0f} d"


def _row(name: str, f: Figures) -> list[str]:
    lead, rate, restore, lv = f.lead_time_s, f.change_failure_rate, f.time_to_restore_s, f.levels
    return [
        name,
        f"{f.deploys} ({f.per_day * 7:.1f}/wk) {lv.frequency or ''}".rstrip(),
        (f"{duration(lead.median)} / {duration(lead.p90)} (n={lead.n}) {lv.lead_time}" if lead else "-"),
        (f"{rate.rate:.0%} ({rate.failed}/{rate.total}) {lv.change_failure_rate}" if rate else "-"),
        (f"{duration(restore.median)} (n={restore.n}) {lv.time_to_restore}" if restore else "-"),
    ]


def render_text(m: Metrics) -> str:
    """A table per env (the env, then each app), the deploys per bucket, and clock-skew notes."""
    days = (m.until - m.since).total_seconds() / DAY
    out = [f"Delivery metrics {m.since:%Y-%m-%d %H:%M} .. {m.until:%Y-%m-%d %H:%M} UTC "
           f"({days:.0f} days, by {m.bucket}); levels: {m.report}"]
    header = ["env / app", "deploys (rate) level", "lead time median / p90 (n) level",
              "change failure rate (failed/total) level", "time to restore median (n) level"]
    rows = [header]
    for env, f in m.envs.items():
        rows.append(_row(env, f))
        rows += [_row(f"  {app}", af) for app, af in f.apps.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    out += ["", lines[0], "  ".join("-" * w for w in widths), *lines[1:]]
    if not m.envs:
        out.append("(no envs)")
    for env, f in m.envs.items():
        counts = " ".join(str(b.count) for b in f.frequency)
        out.append(f"\n{env}: deploys per {m.bucket} from {f.frequency[0].start:%Y-%m-%d}: {counts}"
                   if f.frequency else f"\n{env}: no buckets")
    if m.clock_skew_total:
        out.append(f"\nclock skew: {m.clock_skew_total} app commit(s) dated after the deploy that ran them "
                   "(counted as 0 s):")
        out += [f"  {s.env}/{s.app} {short(s.commit)} committed {s.committed:%Y-%m-%d %H:%M}, "
                f"deployed {s.deployed:%Y-%m-%d %H:%M}" for s in m.clock_skew[:10]]
        if m.clock_skew_total > 10:
            out.append(f"  ... and {m.clock_skew_total - 10} more (--json lists {SKEW_LISTED})")
    out += waiting_text(m)
    return "\n".join(out) + "\n"


# -- waiting for a PR, waiting for review ----------------------------------------------------------


def waiting_text(m: Metrics) -> list[str]:
    """The split as lines for people: per env, proposals vs by hand, medians with their counts."""
    if not any(w.proposed.lines or w.by_hand.lines for w in m.waiting.values()):
        return []

    def cell(w: Wait | None) -> str:
        return f"{duration(w.median)} (n={w.n})" if w else "-"

    out = ["", "lead time at the PR (median): waiting for a PR / waiting for review"]
    for env, w in m.waiting.items():
        for label, s in (("proposed", w.proposed), ("by hand", w.by_hand)):
            if s.lines:
                out.append(f"  {env} {label}: {cell(s.waiting_for_pr_s)} / {cell(s.waiting_for_review_s)}, "
                           f"{s.lines} line(s)")
    return out


__all__ = ["CHART_BASE", "CHART_H", "CHART_TITLES", "CHART_W", "Bar", "Chart", "Shown", "chart", "duration",
           "render_text", "shown", "waiting_text"]
