"""deployctl status: the matrix joins files, Pulumi outputs, history and app repos; the page renders in Chromium."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from deployctl.adapters.git.apprepos import AppRepos, repo_lookups
from deployctl.adapters.git.log import deploy_history, first_parent_order
from deployctl.adapters.git.reads import commit_snapshot
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.trace.appstate import InFlight
from deployctl.core.trace.history import DeployResult, HistoryEntry, join, mark_in_flight
from deployctl.core.trace.outcomes import UpdateRecord
from deployctl.core.trace.statusdata import Cell, StatusReport, build_status
from deployctl.core.violations import CannotJudge
from deployctl.report.status import (
    outcome_class,
    pr_link,
    render_html,
    render_text,
    status_rows,
)
from tests import browser
from tests.builders import AppRepo, DeployRepo

NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
DAY1 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@dataclass
class World:
    snapshot: Snapshot
    deployed: dict[str, dict[str, dict]]
    history: list[HistoryEntry]
    repos: AppRepos
    c: dict[str, str]
    merges: list[str]

    def report(self, deployed: dict[str, dict[str, dict]] | None = None,
               history: list[HistoryEntry] | None = None) -> StatusReport:
        counts, tips = repo_lookups(self.repos)
        return build_status(self.snapshot, self.deployed if deployed is None else deployed,
                            self.history if history is None else history, counts, tips, NOW)


def _merge(deploy: DeployRepo, message: str, author: str, day: int) -> str:
    """Commit the deploy repo as a PR merge by `author` on May `day`, 2026."""
    when = (DAY1 + timedelta(days=day - 1)).isoformat()
    email = f"{author.split()[0].lower()}@example.com"
    deploy.repo.git.add("-A")
    deploy.repo.git.commit("-q", "-m", message, env={
        **os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": when,
    })
    return deploy.repo.head.commit.hexsha


def _update(env: str, version: int, head: str, result: str, day: int) -> UpdateRecord:
    at = DAY1 + timedelta(days=day - 1, minutes=5)
    return UpdateRecord(env=env, version=version, kind="update", result=result, message="", start=at,
                        end=at + timedelta(minutes=2), environment={"git.head": head})


@pytest.fixture
def world(tmp_path: Path) -> World:
    """3 envs (dev -> staging -> production) x 4 apps, with a drift each way, lag and a failed up."""
    c: dict[str, str] = {}
    api = AppRepo(tmp_path / "apps" / "api")
    for i in range(1, 7):
        c[f"a{i}"] = api.commit(f"api change {i}")
    web = AppRepo(tmp_path / "apps" / "web")
    for i in range(1, 4):
        c[f"w{i}"] = web.commit(f"web change {i}")
    billing = AppRepo(tmp_path / "apps" / "billing", branch="release")
    for i in range(1, 4):
        c[f"r{i}"] = billing.commit(f"billing change {i}")

    d = DeployRepo(tmp_path / "deploy")
    d.catalog({
        "api": {"kind": "local", "repo": str(api.path)},
        "worker": {"kind": "local", "repo": str(api.path)},
        "web": {"kind": "local", "repo": "../apps/web"},
        "billing": {"kind": "local", "repo": str(billing.path), "branch": "release"},
    })
    d.env("dev").env("staging", promoteFrom="dev").env("production", protected=True, promoteFrom="staging",
                                                                        reviewers=["@acme/release"])
    for env in ("dev", "staging", "production"):
        d.deploy(env, "api", c["a1"], "first api")
        d.deploy(env, "web", c["w1"])
        d.deploy(env, "worker", c["a1"])
    d.deploy("dev", "billing", c["r1"])
    d.deploy("production", "billing", c["r1"], "billing goes live")
    m1 = _merge(d, "Merge pull request #11 from acme/initial\n\nfirst deploys", "Ann Admin", 1)
    d.deploy("dev", "api", c["a5"], "api 5 on dev")
    d.deploy("dev", "worker", c["a5"])
    d.deploy("dev", "web", c["w3"], "new <b>header</b> & footer")
    d.deploy("dev", "billing", c["r3"])
    d.deploy("staging", "web", c["w3"])
    d.deploy("production", "web", c["w2"], "web 2 to prod")
    m2 = _merge(d, "Merge pull request #12 from acme/dev", "Ben Builder", 2)
    d.deploy("staging", "api", c["a3"], "api 3 to staging")
    d.deploy("staging", "worker", c["a3"])
    m3 = _merge(d, "Promote api to staging (#13)", "Cleo Coder", 3)
    d.deploy("production", "api", c["a2"], "api 2 to prod")
    d.remove("deploys/production/worker")
    m4 = _merge(d, "Merge pull request #14 from acme/prod", "Dan Deployer", 4)
    d.deploy("staging", "billing", c["r2"], "billing to staging")
    m5 = _merge(d, "Merge pull request #15 from acme/billing", "Eve Engineer", 5)

    updates = {
        "dev": [_update("dev", 1, m1, "succeeded", 1), _update("dev", 2, m2, "succeeded", 2)],
        "staging": [_update("staging", 1, m1, "succeeded", 1), _update("staging", 2, m3, "succeeded", 3)],
        "production": [_update("production", 1, m1, "succeeded", 1), _update("production", 2, m2, "succeeded", 2),
                       _update("production", 3, m4, "failed", 4)],
    }
    history = join(deploy_history(d.repo, "HEAD"), updates, first_parent_order(d.repo, "HEAD"))

    def out(commit: str, comment: str = "") -> dict:
        return {"commit": commit, "comment": comment, "kind": "local"}

    deployed = {
        "dev": {"api": out(c["a5"]), "web": out(c["w3"]), "worker": out(c["a5"]), "billing": out(c["r3"])},
        "staging": {"api": out(c["a3"]), "web": out(c["w3"]), "worker": out(c["a3"])},  # billing: never upped
        "production": {"api": out(c["a1"]), "web": out(c["w2"]), "worker": out(c["a1"]), "billing": out(c["r1"])},
    }
    repos = AppRepos(d.path, cache_dir=tmp_path / "cache")
    return World(commit_snapshot(d.repo, "HEAD"), deployed, history, repos, c, [m1, m2, m3, m4, m5])


def _cell(report: StatusReport, env: str, app: str) -> Cell:
    cell = report.cell(env, app)
    assert cell is not None, f"no cell {env}/{app}"
    return cell


# -- build_status ---------------------------------------------------------------------------------


def test_envs_follow_promotion_order_and_apps_are_sorted(world: World):
    report = world.report()
    assert report.envs == ["dev", "staging", "production"]
    assert report.apps == ["api", "billing", "web", "worker"]
    assert report.generated_at == NOW
    assert report.upstreams == {"dev": None, "staging": "dev", "production": "staging"}


def test_behind_upstream_and_branch_are_real_commit_counts(world: World):
    report = world.report()
    c = world.c
    staging_api = _cell(report, "staging", "api")
    assert staging_api.commit == c["a3"]
    assert (staging_api.upstream, staging_api.behind_upstream) == ("dev", 2)  # a4, a5
    assert (staging_api.branch, staging_api.behind_branch) == ("main", 3)  # a4..a6
    assert _cell(report, "production", "api").behind_upstream == 2  # a2, a3: counted from a1, what runs
    assert _cell(report, "production", "web").behind_upstream == 1  # w3
    assert _cell(report, "staging", "web").behind_upstream == 0  # same commit as dev
    assert _cell(report, "dev", "web").behind_branch == 0  # at the tip
    # a non-default release branch is what "behind" is measured against
    assert (_cell(report, "production", "billing").branch, _cell(report, "production", "billing").behind_branch) \
        == ("release", 2)
    assert _cell(report, "production", "billing").behind_upstream is None  # staging runs no billing yet


def test_behind_upstream_is_none_without_upstream_or_either_side(world: World):
    report = world.report()
    assert _cell(report, "dev", "api").upstream is None
    assert _cell(report, "dev", "api").behind_upstream is None
    assert _cell(report, "dev", "api").behind_branch == 1
    # production has no worker file: nothing to compare on this side
    assert _cell(report, "production", "worker").behind_upstream is None
    assert _cell(report, "production", "worker").behind_branch is None
    # unknown answers from the repos stay unknown, never 0
    blind = build_status(world.snapshot, world.deployed, world.history,
                         lambda *_: None, lambda *_: None, NOW)
    assert _cell(blind, "staging", "api").behind_upstream is None
    assert _cell(blind, "staging", "api").behind_branch is None


def test_drift_three_ways(world: World):
    report = world.report()
    c = world.c
    changed = _cell(report, "production", "api")
    assert changed.running == c["a1"]
    assert changed.drift == (f"the file says {c['a2'][:12]}, Pulumi runs {c['a1'][:12]}: the update that tried "
                             "it failed (v3)")
    assert (changed.state, changed.drift) == ("failed", changed.detail)
    assert "deployctl up --stack production" in changed.fix
    removed = _cell(report, "production", "worker")
    assert removed.commit is None
    assert removed.drift == f"its deploy file was removed; Pulumi still runs {c['a1'][:12]}"
    assert removed.state == "pending"
    new = _cell(report, "staging", "billing")
    assert new.running is None
    assert (new.state, new.drift) == ("pending", f"the file says {c['r2'][:12]}, Pulumi runs nothing for it: "
                                                 "merged, no update has run it yet")
    drifting = {(x.env, x.app) for x in report.cells if x.drift}
    assert drifting == {("production", "api"), ("production", "worker"), ("staging", "billing")}


def test_a_stack_never_deployed_has_every_app_not_deployed_yet(world: World):
    deployed = {k: v for k, v in world.deployed.items() if k != "production"}
    report = world.report(deployed=deployed)
    prod = [x for x in report.cells if x.env == "production"]
    assert {x.app for x in prod} == {"api", "web", "billing"}
    assert all(x.drift and "the stack was never deployed" in x.drift for x in prod)
    assert {x.app: x.state for x in prod} == {"api": "failed", "web": "pending", "billing": "pending"}


def test_an_abbreviated_commit_is_the_same_commit(world: World):
    deployed = json.loads(json.dumps(world.deployed))
    deployed["dev"]["api"]["commit"] = world.c["a5"][:10]
    assert _cell(world.report(deployed=deployed), "dev", "api").drift is None


def test_history_join_fills_when_who_pr_and_result(world: World):
    report = world.report()
    staging_api = _cell(report, "staging", "api")
    assert (staging_api.deployed_by, staging_api.pr, staging_api.result) == ("Cleo Coder", 13, "succeeded")
    assert staging_api.deployed_at == DAY1 + timedelta(days=2, minutes=7)  # the update's end, not the merge
    prod_api = _cell(report, "production", "api")
    assert (prod_api.deployed_by, prod_api.pr, prod_api.result) == ("Dan Deployer", 14, "failed")
    assert prod_api.deployed_at == DAY1 + timedelta(days=3, minutes=7)  # when the failed up ended
    billing = _cell(report, "staging", "billing")
    assert (billing.deployed_by, billing.pr, billing.result) == ("Eve Engineer", 15, "pending")
    assert billing.deployed_at == DAY1 + timedelta(days=4)  # never run: the merge time
    # the comment is the file's; the newest deploy of the *current* commit is the one joined
    assert _cell(report, "dev", "web").comment == "new <b>header</b> & footer"
    assert _cell(report, "dev", "web").pr == 12
    assert _cell(report, "production", "worker").result == "failed"  # the removal's up failed
    assert _cell(report, "production", "worker").deployed_by is None
    times = [e.when for e in report.timeline]
    assert times == sorted(times, reverse=True)
    assert len(report.timeline) == len(world.history)


def test_history_entries_match_abbreviated_commits(world: World):
    short = [e.model_copy(update={"to": e.to[:9]}) if e.to else e for e in world.history]
    assert _cell(world.report(history=short), "staging", "api").pr == 13


def test_status_rows_are_json(world: World):
    rows = status_rows(world.report())
    text = json.dumps(rows)
    again = json.loads(text)
    row = next(r for r in again if r["env"] == "production" and r["app"] == "api")
    assert row["commit"] == world.c["a2"]
    assert row["result"] == "failed"
    assert row["deployed_at"] == "2026-05-04T09:07:00Z"  # when the (failed) up ended
    assert row["drift"].startswith("the file says") and row["state"] == "failed"
    assert set(row) >= {"env", "app", "commit", "comment", "deployed_at", "deployed_by", "pr", "result",
                        "behind_upstream", "behind_branch", "drift"}


def test_behind_upstream_is_counted_from_what_runs_not_from_the_file(world: World):
    """After a switch-back staging's file names a3 while it runs a1, as production does: not behind."""
    deployed = json.loads(json.dumps(world.deployed))
    deployed["staging"]["api"]["commit"] = world.c["a1"]
    prod = _cell(world.report(deployed=deployed), "production", "api")
    assert (prod.running, prod.behind_upstream) == (world.c["a1"], 0)
    lines = render_text(world.report(deployed=deployed)).splitlines()
    column = lines[2].index("production")
    assert "↓" not in next(r for r in lines if r.startswith("api "))[column:]


