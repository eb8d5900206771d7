"""Health after up and the automatic switch-back, on the real Pulumi engine with `local` apps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import git
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.builders import AppRepo, DeployRepo
from tests.engine_world import World, merge

pytestmark = pytest.mark.engine

GOOD = "echo ok\n"
BAD = "echo 'database unreachable' >&2\nexit 3\n"
# fails on its first try, passes on the next: the marker sits beside the releases, outside them
FLAKY = "m=../../.tried\nif [ -f $m ]; then exit 0; fi\ntouch $m\necho 'warming up' >&2\nexit 1\n"
HEALTH = {"command": "sh check.sh", "retries": 1, "interval": 0.2, "timeout": 10}


def build(tmp: Path, api_checks: list[str], first: int = 0, auto_rollback: bool | None = None) -> World:
    api = AppRepo(tmp / "apps" / "api")
    api_shas = [api.commit(f"api {i}", {"check.sh": text, "app.py": f"print({i})\n"})
                for i, text in enumerate(api_checks)]
    web = AppRepo(tmp / "apps" / "web")
    web_shas = [web.commit(f"web {i}", {"site/index.html": f"<h1>{i}</h1>\n"}) for i in range(2)]
    deploy = DeployRepo(tmp / "deploy", with_program=True)
    deploy.catalog({
        "api": {"repo": str(api.path), "settings": {"health": HEALTH}},
        "web": {"repo": str(web.path), "path": "site", "depends_on": ["api"]},
    })
    settings: dict = {"deployRoot": ".deployments/staging"}
    if auto_rollback is not None:
        settings["autoRollback"] = auto_rollback
    deploy.env("staging", **settings)
    deploy.deploy("staging", "api", api_shas[first], "first api")
    deploy.deploy("staging", "web", web_shas[0], "first web")
    deploy.commit("initial deploys")
    return World(deploy=deploy, api=api, web=web, shas={"api": api_shas, "web": web_shas})


def deployed(w: World) -> World:
    code, out, err = w.cli("up")
    assert code == 0, out + err
    w.deploy.commit("stack configs as Pulumi writes them")  # stack init adds the salt
    return w


def test_a_healthy_deploy_and_a_check_that_passes_on_its_second_try(tmp_path: Path):
    w = deployed(build(tmp_path, [GOOD, FLAKY]))
    api = w.shas["api"]
    w.deploy.deploy("staging", "api", api[1], "flaky start")
    code, out, err = w.cli("up", "--stack", "staging")
    assert code == 0, out + err
    assert f"staging/api {api[1][:12]}: health try 1/2: failed: exit 1: warming up" in out
    assert f"staging/api {api[1][:12]}: health try 2/2: ok: exit 0" in out
    assert out.index("health try 1/2") < out.index("health try 2/2") < out.index("staging: ok")
    assert w.current("staging", "api") == api[1]
    # an up that changes nothing runs no check
    code, out, _ = w.cli("up", "--stack", "staging")
    assert code == 0 and "health try" not in out


def test_a_failing_check_switches_back_holds_the_dependent_and_says_so(tmp_path: Path, httpserver: HTTPServer):
    w = deployed(build(tmp_path, [GOOD, BAD]))
    api, web = w.shas["api"], w.shas["web"]
    origin = tmp_path / "origin.git"
    git.Repo.init(origin, bare=True)
    w.deploy.repo.create_remote("origin", str(origin))
    w.deploy.repo.git.push("origin", "main")
    posted: list[dict] = []
    pulls: list[dict] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (posted.append(r.get_json()), Response("ok"))[1])

    def open_pull(request: Request) -> Response:
        pulls.append(request.get_json())
        return Response(json.dumps({"number": 77, "html_url": "https://github.example/acme/deploys/pull/77"}),
                        status=201, content_type="application/json")

    httpserver.expect_request("/repos/acme/deploys/pulls", method="POST").respond_with_handler(open_pull)
    before, merged = merge(w, "Merge pull request #12 from acme/api-2", lambda: (
        w.deploy.deploy("staging", "api", api[1], "new api"), w.deploy.deploy("staging", "web", web[1], "new web")))
    env = {**os.environ, "DEPLOYCTL_SLACK_WEBHOOK": httpserver.url_for("/hook"), "GITHUB_REPOSITORY": "acme/deploys",
           "GITHUB_API_URL": httpserver.url_for("").rstrip("/"), "GITHUB_TOKEN": "ghs_test_token"}
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--branch", "main", "--post", env=env)

    assert code == 1, out + err
    assert "Traceback" not in err
    assert "health try 2/2: failed: exit 3: database unreachable" in out
    assert f"staging: switching back api to {api[0][:12]} (holding back web)" in out
    assert f"failed, switched back: api to {api[0][:12]}" in err
    assert w.current("staging", "api") == api[0]  # `current` points at the previous release again
    assert w.current("staging", "web") == web[0]  # the dependent never deployed
    assert w.engine().outputs("staging")["deployed"]["api"]["commit"] == api[0]

    record = w.engine().history("staging")[0]
    assert record.result == "succeeded" and "failed, switched back: api to" in record.message
    assert "held back: web" in record.message

    code, out, _ = w.cli("history", "staging", "--json")
    assert code == 0
    results = {(e["app"], e["to"]): e["deploy"]["result"] for e in json.loads(out)}
    assert results[("api", api[1])] == "failed, switched back"
    assert results[("web", web[1])] == "held back"
    page = tmp_path / "status.html"
    code, out, _ = w.cli("status", "--json", "--html", str(page))
    assert code == 0
    assert '<span class="badge result failed">failed, switched back</span>' in page.read_text()
    cells = {(c["env"], c["app"]): c for c in json.loads(out)}
    assert cells[("staging", "api")]["result"] == "failed, switched back"
    drift = cells[("staging", "api")]["drift"]
    assert f"file says {api[1][:12]}, Pulumi runs {api[0][:12]} — switched back after a failed health check" in drift
    assert cells[("staging", "web")]["result"] == "held back"
    assert "held back while an app it depends on was switched back" in cells[("staging", "web")]["drift"]

    assert len(posted) == 1 and "failed, switched back" in json.dumps(posted[0])
    assert len(pulls) == 1 and pulls[0]["base"] == "main" and pulls[0]["title"].startswith("[rollback] staging: api")
    pushed = git.Repo(origin).git.show(f"{pulls[0]['head']}:deploys/staging/api").splitlines()
    assert pushed[0].startswith(f"{api[0]} ") and "[rollback]" in pushed[0] and api[1][:12] in pushed[0]
    assert pushed[1:] == (w.root / "deploys/staging/api").read_text().splitlines()
    assert "rollback pull request: https://github.example/acme/deploys/pull/77" in err
    assert not w.deploy.repo.is_dirty(untracked_files=False)  # the checkout was never touched

    # merging the [rollback] pull request: git says what runs again, and the held-back app deploys
    w.deploy.repo.git.fetch("origin", pulls[0]["head"])
    before = w.deploy.repo.head.commit.hexsha
    w.deploy.repo.git.merge("--no-ff", "-m", "Merge pull request #77 from acme/rollback", "FETCH_HEAD")
    code, out, err = w.cli("up", "--base", before, "--head", w.deploy.repo.head.commit.hexsha, "--branch", "main")
    assert code == 0, out + err
    assert f"staging/api {api[0][:12]}: health try 1/2: ok" in out
    assert (w.current("staging", "api"), w.current("staging", "web")) == (api[0], web[1])
    code, out, _ = w.cli("status", "--json")
    assert code == 0 and not any(c["drift"] for c in json.loads(out))


def test_a_failing_check_on_the_first_deploy_is_left_failed(tmp_path: Path):
    w = build(tmp_path, [BAD])
    api = w.shas["api"]
    code, _out, err = w.cli("up", "--stack", "staging")
    assert code == 1
    assert (f"api failed on its first deploy to staging: nothing to switch back to, left failed on "
            f"{api[0][:12]}") in err
    assert "held back (not deployed): web" in err
    assert w.current("staging", "api") == api[0]
    assert not (w.root / ".deployments/staging/web").exists()


def test_auto_rollback_false_leaves_the_failed_deploy(tmp_path: Path):
    w = deployed(build(tmp_path, [GOOD, BAD], auto_rollback=False))
    api = w.shas["api"]
    w.deploy.deploy("staging", "api", api[1])
    code, out, err = w.cli("up", "--stack", "staging")
    assert code == 1
    assert "deploys:autoRollback is false, so nothing was switched back" in err
    assert "switching back" not in out
    assert w.current("staging", "api") == api[1]


def test_a_health_command_changed_by_a_stack_config_override_is_named_in_the_preview_comment(tmp_path: Path):
    """`up` runs a health command through a shell on the deploy runner: a reviewer must see it change."""
    import yaml

    w = deployed(build(tmp_path, [GOOD]))
    config = yaml.safe_load((w.root / "Pulumi.staging.yaml").read_text())
    config["config"]["deploys:settings"] = {"api": {"health": {**HEALTH, "command": "curl -fsS http://10.0.0.1/x"}}}
    (w.root / "Pulumi.staging.yaml").write_text(yaml.safe_dump(config))
    comment = tmp_path / "comment.md"
    code, out, err = w.cli("preview", "--base", "HEAD", "--comment-file", str(comment))
    assert code == 0, out + err
    body = comment.read_text()
    row = next(line for line in body.splitlines() if "`api-health`" in line)
    assert row.startswith("| update |")
    assert "`health.command`: `sh check.sh` → `curl -fsS http://10.0.0.1/x`" in row, row


def test_a_secret_health_command_is_named_but_never_shown(tmp_path: Path):
    from pulumi import automation as auto

    w = deployed(build(tmp_path, [GOOD]))
    stack = w.engine().stack("staging")
    stack.set_config("deploys:settings.api.health.url", auto.ConfigValue(value="http://127.0.0.1:9/"), path=True)
    stack.set_config("deploys:settings.api.health.command", auto.ConfigValue(value="sh check.sh --token s3cr3t-value",
                                                                              secret=True), path=True)
    comment = tmp_path / "comment.md"
    code, out, err = w.cli("preview", "--base", "HEAD", "--comment-file", str(comment))
    assert code == 0, out + err
    body = comment.read_text()
    assert "s3cr3t-value" not in body + out + err
    row = next(line for line in body.splitlines() if "`api-health`" in line)
    assert row.startswith("| update |") and "`health" in row and "[secret]" in row, row
