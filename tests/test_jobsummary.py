"""The deploy job's summary and its environment URL, from constructed outcomes and a real deploy repo."""

from __future__ import annotations

from pathlib import Path

from deployctl.adapters.git.reads import worktree_snapshot
from deployctl.core.change.changes import Op
from deployctl.core.change.plan import PlanChange
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.trace.outcomes import Outcome
from deployctl.report.jobsummary import environment_url, render_job_summary
from tests.builders import DeployRepo

A0, A1, W0, W1 = "a" * 40, "b" * 40, "c" * 40, "d" * 40
REPO_URL = "https://github.com/acme/deploys"


def snapshot(tmp_path: Path, api: dict | None = None, site: dict | None = None) -> Snapshot:
    deploy = DeployRepo(tmp_path / "deploy")
    apps = {"api": {"repo": "../apps/api", "settings": api or {}}}
    if site is not None:
        apps["www"] = {"kind": "static-site", "repo": "../apps/www", "settings": site}
    deploy.catalog(apps)
    deploy.env("staging")
    deploy.env("production")
    deploy.deploy("staging", "api", A1)
    deploy.deploy("production", "api", A0)
    if site is not None:
        deploy.deploy("production", "www", W1)
    return worktree_snapshot(deploy.path)


def deployed(**apps: str) -> dict:
    return {"deployed": {app: {"commit": sha} for app, sha in apps.items()}}


def change(env: str, app: str, old: str | None, new: str | None) -> PlanChange:
    return PlanChange(env=env, app=app, op=Op.UPDATE if old and new else (Op.CREATE if new else Op.REMOVE),
                      old=old, new=new)


def test_each_stack_says_its_result_update_pr_and_each_apps_from_to_and_outcome(tmp_path: Path) -> None:
    head = snapshot(tmp_path)
    outcomes = [
        Outcome(env="staging", ok=True, update=41, outputs=deployed(api=A1)),
        Outcome(env="production", ok=False, update=42, error="api: health check failed; switched back",
                failed_app="api", outputs=deployed(api=A0)),
    ]
    text = render_job_summary(outcomes, [change("staging", "api", A0, A1), change("production", "api", W0, A1)],
                              head, 12, "e" * 40, REPO_URL)
    assert text.startswith("## deployctl up\n\nPR [#12](https://github.com/acme/deploys/pull/12) · merge "
                           f"[`{'e' * 12}`](https://github.com/acme/deploys/commit/{'e' * 40})\n")
    assert "### staging: ✅ deployed, update 41\n\n| app | from | to | outcome |\n|---|---|---|---|\n" \
           f"| `api` | `{A0[:12]}` | `{A1[:12]}` | deployed |\n" in text
    assert "### production: ❌ failed, update 42\n\nproduction: failed: app api: api: health check failed; " \
           "switched back\n" in text
    assert f"| `api` | `{W0[:12]}` | `{A1[:12]}` | not deployed: `{A0[:12]}` runs |" in text


def test_a_skipped_stack_and_a_retry_without_a_plan(tmp_path: Path) -> None:
    head = snapshot(tmp_path)
    text = render_job_summary([Outcome(env="production", ok=False, skipped="staging, which production promotes "
                                       "from, failed"),
                               Outcome(env="staging", ok=True, update=0, outputs=deployed(api=A1))],
                              [], head, None, None, None)
    assert "### production: ⏭️ skipped\n\nstaging, which production promotes from, failed\n" in text
    assert "| `api` | — | `aaaaaaaaaaaa` | skipped |" in text
    assert "### staging: ✅ deployed\n" in text  # a self-managed backend's 0 is no number
    assert f"| `api` | — | `{A1[:12]}` | deployed |" in text
    assert "PR" not in text.split("###")[0]


def test_hostile_names_and_errors_stay_inert(tmp_path: Path) -> None:
    head = snapshot(tmp_path)
    app = "x|`y`\n### fake heading <!-- @acme/admins"
    text = render_job_summary([Outcome(env="staging", ok=False, error="</details> @here\n- [x] fine")],
                              [change("staging", app, None, A1)], head, None, None, None)
    assert not any(line.startswith("### fake") for line in text.splitlines())  # the name stays on its row
    assert "</details>" not in text and "@here" not in text  # prose: HTML as text, mentions broken
    row = next(line for line in text.splitlines() if line.startswith("| ``"))
    assert row.startswith("| ``x\\|`y`\\n### fake heading <!-- @acme/admins`` | ")  # as typed, in code
    assert row.count(" | ") == 3  # the pipe in the name does not add a column


def test_the_environment_url_is_an_apps_public_url(tmp_path: Path) -> None:
    head = snapshot(tmp_path / "a", api={"health": {"url": "https://user:pw@api.acme.example/health"}},
                    site={"bucket": "acme-sites", "aliases": ["www.acme.example"]})
    assert environment_url(head, "staging") == "https://api.acme.example/"  # its origin, no credentials
    assert environment_url(head, "production") == "https://api.acme.example/"
    local = snapshot(tmp_path / "b", api={"health": {"url": "http://127.0.0.1:8080/health"}},
                     site={"bucket": "acme-sites", "aliases": ["www.acme.example"]})
    assert environment_url(local, "staging") is None  # plain http on loopback is no public page
    assert environment_url(local, "production") == "https://www.acme.example/"


def test_up_in_actions_appends_the_summary_and_sets_the_url_and_outside_actions_writes_nothing(tmp_path: Path) -> None:
    from deployctl.commands.up import UpRun
    from deployctl.commands.upsummary import tell_github

    head = snapshot(tmp_path / "repo", api={"health": {"url": "https://api.acme.example/health"}})
    run = UpRun(root=tmp_path / "repo" / "deploy", envs=("staging",), upstream={"staging": None}, changes=(),
                head=head, planned=False, merge=None, pr=None, message=None, newer={}, guard=None,
                branch="origin/main", post=True)
    outcomes = [Outcome(env="staging", ok=True, update=7, outputs=deployed(api=A1))]
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    summary.write_text("earlier step's summary\n")
    tell_github(run, outcomes, {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
                                "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/deploys"})
    text = summary.read_text()
    assert text.startswith("earlier step's summary\n## deployctl up\n")  # appended, never overwritten
    assert "### staging: ✅ deployed, update 7" in text and f"| `api` | — | `{A1[:12]}` | deployed |" in text
    assert output.read_text() == "url=https://api.acme.example/\n"
    before = sorted(p.name for p in tmp_path.iterdir())
    tell_github(run, outcomes, {})  # not in Actions: nothing read, nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == before and output.read_text().count("url=") == 1
