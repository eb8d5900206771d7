"""The review and deploy pipeline on the real engine: PR comment, up on merge, order, failures, races."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from deployctl.adapters.pulumi.backend import STATE_DIR
from deployctl.adapters.pulumi.cli import find_pulumi
from deployctl.adapters.pulumi.engine import engine_env
from tests.builders import FIXTURES
from tests.engine_world import World, build_world, merge
from tests.githubfake import serve_pr_comments

pytestmark = pytest.mark.engine

EVENTS = FIXTURES / "github-events"


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = build_world(tmp_path)
    code, _, err = w.cli("up")
    assert code == 0, err
    w.deploy.commit("stack configs as Pulumi writes them")  # stack init adds the salt
    return w


def env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def test_preview_comment_from_the_real_engine_posted_once_then_edited(world: World, httpserver: HTTPServer,
                                                                      tmp_path: Path):
    api = world.shas["api"]
    world.deploy.deploy("staging", "api", api[1], "second api")
    comment_file = tmp_path / "comment.md"
    code, _, err = world.cli("preview", "--base", "main", "--comment-file", str(comment_file))
    assert code == 0, err
    body = comment_file.read_text()
    assert body.startswith("<!-- deployctl:preview -->")
    assert f"| api | update | `{api[0][:12]}` | `{api[1][:12]}` | 1 | Dana Dev |" in body
    assert "- `" + api[1][:12] + "` api 1 (Dana Dev)" in body
    assert "**Pulumi:** 1 to update" in body
    assert "| update | `api-release` |" in body
    assert f"`commit`: `{api[0][:12]}` → `{api[1][:12]}`" in body  # the live events carry values too
    assert "### production" not in body  # only affected stacks are previewed

    # --post: GitHub's API on loopback; first push creates, the next edits in place
    comments = serve_pr_comments(httpserver)
    env = env_with(GITHUB_EVENT_PATH=str(EVENTS / "pull_request.opened.json"), GITHUB_REPOSITORY="acme/deploys",
                   GITHUB_API_URL=httpserver.url_for("").rstrip("/"), GITHUB_TOKEN="ghs_test_token")
    assert world.cli("preview", "--base", "main", "--post", env=env)[0] == 0
    target = world.root / "deploys" / "staging" / "api"  # the next push changes the PR's one new line
    target.write_text(f"{api[2]} third api\n" + target.read_text().split("\n", 1)[1])
    code, _, err = world.cli("preview", "--base", "main", "--post", env=env)
    assert code == 0, err
    assert len(comments) == 1
    assert api[2][:12] in comments[0]["body"]


def test_a_secret_config_value_never_reaches_the_comment(world: World, tmp_path: Path):
    pulumi = find_pulumi()
    assert pulumi is not None
    secret = "hunter2-secret-value"
    subprocess.run([str(pulumi), "config", "set", "--secret", "--path", "deploys:settings.api.keep_releases",
                    secret, "--stack", "staging"], cwd=world.root, check=True, capture_output=True,
                   env={**os.environ, **engine_env(world.root, pulumi)})
    assert "secure:" in (world.root / "Pulumi.staging.yaml").read_text()
    comment = tmp_path / "comment.md"
    code, out, err = world.cli("preview", "--base", "main", "--comment-file", str(comment))
    body = comment.read_text()
    assert code == 1  # the program cannot use the value: the preview fails ...
    assert "pulumi preview failed" in body
    assert "keep_releases: Input should be a valid integer" in body
    assert "staging: failed:" in err and "keep_releases: Input should be a valid integer" in err  # said, not only
    assert secret not in body + out + err  # ... but never shows it                           # in the comment


def test_up_after_merge_deploys_in_order_and_traces_pr_and_merge(world: World, httpserver: HTTPServer):
    api = world.shas["api"]
    posted: list[dict] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (posted.append(r.get_json()), Response("ok"))[1])
    before, merged = merge(world, "Merge pull request #42 from acme/promote", lambda: (
        world.deploy.deploy("staging", "api", api[1]), world.deploy.deploy("production", "api", api[0], "same")))
    # production's line is a no-op; staging changes: both stacks are affected, staging first
    code, out, err = world.cli("up", "--base", before, "--head", merged, "--branch", "main",
                               env=env_with(DEPLOYCTL_SLACK_WEBHOOK=httpserver.url_for("/hook")))
    assert code == 0, err
    assert out.index("staging: ok") < out.index("production: ok")
    assert "staging: update api-release (pulumi-python:dynamic:Resource): commit ..." in err  # live progress
    assert "staging: updated api-release (pulumi-python:dynamic:Resource) in " in err
    assert world.current("staging", "api") == api[1]
    record = world.engine().history("staging")[0]
    assert "PR #42" in record.message and merged[:12] in record.message and api[1][:12] in record.message
    assert record.environment.get("git.head") == merged
    assert [p["text"] for p in posted] and len(posted) == 2
    assert "staging" in posted[0]["text"] and "hooks" not in json.dumps(posted)


def test_upstream_failure_stops_downstream(world: World):
    api = world.shas["api"]
    world.deploy.deploy("staging", "api", api[1])
    world.deploy.commit("staging runs api 1")
    assert world.cli("up", "--stack", "staging")[0] == 0
    # promote takes what Pulumi runs upstream, and says so
    code, _, err = world.cli("promote", "api", "--from", "staging", "--to", "production")
    assert code == 0, err
    assert f"promoting api {api[1][:12]}: what Pulumi runs in staging (its `deployed` output)" in err
    world.deploy.repo.git.checkout("--", "deploys/production/api")

    def edit() -> None:
        cfg = world.root / "Pulumi.staging.yaml"  # a deploy root the provider cannot create: a file is in the way
        (world.root / ".deployments" / "blocked").write_text("a file, not a folder\n")
        cfg.write_text(cfg.read_text().replace(".deployments/staging", ".deployments/blocked/staging"))
        world.deploy.deploy("production", "api", api[1], "promote")
    before, merged = merge(world, "Merge pull request #7 from acme/x", edit)
    code, _out, err = world.cli("up", "--base", before, "--head", merged, "--branch", "main")
    assert code == 1
    assert "staging: failed: app api: " in err and "Not a directory" in err and "Traceback" not in err
    assert "production: skipped: staging, which production promotes from, failed" in err
    assert world.current("production", "api") == api[0]


def test_an_older_run_never_overwrites_a_newer_deploy(world: World):
    api = world.shas["api"]
    before1, m1 = merge(world, "Merge pull request #1 from a/b", lambda: world.deploy.deploy("staging", "api", api[1]))
    _, m2 = merge(world, "Merge pull request #2 from a/c", lambda: world.deploy.deploy("staging", "api", api[2]))
    assert world.cli("up", "--base", m1, "--head", m2, "--branch", "main")[0] == 0  # the newer run went first
    world.deploy.repo.git.checkout("--quiet", m1)  # the older run, late
    code, out, err = world.cli("up", "--base", before1, "--head", m1, "--branch", "main")
    assert code == 0, err
    assert f"staging: skipped: newer commit {m2[:12]} also changes staging" in out
    assert world.current("staging", "api") == api[2]
    # the trace says so: PR #1's line never ran (skipped, PR #2 superseded it), PR #2's succeeded
    world.deploy.repo.git.checkout("--quiet", "main")
    code, out, err = world.cli("history", "staging", "api", "--json")
    assert code == 0, err
    rows = {r["pr"]: r for r in json.loads(out)}
    assert (rows[1]["deploy"]["result"], rows[1]["deploy"]["superseded_by_pr"], rows[1]["time"]) == ("skipped", 2, None)
    assert rows[2]["deploy"]["result"] == "succeeded" and rows[2]["time"] is not None
    assert rows[1]["deploy"]["update"] is None  # not tied to #2's update


def test_a_freeze_that_starts_after_review_stops_the_deploy(world: World):
    api = world.shas["api"]
    now = datetime.now(UTC)
    window = [{"start": (now - timedelta(minutes=5)).isoformat(), "end": (now + timedelta(hours=1)).isoformat(),
               "reason": "incident in progress"}]
    world.deploy.deploy("staging", "api", api[1])
    world.deploy.commit("staging api 1")
    assert world.cli("up", "--stack", "staging")[0] == 0

    def edit() -> None:
        world.deploy.deploy("production", "api", api[1], "reviewed before the freeze")
        cfg = world.root / "Pulumi.production.yaml"
        cfg.write_text(cfg.read_text().replace("config:\n", "config:\n  deploys:freeze: " + json.dumps(window) + "\n"))
    before, merged = merge(world, "Merge pull request #3 from a/b", edit)
    code, _out, err = world.cli("up", "--base", before, "--head", merged, "--branch", "main")
    assert code == 1
    assert "freeze-window" in err and "incident in progress" in err
    assert err.count("freeze-window") == 1  # said once
    assert world.current("production", "api") == api[0]


def test_two_concurrent_ups_on_one_stack_keep_the_state_intact(world: World):
    world.deploy.deploy("staging", "api", world.shas["api"][1])
    cmd = [sys.executable, "-m", "deployctl", "up", "--stack", "staging"]
    procs = [subprocess.Popen(cmd, cwd=world.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 1]), results
    for code, _, err in results:
        assert "Traceback" not in err
        if code == 1:
            assert "another update" in err.lower() or "locked" in err.lower(), err
    # the state is intact: a further up succeeds and changes nothing
    engine = world.engine()
    again = engine.up("staging", "after the race")
    assert again.ok, again.error
    assert set(again.counts) == {"same"}
    assert world.current("staging", "api") == world.shas["api"][1]


def test_a_new_env_is_previewed_though_its_stack_was_never_created(tmp_path: Path):
    """The preview names its stack without selecting it (one CLI start fewer); a stack never created
    is created then, as before, and previewed."""
    w = build_world(tmp_path, production=False)
    w.deploy.deploy("staging", "api", w.shas["api"][1], "second api")
    comment = tmp_path / "comment.md"
    code, _, err = w.cli("preview", "--base", "main", "--comment-file", str(comment))
    assert code == 0, err
    assert "to create" in comment.read_text()
    pulumi = find_pulumi()
    assert pulumi is not None
    stacks = subprocess.run([str(pulumi), "stack", "ls", "--json"], cwd=w.root, check=True, capture_output=True,
                            text=True, env={**os.environ, **engine_env(w.root, pulumi)}).stdout
    assert [s["name"] for s in json.loads(stacks)] == ["staging"]


def test_a_stack_that_cannot_be_judged_fails_alone_and_the_stacks_beside_it_are_still_said(
        tmp_path: Path, httpserver: HTTPServer):
    """Two stacks in one wave; the first's update history is unreadable, so the stale-run guard cannot
    judge it: that stack is not updated and says why, and the other is deployed, said and notified
    (it used to end the whole run as an internal error, the other's outcome unsaid)."""
    w = build_world(tmp_path, production=False)
    w.deploy.env("qa", deployRoot=".deployments/qa")
    for app in ("api", "web"):
        w.deploy.deploy("qa", app, w.shas[app][0], "first")
    w.deploy.commit("qa")
    code, _, err = w.cli("up")
    assert code == 0, err
    api = w.shas["api"]
    (history,) = (w.root / STATE_DIR).rglob("qa-*.history.json")
    history.write_text("{not json")
    before, merged = merge(w, "Merge pull request #9 from acme/both", lambda: (
        w.deploy.deploy("qa", "api", api[1]), w.deploy.deploy("staging", "api", api[1])))
    posted: list[dict] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (posted.append(r.get_json()), Response("ok"))[1])
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--branch", "main",
                           env=env_with(DEPLOYCTL_SLACK_WEBHOOK=httpserver.url_for("/hook")))
    assert code == 1, out + err
    assert "qa: failed: the stack: cannot judge: cannot read qa's update history: getting history: " in err
    assert "internal error" not in err
    assert "staging: ok (same 4, update 1)" in out and "Traceback" not in err
    assert (w.current("qa", "api"), w.current("staging", "api")) == (api[0], api[1])
    assert len(posted) == 2 and "staging" in json.dumps(posted[1]) and "qa" in json.dumps(posted[0])


