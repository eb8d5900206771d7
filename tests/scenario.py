"""The incident as a fixture: an app repo with an old maintenance branch, an unmerged feature,
merges and tags; a deploy repo with staging and a protected production that promotes from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from deployctl import console
from deployctl.cli import run
from tests.builders import AppRepo, DeployRepo


@dataclass
class Scenario:
    root: Path
    deploy: DeployRepo
    api: AppRepo
    web: AppRepo
    commits: dict[str, str]
    base: str

    def cli(self, *args: str) -> tuple[int, str, str]:
        return run_cli(self.root, *args)

    def check(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out, err = run_cli(self.root, "check", "--base", "main", "--json", *args)
        assert "Traceback" not in err, err
        return code, json.loads(out)


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """deployctl in process, as a subprocess in `cwd` would run it: `cli.run` (the entry point's own
    error handling) inside click's CliRunner isolation, with the console injected onto its streams;
    `env`, when given, is the whole environment. Exit code, stdout, stderr. DEPLOYCTL_TEST_SUBPROCESS=1
    runs each through the installed entry point instead (to tell an in-process artefact from a bug)."""
    if os.environ.get("DEPLOYCTL_TEST_SUBPROCESS"):
        return run_entry_point(cwd, *args, env=env)
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    try:
        os.chdir(cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        with CliRunner().isolation() as (out, err, _), console.use(sys.stdout, sys.stderr):
            code = run(list(args))
            sys.stdout.flush()
            sys.stderr.flush()
            return int(code), out.getvalue().decode(), err.getvalue().decode()
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_entry_point(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The installed `deployctl` script in a subprocess: for the few tests that prove the entry point."""
    script = Path(sys.executable).parent / "deployctl"
    proc = subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def rules_of(report: dict[str, Any], severity: str | None = None) -> set[str]:
    return {v["rule"] for v in report["violations"] if severity is None or v["severity"] == severity}


def build(tmp: Path) -> Scenario:
    api = AppRepo(tmp / "apps" / "api")
    c: dict[str, str] = {}
    c["c1"] = api.commit("first release")
    api.tag("v1.0.0")
    api.branch("release/1.x")
    c["old"] = api.commit("maintenance fix that main never got")
    api.checkout("main")
    c["c2"] = api.commit("second")
    api.branch("feature/login", c["c2"])
    c["feature"] = api.commit("unmerged feature")
    api.checkout("main")
    api.branch("topic", c["c2"])
    c["topic"] = api.commit("topic work")
    api.checkout("main")
    c["c3"] = api.commit("third")
    c["merge"] = api.merge("topic")
    c["c4"] = api.commit("fourth")
    # a hotfix built on what production runs (c2), never merged to main
    api.branch("hotfix/urgent", c["c2"])
    c["hotfix"] = api.commit("urgent fix on top of c2")
    api.checkout("main")

    web = AppRepo(tmp / "apps" / "web")
    c["w1"] = web.commit("web one")
    c["w2"] = web.commit("web two")

    deploy = DeployRepo(tmp / "deploy")
    deploy.catalog({
        "api": {"kind": "local", "repo": str(api.path), "group": "core", "owners": ["@acme/api"]},
        "worker": {"kind": "local", "repo": str(api.path), "group": "core"},
        "web": {"kind": "local", "repo": "../apps/web"},
    })
    deploy.env("staging")
    deploy.env("production", protected=True, promoteFrom="staging", reviewers=["@acme/release"],
               freeze=[{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z",
                        "reason": "year-end freeze"}])
    deploy.deploy("staging", "api", c["c1"])
    deploy.deploy("staging", "api", c["c3"], "third on staging")
    deploy.deploy("staging", "worker", c["c3"])
    deploy.deploy("staging", "web", c["w1"])
    deploy.deploy("production", "api", c["c2"], "second in prod")
    deploy.deploy("production", "worker", c["c2"])
    deploy.deploy("production", "web", c["w1"])
    base = deploy.commit("initial deploys")
    return Scenario(root=deploy.path, deploy=deploy, api=api, web=web, commits=c, base=base)