def test_a_running_update_shows_as_deploying_never_as_drift(world: World):
    started = DAY1 + timedelta(days=4, hours=3)
    counts, tips = repo_lookups(world.repos)
    flight = InFlight(since=started, by="runner@gha-7")
    history = mark_in_flight(world.history, {"staging": started})
    report = build_status(world.snapshot, world.deployed, history, counts, tips, NOW, in_flight={"staging": flight})
    billing = _cell(report, "staging", "billing")  # merged on day 5 02:00... before the update began
    assert (billing.state, billing.drift, billing.result) == ("in-progress", None, "in-progress")
    assert billing.in_flight == InFlight(since=started, by="runner@gha-7", pr=15)
    assert all(c.state == "in-progress" and c.drift is None for c in report.cells if c.env == "staging")
    text = render_text(report)
    assert "… deploying" in text and "Deploying now:" in text
    assert ("staging/billing: an update of staging is running by runner@gha-7 since 2026-05-05 12:00:00 UTC "
            "(PR #15)") in text
    assert not any(line.startswith("  ⚠ staging/") for line in text.splitlines())
    page = _parse(render_html(report, pr_url="https://github.com/acme/deploys/pull/{pr}"))
    by_cell = {(attrs["cell"], cls): attrs for cls, attrs in page.badges}
    assert by_cell["staging/billing", "badge deploying"]["text"] == "deploying"
    assert ("staging/billing", "badge drift") not in by_cell
    assert page.cells["staging", "billing"]["data-state"] == "progress"
    assert "deploying by runner@gha-7 since 2026-05-05 12:00 UTC · PR #15" in page.text("staging", "billing")


