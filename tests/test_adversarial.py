"""Hostile input, tried for real: one test per defect of issue 10, one per class of input for each field
that reaches git, the filesystem, a PR comment, the status page, Slack or CODEOWNERS.

Each test asserts three things: nothing executed (the marker file a payload would create is absent),
nothing outside the deploy root was touched, and what the error says (file:line, rule, what to do).
"""

from __future__ import annotations

import json
import os
import re
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

from deployctl.adapters.apprepos import AppRepo as CachedRepo
from deployctl.adapters.apprepos import AppRepos
from deployctl.adapters.github import ACTIONS_BOT, PREVIEW_MARKER, GitHub
from deployctl.adapters.notify import DeployNotice, slack_payload
from deployctl.adapters.repourl import display_url, repo_url
from deployctl.core.commitinfo import CommitInfo
from deployctl.core.envconfig import EnvSettings, parse_stack_config, resolve_deploy_root
from deployctl.core.outcomes import Outcome
from deployctl.core.plan import PlanChange
from deployctl.core.safegit import branch_problem, path_problem, repo_problem
from deployctl.core.violations import CannotJudge
from deployctl.report.codeowners import render_codeowners
from deployctl.report.render import CommitLog, PreviewReport, StackPreview, render_comment
from tests.builders import AppRepo, DeployRepo
from tests.scenario import run_cli

ZWJ = "\u200d"


# -- helpers ------------------------------------------------------------------------------------------


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


# -- 1. repository values never reach git as options or transports ------------------------------------


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
def test_defect1_hostile_repo_is_a_catalog_error_and_runs_nothing(tmp_path: Path, marker: Path, value: str):
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


def test_defect1_repo_values_are_refused_whoever_calls(marker: Path, tmp_path: Path):
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


# -- branch and path values: git check-ref-format, relative, no `..` ----------------------------------


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


# -- names that become folders, stack names and CLI arguments ------------------------------------------


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


# -- 9. path-not-found ---------------------------------------------------------------------------------


def test_defect9_a_path_missing_at_the_commit_is_an_error_before_anything_deploys(tmp_path: Path):
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


# -- 4. no hang: an app repository server that accepts and never answers -------------------------------


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
def test_defect4_check_against_a_silent_server_fails_in_bounded_time(tmp_path: Path, silent_server: int,
                                                                     scheme: str, connect: str, cap: str, says: str):
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


