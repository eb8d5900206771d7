"""Hostile input, tried for real, end to end through the commands: one test per class of input for each
field that reaches git, the filesystem, a PR comment, the status page, Slack or CODEOWNERS, and per way a
safeguard could be got round (a link, a silent server, a stale run, a retry, a rewritten branch).

Each test asserts three things: nothing executed (the marker file a payload would create is absent),
nothing outside the deploy root was touched, and what the error says (file:line, rule, what to do).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from deployctl.adapters.git.apprepos import AppRepo as CachedRepo
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.adapters.git.repourl import display_url, repo_url
from deployctl.adapters.github import ACTIONS_BOT, PREVIEW_MARKER, GitHub
from deployctl.adapters.notify import DeployNotice, slack_payload
from deployctl.core.change.plan import PlanChange
from deployctl.core.repo.commitinfo import CommitInfo
from deployctl.core.repo.envconfig import EnvSettings, parse_stack_config, resolve_deploy_root
from deployctl.core.repo.safegit import branch_problem, path_problem, repo_problem
from deployctl.core.trace.outcomes import Outcome
from deployctl.core.violations import CannotJudge
from deployctl.report.codeowners import render_codeowners
from deployctl.report.render import CommitLog, PreviewReport, StackPreview, render_comment
from tests.builders import AppRepo, DeployRepo
from tests.loopback import MODES, Mode, elapsed, stalling_server
from tests.scenario import run_cli

ZWJ = "\u200d"


# -- helpers --------------------------------------------------------------------------------------------


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """The file a payload would create if it ran; every test asserts it is absent."""
    return tmp_path / "PWNED"


def deploy_world(tmp_path: Path, apps: dict[str, dict[str, Any]] | None = None,
                 **staging: Any) -> tuple[DeployRepo, AppRepo, str]:
    """An app repo (with a `site/` folder) and a deploy repo with one env, committed."""
    app = AppRepo(tmp_path / "apps" / "web")
    sha = app.commit("first", {"site/index.html": "<h1>site</h1>\n", "docs/index.html": "<h1>docs</h1>\n"})
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog(apps or {"web": {"repo": str(app.path)}})
    deploy.env("staging", **staging)
    for name in apps or {"web": {}}:
        deploy.deploy("staging", name, sha, "first")
    deploy.commit("initial")
    return deploy, app, sha


def check_json(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(root, "check", "--json", *args, env=env)
    assert "Traceback" not in err, err
    return code, (json.loads(out) if out.strip() else {}), err


def violation(report: dict[str, Any], rule: str) -> dict[str, Any]:
    found = [v for v in report.get("violations", []) if v["rule"] == rule]
    assert found, report
    return found[0]


# -- repository values never reach git as options or transports -----------------------------------------


HOSTILE_REPOS = {
    "upload-pack option": "--upload-pack=touch {m};@x:y",
    "short option": "-uTouch {m}",
    "ssh option through -o": "-oProxyCommand=touch {m}",
    "template option": "--template=/tmp",
    "ext transport": "ext::sh -c touch% {m}",
    "fd transport": "fd::17",
    "git:// (plaintext)": "git://127.0.0.1/x.git",
    "http:// (plaintext)": "http://127.0.0.1/x.git",
    "newline then option": "https://example.com/x.git\n--upload-pack=touch {m}",
    "leading space": " --upload-pack=touch {m}",
    "ssh host as an option": "ssh://-oProxyCommand=touch%20{m}/x.git",
    "ssh user as an option": "ssh://-oProxyCommand=x@host/x.git",
    "scp host as an option": "git@-oProxyCommand=touch:x.git",
    "host:path without a user": "evil-host:x.git",
}


@pytest.mark.parametrize("value", HOSTILE_REPOS.values(), ids=HOSTILE_REPOS.keys())
def test_a_hostile_repo_value_is_a_catalog_error_and_runs_nothing(tmp_path: Path, marker: Path, value: str):
    spec = value.format(m=marker)
    deploy, _, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": spec}})
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    v = violation(report, "catalog")
    assert v["file"] == "apps.yaml" and v["line"] == 3  # apps: / web: / repo:
    assert "repo" in v["message"] and "cannot judge" in err
    assert not marker.exists()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_hostile_repo_value_is_refused_by_the_url_helper_and_the_app_repo_cache_alike(marker: Path, tmp_path: Path):
    """The program and the provider call repo_url/AppRepos directly, not through the catalog."""
    for value in HOSTILE_REPOS.values():
        with pytest.raises(CannotJudge, match=r"apps\.yaml"):
            repo_url(value.format(m=marker), tmp_path)
        with pytest.raises(CannotJudge):
            AppRepos(tmp_path, cache_dir=tmp_path / "cache").get(value.format(m=marker)).ensure_cloned()
    assert not marker.exists()


@pytest.mark.parametrize("value", ["https://github.com/acme/api.git", "ssh://git@github.com/acme/api.git",
                                   "git@github.com:acme/api.git", "file:///srv/git/api.git", "../apps/api",
                                   "/srv/git/api"])
def test_allowed_repository_forms(value: str):
    assert repo_problem(value) is None


# -- branch and path values: git check-ref-format, relative, no `..` ------------------------------------


@pytest.mark.parametrize("branch", ["--upload-pack=touch x", "-b", "a..b", "main branch", "main\n-x", "x^{}",
                                    "refs/heads/../x", "/main", "main.lock"])
def test_hostile_branch_is_a_catalog_error(tmp_path: Path, marker: Path, branch: str):
    deploy, app, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": str(app.path), "branch": branch}})
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    assert "branch" in violation(report, "catalog")["message"]
    assert branch_problem(branch) is not None and not marker.exists()


@pytest.mark.parametrize("path", ["../../etc", "/etc", "-x", "site/../../x", "site\n/x", ".", "a\\b"])
def test_hostile_app_path_is_a_catalog_error(tmp_path: Path, path: str):
    deploy, app, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": str(app.path), "path": path}})
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    v = violation(report, "catalog")
    assert "path" in v["message"] and v["line"] is not None
    assert path_problem(path) is not None


def test_hostile_refs_from_the_command_line_never_reach_git(tmp_path: Path, marker: Path):
    deploy, _, sha = deploy_world(tmp_path)
    code, _, err = run_cli(deploy.path, "check", "--base", f"--upload-pack=touch {marker}")
    assert code == 2 and "begins with '-'" in err and "Traceback" not in err
    code, _, err = run_cli(deploy.path, "plan", "--base", f"--output={marker}")
    assert code == 2 and not marker.exists()
    before = (deploy.path / "deploys/staging/web").read_bytes()
    code, _, err = run_cli(deploy.path, "bump", "staging", "web", sha, "--branch", f"--upload-pack=touch {marker}")
    assert code == 2 and "--branch" in err and "Traceback" not in err
    assert (deploy.path / "deploys/staging/web").read_bytes() == before
    assert deploy.repo.active_branch.name == "main" and not marker.exists()


def test_hostile_commit_token_is_a_syntax_error(tmp_path: Path, marker: Path):
    deploy, _, _ = deploy_world(tmp_path)
    deploy.write("deploys/staging/web", f"--upload-pack=touch {marker}\n")
    code, report, _ = check_json(deploy.path)
    assert code == 1
    assert violation(report, "syntax")["file"] == "deploys/staging/web"
    assert not marker.exists()


# -- names that become folders, stack names and CLI arguments -------------------------------------------


@pytest.mark.parametrize("name", ["..", "-rf", "a/b", ".git", "Stacks", "a b", "x" * 64])
def test_hostile_app_name_is_a_catalog_error(tmp_path: Path, name: str):
    deploy, app, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": str(app.path)}, name: {"repo": str(app.path)}})
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    assert violation(report, "catalog")["file"] == "apps.yaml"


@pytest.mark.parametrize("env", ["-rf", "--stack=production", "..x", "UPPER", "a_b"])
def test_hostile_env_name_is_refused_before_pulumi_sees_it(tmp_path: Path, env: str):
    deploy, _, sha = deploy_world(tmp_path)
    deploy.write(f"Pulumi.{env}.yaml", "config: {}\n")
    deploy.write(f"deploys/{env}/web", f"{sha}\n")
    code, report, err = check_json(deploy.path)
    assert code == 1, err
    assert any(v["rule"] == "invalid-path" and env in v["message"] + v["file"] for v in report["violations"])
    code, _, err = run_cli(deploy.path, "up", env=None)
    assert code == 1 and "invalid-path" in err and "Traceback" not in err
    assert not (deploy.path / ".pulumi-state").exists() and not (deploy.path / ".deployments").exists()


# -- an app's path must exist at the deployed commit (path-not-found) -----------------------------------


def test_an_app_path_missing_at_the_deployed_commit_is_an_error_before_anything_deploys(tmp_path: Path):
    deploy, app, sha = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": str(app.path), "path": "nonexistent"}})
    deploy.commit("a typo in path")
    code, report, _ = check_json(deploy.path)
    assert code == 1
    v = violation(report, "path-not-found")
    assert v["severity"] == "error" and v["file"] == "deploys/staging/web" and v["line"] == 1
    assert "'nonexistent'" in v["message"] and sha[:12] in v["message"] and "apps.yaml" in v["message"]
    # `up` runs the same safeguards first: nothing is deployed, no traceback
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 1 and "path-not-found" in err and "Traceback" not in err
    assert not (deploy.path / ".deployments").exists() and not (deploy.path / ".pulumi-state").exists()
    # a file where the folder should be is refused the same way; the folder that exists passes
    deploy.catalog({"web": {"repo": str(app.path), "path": "site/index.html"}})
    assert violation(check_json(deploy.path)[1], "path-not-found")["line"] == 1
    deploy.catalog({"web": {"repo": str(app.path), "path": "site/"}})
    code, report, _ = check_json(deploy.path)
    assert code == 0, report


# -- no hang: an app repository server that accepts and never answers -----------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A real TCP server on loopback that accepts every connection and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    sock.close()


CASES = {  # scheme, DEPLOYCTL_GIT_CONNECT_TIMEOUT, DEPLOYCTL_GIT_TIMEOUT, what the error says
    "https: no TLS answer within the connect timeout": ("https", "2", "120", "no TLS answer within 2 s"),
    "ssh: no banner within ssh's ConnectTimeout": ("ssh", "2", "120", "banner exchange"),
    "ssh: the wall-clock cap kills git and ssh": ("ssh", "60", "3", "no answer within 3 s"),
}


@pytest.mark.parametrize(("scheme", "connect", "cap", "says"), CASES.values(), ids=CASES.keys())
def test_check_against_an_app_repo_server_that_never_answers_fails_in_bounded_time(
        tmp_path: Path, silent_server: int, scheme: str, connect: str, cap: str, says: str):
    url = (f"https://127.0.0.1:{silent_server}/acme/web.git" if scheme == "https"
           else f"ssh://git@127.0.0.1:{silent_server}/acme/web.git")
    deploy, _, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": url}})
    env = {**os.environ, "DEPLOYCTL_GIT_CONNECT_TIMEOUT": connect, "DEPLOYCTL_GIT_TIMEOUT": cap}
    started = time.monotonic()
    code, _, err = run_cli(deploy.path, "check", env=env)
    elapsed = time.monotonic() - started
    assert code == 2, err
    assert elapsed < 20, f"took {elapsed:.1f} s"
    assert f"cannot clone {display_url(url)}" in err and says in err and "Traceback" not in err


def test_a_warm_cache_fetch_from_a_server_that_never_answers_fails_in_bounded_time(
        tmp_path: Path, silent_server: int, monkeypatch: pytest.MonkeyPatch):
    app = AppRepo(tmp_path / "app")
    app.commit("one")
    warm = AppRepos(tmp_path, cache_dir=tmp_path / "cache").get(str(app.path))
    warm.ensure_cloned()
    url = f"https://127.0.0.1:{silent_server}/acme/app.git"
    subprocess.run(["git", "--git-dir", str(warm.path), "remote", "set-url", "origin", url], check=True)
    monkeypatch.setenv("DEPLOYCTL_GIT_CONNECT_TIMEOUT", "2")
    cached = CachedRepo(url, warm.path, offline=False)
    started = time.monotonic()
    said = r"cannot fetch https://127\.0\.0\.1:\d+/acme/app\.git: no TLS answer within 2 s"
    with pytest.raises(CannotJudge, match=said):
        cached.fetch()
    assert time.monotonic() - started < 15
    assert cached.branch_tip("main") == app.head()  # the cache still answers


@pytest.mark.engine
def test_status_answers_from_a_warm_cache_when_the_app_repo_server_never_answers(tmp_path: Path,
                                                                                 silent_server: int):
    deploy, app, sha = deploy_world(tmp_path)
    url = f"https://127.0.0.1:{silent_server}/acme/web.git"
    deploy.catalog({"web": {"repo": url}})
    deploy.copy_program()
    deploy.commit("the app moved to a server that stopped answering")
    cached = AppRepos(deploy.path).get(url)  # the cache this test's deployctl uses (DEPLOYCTL_CACHE)
    cached.path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--bare", "--quiet", "--", str(app.path), str(cached.path)], check=True)
    subprocess.run(["git", "--git-dir", str(cached.path), "remote", "set-url", "origin", url], check=True)
    started = time.monotonic()
    code, out, err = run_cli(deploy.path, "status", env={**os.environ, "DEPLOYCTL_GIT_CONNECT_TIMEOUT": "2"})
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert elapsed < 60, f"took {elapsed:.1f} s"
    assert "web" in out and sha[:8] in out and "Traceback" not in err


DEPLOY_REMOTE_CASES = {  # scheme, what the info line says (the https probe raises; ssh's own timeout fails git)
    "https: no TLS answer within the connect timeout": ("https", "no TLS answer within 2 s"),
    "ssh: no banner within ssh's ConnectTimeout": ("ssh", "banner exchange"),
}


@pytest.mark.parametrize(("scheme", "says"), DEPLOY_REMOTE_CASES.values(), ids=DEPLOY_REMOTE_CASES.keys())
def test_up_fetch_of_a_silent_deploy_remote_is_bounded_and_does_not_stop_the_run(
        tmp_path: Path, silent_server: int, scheme: str, says: str):
    """`up --head`'s fetch of the deploy branch goes through the bounded network git: a remote that
    accepts and never answers costs seconds (not git's own minutes), and the run goes on."""
    deploy, _, _ = deploy_world(tmp_path)
    base = deploy.repo.head.commit.hexsha
    deploy.write("NOTES.md", "nothing that deploys\n")
    head = deploy.commit("notes")
    url = (f"https://127.0.0.1:{silent_server}/acme/deploy.git" if scheme == "https"
           else f"ssh://git@127.0.0.1:{silent_server}/acme/deploy.git")
    deploy.repo.create_remote("origin", url)
    env = {**os.environ, "DEPLOYCTL_GIT_CONNECT_TIMEOUT": "2", "DEPLOYCTL_GIT_TIMEOUT": "120"}
    started = time.monotonic()
    code, _, err = run_cli(deploy.path, "up", "--base", base, "--head", head, env=env)
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert elapsed < 20, f"took {elapsed:.1f} s"
    assert "could not fetch origin/main (" in err and says in err, err
    assert "judging staleness from the local ref" in err and "Traceback" not in err


def test_stale_guard_fetch_of_a_silent_origin_is_bounded(tmp_path: Path, silent_server: int,
                                                          monkeypatch: pytest.MonkeyPatch):
    """The stale-run guard asks origin for a commit the clone lacks through the bounded network git:
    a silent origin answers "unknown" within the connect timeout."""
    from deployctl.adapters.git.repo import DeployRepo

    deploy, _, _ = deploy_world(tmp_path)
    deploy.repo.create_remote("origin", f"https://127.0.0.1:{silent_server}/acme/deploy.git")
    monkeypatch.setenv("DEPLOYCTL_GIT_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("DEPLOYCTL_GIT_TIMEOUT", "120")
    started = time.monotonic()
    assert not DeployRepo(deploy.path).knows("f" * 40)
    assert time.monotonic() - started < 15
    assert DeployRepo(deploy.path).knows(deploy.repo.head.commit.hexsha)  # a commit it has: no network at all


def test_the_rollback_push_to_a_silent_origin_is_bounded_and_says_what_to_run(tmp_path: Path, silent_server: int,
                                                                            monkeypatch: pytest.MonkeyPatch):
    """up --post pushes the [rollback] branch through the bounded network git: a silent origin fails
    within the connect timeout, the message names origin without its credentials and the commands
    to run by hand."""
    from deployctl.adapters.pulumi.switchback import rollback_opener

    deploy, _, _ = deploy_world(tmp_path)
    deploy.repo.create_remote("origin", f"https://bot:s3cret@127.0.0.1:{silent_server}/acme/deploy.git")
    monkeypatch.setenv("DEPLOYCTL_GIT_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("DEPLOYCTL_GIT_TIMEOUT", "120")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/deploy")
    said: list[str] = []
    app = next(iter(deploy.repo.head.commit.tree / "deploys" / "staging")).name
    started = time.monotonic()
    assert rollback_opener(deploy.path, "staging", "origin/main", said.append)({app: ("a" * 40, "b" * 40)}) is None
    assert time.monotonic() - started < 15
    assert len(said) == 1 and "could not open the [rollback] pull request: cannot push to" in said[0]
    assert "s3cret" not in said[0] and f"deployctl rollback staging {app} --to {'b' * 40}" in said[0]


# -- owners and reviewers: only GitHub user, team or email syntax reaches CODEOWNERS --------------------


HOSTILE_OWNERS = {
    "newline rule": "@acme/api\n/** @mallory",
    "carriage return": "@acme/api\r/** @mallory",
    "comment": "@acme/api # x",
    "space": "@acme api",
    "a pattern": "/**",
    "bare at": "@",
    "no at": "mallory",
    "double slash team": "@acme//api",
}


@pytest.mark.parametrize("owner", HOSTILE_OWNERS.values(), ids=HOSTILE_OWNERS.keys())
def test_a_hostile_app_owner_never_reaches_codeowners(tmp_path: Path, owner: str):
    deploy, app, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": str(app.path), "owners": [owner]}})
    code, _, err = run_cli(deploy.path, "codeowners")
    assert code == 2 and "apps.yaml:" in err and "catalog" in err and "owner" in err
    assert not (deploy.path / ".github/CODEOWNERS").exists()


@pytest.mark.parametrize("owner", HOSTILE_OWNERS.values(), ids=HOSTILE_OWNERS.keys())
def test_a_hostile_env_reviewer_is_a_stack_config_error(tmp_path: Path, owner: str):
    deploy, _, _ = deploy_world(tmp_path, protected=True, reviewers=["@acme/release", owner])
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    v = violation(report, "stack-config")
    assert v["file"] == "Pulumi.staging.yaml" and "reviewers" in v["message"]


def test_valid_owners_render_one_rule_each(tmp_path: Path):
    deploy, app, _ = deploy_world(tmp_path, protected=True, reviewers=["@acme/release-managers", "@bob"])
    deploy.catalog({"web": {"repo": str(app.path), "owners": ["@acme/web.team", "alice@example.com", "@a-b"]}})
    code, _, err = run_cli(deploy.path, "codeowners")
    assert code == 0, err
    rules = [ln for ln in (deploy.path / ".github/CODEOWNERS").read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert "/deploys/staging/ @acme/release-managers @bob" in rules
    assert rules[0] == "* @acme/release-managers @bob"  # the one catch-all, first, then only paths
    assert all(ln.startswith("/") for ln in rules[1:]) and not any("/**" in ln for ln in rules)


# -- deployRoot stays inside .deployments/; components delete only what they created --------------------


@pytest.mark.parametrize("root", ["/tmp/victim", ".", "deploys", "stacks", ".deployments", ".deployments/../stacks",
                                  "../outside", ".deployments/staging\n"])
def test_a_deploy_root_outside_deployments_is_a_stack_config_error(tmp_path: Path, root: str):
    deploy, _, _ = deploy_world(tmp_path, deployRoot=root)
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    v = violation(report, "stack-config")
    assert v["file"] == "Pulumi.staging.yaml" and v["line"] == 2 and "deployRoot" in v["message"]
    assert "allowExternalRoot" in v["message"] or "control character" in v["message"]


def test_up_with_an_external_deploy_root_deletes_nothing_there(tmp_path: Path):
    victim = tmp_path / "victim"
    (victim / "web").mkdir(parents=True)
    (victim / "web" / "precious.txt").write_text("keep me")
    deploy, _, _ = deploy_world(tmp_path, deployRoot=str(victim))
    deploy.remove("deploys/staging/web")
    deploy.commit("remove web")
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 2 and "deployRoot" in err and "Traceback" not in err
    assert (victim / "web" / "precious.txt").read_text() == "keep me"


def test_an_external_root_is_allowed_only_when_the_env_says_so(tmp_path: Path):
    text = yaml.safe_dump({"config": {"deploys:deployRoot": "/srv/apps", "deploys:allowExternalRoot": True}})
    assert parse_stack_config("staging", text).settings.deploy_root == "/srv/apps"


def test_a_symlinked_deploy_root_is_resolved_before_it_is_trusted(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "deploy"
    (root / ".deployments").mkdir(parents=True)
    (root / ".deployments" / "staging").symlink_to(outside)
    with pytest.raises(ValueError, match="symbolic link"):
        resolve_deploy_root(root, "staging", EnvSettings())
    assert resolve_deploy_root(root, "prod", EnvSettings()) == (root / ".deployments/prod").resolve()
    assert resolve_deploy_root(root, "x", EnvSettings(deployRoot=str(outside), allowExternalRoot=True)) == outside


# -- promoteFrom cycles ---------------------------------------------------------------------------------


def test_a_promote_from_cycle_of_two_envs_is_a_stack_config_error(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path, promoteFrom="production")
    deploy.env("production", promoteFrom="staging")
    deploy.commit("a cycle")
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    v = violation(report, "stack-config")
    assert v["file"] in ("Pulumi.production.yaml", "Pulumi.staging.yaml") and v["line"] == 2
    assert "cycle" in v["message"] and "production" in v["message"] and "staging" in v["message"]


# -- a path that cannot be written ----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["missing/dir/comment.md", "a-file/comment.md", "."])
def test_an_unwritable_comment_file_names_the_path_and_the_reason(tmp_path: Path, target: str):
    deploy, _, _ = deploy_world(tmp_path)
    (tmp_path / "a-file").write_text("")
    path = tmp_path / target
    code, _, err = run_cli(deploy.path, "preview", "--base", "HEAD", "--comment-file", str(path))
    assert code == 2, err
    assert f"cannot write {path}" in err
    assert any(r in err for r in ("No such file or directory", "Not a directory", "Is a directory"))
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.engine
def test_an_unwritable_status_page_names_the_path_and_the_reason(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path)
    deploy.copy_program()
    path = tmp_path / "no" / "such" / "status.html"
    code, _, err = run_cli(deploy.path, "status", "--html", str(path))
    assert code == 2, err
    assert f"cannot write {path}: No such file or directory" in err and "internal error" not in err


# -- the preview comment: found by marker AND by the token's identity -----------------------------------


class Comments:
    """One PR's comments on a loopback GitHub: GET /user answers `login`, or 403 for an Actions token."""

    def __init__(self, server: HTTPServer, login: str | None):
        self.comments: list[dict[str, Any]] = []
        self.patched: list[int] = []
        self.url = server.url_for("").rstrip("/")
        if login is None:
            server.expect_request("/user").respond_with_json(
                {"message": "Resource not accessible by integration"}, status=403)
        else:
            server.expect_request("/user").respond_with_json({"login": login})
        server.expect_request("/repos/acme/deploys/issues/3/comments").respond_with_handler(self.list_or_post)
        server.expect_request(
            re.compile(r"^/repos/acme/deploys/issues/comments/\d+$")).respond_with_handler(self.patch)

    def add(self, author: str, body: str) -> int:
        self.comments.append({"id": 100 + len(self.comments), "user": {"login": author}, "body": body})
        return self.comments[-1]["id"]

    def list_or_post(self, request: Request) -> Response:
        if request.method == "POST":
            return Response(json.dumps({"id": self.add("deployctl-token-owner", request.get_json()["body"])}), 201,
                            content_type="application/json")
        return Response(json.dumps(self.comments), 200, content_type="application/json")

    def patch(self, request: Request) -> Response:
        comment_id = int(request.path.rsplit("/", 1)[-1])
        self.patched.append(comment_id)
        comment = next(c for c in self.comments if c["id"] == comment_id)
        comment["body"] = request.get_json()["body"]
        return Response(json.dumps(comment), 200, content_type="application/json")


def test_a_forged_marked_comment_is_neither_edited_nor_taken_for_the_preview(httpserver: HTTPServer):
    gh_comments = Comments(httpserver, login="deployctl-token-owner")
    forged = gh_comments.add("mallory", f"{PREVIEW_MARKER}\n## ✅ deployctl preview: all passed")
    with GitHub("ghp_token", api_url=gh_comments.url, sleep=lambda _: None) as gh:
        action, comment_id = gh.upsert_comment("acme/deploys", 3, "## ❌ 1 safeguard error(s)")
        assert gh.identity() == "deployctl-token-owner"
    assert action == "created" and comment_id != forged and gh_comments.patched == []
    assert gh_comments.comments[0]["body"].endswith("all passed")  # mallory's text is untouched
    ours = [c for c in gh_comments.comments if c["user"]["login"] == "deployctl-token-owner"]
    assert [c["body"] for c in ours] == [f"{PREVIEW_MARKER}\n## ❌ 1 safeguard error(s)"]
    # the next push edits our comment, never mallory's
    with GitHub("ghp_token", api_url=gh_comments.url, sleep=lambda _: None) as gh:
        assert gh.upsert_comment("acme/deploys", 3, "## ✅ fixed") == ("updated", comment_id)
    assert gh_comments.patched == [comment_id]


def test_with_the_actions_token_only_github_actions_bots_marked_comment_is_edited(httpserver: HTTPServer):
    gh_comments = Comments(httpserver, login=None)
    forged = gh_comments.add("mallory", f"{PREVIEW_MARKER}\nforged")
    ours = gh_comments.add(ACTIONS_BOT, f"{PREVIEW_MARKER}\nold preview")
    with GitHub("ghs_actions", api_url=gh_comments.url, sleep=lambda _: None) as gh:
        assert gh.upsert_comment("acme/deploys", 3, "new preview") == ("updated", ours)
    assert gh_comments.patched == [ours]
    assert next(c for c in gh_comments.comments if c["id"] == forged)["body"].endswith("forged")


# -- text from commits, authors and comments: inert in Markdown, HTML and Slack -------------------------


HOSTILE_TEXT = {
    "closes details": "</details><details open><summary>all passed</summary>",
    "opens an HTML comment": "<!-- hide the rest",
    "team mention": "cc @acme/release-managers",
    "user mention": "@mallory please approve",
    "script": "<script>alert(1)</script>",
    "markdown link": "[all passed](https://evil.example)",
    "table cell break": "a | b | c",
    "newline heading": "fix\n## ✅ all passed",
}


def _report_with(subject: str, author: str) -> PreviewReport:
    info = CommitInfo(sha="a" * 40, author=author, email="m@example.com", time=datetime(2026, 1, 1, tzinfo=UTC),
                      subject=subject)
    change = PlanChange(env="staging", app="web", op="update", old="b" * 40, new="a" * 40)
    stack = StackPreview(env="staging", changes=[change],
                         logs={"web": CommitLog(count=1, commits=[info], author=author)},
                         outcome=Outcome(env="staging", ok=False, error=f"provider said: {subject} ```` end"))
    return PreviewReport(base="c" * 40, head=None, stacks=[stack])


def _outside_fences(body: str) -> str:
    """The markdown GitHub interprets: fenced code blocks are shown as they are, so they are left out."""
    out, fence = [], None
    for line in body.splitlines():
        if set(line) == {"`"} and len(line) >= 3:
            fence = None if fence == line else (fence or line)
            continue
        if fence is None:
            out.append(line)
    return "\n".join(out)


def _assert_inert_markdown(body: str, text: str) -> None:
    body = _outside_fences(body)
    assert body.count("</details>") == body.count("<details>")  # only the template's own pairs
    assert body.count("<!--") == 1 and body.startswith(PREVIEW_MARKER)  # only the marker
    assert "<script" not in body and "](https://evil" not in body
    assert "\n## ✅ all passed" not in body
    for line in body.splitlines():
        if "@" in line and not line.startswith("<!--"):
            assert all(ch == ZWJ or not ch.isalnum() for ch in [line[line.index("@") + 1]]), line


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_a_hostile_commit_subject_and_author_are_inert_in_the_pr_comment(text: str):
    body = render_comment(_report_with(text, text))
    _assert_inert_markdown(body, text)
    assert "\n## ✅ all passed" not in _outside_fences(body) and "](https://evil" not in _outside_fences(body)
    fences = [ln for ln in body.splitlines() if set(ln) == {"`"}]
    assert len(fences) == 2 and len(fences[0]) > 4  # the error's fence outlives its backticks


def test_a_hostile_subject_and_author_of_a_real_commit_are_inert_in_the_preview_comment(tmp_path: Path, marker: Path):
    from deployctl.commands.preview import build_preview

    deploy, app, _ = deploy_world(tmp_path)
    import git

    mallory = git.Actor("@mallory **approved** [x](https://evil.example) |", "m@example.com")
    new = app.commit("</details><!-- @acme/release-managers $(touch " + str(marker) + ")", author=mallory)
    deploy.deploy("staging", "web", new, "<!-- @acme/team `x` </details>")
    report, _ = build_preview(deploy.path, "HEAD", None, datetime.now(UTC), run_engine=False)
    body = render_comment(report)
    _assert_inert_markdown(body, "")
    assert "&lt;/details&gt;" in body and f"@{ZWJ}mallory" in body and "\\*\\*approved" in body
    assert f"@{ZWJ}acme/release" in body
    assert not marker.exists()


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_a_hostile_deploy_comment_and_author_are_escaped_on_the_status_page(tmp_path: Path, text: str):
    from deployctl.adapters.git.log import deploy_history, first_parent_order
    from deployctl.adapters.git.reads import commit_snapshot
    from deployctl.core.trace.history import join
    from deployctl.core.trace.statusdata import build_status
    from deployctl.report.status import render_html

    deploy, app, _ = deploy_world(tmp_path)
    second = app.commit("two")
    deploy.deploy("staging", "web", second, text.replace("\n", " "))
    deploy.repo.git.add("-A")
    deploy.repo.git.commit("-q", "-m", "deploy", env={**os.environ, "GIT_AUTHOR_NAME": text.replace("\n", " "),
                                                        "GIT_AUTHOR_EMAIL": "m@example.com"})
    history = join(deploy_history(deploy.repo, "HEAD"), {}, first_parent_order(deploy.repo, "HEAD"))
    report = build_status(commit_snapshot(deploy.repo, "HEAD"), {}, history, lambda *a: None, lambda *a: None,
                          datetime.now(UTC))
    page = render_html(report)
    raw = text.replace("\n", " ")
    if "<" in raw:
        assert raw not in page
        assert raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page.replace("&#34;", '"') \
            .replace("&#39;", "'")
    assert "<script>alert" not in page and "<!-- hide" not in page


@pytest.mark.parametrize("text", [*HOSTILE_TEXT.values(), "<!channel> <!here> <@U123>", "@channel @here"])
def test_slack_text_cannot_mention_anyone_or_link(text: str):
    payload = slack_payload(DeployNotice(env="staging", result="failed", message=text))
    blob = json.dumps(payload, ensure_ascii=False)
    assert "<!channel>" not in blob and "<!here>" not in blob and "<@U123>" not in blob and "<script" not in blob
    assert "@channel" not in blob and "@here" not in blob and "@mallory" not in blob and "@acme" not in blob


# -- secrets stay secret: AWS kinds under mocks, the local kind on the real engine ----------------------


@pytest.mark.engine
def test_a_secret_setting_is_encrypted_in_the_state_file_and_absent_from_the_outputs(tmp_path: Path):
    from deployctl.adapters.pulumi.engine import Engine

    deploy, _, _ = deploy_world(tmp_path)
    deploy.copy_program()
    deploy.commit("program")
    engine = Engine(deploy.path)
    stack = engine.stack("staging")
    stack.set_config("deploys:settings.web.keep_releases",
                     __import__("pulumi").automation.ConfigValue(value="937", secret=True), path=True)
    assert "secure:" in (deploy.path / "Pulumi.staging.yaml").read_text()
    code, report, err = check_json(deploy.path)
    assert code == 0, (report, err)
    outcome = engine.up("staging", "with a secret setting")
    assert outcome.ok, outcome.error
    state = json.dumps(stack.export_stack().deployment)
    assert '"keep_releases": 937' not in state and '"keep_releases": "937"' not in state
    files = [f for f in (deploy.path / ".pulumi-state").rglob("staging.json*") if not f.name.endswith(".attrs")]
    assert files  # the state file itself, as the backend wrote it
    for file in files:
        text = file.read_text(errors="replace")
        assert "keep_releases" in text and not re.search(r'"keep_releases":\s*"?937', text), file
    release = next(r for r in stack.export_stack().deployment["resources"] if r["urn"].endswith("::web-release"))
    for side in ("inputs", "outputs"):
        assert "4dabf18193072939515e22adb298388d" in json.dumps(release[side]["keep_releases"]), side
    standalone = re.compile(r"(?<![0-9a-f])937(?![0-9a-f])")  # the value, not 937 inside a commit hash
    assert not standalone.search(json.dumps(outcome.outputs))
    assert not standalone.search(json.dumps([c.model_dump() for c in outcome.changes]))


# -- releases keyed by commit and path; the component deletes only what it created ----------------------


@pytest.mark.engine
def test_changing_an_apps_path_alone_deploys_the_new_folders_content(tmp_path: Path):
    deploy, app, _ = deploy_world(tmp_path, deployRoot=".deployments/staging")
    deploy.catalog({"web": {"repo": str(app.path), "path": "site"}})
    deploy.copy_program()
    deploy.commit("site")
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 0, err
    current = deploy.path / ".deployments/staging/web/current"
    assert (current / "index.html").read_text() == "<h1>site</h1>\n"
    deploy.catalog({"web": {"repo": str(app.path), "path": "docs"}})  # same commit, other folder
    deploy.commit("docs")
    code, out, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 0, err
    assert (current / "index.html").read_text() == "<h1>docs</h1>\n"
    assert "update 1" in out


@pytest.mark.engine
def test_a_foreign_folder_is_never_deployed_into_nor_deleted_and_the_failure_is_one_line(
        tmp_path: Path, httpserver: HTTPServer):
    posted: list[dict[str, Any]] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (posted.append(r.get_json()), Response("ok"))[1])
    deploy, app, _ = deploy_world(tmp_path, apps={"web": {}, "api": {}})
    deploy.catalog({"web": {"repo": str(app.path), "path": "site"}, "api": {"repo": str(app.path)}})
    foreign = deploy.path / ".deployments/staging/api"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("not deployctl's")
    deploy.copy_program()
    deploy.commit("program")
    logs = tmp_path / "logs"
    env = {**os.environ, "DEPLOYCTL_SLACK_WEBHOOK": httpserver.url_for("/hook"), "DEPLOYCTL_LOG_DIR": str(logs)}
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging", env=env)
    assert code == 1
    assert "Traceback" not in err, err
    line = next(ln for ln in err.splitlines() if "failed:" in ln)
    assert line.startswith("deployctl: staging: failed: app api: ")
    assert "not created by deployctl" in line and ".deployments/staging/api" in line  # relative to the repo
    log_file = Path(line.split("(full engine log: ", 1)[1].rstrip(")"))
    assert log_file.parent == logs and "Traceback" in log_file.read_text()
    assert (foreign / "precious.txt").read_text() == "not deployctl's"
    assert sorted(p.name for p in foreign.iterdir()) == ["precious.txt"]
    (message,) = [b["text"]["text"] for p in posted for b in p["blocks"]
                  if b["type"] == "section" and "failed:" in b["text"]["text"]]
    assert message.startswith("staging: failed: app api: ") and "Traceback" not in message and "\n" not in message

    # the foreign folder moved away, the app deploys; removing its deploy file deletes only what
    # deployctl created: a file someone added beside the releases stays
    (foreign / "precious.txt").unlink()
    foreign.rmdir()
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 0, err
    (foreign / "notes.txt").write_text("added by a person")
    deploy.remove("deploys/staging/api")
    deploy.commit("remove api")
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 0, err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert (deploy.path / ".deployments/staging/web/current/index.html").exists()


def test_a_program_failure_names_the_stack_and_a_resource_failure_names_the_app():
    from deployctl.core.trace.outcomes import failed_outcome

    stack_urn = "urn:pulumi:staging::deploys::pulumi:pulumi:Stack::deploys-staging"
    release_urn = "urn:pulumi:staging::deploys::deploys:apps:LocalApp$pulumi-python:dynamic:Resource::web-api-release"
    def component(app: str) -> dict[str, Any]:
        urn = f"urn:pulumi:staging::deploys::deploys:apps:LocalApp::{app}"
        return {"resourcePreEvent": {"metadata": {"type": "deploys:apps:LocalApp", "op": "create", "urn": urn}}}

    traceback = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in create\n    raise RuntimeError(\n"
                 "RuntimeError: /srv/x exists and was not created by deployctl\n")
    events = [component("web-api"), component("web"),
              {"diagnosticEvent": {"severity": "error", "message": "update failed\n", "urn": stack_urn}},
              {"diagnosticEvent": {"severity": "error", "message": traceback, "urn": release_urn}}]
    outcome = failed_outcome("staging", events, "full engine output")
    assert outcome.failed_app == "web-api"  # the longest app name the resource belongs to
    assert outcome.failure_line() == "staging: failed: app web-api: /srv/x exists and was not created by deployctl"
    program = [{"diagnosticEvent": {"severity": "error", "urn": stack_urn,
                                    "message": "deploys/staging/web:1: error syntax: bad\n"}},
               {"diagnosticEvent": {"severity": "error", "urn": stack_urn, "message": "update failed\n"}}]
    line = failed_outcome("staging", program, "").failure_line()
    assert line == "staging: failed: the stack: deploys/staging/web:1: error syntax: bad"
    assert "\n" not in failed_outcome("staging", [], "error: " + traceback).failure_line()


def test_codeowners_render_refuses_an_owner_that_skipped_validation():
    from deployctl.core.repo.catalog import App, Catalog

    catalog = Catalog.model_construct(apps={"web": App.model_construct(repo="x", owners=["@a\n/** @m"])})
    with pytest.raises(ValueError, match="not a GitHub owner"):
        render_codeowners(catalog, {"staging": parse_stack_config("staging", "config: {}\n")})


# -- the local component on the filesystem: what it claims, prunes and deletes --------------------------


def test_the_local_component_claims_only_what_is_free_and_deletes_only_what_it_wrote(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from deployctl.components.local import MARKER, claim_app_dir, prune_releases, release_name, remove_app_dir

    monkeypatch.chdir(tmp_path)  # the provider runs in the checkout
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "data.txt").write_text("precious")
    root = Path(".deployments/staging")
    root.mkdir(parents=True)

    (root / "linked").symlink_to(outside)  # a link where an app folder goes
    with pytest.raises(RuntimeError, match="symbolic link"):
        claim_app_dir(root, "linked", "staging")
    assert remove_app_dir(root, "linked", "staging") == [] and (outside / "keep" / "data.txt").exists()

    (root / "foreign").mkdir()
    (root / "foreign" / "notes.txt").write_text("someone's")
    with pytest.raises(RuntimeError, match="not created by deployctl"):
        claim_app_dir(root, "foreign", "staging")
    assert remove_app_dir(root, "foreign", "staging") == [] and (root / "foreign" / "notes.txt").exists()

    app = claim_app_dir(root, "web", "staging")
    assert (app / MARKER).is_file()
    releases = app / "releases"
    for age, name in ((100, "a" * 40), (0, "b" * 40)):
        (releases / name).mkdir(parents=True)
        os.utime(releases / name, (time.time() - age, time.time() - age))
    (releases / ("c" * 40)).symlink_to(outside / "keep")  # planted among the releases
    assert prune_releases(app, 1, "b" * 40) == ["a" * 40]
    assert (outside / "keep" / "data.txt").exists()
    (app / "notes.txt").write_text("a person's")
    assert remove_app_dir(root, "web", "production") == []  # another env's stack deletes nothing
    assert set(remove_app_dir(root, "web", "staging")) == {f"releases/{'b' * 40}", MARKER}
    assert sorted(p.name for p in app.iterdir()) == ["notes.txt", "releases"]  # the planted link stays
    assert (outside / "keep" / "data.txt").read_text() == "precious"
    assert release_name("d" * 40, None) == "d" * 40
    assert release_name("d" * 40, "site") == release_name("d" * 40, "/site/") != release_name("d" * 40, "docs")


# -- terminal output: escape sequences in comments and subjects -----------------------------------------


def test_a_deploy_comment_cannot_drive_the_terminal(tmp_path: Path):
    deploy, app, _ = deploy_world(tmp_path)
    second = app.commit("second\x1b[2J subject", {"site/index.html": "<h1>two</h1>\n"})
    hostile = "retitled \x1b]0;pwned\x07 hidden \x1b[8m text \x9b31m"
    before = deploy.repo.head.commit.hexsha
    deploy.deploy("staging", "web", second, hostile)
    deploy.commit("a hostile comment")
    code, out, err = run_cli(deploy.path, "check", "--base", before, "--offline")  # such a line never merges now
    assert code == 1 and "deploys/staging/web:1: error syntax: the control character U+001B" in out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out + err)
    for args in (("history", "--no-engine"),):  # one merged before the grammar refused it is still shown inert
        code, out, err = run_cli(deploy.path, *args)
        assert code == 0, err
        assert "retitled" in out and "hidden" in out  # the text is shown ...
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out + err)  # ... with no control character
    code, out, _ = run_cli(deploy.path, "history", "--no-engine", "--json")
    assert code == 0 and hostile in json.loads(out)[0]["comment"]  # JSON keeps the text exactly, escaped


# -- bounded YAML, inert names, the status page's PR links ----------------------------------------------


def _alias_bomb(refs: int, levels: int, indent: str = "    ") -> list[str]:
    """`a0: &a0 [x, y]`, then each level a list of `refs` aliases of the one before: refs**levels values."""
    lines = [f"{indent}a0: &a0 [x, y]"]
    lines += [f"{indent}a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * refs)}]" for i in range(1, levels + 1)]
    return lines


def _refused_quickly(call: Any) -> Exception:
    """What `call` raised, asserting it took well under a second and little memory."""
    import tracemalloc

    tracemalloc.start()
    started = time.perf_counter()
    try:
        call()
    except Exception as exc:
        elapsed, (_, peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < 0.5 and peak < 5_000_000, (elapsed, peak)
        return exc
    tracemalloc.stop()
    raise AssertionError("not refused")


def test_a_yaml_alias_bomb_in_a_stack_config_is_refused_quickly_at_its_anchor():
    from deployctl.core.repo.yamlfile import YamlError

    text = "\n".join(["config:", "  deploys:settings:", "    web:", *_alias_bomb(10, 9, "      ")]) + "\n"
    exc = _refused_quickly(lambda: parse_stack_config("bomb", text))  # 10**9 values if expanded
    assert isinstance(exc, YamlError)
    [v] = exc.violations
    assert (v.file, v.rule, v.line) == ("Pulumi.bomb.yaml", "stack-config", 12)  # the anchor &a8, used 10 times
    assert "aliases" in v.message and "write the shared values out" in v.message


def test_a_yaml_alias_bomb_in_the_catalog_is_refused_quickly_and_check_cannot_judge(tmp_path: Path):
    from deployctl.core.repo.catalog import parse_catalog
    from deployctl.core.repo.yamlfile import YamlError

    text = "\n".join(["apps:", "  web:", "    repo: https://github.com/acme/web.git", "    settings:",
                      "      bomb:", *_alias_bomb(10, 9, "        ")]) + "\n"
    exc = _refused_quickly(lambda: parse_catalog(text))
    assert isinstance(exc, YamlError) and exc.violations[0].file == "apps.yaml"
    deploy, _, _ = deploy_world(tmp_path)
    deploy.write("apps.yaml", text)
    deploy.commit("a bomb")
    started = time.perf_counter()
    code, report, err = check_json(deploy.path)
    assert code == 2 and time.perf_counter() - started < 10, err
    v = violation(report, "catalog")
    assert v["file"] == "apps.yaml" and v["line"] == 14 and "aliases" in v["message"]


def test_a_self_referencing_alias_and_deep_nesting_are_refused_at_their_line():
    from deployctl.core.repo.yamlfile import MAX_DEPTH, YamlError, load_yaml

    with pytest.raises(YamlError, match=r"f\.yaml:2: .*contains it"):
        load_yaml("a: 1\nb: &loop [x, *loop]\n", "f.yaml", "catalog")
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(YamlError, match=r"nest more than 64 levels"):
        load_yaml(f"a: {deep}\n", "f.yaml", "catalog")
    # nesting that only aliases make deep is counted as it expands
    half = "[" * 40 + "x" + "]" * 40
    with pytest.raises(YamlError, match=r"f\.yaml:2: .*nest more than"):
        load_yaml(f"a: &half {half}\nb: {'[' * 40}*half{']' * 40}\n", "f.yaml", "catalog")
    exc = _refused_quickly(lambda: load_yaml("[" * 5000 + "]" * 5000, "f.yaml", "catalog"))
    assert isinstance(exc, YamlError)


def test_modest_yaml_aliases_still_load():
    from deployctl.core.repo.catalog import parse_catalog

    catalog = parse_catalog(
        "apps:\n"
        "  web: {repo: https://github.com/acme/web.git, settings: {environment: &log {LOG: info}, keep_releases: 3}}\n"
        "  api: {repo: https://github.com/acme/api.git, settings: {environment: *log, keep_releases: 5}}\n")
    assert catalog.apps["web"].settings == {"environment": {"LOG": "info"}, "keep_releases": 3}
    assert catalog.apps["api"].settings["environment"] == {"LOG": "info"}


def test_the_backend_reads_the_secrets_provider_through_the_bounded_reader(tmp_path: Path):
    from deployctl.adapters.pulumi.cipolicy import secrets_provider

    (tmp_path / "Pulumi.staging.yaml").write_text(
        "secretsprovider: awskms://alias/x\n" + "\n".join(["bomb:", *_alias_bomb(10, 9, "  ")]) + "\n")
    started = time.perf_counter()
    assert secrets_provider(tmp_path, "staging") is None
    assert time.perf_counter() - started < 0.5
    (tmp_path / "Pulumi.staging.yaml").write_text("secretsprovider: awskms://alias/x\n")
    assert secrets_provider(tmp_path, "staging") == "awskms://alias/x"


@pytest.mark.parametrize("template", ["{nope}", "https://x.example/{pr.__class__.__mro__}",
                                      "javascript:alert(document.cookie)//{pr}"])
def test_status_pr_url_takes_only_an_http_url_with_the_pr_placeholder(tmp_path: Path, template: str):
    code, out, err = run_cli(tmp_path, "status", "--html", str(tmp_path / "page.html"), "--pr-url", template)
    assert code == 2 and out == "", err
    assert err.startswith(f"deployctl: cannot judge: --pr-url '{template}' ") and "e.g. https://github.com/" in err
    assert "internal error" not in err and "Traceback" not in err and "class 'int'" not in err
    assert not (tmp_path / "page.html").exists()


def _env_folder_world(tmp_path: Path, name: str) -> tuple[DeployRepo, str]:
    deploy, _, sha = deploy_world(tmp_path)
    base = deploy.repo.head.commit.hexsha
    deploy.deploy(name, "web", sha, "hi")
    deploy.commit("an env folder")
    return deploy, base


HOSTILE_ENV = "x`<details>\n::error::all passed\r\n## ✅ Safeguards: all passed\n<!--"


def test_a_hostile_env_folder_name_is_one_inert_line_in_checks_log(tmp_path: Path):
    deploy, _ = _env_folder_world(tmp_path, HOSTILE_ENV)
    code, out, err = run_cli(deploy.path, "check")
    assert code == 1, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1] == "1 error(s), 0 warning(s)"
    assert lines[0].startswith("deploys/x`<details>\\n::error::all passed\\r\\n## ✅ Safeguards: all passed\\n<!--: "
                               "error invalid-path: ")
    for line in (out + err).splitlines():
        assert line.isprintable() and not line.lstrip().startswith(("::", "##[")), repr(line)
    code, report, _ = check_json(deploy.path)
    assert code == 1 and violation(report, "invalid-path")["file"] == f"deploys/{HOSTILE_ENV}"  # JSON: exact


def test_a_hostile_env_folder_name_adds_no_fold_or_heading_to_the_pr_comment(tmp_path: Path):
    from deployctl.commands.preview import build_preview
    from tests.test_render import inline_code, shape

    def comment(root: Path, name: str) -> str:
        deploy, base = _env_folder_world(root, name)
        report, _ = build_preview(deploy.path, base, None, datetime.now(UTC), run_engine=False)
        return render_comment(report)

    hostile, plain = comment(tmp_path / "hostile", HOSTILE_ENV), comment(tmp_path / "plain", "Bad_Name")
    assert shape(hostile) == shape(plain)  # the same blocks, folds, headings and links as a dull bad name
    assert [t for t in shape(hostile) if t[0] == "heading_open"] == [("heading_open", "h2")]
    assert "deploys/x`<details>\\n::error::all passed\\r\\n## ✅ Safeguards: all passed\\n<!--" in inline_code(hostile)
    assert "Safeguards: all passed." not in hostile  # the template says so only when nothing was found


# -- no path leaves its root; a link in deploys/ stops judging ------------------------------------------


def tree_listing(folder: Path) -> list[str]:
    """Every path under `folder` (links listed, never followed), to prove nothing there changed; the
    engine's own state and git's objects are left out."""
    return sorted(rel for p in folder.rglob("*")
                  if not {".pulumi-state", ".git"} & set((rel := str(p.relative_to(folder))).split("/")))


@pytest.mark.engine
def test_a_committed_deployments_link_is_refused_and_nothing_is_written_where_it_points(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    deploy, _, _ = deploy_world(tmp_path)
    deploy.copy_program()
    (deploy.path / ".deployments").symlink_to(outside)
    deploy.repo.git.add("-f", ".deployments")  # past .gitignore, as an attacker would
    deploy.commit("program, and .deployments as a link")
    assert deploy.repo.git.ls_files("-s", ".deployments").startswith("120000")
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 1 and "Traceback" not in err, err
    line = next(ln for ln in err.splitlines() if "failed:" in ln)
    assert ".deployments is a symbolic link" in line and "nothing was changed" in line
    assert list(outside.iterdir()) == []


@pytest.mark.engine
@pytest.mark.parametrize("target", ["victims", "../../../.."])
def test_a_releases_link_is_refused_and_nothing_is_unpacked_or_pruned_through_it(tmp_path: Path, target: str):
    deploy, app, first = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": str(app.path), "settings": {"keep_releases": 1}}})
    deploy.copy_program()
    deploy.commit("program")
    assert run_cli(deploy.path, "up", "--stack", "staging")[0] == 0
    web = deploy.path / ".deployments/staging/web"
    victims = tmp_path / "victims"
    for i in range(5):  # named like releases, so only the refusal of the link keeps them
        (victims / (f"{i}" * 40)).mkdir(parents=True)
        (victims / (f"{i}" * 40) / "data.txt").write_text("precious")
    shutil.rmtree(web / "releases")
    (web / "releases").symlink_to(victims if target == "victims" else Path(target))
    second = app.commit("second", {"site/index.html": "<h1>two</h1>\n"})
    deploy.deploy("staging", "web", second, "second")
    deploy.commit("second")
    before = {folder: tree_listing(folder) for folder in (victims, tmp_path)}
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging")
    assert code == 1 and "Traceback" not in err, err
    line = next(ln for ln in err.splitlines() if "failed:" in ln)
    assert ".deployments/staging/web/releases is a symbolic link" in line
    assert {folder: tree_listing(folder) for folder in (victims, tmp_path)} == before
    assert os.readlink(web / "current") == f"releases/{first}"  # still the first release
    assert second not in os.listdir(victims)


@pytest.mark.engine
def test_an_env_whose_root_moves_onto_another_envs_folder_neither_adopts_nor_deletes_it(tmp_path: Path):
    from tests.engine_world import build_world

    w = build_world(tmp_path)
    assert w.cli("up")[0] == 0
    production = w.root / ".deployments/production"
    owned = tree_listing(production)
    current = {a: os.readlink(production / a / "current") for a in ("api", "web")}
    w.deploy.env("staging", deployRoot=".deployments/production")
    w.deploy.deploy("staging", "api", w.shas["api"][1], "staging only")
    w.deploy.commit("staging's root onto production's")
    code, _, err = w.cli("up", "--stack", "staging")
    assert code != 0 and "Traceback" not in err, err  # the program or the config check refuses it
    assert tree_listing(production) == owned
    assert {a: os.readlink(production / a / "current") for a in ("api", "web")} == current
    w.deploy.env("staging", deployRoot=".deployments/staging")  # reverted: no replace deletes production's
    w.deploy.commit("staging's root back")
    code, _, err = w.cli("up", "--stack", "staging")
    assert code == 0, err
    assert tree_listing(production) == owned
    assert w.current("staging", "api") == w.shas["api"][1]


def test_the_release_provider_keeps_to_its_own_env_and_never_follows_a_link(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    """At the filesystem level, whatever the config check says: the marker names the env that wrote it."""
    from deployctl.components.local import MARKER, LocalReleaseProvider, claim_app_dir, prune_releases

    monkeypatch.chdir(tmp_path)
    provider = LocalReleaseProvider()
    production = claim_app_dir(Path(".deployments/production"), "web", "production")
    (production / "releases" / ("a" * 40)).mkdir(parents=True)
    (production / "current").symlink_to(f"releases/{'a' * 40}")
    owned = tree_listing(Path(".deployments"))
    props = {"app": "web", "env": "staging", "commit": "b" * 40, "path": None, "keep_releases": 1,
             "source": "unused", "deploy_root": ".deployments/production"}
    for adopt in (provider.create, lambda p: provider.update("web", p, p)):
        with pytest.raises(RuntimeError, match="belongs to env 'production'"):
            adopt(props)
    provider.delete("web", props)
    provider.delete("web", {**props, "env": None})  # recorded before markers named an env
    assert tree_listing(Path(".deployments")) == owned
    # a marker from before markers named an env is left, and adopted only by an update of the same resource
    (production / MARKER).write_text("created by deployctl for app web; deployctl deletes only what it created\n")
    with pytest.raises(RuntimeError, match="earlier deployctl"):
        claim_app_dir(Path(".deployments/production"), "web", "staging")
    provider.delete("web", {**props, "env": None})
    assert tree_listing(Path(".deployments")) == owned
    # a link anywhere on the way is refused before anything is written, and prunes nothing
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Path(".deployments/qa").symlink_to(elsewhere)
    with pytest.raises(RuntimeError, match=r"\.deployments/qa is a symbolic link"):
        claim_app_dir(Path(".deployments/qa"), "web", "qa")
    os.rename(production / "releases", tmp_path / "moved")
    (production / "releases").symlink_to(tmp_path / "moved")
    with pytest.raises(RuntimeError, match="releases is a symbolic link"):
        prune_releases(production, 0, "none")
    assert list(elsewhere.iterdir()) == [] and os.listdir(tmp_path / "moved") == ["a" * 40]
    with pytest.raises(RuntimeError, match="climbs out"):
        claim_app_dir(Path(".deployments/../x"), "web", "qa")


@pytest.mark.parametrize("shape", ["deploys", "deploy file"])
def test_a_link_in_deploys_is_invalid_path_for_check_check_base_and_plan_alike(tmp_path: Path, shape: str):
    deploy, _, sha = deploy_world(tmp_path)
    before = deploy.repo.head.commit.hexsha
    if shape == "deploys":  # every app would look removed to git, and present to the working tree
        (deploy.path / "deploys").rename(deploy.path / "elsewhere")
        (deploy.path / "deploys").symlink_to("elsewhere")
    else:
        (deploy.path / "other").write_text(f"{sha} from elsewhere\n")
        (deploy.path / "deploys/staging/web").unlink()
        (deploy.path / "deploys/staging/web").symlink_to("../../other")
    deploy.commit("a link")
    path = "deploys" if shape == "deploys" else "deploys/staging/web"
    for args in (("check",), ("check", "--base", before), ("plan", "--base", before),
                 ("plan", "--base", before, "--head", "HEAD")):
        code, out, err = run_cli(deploy.path, *args)
        assert code == 2 and "Traceback" not in err, (args, out, err)
        assert f"{path}: error invalid-path: '{path}' is a symbolic link" in err, (args, err)
        assert "remove" not in out, (args, out)
    code, report, _ = check_json(deploy.path, "--base", before)
    assert code == 2 and violation(report, "invalid-path")["file"] == path


# -- a PR's code and the credentials --------------------------------------------------------------------


@pytest.mark.engine
def test_the_trusted_preview_previews_a_data_prs_health_command_without_running_it(tmp_path: Path):
    """The trusted preview's whole path, on the real engine: a PR whose deploy data adds a health command
    that would leave a marker is written as data by pr-data, previewed by the base's program, shown to
    the reviewer, and never run (only `up`, after the merge and its reviews, runs a check)."""
    from tests.engine_world import build_world

    w = build_world(tmp_path, production=False)
    marker = tmp_path / "marker"
    repo = w.deploy.repo
    repo.git.checkout("-b", "pr")
    config = yaml.safe_load((w.root / "Pulumi.staging.yaml").read_text())
    config["config"]["deploys:settings"] = {"api": {"keep_releases": 2, "health": {"command": f"touch {marker}"}}}
    (w.root / "Pulumi.staging.yaml").write_text(yaml.safe_dump(config))
    w.deploy.deploy("staging", "api", w.shas["api"][1], "next")
    w.deploy.commit("data with a health command")
    repo.git.checkout("main")
    notes = tmp_path / "pr-data.notes"

    code, out, err = run_cli(w.root, "pr-data", "--base", "main", "--head", "pr", "--notes-file", str(notes))
    assert code == 0, out + err
    assert f"```\ntouch {marker}\n```" in notes.read_text()
    comment = tmp_path / "comment.md"
    code, out, err = run_cli(w.root, "preview", "--base", "main", "--stack", "staging", "--comment-file", str(comment))
    assert code == 0, out + err
    body = comment.read_text()
    assert next(line for line in body.splitlines() if "`api-health`" in line).startswith("| create |")
    assert not marker.exists()


# -- every wait has a deadline; secrets in URLs; GitHub's limits and identities; CI file backends -------


def _stalled_s3(port: int) -> str:
    return f"s3://state/team?region=us-east-1&endpoint=127.0.0.1:{port}&disable_https=true&use_path_style=true"


def _backend_env(url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PULUMI_BACKEND_URL": url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "PULUMI_CONFIG_PASSPHRASE": "", **extra}


@pytest.mark.engine
@pytest.mark.parametrize("mode", MODES)
def test_deployed_against_an_s3_backend_that_stalls_ends_within_its_deadline(tmp_path: Path, mode: Mode):
    from deployctl.adapters.pulumi.automation import STOP_GRACE
    from tests.engine_world import build_world

    world = build_world(tmp_path, production=False)
    with stalling_server(mode) as port:
        started = time.monotonic()
        code, out, err = world.cli("deployed", env=_backend_env(_stalled_s3(port),
                                                                DEPLOYCTL_ENGINE_READ_TIMEOUT="3"))
        took = elapsed(started)
    assert code == 2, (out, err)
    assert "`pulumi stack output` did not end within 3 s (DEPLOYCTL_ENGINE_READ_TIMEOUT)" in err
    assert f"127.0.0.1:{port}" in err and "Traceback" not in err
    assert took < 3 + STOP_GRACE + 5, took


@pytest.mark.engine
def test_up_against_an_s3_backend_that_stalls_ends_and_names_each_stall(tmp_path: Path):
    from deployctl.adapters.pulumi.automation import STOP_GRACE
    from tests.engine_world import build_world

    world = build_world(tmp_path, production=False)
    with stalling_server("silent") as port, stalling_server("dribble") as slack:
        env = _backend_env(_stalled_s3(port), DEPLOYCTL_BACKEND_TIMEOUT="1.5", DEPLOYCTL_ENGINE_READ_TIMEOUT="3",
                           DEPLOYCTL_ENGINE_TIMEOUT="5", DEPLOYCTL_SLACK_TIMEOUT="1.5",
                           DEPLOYCTL_SLACK_WEBHOOK=f"http://127.0.0.1:{slack}/services/T0/B0/secret")
        started = time.monotonic()
        code, out, err = world.cli("up", "--stack", "staging", env=env)
        took = elapsed(started)
    assert code == 2 and "Traceback" not in err, (out, err)
    # up judges from what runs first: its read of the stack's record is the first wait, and it has a deadline;
    # a record that cannot be read judges nothing, so nothing deploys and no stack is said to Slack
    # (read where Pulumi keeps it, on the store: the store's own deadline ends the wait, naming the stack)
    assert "cannot judge: cannot read staging's outputs: the backend s3://state/team?" in err
    assert "gave no complete answer to a read within 1.5 s (DEPLOYCTL_BACKEND_TIMEOUT)" in err
    assert took < 3 + STOP_GRACE + 15, took
    assert not (world.root / ".deployments" / "staging").exists()  # nothing deployed


@pytest.mark.engine
def test_a_backend_urls_password_is_never_printed_by_doctor_deployed_up_or_slack(tmp_path: Path,
                                                                                  httpserver: HTTPServer):
    from tests.awsserver import free_port
    from tests.engine_world import build_world

    world = build_world(tmp_path, production=False)
    httpserver.expect_request("/services/T0/B0/hook", method="POST").respond_with_data("ok")
    url = f"postgres://deploy:hunter2pw@127.0.0.1:{free_port()}/state?password=s3cr3tpw&sslmode=disable"
    logs = tmp_path / "logs"
    env = _backend_env(url, DEPLOYCTL_SLACK_WEBHOOK=httpserver.url_for("/services/T0/B0/hook"),
                       DEPLOYCTL_LOG_DIR=str(logs))
    said = []
    for args in (("doctor", "--timeout", "10"), ("deployed",), ("up", "--stack", "staging")):
        code, out, err = world.cli(*args, env=env)
        assert code != 0 and "Traceback" not in err, (args, out, err)
        said.append(out + err)
    assert "postgres://127.0.0.1:" in said[0] and "password=****" in said[0]  # doctor names the backend, redacted
    assert "unable to open state database" in said[1] and "password=****" in said[1]
    assert "cannot read staging's outputs" in said[2] and "password=****" in said[2]  # up judges nothing unread
    posted = [request.get_data(as_text=True) for request, _ in httpserver.log]  # (none: no stack was tried)
    saved = [p.read_text() for p in logs.rglob("*") if p.is_file()]
    for text in [*said, *posted, *saved]:
        assert "hunter2pw" not in text and "s3cr3tpw" not in text, text


def test_a_password_holding_an_at_sign_never_shows_a_part_of_itself(tmp_path: Path):
    from tests.awsserver import free_port

    url = f"https://deployer:p@ss@127.0.0.1:{free_port()}/acme/web.git"
    assert display_url(url) == url.replace("deployer:p@ss@", "")
    deploy, _, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": url}})
    code, out, err = run_cli(deploy.path, "check")
    assert code == 2 and "cannot clone https://127.0.0.1:" in err, (out, err)
    assert "p@ss" not in out + err and "ss@" not in out + err and "deployer" not in out + err


def test_in_ci_a_runner_local_file_backend_outside_the_repo_is_refused(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path)
    outside = tmp_path / "runner-state"
    env = {k: v for k, v in os.environ.items() if k != "DEPLOYCTL_ALLOW_LOCAL_BACKEND"}
    env.update(CI="true", PULUMI_BACKEND_URL=outside.as_uri(), PULUMI_CONFIG_PASSPHRASE="x")
    code, _, err = run_cli(deploy.path, "up", "--stack", "staging", env=env)
    assert code == 2, err
    assert f"PULUMI_BACKEND_URL is {outside.as_uri()}, a folder on this runner" in err
    assert not outside.exists() and not (deploy.path / ".deployments").exists()


def _post_env(api: str, tmp_path: Path, token: str, **extra: str) -> dict[str, str]:
    from tests.builders import FIXTURES

    return {**os.environ, "GITHUB_EVENT_PATH": str(FIXTURES / "github-events" / "pull_request.opened.json"),
            "GITHUB_REPOSITORY": "acme/deploys", "GITHUB_API_URL": api, "GITHUB_TOKEN": token,
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), **extra}


def _post(env: dict[str, str], body: str) -> None:
    from deployctl.commands.preview import post_comment

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        post_comment(body)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize("mode", MODES)
def test_preview_post_to_a_github_api_that_stalls_ends_within_its_deadline(tmp_path: Path, mode: Mode):
    with stalling_server(mode) as port:
        env = _post_env(f"http://127.0.0.1:{port}", tmp_path, "ghs_installationToken",
                        DEPLOYCTL_GITHUB_TIMEOUT="1.5", DEPLOYCTL_GITHUB_DEADLINE="4")
        started = time.monotonic()
        with pytest.raises(CannotJudge) as info:
            _post(env, f"{PREVIEW_MARKER}\nthe preview")
        took = elapsed(started)
    assert took < 4 + 1.5, took  # every try and every backoff within the command's deadline
    assert "ghs_installationToken" not in str(info.value)


def test_an_app_tokens_preview_comment_is_edited_on_the_next_push_never_posted_twice(tmp_path: Path,
                                                                                      httpserver: HTTPServer):
    comments: list[dict[str, Any]] = []
    path = "/repos/acme/deploys/issues/7/comments"

    def handle(request: Request) -> Response:
        if request.path == "/user":
            return Response(json.dumps({"message": "Resource not accessible by integration"}), 403,
                            content_type="application/json")
        if request.method == "POST" and request.path == path:
            comments.append({"id": 900 + len(comments), "body": request.get_json()["body"],
                             "user": {"login": "acme-deployer[bot]", "type": "Bot"},
                             "performed_via_github_app": {"id": 7, "slug": "acme-deployer", "name": "Acme deployer"}})
            return Response(json.dumps(comments[-1]), 201, content_type="application/json")
        if request.method == "PATCH":
            comment = next(c for c in comments if request.path.endswith(f"/{c['id']}"))
            comment["body"] = request.get_json()["body"]
            return Response(json.dumps(comment), 200, content_type="application/json")
        return Response(json.dumps(comments), 200, content_type="application/json")

    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(handle)
    env = _post_env(httpserver.url_for("").rstrip("/"), tmp_path, "ghs_appInstallationToken")
    for push in ("first", "second", "third"):
        _post(env, f"{PREVIEW_MARKER}\n{push} preview")
    assert [c["body"] for c in comments] == [f"{PREVIEW_MARKER}\nthird preview"]


def test_a_secondary_rate_limit_is_not_taken_for_a_forks_read_only_token(tmp_path: Path, httpserver: HTTPServer):
    httpserver.expect_request("/repos/acme/deploys/issues/7/comments", method="GET").respond_with_json([])
    httpserver.expect_request("/repos/acme/deploys/issues/7/comments", method="POST").respond_with_json(
        {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
         "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}, status=403)
    env = _post_env(httpserver.url_for("").rstrip("/"), tmp_path, "ghs_token", DEPLOYCTL_GITHUB_DEADLINE="30")
    started = time.monotonic()
    with pytest.raises(CannotJudge, match=r"rate limited \(HTTP 403\).*wait 60 s.*retry after"):
        _post(env, f"{PREVIEW_MARKER}\nthe preview")
    assert elapsed(started) < 10  # failed at once: a minute does not fit 30 s, and no retry came early
    assert not (tmp_path / "summary.md").exists()  # not "a fork's read-only token"
    assert sum(1 for request, _ in httpserver.log if request.method == "POST") == 1


@pytest.mark.engine
def test_a_slack_webhook_that_dribbles_never_holds_up_the_next_wave(tmp_path: Path):
    from tests.engine_world import build_world

    world = build_world(tmp_path)  # staging, then production, which promotes from it: two waves
    with stalling_server("dribble") as slack:
        env = {**os.environ, "DEPLOYCTL_SLACK_TIMEOUT": "1.5",
               "DEPLOYCTL_SLACK_WEBHOOK": f"http://127.0.0.1:{slack}/services/T0/B0/secret"}
        code, out, err = world.cli("up", env=env)
    assert code == 0, (out, err)
    assert "staging: ok" in out and "production: ok" in out  # the second wave ran
    assert world.current("production", "api") == world.shas["api"][0][:40]
    assert err.count("no complete answer within 1.5 s (DEPLOYCTL_SLACK_TIMEOUT)") == 2
    assert "secret" not in err and "/services/" not in err


# -- config that cannot be used is an error at file:line; envs' deploy roots; deep depends_on -----------


def _config_error(report: dict[str, Any], file: str) -> list[tuple[str, int | None]]:
    """(rule, line) of each violation on `file`."""
    return [(v["rule"], v.get("line")) for v in report.get("violations", []) if v["file"] == file]


@pytest.mark.parametrize(("reviewers", "line"), [({"reviewers": []}, 3), ({}, 2)], ids=["empty", "missing"])
def test_a_protected_env_without_reviewers_is_refused_by_check_and_codeowners(
        tmp_path: Path, reviewers: dict[str, Any], line: int):
    deploy, _, sha = deploy_world(tmp_path)
    deploy.env("production", protected=True, **reviewers)
    deploy.deploy("production", "web", sha, "first")
    deploy.commit("production without reviewers")
    code, report, _ = check_json(deploy.path)
    assert code == 2
    assert _config_error(report, "Pulumi.production.yaml") == [("stack-config", line)]
    assert "a protected env needs reviewers" in violation(report, "stack-config")["message"]
    for args in (("codeowners", "--check"), ("codeowners",)):  # never falls back to the app owners
        code, out, err = run_cli(deploy.path, *args)
        assert code == 2 and "Pulumi.production.yaml:" in err and "needs reviewers" in err, (out, err)
        assert "Traceback" not in err
    assert not (deploy.path / ".github" / "CODEOWNERS").exists()


def test_an_override_for_an_app_not_in_the_catalog_is_an_error_at_its_line(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path, settings={"web": {"keep_releases": 2}, "apii": {"keep_releases": 3}})
    code, report, _ = check_json(deploy.path)
    assert code == 2
    assert _config_error(report, "Pulumi.staging.yaml") == [("stack-config", 5)]
    assert "overrides app 'apii', which is not in apps.yaml" in violation(report, "stack-config")["message"]


@pytest.mark.parametrize(("text", "line"), [("config: [1, 2, 3]\n", 1), ("# env\nconfig: 7\n", 2),
                                            ("- config\n", 1)], ids=["list", "scalar", "file is a list"])
def test_a_stack_config_that_is_not_a_mapping_is_an_error_at_its_line(tmp_path: Path, text: str, line: int):
    deploy, _, _ = deploy_world(tmp_path)
    deploy.write("Pulumi.staging.yaml", text)
    deploy.commit("config is not a mapping")
    code, report, _ = check_json(deploy.path)
    assert code == 2
    assert _config_error(report, "Pulumi.staging.yaml") == [("stack-config", line)]
    assert "not a mapping" in violation(report, "stack-config")["message"]


@pytest.mark.parametrize("value", ['"yes"', '"1"', '"True"', "on-call", "1"])
def test_a_yes_or_no_setting_is_only_true_or_false(tmp_path: Path, value: str):
    """What check refuses here, the program (sharing EnvSettings over the same parse) refuses too;
    "true" as `pulumi config set` writes it is accepted by both."""
    deploy, _, _ = deploy_world(tmp_path)
    deploy.write("Pulumi.staging.yaml", f"config:\n  deploys:reviewers: ['@acme/release']\n"
                                        f"  deploys:protected: {value}\n")
    deploy.commit("protected: " + value)
    code, report, _ = check_json(deploy.path)
    assert code == 2
    assert _config_error(report, "Pulumi.staging.yaml") == [("stack-config", 3)]
    assert "is not true or false" in violation(report, "stack-config")["message"]
    deploy.write("Pulumi.staging.yaml", "config:\n  deploys:reviewers: ['@acme/release']\n"
                                        "  deploys:protected: \"true\"\n")
    deploy.commit("protected as pulumi config set writes it")
    code, report, _ = check_json(deploy.path)
    assert code == 0, report


def test_the_program_takes_the_env_settings_check_judged_with_the_decrypted_app_settings():
    from deployctl.core.repo.envconfig import program_settings

    stack = parse_stack_config("production", "config:\n  deploys:protected: yes\n  deploys:reviewers: ['@a']\n"
                               "  deploys:settings:\n    web:\n      level: 2026-01-01\n"
                               "      token:\n        secure: v1:AAAA\n")
    # Pulumi's get_object("settings"): the secret decrypted, a value the file holds read its own way
    settings = program_settings(stack, {"web": {"token": "decrypted", "level": "2026-01-01", "extra": 1}})
    assert settings.protected is True and settings.reviewers == ["@a"]  # the file as check parsed it
    assert settings.settings == {"web": {"token": "decrypted", "level": stack.settings.settings["web"]["level"]}}
    for decrypted in ({"web": [1, 2]}, {"web": {}}, None):
        with pytest.raises(ValueError, match=r"^deploys:settings") as caught:
            program_settings(stack, decrypted)
        assert "v1:AAAA" not in str(caught.value)
    plain = parse_stack_config("staging", "config:\n  deploys:settings:\n    web:\n      keep_releases: 2\n")
    assert program_settings(plain, {"web": {"keep_releases": 9}}) is plain.settings  # nothing encrypted: the file's


def test_settings_stored_as_secrets_count_as_set_for_the_kind_rules(tmp_path: Path):
    both = {"url": {"secure": "v1:AAAAAAAA"}, "command": {"secure": "v1:BBBBBBBB"}}
    deploy, _, _ = deploy_world(tmp_path, settings={"web": {"health": both}})
    code, report, _ = check_json(deploy.path)
    assert code == 0, report  # both present: a local app may have both (they were stripped, then "needs one")
    from deployctl.adapters.git.reads import worktree_snapshot
    from deployctl.adapters.pulumi.switchback import has_health

    assert has_health(worktree_snapshot(deploy.path), "staging")  # so a failed check is switched back
    deploy.env("staging", settings={"web": {"health": {"expect_status": {"secure": "v1:CCCCCCCC"}}}})
    deploy.commit("only a secret status")
    code, report, _ = check_json(deploy.path)
    assert code == 1  # the kind rule still runs: a status alone is no check
    message = violation(report, "invalid-settings")["message"]
    assert "health needs a 'command' or a 'url'" in message and "v1:CCCCCCCC" not in message


@pytest.mark.parametrize(("staging_root", "production_root", "errors"), [
    (".deployments/production", None, {"staging": 2}),
    ("./.deployments//production/", None, {"staging": 2}),
    (".deployments/x/../production/releases", None, {"staging": 2}),
    (".deployments/shared", ".deployments/shared/production", {"staging": 2, "production": 2}),
], ids=["equal to the default", "equal once normalised", "inside", "one inside the other"])
def test_deploy_roots_of_two_envs_may_not_overlap(tmp_path: Path, staging_root: str, production_root: str | None,
                                                  errors: dict[str, int]):
    deploy, _, sha = deploy_world(tmp_path, deployRoot=staging_root)
    deploy.env("production", **({"deployRoot": production_root} if production_root else {}))
    deploy.deploy("production", "web", sha, "first")
    deploy.commit("two envs, one root")
    code, report, _ = check_json(deploy.path)
    assert code == 2
    for env in ("staging", "production"):
        expected = [("stack-config", errors[env])] if env in errors else []
        assert _config_error(report, f"Pulumi.{env}.yaml") == expected, report
    message = violation(report, "stack-config")["message"]
    assert "overlaps the deploy root of env(s)" in message
    assert ", e.g. .deployments/staging" in message or production_root  # a folder that overlaps nothing


def test_a_depends_on_chain_1000_deep_is_judged_and_its_cycle_found_at_each_app(tmp_path: Path):
    from deployctl.core.repo.catalog import parse_catalog
    from deployctl.core.repo.order import app_order

    app = AppRepo(tmp_path / "apps" / "web")
    sha = app.commit("first", {"index.html": "<h1>site</h1>\n"})
    names = [f"app-{i:04}" for i in range(1000)]
    chain = {n: {"repo": str(app.path), **({"depends_on": [names[i + 1]]} if i + 1 < len(names) else {})}
             for i, n in enumerate(names)}
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog(chain)
    deploy.env("staging")
    deploy.deploy("staging", names[0], sha, "first")
    deploy.commit("a long chain")
    code, report, err = check_json(deploy.path)
    assert code == 0 and "RecursionError" not in err, (report, err)
    assert app_order(parse_catalog((deploy.path / "apps.yaml").read_text()), names) == names[::-1]

    chain[names[-1]]["depends_on"] = [names[0]]  # close the loop
    deploy.catalog(chain)
    deploy.commit("a cycle 1000 long")
    code, report, err = check_json(deploy.path)
    assert code == 2 and "RecursionError" not in err
    text = (deploy.path / "apps.yaml").read_text().splitlines()
    cycle = [v for v in report["violations"] if "depends_on has a cycle" in v["message"]]
    assert len(cycle) == 1000 and {v["rule"] for v in cycle} == {"catalog"}
    assert all(text[v["line"] - 1].strip().startswith("depends_on") for v in cycle)


def test_a_promote_from_cycle_is_reported_at_each_envs_promote_from_line(tmp_path: Path):
    deploy, _, sha = deploy_world(tmp_path, promoteFrom="production")
    deploy.env("production", promoteFrom="qa").env("qa", promoteFrom="staging")
    for env in ("production", "qa"):
        deploy.deploy(env, "web", sha, "first")
    deploy.commit("a cycle of three")
    code, report, _ = check_json(deploy.path)
    assert code == 2
    for env in ("staging", "production", "qa"):
        assert _config_error(report, f"Pulumi.{env}.yaml") == [("stack-config", 2)], report


# -- a commit is a commit; one line per change; the app-repo cache is data ------------------------------


def _short_hash_branch(app: AppRepo, reviewed: str) -> str:
    """Someone with push access to the app repository makes a branch named like the reviewed commit's
    short hash, on a commit that adds evil.sh."""
    app.branch("evil-work", app.repo.commit(f"{reviewed}~1").hexsha)
    evil = app.commit("evil", {"evil.sh": "touch PWNED\n"})
    app.repo.git.branch(reviewed[:10], evil)
    app.checkout("main")
    assert app.repo.git.rev_parse(reviewed[:10]) == evil  # git's own reading of the name is the branch
    return evil


@pytest.mark.engine
def test_a_branch_named_like_a_reviewed_short_hash_never_deploys(tmp_path: Path):
    from tests.engine_world import build_world, merge

    w = build_world(tmp_path, production=False)
    reviewed = w.api.commit("reviewed", {"app.py": "print('reviewed')\n"})
    _short_hash_branch(w.api, reviewed)
    before, merged = merge(w, "Merge pull request #5 from acme/api", lambda: w.deploy.deploy(
        "staging", "api", reviewed[:10], "the reviewed fix"))
    code, report, _ = check_json(w.root, "--base", before)
    assert code == 0 and {v["rule"] for v in report["violations"]} == {"short-hash"}
    assert reviewed in violation(report, "short-hash")["message"]  # the object the rules judged
    code, out, err = w.cli("up", "--base", before, "--head", merged)
    assert code == 0, out + err
    current = w.root / ".deployments" / "staging" / "api" / "current"
    assert (current / "app.py").read_text() == "print('reviewed')\n"
    assert not (current / "evil.sh").exists()
    assert w.current("staging", "api") == reviewed  # the release is named by the full hash deployed
    assert w.engine().outputs("staging")["deployed"]["api"]["commit"] == reviewed


def test_a_carriage_return_in_a_deploy_line_is_a_syntax_error(tmp_path: Path):
    deploy, app, sha = deploy_world(tmp_path)
    hidden = app.commit("second", {"site/index.html": "<h1>two</h1>\n"})
    deploy.write("deploys/staging/web", f"{sha} ok\r{hidden} hidden\n{sha} first\n")
    code, report, _ = check_json(deploy.path, "--offline")
    found = violation(report, "syntax")
    assert code == 1 and (found["file"], found["line"]) == ("deploys/staging/web", 1)
    assert "carriage return" in found["message"] and "remove it" in found["message"]


def test_a_change_that_prepends_two_lines_is_refused(tmp_path: Path):
    deploy, app, sha = deploy_world(tmp_path)
    second = app.commit("second", {"site/index.html": "<h1>two</h1>\n"})
    third = app.commit("third", {"site/index.html": "<h1>three</h1>\n"})
    before = deploy.repo.head.commit.hexsha
    deploy.deploy("staging", "web", second, "slipped in, never reviewed as a deploy")
    deploy.deploy("staging", "web", third, "the reviewed one")
    code, report, _ = check_json(deploy.path, "--base", before)
    found = violation(report, "multiple-new-lines")
    assert code == 1 and found["severity"] == "error" and found["line"] == 1
    assert "adds 2 lines on top" in found["message"] and "rollback" in found["message"]
    deploy.write("deploys/staging/web", f"{third} the reviewed one\n{sha} first\n")
    assert check_json(deploy.path, "--base", before)[0] == 0


def test_an_oversized_deploy_file_is_trimmed_and_deployed_in_one_reviewed_change(tmp_path: Path):
    deploy, app, sha = deploy_world(tmp_path)
    old_line = f"{sha} an old deploy, kept for the record\n"
    deploy.write("deploys/staging/web", f"{sha} runs\n" + old_line * ((1 << 20) // len(old_line) + 1))
    before = deploy.commit("the file grew past 1 MiB")
    code, report, _ = check_json(deploy.path, "--offline")
    assert code == 1 and "over the 1 MiB limit" in violation(report, "syntax")["message"]
    newer = app.commit("newer", {"site/index.html": "<h1>newer</h1>\n"})
    deploy.write("deploys/staging/web", f"{newer} next\n{sha} runs\n" + old_line * 100)
    code, report, _ = check_json(deploy.path, "--base", before)
    assert code == 0, report
    assert check_json(deploy.path)[0] == 0  # and the whole repo passes again
    deploy.write("deploys/staging/web", f"{newer} next\n" + old_line * 100)  # the line that ran is gone
    code, report, _ = check_json(deploy.path, "--base", before)
    assert code == 1 and violation(report, "history-rewritten")


def test_a_hook_planted_in_the_app_repo_cache_never_runs(tmp_path: Path, marker: Path):
    deploy, app, _ = deploy_world(tmp_path)
    assert check_json(deploy.path)[0] == 0  # the clone is in the cache now
    clone = AppRepos(deploy.path).get(str(app.path)).path
    for hook in ("reference-transaction", "post-merge", "post-checkout"):
        (clone / "hooks" / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (clone / "hooks" / hook).chmod(0o755)
    base = deploy.repo.head.commit.hexsha
    newer = app.commit("newer", {"site/index.html": "<h1>newer</h1>\n"})
    deploy.deploy("staging", "web", newer, "needs a fetch")
    code, report, _ = check_json(deploy.path, "--base", base)
    assert code == 0, report  # fetched: main moved to the new commit (not-on-release-branch asked)
    assert subprocess.run(["git", "--git-dir", str(clone), "rev-parse", "refs/heads/main"], capture_output=True,
                          text=True).stdout.strip() == newer
    assert not marker.exists()
    subprocess.run(["git", "--git-dir", str(clone), "config", "core.hooksPath", str(clone / "hooks")], check=True)
    base = deploy.commit("newer merged")
    deploy.deploy("staging", "web", app.commit("newest"), "another fetch")
    assert check_json(deploy.path, "--base", base)[0] == 0
    assert not marker.exists() and "hooksPath" not in (clone / "config").read_text()  # cloned afresh


# -- one judgement from what runs, exactly the head commit, and the last low findings -------------------


def _judge_world(tmp_path: Path, group: bool = False) -> Any:
    """The engine world, deployed once, with staging already running api 1 (and web 1 for a group)."""
    from tests.engine_world import build_world

    w = build_world(tmp_path)
    if group:  # api and web are one co-deploy group
        w.deploy.catalog({"api": {"repo": str(w.api.path), "group": "shop", "settings": {"keep_releases": 2}},
                          "web": {"repo": str(w.web.path), "path": "site", "depends_on": ["api"], "group": "shop"}})
        w.deploy.commit("api and web deploy together")
    code, _, err = w.cli("up")
    assert code == 0, err
    w.deploy.commit("stack configs as Pulumi writes them")
    w.deploy.deploy("staging", "api", w.shas["api"][1])
    if group:
        w.deploy.deploy("staging", "web", w.shas["web"][1])
    w.deploy.commit("staging runs the new commits")
    code, _, err = w.cli("up", "--stack", "staging")
    assert code == 0, err
    return w


@pytest.mark.engine
def test_a_retry_of_a_deploy_refused_by_a_freeze_window_is_refused_too(tmp_path: Path):
    from datetime import timedelta

    from tests.engine_world import merge

    w = _judge_world(tmp_path)
    api = w.shas["api"]
    now = datetime.now(UTC)
    window = [{"start": (now - timedelta(minutes=5)).isoformat(), "end": (now + timedelta(hours=1)).isoformat(),
               "reason": "incident in progress"}]
    cfg = w.root / "Pulumi.production.yaml"
    cfg.write_text(cfg.read_text().replace("config:\n", "config:\n  deploys:freeze: " + json.dumps(window) + "\n"))
    w.deploy.commit("freeze production")
    before, merged = merge(w, "Merge pull request #5 from a/promote", lambda: w.deploy.deploy(
        "production", "api", api[1], "promote, reviewed before the freeze"))
    code, _, err = w.cli("up", "--base", before, "--head", merged, "--branch", "main")
    assert code == 1 and "freeze-window" in err and "incident in progress" in err, err
    # the documented retry (the workflow_dispatch path): judged from what runs, so refused the same way
    code, out, err = w.cli("up", "--head", "HEAD", "--stack", "production", "--branch", "main")
    assert code == 1, out + err
    assert "freeze-window" in err and "deploys/production/api" in err
    code, _, err = w.cli("up", "--head", "HEAD", "--stack", "production", "--force", "--reason", "hurry")
    assert code == 1 and "freeze-window" in err  # --force overrides the stale-run guard, never a freeze
    assert w.current("production", "api") == api[0]
    # check without --base reads what runs too, and says the same; --no-deployed says it did not look
    code, out, err = w.cli("check", "--no-artifacts")
    assert code == 1 and "freeze-window" in out
    code, out, err = w.cli("check", "--no-artifacts", "--no-deployed")
    assert code == 0 and "what runs was not read (--no-deployed)" in err
    # a [hotfix] line waives the freeze on the retry as on the merge
    w.deploy.deploy("production", "api", api[1], "[hotfix] the incident fix")
    w.deploy.commit("hotfix")
    code, out, err = w.cli("up", "--head", "HEAD", "--stack", "production", "--branch", "main")
    assert code == 0, err
    assert w.current("production", "api") == api[1]


@pytest.mark.engine
def test_a_retry_cannot_deploy_half_a_co_deploy_group(tmp_path: Path):
    from tests.engine_world import merge

    w = _judge_world(tmp_path, group=True)
    web = w.shas["web"]
    before, merged = merge(w, "Merge pull request #6 from a/web", lambda: w.deploy.deploy(
        "production", "web", web[1], "web alone"))
    code, _, err = w.cli("up", "--base", before, "--head", merged, "--branch", "main")
    assert code == 1 and "group-incomplete" in err
    code, out, err = w.cli("up", "--head", merged, "--stack", "production", "--branch", "main")
    assert code == 1, out + err
    assert "group-incomplete" in err and "deploys/production/api" in err
    assert (w.current("production", "api"), w.current("production", "web")) == (w.shas["api"][0], web[0])


@pytest.mark.engine
def test_an_untracked_deploy_file_left_in_the_checkout_stops_up(tmp_path: Path):
    from tests.engine_world import build_world, merge

    w = build_world(tmp_path)
    assert w.cli("up")[0] == 0
    w.deploy.commit("stack configs as Pulumi writes them")
    web = w.shas["web"]
    before, merged = merge(w, "Merge pull request #8 from a/retire-web", lambda: (
        w.deploy.remove("deploys/production/web")))
    w.deploy.write("deploys/production/web", f"{web[2]} never ran in staging\n")  # untracked, left behind
    code, out, err = w.cli("up", "--base", before, "--head", merged, "--branch", "main")
    assert code == 2, out + err
    assert "the checkout differs from --head" in err and "deploys/production/web" in err
    assert "git clean -fdx -- deploys/production/web" in err
    assert w.current("production", "web") == web[0]
    # an ignored stack config is the program's input too
    (w.root / "deploys" / "production" / "web").unlink()
    (w.root / ".gitignore").write_text((w.root / ".gitignore").read_text() + "Pulumi.qa.yaml\n")
    w.deploy.commit("ignore a local stack config")
    w.deploy.write("Pulumi.qa.yaml", "config: {}\n")
    code, _, err = w.cli("up", "--head", "HEAD", "--stack", "staging", "--branch", "main")
    assert code == 2 and "Pulumi.qa.yaml" in err


def test_deployctl_parallel_that_is_not_a_whole_number_is_refused_before_anything_runs(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path)
    for value in ("abc", "0", "-2", "1.5", "٣"):
        code, _, err = run_cli(deploy.path, "up", env={**os.environ, "DEPLOYCTL_PARALLEL": value})
        assert code == 2, err
        assert "DEPLOYCTL_PARALLEL is" in err and "whole number, 1 or more" in err and "internal error" not in err
    assert not (deploy.path / ".pulumi-state").exists()  # refused before the engine was opened


@pytest.mark.parametrize("args", [["check"], ["plan", "--base", "HEAD"], ["history", "--no-engine"], ["status"],
                                  ["deployed"], ["codeowners", "--check"], ["up"], ["unlock", "staging"],
                                  ["bump", "staging", "web", "a" * 40], ["metrics", "--no-engine"],
                                  ["preview", "--base", "HEAD"], ["doctor"]])
def test_a_repo_option_naming_no_folder_is_refused_by_every_command(tmp_path: Path, args: list[str]):
    code, out, err = run_cli(tmp_path, *args, "--repo", str(tmp_path / "nonexistent"))
    assert code == 2, out + err
    assert f"no deploy repository at {tmp_path / 'nonexistent'}" in err and "internal error" not in err


def test_check_says_when_it_could_not_judge_against_what_runs(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path)  # no Pulumi.yaml: nothing to read what runs from
    code, out, err = run_cli(deploy.path, "check", "--no-artifacts")
    assert code == 0, out + err
    assert "note: what runs was not read (no Pulumi.yaml in" in err
    code, _, err = run_cli(deploy.path, "check", "--no-artifacts", "--deployed")
    assert code == 2 and "no Pulumi.yaml" in err


@pytest.mark.engine
def test_an_older_run_deploys_a_stack_whose_newer_commit_skips_ci(tmp_path: Path):
    from tests.engine_world import build_world, merge

    w = build_world(tmp_path, production=False)
    assert w.cli("up")[0] == 0
    w.deploy.commit("stack configs as Pulumi writes them")
    api = w.shas["api"]
    before1, m1 = merge(w, "Merge pull request #1 from a/b", lambda: w.deploy.deploy("staging", "api", api[1]))
    merge(w, "Merge pull request #2 from a/c [skip ci]", lambda: w.deploy.deploy("staging", "api", api[2]))
    w.deploy.repo.git.checkout("--quiet", m1)  # m1's run; m2's never starts
    code, out, err = w.cli("up", "--base", before1, "--head", m1, "--branch", "main")
    assert code == 0, err
    assert "skipped" not in out and "staging: ok" in out
    assert w.current("staging", "api") == api[1]


def test_the_checkout_must_hold_exactly_the_head_commits_deploy_inputs(tmp_path: Path):
    from deployctl.commands.up import checkout_differences

    deploy, _, sha = deploy_world(tmp_path)
    head = deploy.repo.head.commit.hexsha
    deploy.write("deploys/staging/.DS_Store", "hidden: the program ignores it too\n")
    assert checkout_differences(deploy.path, deploy.repo, head) == ([], [])
    deploy.write("deploys/production/web", f"{sha}\n")  # an untracked env folder and file
    deploy.write("Pulumi.production.yaml", "config: {}\n")
    deploy.write("apps.yaml", "apps: {}\n")  # a tracked file changed
    differ, extra = checkout_differences(deploy.path, deploy.repo, head)
    assert (differ, extra) == (["apps.yaml"], ["Pulumi.production.yaml", "deploys/production"])


# -- locks a dead or foreign run left: status, history and drift still judge, unlock still sees them ----


def test_a_lock_dated_without_an_offset_or_two_locks_without_a_time_never_crash_status_or_history():
    """A lock's JSON is the backend's, not ours: a time with no offset (or none, twice) must compare."""
    from datetime import timedelta

    from deployctl.adapters.pulumi.inflight import in_flight
    from deployctl.adapters.pulumi.locks import parse_lock
    from deployctl.core.trace.history import DeployResult, HistoryEntry, mark_in_flight

    now = datetime.now(UTC)
    naive = parse_lock("k1", json.dumps({"pid": 7, "username": "ci", "hostname": "elsewhere",
                                         "timestamp": (now - timedelta(minutes=5)).replace(tzinfo=None).isoformat()})
                       .encode())
    entry = HistoryEntry(merged=now - timedelta(hours=1), env="staging", app="api", to="a" * 40, commit="b" * 40,
                         author="Ann", deploy=DeployResult(result="pending"))
    flight = in_flight([naive], [])
    assert flight is not None and flight.since is not None
    (marked,) = mark_in_flight([entry], {"staging": flight.since})  # aware vs naive: no TypeError
    assert marked.deploy.result == "in-progress"
    garbage = [parse_lock("k2", b"not json"), parse_lock("k3", b"\x00\xff")]
    assert in_flight(garbage, []) is not None  # two locks with no time: no TypeError comparing them


def test_a_dead_lock_from_another_host_never_hides_drift_and_names_the_way_out():
    """A runner killed mid-`up` on another machine leaves its lock forever: past any deploy's length
    (or with no time, or dated far ahead by a wrong clock) it is named stale, and what runs is judged."""
    from datetime import timedelta

    from deployctl.adapters.pulumi.inflight import in_flight
    from deployctl.adapters.pulumi.locks import LockInfo, parse_lock
    from deployctl.core.trace.appstate import StackRecord, State, classify, exit_status
    from deployctl.core.trace.history import DeployResult, HistoryEntry
    from deployctl.core.violations import ExitStatus
    from tests.fakes import snapshot

    now = datetime.now(UTC)
    old = LockInfo(key="k", pid=4242, username="runner", hostname="gha-runner-dead", timestamp=now - timedelta(days=3))
    future = old.model_copy(update={"timestamp": now + timedelta(days=400)})
    for lock in (old, future, parse_lock("k", b"{garbage")):
        flight = in_flight([lock], [], now)
        assert flight is not None and flight.stale, lock
    live = in_flight([old.model_copy(update={"timestamp": now - timedelta(minutes=3)})], [], now)
    assert live is not None and not live.stale
    flight = in_flight([old], [], now)
    head = snapshot({"api": {"kind": "local", "repo": "../apps/api"}}, {"staging": {}},
                    {"staging/api": f"{'b' * 40}\n{'a' * 40}\n"})
    trace = [HistoryEntry(merged=now - timedelta(days=4), env="staging", app="api", to="b" * 40, commit="c" * 40,
                          author="Ann", pr=9, deploy=DeployResult(result="pending"))]
    (state,) = classify(head, {"staging": StackRecord(deployed={"api": "a" * 40}, in_flight=flight)}, trace)
    assert state.state == State.PENDING and state.in_flight is None
    assert "looks dead" in state.detail and "gha-runner-dead" in state.detail
    assert "deployctl unlock staging --force" in state.fix
    assert exit_status([state]) == ExitStatus.VIOLATION  # drift says so (exit 1), not "deploying" forever
    (fresh,) = classify(head, {"staging": StackRecord(deployed={"api": "a" * 40}, in_flight=live)}, trace)
    assert fresh.state == State.IN_PROGRESS and "deployctl unlock staging --force" in fresh.fix


def test_a_lock_whose_json_is_no_object_or_has_a_bad_pid_is_still_seen_so_status_and_unlock_see_it(tmp_path: Path):
    """Pulumi refuses an update while any lock file is there, whatever it holds: a lock read as nothing
    would let `status` call the stack idle and `unlock` say "nothing to do" while `up` stays blocked."""
    from deployctl.adapters.pulumi.backend import FileStore
    from deployctl.adapters.pulumi.inflight import in_flight
    from deployctl.adapters.pulumi.locks import LOCKS_DIR, read_locks
    from deployctl.core.repo.envconfig import PROJECT

    now = datetime.now(UTC)
    for n, data in enumerate((b"[1, 2]", b'"a string"', b"42", b'{"pid": "abc", "hostname": "h"}',
                              b'{"pid": [1], "timestamp": 5}')):
        backend = tmp_path / str(n)
        lock_file = backend / LOCKS_DIR / "organization" / PROJECT / "staging" / "x.json"
        lock_file.parent.mkdir(parents=True)
        lock_file.write_bytes(data)
        (lock,) = read_locks(FileStore(backend), PROJECT, "staging")
        flight = in_flight([lock], [], now)
        assert flight is not None and flight.stale, data  # seen, and named a dead run's (no time)


# -- a diverged deploy whose old commit is gone ---------------------------------------------------------


def test_a_deploy_over_a_commit_the_app_repository_no_longer_has_is_refused_not_skipped(tmp_path: Path):
    """Staging runs `two`; the release branch is force-pushed without it, the server prunes it, and a
    fresh clone of the app repository (over file://, as from a server) no longer holds it. Whether the
    new tip is newer cannot be told, so `bump`, `propose` and `check --base` refuse it by backward-deploy at the
    line's file:line, instead of skipping the rule; a [rollback] tag accepts it with a warning."""
    import git

    from deployctl.core.repo.model import short
    from tests.builders import AppRepo, DeployRepo
    from tests.scenario import run_cli

    origin = tmp_path / "origin" / "api.git"
    git.Repo.init(origin, bare=True, initial_branch="main")
    app = AppRepo(tmp_path / "work" / "api")
    app.repo.create_remote("origin", origin.as_uri())
    first = app.commit("one")
    running = app.commit("two: runs in staging")
    app.repo.git.push("--quiet", "origin", "main")
    app.repo.git.reset("--hard", first)  # the force-push: `two` is gone from main
    tip = app.commit("rewritten")
    app.repo.git.push("--quiet", "--force", "origin", "main")
    git.Repo(origin).git.gc("--quiet", "--prune=now")  # the server no longer holds it at all

    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({"api": {"kind": "local", "repo": origin.as_uri()}})
    deploy.env("staging", autoDeploy=True)
    deploy.deploy("staging", "api", first)
    deploy.deploy("staging", "api", running)
    deploy.commit("staging runs two")
    cache = Path(os.environ["DEPLOYCTL_CACHE"])
    assert not any(cache.iterdir())  # fresh: the first clone is made after the force-push

    code, _, err = run_cli(deploy.path, "bump", "staging", "api", tip)
    assert code == 1 and "backward-deploy" in err and "Traceback" not in err, err
    assert f"{short(running)}, which 'staging' runs now, is no longer in api's repository" in err
    assert "cannot be told" in err and "[rollback]" in err
    assert deploy.path.joinpath("deploys/staging/api").read_text().splitlines()[0] == running  # nothing written
    code, out, err = run_cli(deploy.path, "propose", "--json")
    assert code == 1, out + err
    (p,) = json.loads(out)
    assert (p["apps"], p["blocked"]) == ({"api": tip}, ["backward-deploy"]) and "no longer in" in p["held"][0]

    deploy.deploy("staging", "api", tip, "by hand")
    code, out, err = run_cli(deploy.path, "check", "--base", "main", "--json")
    assert code == 1, out + err
    [v] = [v for v in json.loads(out)["violations"] if v["rule"] == "backward-deploy"]
    assert (v["severity"], v["file"], v["line"]) == ("error", "deploys/staging/api", 1)
    assert "no longer in api's repository" in v["message"] and "push a branch or tag" in v["message"]

    deploy.write("deploys/staging/api", f"{tip} accepted [rollback]\n{running}\n{first}\n")
    code, out, err = run_cli(deploy.path, "check", "--base", "main", "--json")
    assert code == 0, out + err
    [v] = [v for v in json.loads(out)["violations"] if v["rule"] == "backward-deploy"]
    assert v["severity"] == "warning" and "the [rollback] tag accepts" in v["message"]


# -- two apps of a new env created side by side ---------------------------------------------------------


def test_two_apps_of_a_new_env_claim_their_folders_side_by_side_and_a_link_put_there_meanwhile_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The engine creates an env's apps in parallel: each resource checks the deploy root's folders, then
    creates the missing ones, so the env folder may appear between one app's check and its mkdir (a
    fresh production failed with `File exists: '.deployments/production'`). A real folder made meanwhile
    is shared; a link made meanwhile is still refused."""
    from deployctl.components import local

    monkeypatch.chdir(tmp_path)
    root = Path(".deployments/production")
    real_check = local.check_app_dir

    def checked_before_the_other_app_made_the_folders(*args: object, **kwargs: object) -> list[bool]:
        present = real_check(*args, **kwargs)  # type: ignore[arg-type]
        root.mkdir(parents=True, exist_ok=True)  # the app beside this one, between the check and the mkdir
        return present

    monkeypatch.setattr(local, "check_app_dir", checked_before_the_other_app_made_the_folders)
    app = local.claim_app_dir(root, "api", "production")
    assert (app / local.MARKER).is_file()

    outside = tmp_path / "outside"
    outside.mkdir()
    other = Path(".deployments/staging")

    def a_link_made_meanwhile(*args: object, **kwargs: object) -> list[bool]:
        present = real_check(*args, **kwargs)  # type: ignore[arg-type]
        other.symlink_to(outside)
        return present

    monkeypatch.setattr(local, "check_app_dir", a_link_made_meanwhile)
    with pytest.raises(RuntimeError, match="symbolic link"):
        local.claim_app_dir(other, "api", "staging")
    assert list(outside.iterdir()) == []