# -- text -----------------------------------------------------------------------------------------


def test_render_text_matrix(world: World):
    text = render_text(world.report())
    lines = text.splitlines()
    assert lines[0] == "Deploy status at 2026-05-06 12:00 UTC"
    header = lines[2].split()
    assert header == ["app", "dev", "staging", "production"]
    api = next(line for line in lines if line.startswith("api "))
    c = world.c
    assert c["a5"][:8] in api and c["a3"][:8] in api and c["a2"][:8] in api
    assert "↓2" in api and "»3" in api and "✗" in api and "⚠ failed" in api
    worker = next(line for line in lines if line.startswith("worker "))
    assert "(removed)" in worker
    # columns line up: every cell of a column starts at the same offset
    col = lines[2].index("staging")
    assert all(line[col - 2 : col] == "  " for line in lines[3:8])
    assert "↓N" in text and "Drift:" in text
    assert f"⚠ production/api: failed: the file says {c['a2'][:12]}" in text
    assert "; fix: fix the cause, then re-run the deploy workflow (workflow_dispatch)" in text


# -- HTML (pure) ----------------------------------------------------------------------------------


def test_render_html_escapes_and_is_self_contained(world: World):
    page = render_html(world.report())
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "new &lt;b&gt;header&lt;/b&gt; &amp; footer" in page
    assert "<b>header</b>" not in page
    assert "http://" not in page and "https://" not in page
    linked = render_html(world.report(), pr_url="https://github.com/acme/deploys/pull/{pr}")
    assert 'href="https://github.com/acme/deploys/pull/14"' in linked
    with pytest.raises(CannotJudge, match=r"--pr-url 'javascript:alert\(1\)//\{pr\}' is not an http\(s\) URL"):
        render_html(world.report(), pr_url="javascript:alert(1)//{pr}")