def test_up_json_gives_the_update_number_history_shows(tmp_path: Path):
    """A self-managed backend does not number updates (the engine says 0); history numbers them, and
    `up --json` says the same number."""
    w = build_world(tmp_path, production=False)
    for round_ in (1, 2):
        w.deploy.deploy("staging", "api", w.shas["api"][round_], f"api {round_}")
        w.deploy.commit(f"api {round_}")
        code, out, err = w.cli("up", "--stack", "staging", "--json")
        assert code == 0, err
        [outcome] = json.loads(out)
        shown = json.loads(w.cli("history", "staging", "api", "--json")[1])[0]
        assert outcome["update"] == shown["deploy"]["update"] == w.engine().history("staging")[0].version == round_


def test_a_stack_job_never_deploys_after_its_upstreams_job_failed_on_the_same_merge(tmp_path: Path):
    """CI deploys a merge one job per stack (`up --stack`), upstream first. When the merge also changes
    the env a stack promotes from and that env's job failed (or its app was switched back), the stack's
    own job refuses: on any runner, and when a job is re-run by hand, not only when GitHub's fail-fast
    cancels it. Once the upstream deploys the merge, the downstream job deploys it."""
    w = build_world(tmp_path)
    api, web = w.shas["api"], w.shas["web"]
    code, out, err = w.cli("up")
    assert code == 0, out + err
    w.deploy.deploy("staging", "web", web[1], "staging web first")
    w.deploy.commit("stack configs as Pulumi wrote them; staging web")
    code, out, err = w.cli("up", "--stack", "staging")
    assert code == 0, out + err
    before, merged = merge(w, "Merge pull request #21 from acme/both", lambda: (
        w.deploy.deploy("staging", "api", api[1], "new api"),
        w.deploy.deploy("production", "web", web[1], "the web staging runs")))
    w.block_release("staging", "api", api[1])  # staging's update fails inside the engine

    code, out, err = w.cli("up", "--base", before, "--head", merged, "--stack", "staging")
    assert code == 1, out + err
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--stack", "production")
    assert code == 1, out + err
    assert ("staging, which production promotes from and this merge also changes, failed to deploy it"
            in out + err) and "deploy staging first (re-run its job), then production" in out + err
    assert w.current("production", "web") == web[0]  # production untouched

    (w.root / ".deployments/staging/api/releases" / api[1]).unlink()  # the cause fixed: the job re-run
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--stack", "staging")
    assert code == 0, out + err
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--stack", "production")
    assert code == 0, out + err
    assert w.current("production", "web") == web[1]