def test_defect4_a_warm_cache_fetch_from_a_silent_server_fails_in_bounded_time(tmp_path: Path, silent_server: int,
                                                                              monkeypatch: pytest.MonkeyPatch):
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
def test_defect4_status_with_a_warm_cache_and_a_silent_server_answers_from_the_cache(tmp_path: Path,
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
    from deployctl.adapters.backend import _git_knows

    deploy, _, _ = deploy_world(tmp_path)
    deploy.repo.create_remote("origin", f"https://127.0.0.1:{silent_server}/acme/deploy.git")
    monkeypatch.setenv("DEPLOYCTL_GIT_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("DEPLOYCTL_GIT_TIMEOUT", "120")
    started = time.monotonic()
    assert not _git_knows(deploy.repo, "f" * 40)
    assert time.monotonic() - started < 15
    assert _git_knows(deploy.repo, deploy.repo.head.commit.hexsha)  # a commit it has: no network at all


def test_the_rollback_push_to_a_silent_origin_is_bounded_and_says_what_to_run(tmp_path: Path, silent_server: int,
                                                                            monkeypatch: pytest.MonkeyPatch):
    """up --post pushes the [rollback] branch through the bounded network git: a silent origin fails
    within the connect timeout, the message names origin without its credentials and the commands
    to run by hand."""
    from deployctl.adapters.switchback import rollback_opener

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


# -- 6. owners and reviewers: only GitHub user, team or email syntax reaches CODEOWNERS ----------------


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
def test_defect6_hostile_owner_never_reaches_codeowners(tmp_path: Path, owner: str):
    deploy, app, _ = deploy_world(tmp_path)
    deploy.catalog({"web": {"repo": str(app.path), "owners": [owner]}})
    code, _, err = run_cli(deploy.path, "codeowners")
    assert code == 2 and "apps.yaml:" in err and "catalog" in err and "owner" in err
    assert not (deploy.path / ".github/CODEOWNERS").exists()


@pytest.mark.parametrize("owner", HOSTILE_OWNERS.values(), ids=HOSTILE_OWNERS.keys())
def test_defect6_hostile_reviewer_is_a_stack_config_error(tmp_path: Path, owner: str):
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
    assert all(ln.startswith("/") for ln in rules) and not any("/**" in ln for ln in rules)


# -- 2. deployRoot stays inside .deployments/; components delete only what they created ---------------


@pytest.mark.parametrize("root", ["/tmp/victim", ".", "deploys", "stacks", ".deployments", ".deployments/../stacks",
                                  "../outside", ".deployments/staging\n"])
def test_defect2_deploy_root_outside_deployments_is_a_stack_config_error(tmp_path: Path, root: str):
    deploy, _, _ = deploy_world(tmp_path, deployRoot=root)
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    v = violation(report, "stack-config")
    assert v["file"] == "Pulumi.staging.yaml" and v["line"] == 2 and "deployRoot" in v["message"]
    assert "allowExternalRoot" in v["message"] or "control character" in v["message"]


def test_defect2_up_with_an_external_root_deletes_nothing_there(tmp_path: Path):
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


# -- 10. promoteFrom cycles ---------------------------------------------------------------------------


def test_defect10_promote_from_cycle_is_a_stack_config_error(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path, promoteFrom="production")
    deploy.env("production", promoteFrom="staging")
    deploy.commit("a cycle")
    code, report, err = check_json(deploy.path)
    assert code == 2, err
    v = violation(report, "stack-config")
    assert v["file"] in ("Pulumi.production.yaml", "Pulumi.staging.yaml") and v["line"] == 2
    assert "cycle" in v["message"] and "production" in v["message"] and "staging" in v["message"]


# -- 11. a path that cannot be written -----------------------------------------------------------------


@pytest.mark.parametrize("target", ["missing/dir/comment.md", "a-file/comment.md", "."])
def test_defect11_unwritable_comment_file_names_the_path_and_reason(tmp_path: Path, target: str):
    deploy, _, _ = deploy_world(tmp_path)
    (tmp_path / "a-file").write_text("")
    path = tmp_path / target
    code, _, err = run_cli(deploy.path, "preview", "--base", "HEAD", "--comment-file", str(path))
    assert code == 2, err
    assert f"cannot write {path}" in err
    assert any(r in err for r in ("No such file or directory", "Not a directory", "Is a directory"))
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.engine
def test_defect11_unwritable_status_page_names_the_path_and_reason(tmp_path: Path):
    deploy, _, _ = deploy_world(tmp_path)
    deploy.copy_program()
    path = tmp_path / "no" / "such" / "status.html"
    code, _, err = run_cli(deploy.path, "status", "--html", str(path))
    assert code == 2, err
    assert f"cannot write {path}: No such file or directory" in err and "internal error" not in err


# -- 5. the preview comment: found by marker AND by the token's identity ------------------------------


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


def test_defect5_a_forged_marked_comment_is_neither_edited_nor_kept_as_the_preview(httpserver: HTTPServer):
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


def test_defect5_with_the_actions_token_the_author_is_github_actions_bot(httpserver: HTTPServer):
    gh_comments = Comments(httpserver, login=None)
    forged = gh_comments.add("mallory", f"{PREVIEW_MARKER}\nforged")
    ours = gh_comments.add(ACTIONS_BOT, f"{PREVIEW_MARKER}\nold preview")
    with GitHub("ghs_actions", api_url=gh_comments.url, sleep=lambda _: None) as gh:
        assert gh.upsert_comment("acme/deploys", 3, "new preview") == ("updated", ours)
    assert gh_comments.patched == [ours]
    assert next(c for c in gh_comments.comments if c["id"] == forged)["body"].endswith("forged")


# -- 8. text from commits, authors and comments: inert in Markdown, HTML and Slack ----------------------


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
def test_defect8_commit_subject_and_author_are_inert_in_the_pr_comment(text: str):
    body = render_comment(_report_with(text, text))
    _assert_inert_markdown(body, text)
    assert "\n## ✅ all passed" not in _outside_fences(body) and "](https://evil" not in _outside_fences(body)
    fences = [ln for ln in body.splitlines() if set(ln) == {"`"}]
    assert len(fences) == 2 and len(fences[0]) > 4  # the error's fence outlives its backticks


def test_defect8_a_real_commit_subject_and_author_through_preview(tmp_path: Path, marker: Path):
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


@pytest.mark.parametrize("repo", ["https://github.com/acme/x)](https://evil.example",
                                  "https://github.com/acme/x%0A## all passed", "git@github.com:acme/x<!--",
                                  "https://token@github.com/acme/x.git"])
def test_a_repo_url_never_breaks_out_of_the_compare_link(repo: str):
    from deployctl.report.render import github_compare_url

    assert github_compare_url(repo, "a" * 40, "b" * 40) is None
    assert github_compare_url("git@github.com:acme/web.git", "a", "b") == "https://github.com/acme/web/compare/a...b"


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_defect8_deploy_comment_and_author_are_escaped_on_the_status_page(tmp_path: Path, text: str):
    from deployctl.adapters.gitaccess import commit_snapshot
    from deployctl.adapters.gitlog import deploy_history, first_parent_order
    from deployctl.core.history import join
    from deployctl.report.status import build_status, render_html

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
def test_defect8_slack_text_cannot_mention_or_link(text: str):
    payload = slack_payload(DeployNotice(env="staging", result="failed", message=text))
    blob = json.dumps(payload, ensure_ascii=False)
    assert "<!channel>" not in blob and "<!here>" not in blob and "<@U123>" not in blob and "<script" not in blob
    assert "@channel" not in blob and "@here" not in blob and "@mallory" not in blob and "@acme" not in blob


# -- 7. secrets stay secret: AWS kinds under mocks, the local kind on the real engine --------------------


def test_defect7_secret_environment_is_a_secret_input_of_ecs_and_lambda():
    """Lambda: the function's environment is a secret input. ECS: the value is only in an SSM
    SecureString parameter (a secret input); the task definition names the parameter, never the value."""
    import pulumi
    from pulumi.runtime import MockResourceArgs, Mocks, set_mocks
    from pulumi.runtime.settings import reset_options

    from deployctl.components import make_component
    from deployctl.components.spec import AppSpec
    from deployctl.core.catalog import EcsServiceSettings, Kind, LambdaSettings

    class Recording(Mocks):
        def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", {**args.inputs, "arn": f"arn:{args.name}", "version": "1"}

        def call(self, args: Any) -> tuple[dict[str, Any], None]:
            return {}, None

    results: dict[str, bool] = {}
    specs = {
        "ecs": AppSpec(env="prod", app="api", kind=Kind.ECS_SERVICE, commit="a" * 40, repo_url="https://x/y.git",
                       settings=EcsServiceSettings(image_repository="r", cluster="c", execution_role_arn="arn:x",
                                                   environment={"TOKEN": "hunter2-s3cret", "LOG": "info"}),
                       secret_settings=("environment.TOKEN",)),
        "lambda": AppSpec(env="prod", app="fn", kind=Kind.LAMBDA, commit="a" * 40, repo_url="https://x/y.git",
                          settings=LambdaSettings(role_arn="arn:r", image_repository="r",
                                                  environment={"TOKEN": "hunter2-s3cret", "LOG": "info"}),
                          secret_settings=("environment.TOKEN",)),
    }
    for name, spec in specs.items():
        reset_options()
        set_mocks(Recording(), preview=False)

        @pulumi.runtime.test
        def program(spec: AppSpec = spec, name: str = name) -> pulumi.Output[Any]:
            component = make_component(spec)
            if name == "ecs":
                document = component.task_definition.container_definitions  # type: ignore[attr-defined]
                document.apply(lambda text: results.__setitem__("ecs document", text))
                value = component.parameters["TOKEN"].value  # type: ignore[attr-defined]
            else:
                value = component.function.environment  # type: ignore[attr-defined]
            return pulumi.Output.from_input(value.is_secret()).apply(lambda s: results.__setitem__(name, s))

        program()
    reset_options()
    document = json.loads(results.pop("ecs document"))  # type: ignore[arg-type]
    assert results == {"ecs": True, "lambda": True}
    assert "hunter2-s3cret" not in json.dumps(document)
    assert document[0]["secrets"] == [{"name": "TOKEN", "valueFrom": "arn:api-env-TOKEN"}]
    assert {"name": "LOG", "value": "info"} in document[0]["environment"]


@pytest.mark.engine
def test_defect7_a_secret_setting_is_encrypted_in_the_state_file(tmp_path: Path):
    from deployctl.adapters.engine import Engine

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


# -- 3 and 2: releases keyed by commit and path; the component deletes only what it created -----------


@pytest.mark.engine
def test_defect3_changing_path_alone_deploys_the_new_content(tmp_path: Path):
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
def test_defect2_and_9_a_foreign_folder_is_never_deployed_into_nor_deleted_and_the_failure_is_one_line(
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
    from deployctl.core.outcomes import failed_outcome

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
    from deployctl.core.catalog import App, Catalog

    catalog = Catalog.model_construct(apps={"web": App.model_construct(repo="x", owners=["@a\n/** @m"])})
    with pytest.raises(ValueError, match="not a GitHub owner"):
        render_codeowners(catalog, {"staging": parse_stack_config("staging", "config: {}\n")})


# -- the local component on the filesystem: what it claims, prunes and deletes ---------------------------


def test_the_local_component_claims_only_what_is_free_and_deletes_only_what_it_wrote(tmp_path: Path):
    from deployctl.components.local import MARKER, claim_app_dir, prune_releases, release_name, remove_app_dir

    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "data.txt").write_text("precious")
    root = tmp_path / ".deployments" / "staging"
    root.mkdir(parents=True)

    (root / "linked").symlink_to(outside)  # a link where an app folder goes
    with pytest.raises(RuntimeError, match="symbolic link"):
        claim_app_dir(root / "linked", "linked")
    assert remove_app_dir(root / "linked") == [] and (outside / "keep" / "data.txt").exists()

    (root / "foreign").mkdir()
    (root / "foreign" / "notes.txt").write_text("someone's")
    with pytest.raises(RuntimeError, match="not created by deployctl"):
        claim_app_dir(root / "foreign", "foreign")
    assert remove_app_dir(root / "foreign") == [] and (root / "foreign" / "notes.txt").exists()

    app = root / "web"
    claim_app_dir(app, "web")
    assert (app / MARKER).is_file()
    releases = app / "releases"
    for age, name in ((100, "a" * 40), (0, "b" * 40)):
        (releases / name).mkdir(parents=True)
        os.utime(releases / name, (time.time() - age, time.time() - age))
    (releases / ("c" * 40)).symlink_to(outside / "keep")  # planted among the releases
    assert prune_releases(app, 1, "b" * 40) == ["a" * 40]
    assert (outside / "keep" / "data.txt").exists()
    (app / "notes.txt").write_text("a person's")
    assert set(remove_app_dir(app)) == {"releases", MARKER}
    assert sorted(p.name for p in app.iterdir()) == ["notes.txt"]
    assert (outside / "keep" / "data.txt").read_text() == "precious"
    assert release_name("d" * 40, None) == "d" * 40
    assert release_name("d" * 40, "site") == release_name("d" * 40, "/site/") != release_name("d" * 40, "docs")


# -- terminal output: escape sequences in comments and subjects ------------------------------------


def test_a_deploy_comment_cannot_drive_the_terminal(tmp_path: Path):
    deploy, app, _ = deploy_world(tmp_path)
    second = app.commit("second\x1b[2J subject", {"site/index.html": "<h1>two</h1>\n"})
    hostile = "retitled \x1b]0;pwned\x07 hidden \x1b[8m text \x9b31m"
    before = deploy.repo.head.commit.hexsha
    deploy.deploy("staging", "web", second, hostile)
    deploy.commit("a hostile comment")
    for args in (("history", "--no-engine"), ("plan", "--base", before)):
        code, out, err = run_cli(deploy.path, *args)
        assert code == 0, err
        assert "retitled" in out and "hidden" in out  # the text is shown ...
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out + err)  # ... with no control character
    code, out, _ = run_cli(deploy.path, "history", "--no-engine", "--json")
    assert code == 0 and hostile in json.loads(out)[0]["comment"]  # JSON keeps the text exactly, escaped


# --- h-judge: one judgement from what runs, exactly the head commit, and the last low findings ---


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