def test_failed_and_switched_back_deploys_take_the_failure_colour_and_commits_one_width(world: World):
    page = render_html(world.report())
    failed = re.findall(r'<li class="event ([a-z-]+)"[^>]*data-env="production" data-app="api"'
                        r'[^>]*data-result="failed"', page)
    assert failed == ["failed"]  # the failed deploy of production/api is drawn as a failure, not plain text
    assert '<span class="badge result failed">failed</span>' in page
    assert [outcome_class(r) for r in ("failed", "failed, switched back", "succeeded", "in-progress", "held back",
                                       "pending", None)] == [
        "failed", "failed", "succeeded", "in-progress", "quiet", "quiet", "quiet"]
    shown = set(re.findall(r'title="([0-9a-f]{40})">([0-9a-f]+)<', page))
    assert shown and {len(text) for _, text in shown} == {12}  # one commit width for people
    assert all(full.startswith(text) for full, text in shown)


def test_pr_link_substitutes_the_one_placeholder_as_text():
    link = pr_link("https://github.com/acme/deploys/pull/{pr}?from={pr}")
    assert link(14) == "https://github.com/acme/deploys/pull/14?from=14"
    assert pr_link("http://ghe.example:8080/a/b/pull/{pr}")(3) == "http://ghe.example:8080/a/b/pull/3"


BAD_PR_URLS = {
    "unknown placeholder": "https://github.com/acme/deploys/pull/{nope}",
    "only an unknown placeholder": "{nope}",
    "attribute lookup": "https://x.example/{pr.__class__.__mro__}",
    "index lookup": "https://x.example/{pr[0]}/{pr}",
    "conversion": "https://x.example/{pr!r}",
    "format spec": "https://x.example/{pr:>99999999}",
    "positional": "https://x.example/{0}/{pr}",
    "escaped braces": "https://x.example/{{pr}}",
    "no placeholder": "https://github.com/acme/deploys/pulls",
    "javascript": "javascript:alert(document.domain)//{pr}",
    "javascript, upper case": "JavaScript:alert(1)//{pr}",
    "data": "data:text/html,<script>alert(1)</script>{pr}",
    "scheme-relative": "//evil.example/{pr}",
    "relative": "pull/{pr}",
    "ftp": "ftp://x.example/{pr}",
    "no host": "https:///{pr}",
    "credentials": "https://user:token@github.com/acme/deploys/pull/{pr}",
    "space": "https://x.example/{pr} onmouseover=alert(1)",
    "newline": "https://x.example/{pr}\njavascript:alert(1)",
    "bad port": "https://x.example:99999999/{pr}",
}


@pytest.mark.parametrize("template", BAD_PR_URLS.values(), ids=BAD_PR_URLS.keys())
def test_pr_link_refuses_anything_but_an_http_url_with_the_pr_placeholder(template: str):
    with pytest.raises(CannotJudge, match=r"^--pr-url .* e\.g\. https://github\.com/acme/deploys/pull/\{pr\}$"):
        pr_link(template)


def _big_report() -> StatusReport:
    envs = [f"env-{i:02d}" for i in range(20)]
    apps = [f"service-{j:02d}" for j in range(50)]
    cells = [Cell(env=e, app=a, commit=f"{i:04x}{j:04x}" + "0" * 32, comment=f"release {i}.{j}",
                  behind_upstream=((j % 7) or None) if i else None, upstream=envs[i - 1] if i else None)
             for i, e in enumerate(envs) for j, a in enumerate(apps) if (i + j) % 5]
    timeline = [HistoryEntry(merged=NOW - timedelta(hours=k), env=envs[k % 20], app=apps[k % 50], from_="a" * 40,
                             to="b" * 40, commit="c" * 40, author="Robo", pr=k, deploy=DeployResult(result="succeeded"))
                for k in range(400)]
    return StatusReport(generated_at=NOW, envs=envs, apps=apps, cells=cells, timeline=timeline,
                        upstreams={e: (envs[i - 1] if i else None) for i, e in enumerate(envs)})


def test_render_html_scales_to_20_envs_by_50_apps():
    page = render_html(_big_report())
    parsed = _parse(page)
    assert len(parsed.cells) == 20 * 50
    assert len(parsed.events) == 400
    assert len(page) < 3_000_000


# -- in a real browser ----------------------------------------------------------------------------


class _Page(HTMLParser):
    """What the tests look for in the page, from the browser's serialised DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.events: list[dict[str, str]] = []
        self.badges: list[tuple[str, dict[str, str]]] = []
        self.refs: list[str] = []
        self._cell: tuple[str, str] | None = None
        self._depth = 0
        self._text: dict[tuple[str, str], list[str]] = {}
        self._badge: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if a.get("id"):
            self.ids.add(a["id"])
        self.refs += [a[k] for k in ("src", "href", "srcset", "poster", "data", "action") if k in a]
        if "style" in a and "url(" in a["style"]:
            self.refs.append(a["style"])
        if tag == "td" and "cell" in classes:
            self._cell, self._depth = (a["data-env"], a["data-app"]), 0
            self.cells[self._cell] = a
            self._text[self._cell] = []
        elif self._cell is not None and tag not in ("br", "img", "input", "meta"):
            self._depth += 1
        if tag == "li" and "event" in classes:
            self.events.append(a)
        if "badge" in classes:
            self.badges.append((a.get("class", ""), {**a, "cell": "/".join(self._cell or ())}))
            self._badge = len(self.badges) - 1

    def handle_endtag(self, tag: str) -> None:
        if self._cell is not None:
            if self._depth == 0 and tag == "td":
                self._cell = None
            else:
                self._depth -= 1
        self._badge = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text[self._cell].append(data)
        if self._badge is not None:
            attrs = self.badges[self._badge][1]
            attrs["text"] = attrs.get("text", "") + data

    def text(self, env: str, app: str) -> str:
        return " ".join(" ".join(self._text[env, app]).split())


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def test_page_in_headless_chromium(world: World, tmp_path: Path):
    report = world.report()
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(render_html(report), encoding="utf-8")
    with browser.serve(site) as base:
        dom = browser.dump_dom(base + "index.html")
        png = browser.screenshot(base + "index.html", tmp_path / "status.png", 1400, 1000)
    page = _parse(dom)
    c = world.c

    assert {"matrix", "timeline"} <= page.ids
    assert "filter" in page.ids  # the optional script ran in the browser
    # the matrix: every env x app, commits where there is a file
    assert set(page.cells) == {(e, a) for e in report.envs for a in report.apps}
    assert page.cells["staging", "api"]["data-commit"] == c["a3"]
    assert page.cells["production", "worker"]["data-commit"] == ""
    assert c["a3"][:12] in page.text("staging", "api")
    assert "api 3 to staging" in page.text("staging", "api")
    assert "by Cleo Coder" in page.text("staging", "api") and "PR #13" in page.text("staging", "api")
    assert "new <b>header</b> & footer" in page.text("dev", "web")  # escaped, shown as text
    # badges
    by_cell = {(attrs["cell"], cls): attrs for cls, attrs in page.badges}
    drift = by_cell["production/api", "badge drift"]
    assert drift["title"] == _cell(report, "production", "api").drift
    assert "Pulumi runs" in page.text("production", "api")  # the sentence is visible, not only a tooltip
    assert {cell for (cell, cls) in by_cell if cls == "badge drift" and cell} == {
        "production/api", "production/worker", "staging/billing"}
    assert by_cell["staging/api", "badge behind-upstream"]["text"] == "2 behind dev"
    assert by_cell["staging/api", "badge behind-branch"]["text"] == "3 behind main"
    assert by_cell["production/api", "badge result failed"]["text"] == "failed"
    assert ("staging/api", "badge result succeeded") not in by_cell  # only problems are flagged in the matrix
    # the timeline: one event per deploy, each env/app newest first
    assert len(page.events) == len(report.timeline)
    prod_api = [e for e in page.events if (e["data-env"], e["data-app"]) == ("production", "api")]
    assert [e["data-result"] for e in prod_api] == ["failed", "succeeded"]
    assert [e["data-commit"] for e in prod_api] == [world.merges[3], world.merges[0]]
    assert {e["data-result"] for e in page.events} == {"succeeded", "failed", "pending"}
    # self-contained: nothing points at another host
    external = [r for r in page.refs if r.strip().lower().startswith(("http:", "https:", "//"))]
    assert external == [], external
    assert "@import" not in dom and "url(" not in dom
    # the screenshot is a real picture
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_page_from_a_file_url(tmp_path: Path):
    path = tmp_path / "big.html"
    path.write_text(render_html(_big_report()), encoding="utf-8")
    page = _parse(browser.dump_dom(path))
    assert len(page.cells) == 1000
    assert page.cells["env-19", "service-49"]["data-commit"].startswith("00130031")


HOSTILE = "x`<details open><script>alert(1)</script>\n::error::all passed\r\n<!--"


def _named_status(env: str, app: str) -> StatusReport:
    cell = Cell(env=env, app=app, commit="a" * 40, comment=app, running="b" * 40, deployed_by=app, pr=7,
                upstream=env, behind_upstream=2, branch=app, behind_branch=1, drift=f"{app} drifts in {env}")
    entry = HistoryEntry(merged=NOW, env=env, app=app, from_="b" * 40, to="a" * 40, commit="c" * 40, author=app,
                         comment=app, pr=7, deploy=DeployResult(result="failed"))
    return StatusReport(generated_at=NOW, envs=[env], apps=[app], cells=[cell], timeline=[entry],
                        upstreams={env: env})


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_comment(self, data: str) -> None:
        self.tags.append("<!--")


def _elements(page: str) -> list[str]:
    parser = _Elements()
    parser.feed(page)
    return parser.tags


def test_hostile_env_and_app_names_are_text_on_the_page_and_one_row_in_the_matrix():
    page = render_html(_named_status(HOSTILE, HOSTILE), pr_url="https://github.com/acme/deploys/pull/{pr}")
    assert _elements(page) == _elements(render_html(_named_status("prod", "web"),
                                                    pr_url="https://github.com/acme/deploys/pull/{pr}"))
    assert "<script>alert" not in page and "<details open>" not in page and "&lt;script&gt;" in page
    text = render_text(_named_status(HOSTILE, HOSTILE))
    assert len(text.splitlines()) == len(render_text(_named_status("prod", "web")).splitlines())
    assert "x`<details open><script>alert(1)</script>\\n::error::all passed\\r\\n<!--" in text
    assert "\r" not in text and "\n::" not in text
