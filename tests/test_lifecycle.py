"""The slow one: the tool as a team gets it. The wheel is built once per session (pip wheel --no-deps)
and installed with its pinned dependencies into a fresh venv; `deployctl init` makes a deploy repo in a
temp folder, which holds no source of the tool: the program the real engine runs is the installed
package. Then a `local` app through bump, check, preview, up, history, status, metrics, doctor, a
failing health check and its switch-back; and an upgrade by its pin (a second wheel, another version,
the same program: the preview of the pin change shows no resource change).

Every deployctl here is the installed one, run as a team runs it: a subprocess in the repo, the venv's
bin first on PATH, where the installed `deployctl install-engine` linked the pinned Pulumi CLI that
`make engine` found for this checkout (never built here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
import yaml

from deployctl import __version__
from tests.builders import ACTOR, PROJECT_ROOT, AppRepo

pytestmark = [pytest.mark.engine, pytest.mark.lifecycle]

SOURCE_IGNORED = shutil.ignore_patterns(".git", ".venv", ".demo", ".pulumi-state", ".deployments", "build", "dist",
                                        "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                                        ".hypothesis")
GOOD = "echo ok\n"
BAD = "echo 'database unreachable' >&2\nexit 3\n"
HEALTH = {"command": "sh check.sh", "retries": 0, "interval": 0, "timeout": 20}


@dataclass(frozen=True)
class Installed:
    venv: Path
    version: str
    wheel: Path
    next_version: str
    next_wheel: Path
    """The same source at another version: what an upgrade that changes no program installs."""
    pulumi_dir: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def pip_install(self, *args: str) -> None:
        """pip (this suite's) installing into the venv: no bytecode compiled up front (pulumi-aws alone
        is thousands of modules), so the install takes under a minute with a warm cache."""
        subprocess.run([sys.executable, "-m", "pip", "--python", str(self.bin / "python"), "install", "--quiet",
                        "--disable-pip-version-check", "--no-compile", *args], check=True, timeout=900)


def _wheel(source: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "-w", str(out), str(source)], check=True, timeout=600, capture_output=True)
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Two wheels of this working tree (its version, and the same source one version later) and a fresh
    venv with the first installed, its pinned dependencies from PyPI."""
    linked = PROJECT_ROOT / ".venv" / "bin" / "pulumi"
    if not linked.exists():
        pytest.fail("the pinned Pulumi CLI is not linked into .venv/bin; run `make engine`")
    tmp = tmp_path_factory.mktemp("lifecycle")
    source = tmp / "source"  # a copy: pip builds in the source tree, which must stay as it is
    shutil.copytree(PROJECT_ROOT, source, symlinks=True, ignore=SOURCE_IGNORED)
    wheel = _wheel(source, tmp / "wheel")
    init = source / "deployctl" / "__init__.py"
    version = __version__  # the copy's: this working tree's
    next_version = f"{version}.post1"
    shutil.rmtree(source / "build", ignore_errors=True)
    init.write_text(init.read_text().replace(f'"{version}"', f'"{next_version}"'))
    next_wheel = _wheel(source, tmp / "next-wheel")
    venv = tmp / "venv"
    # with pip, as a team's venv has it: the engine asks it which packages the program has (`pip list`)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    found = Installed(venv=venv, version=version, wheel=wheel, next_version=next_version, next_wheel=next_wheel,
                      pulumi_dir=linked.resolve().parent)
    found.pip_install(str(wheel))
    # the team's way to the pinned CLI: `deployctl install-engine` finds the one on PATH (never a build
    # here) and links it beside the venv's python, where deployctl looks; PATH needs it no more after
    done = subprocess.run([str(venv / "bin" / "deployctl"), "install-engine"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PATH": os.pathsep.join([str(found.pulumi_dir), "/usr/bin",
                                                                                   "/bin"])})
    assert (done.returncode, done.stdout) == (0, f"{found.pulumi_dir}\n"), done.stderr
    assert (venv / "bin" / "pulumi").resolve() == found.pulumi_dir / "pulumi"
    return found


class Team:
    """A team's deploy repository made by the installed `deployctl init`, and the installed tool."""

    def __init__(self, tool: Installed, tmp: Path):
        self.tool = tool
        self.tmp = tmp
        self.root = tmp / "deploys"
        self.api: list[str] = []
        """The app's commits (the fixture makes them)."""
        ours = {str((PROJECT_ROOT / ".venv" / "bin").resolve()), str(Path(sys.executable).parent)}
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and str(Path(p).resolve()) not in ours]
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PULUMI_", "DEPLOYCTL_", "PYTHON", "VIRTUAL_ENV", "GITHUB_"))}
        path = [p for p in path if not (Path(p) / "pulumi").exists()]  # only the venv's link to the pinned CLI
        self.env.update(PATH=os.pathsep.join([str(tool.bin), *path]),
                        DEPLOYCTL_ALLOW_LOCAL_BACKEND="1", PULUMI_CONFIG_PASSPHRASE="lifecycle passphrase",
                        DEPLOYCTL_CACHE=str(tmp / "cache"), DEPLOYCTL_LOG_DIR=str(tmp / "logs"))

    def run(self, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        done = subprocess.run([str(self.tool.bin / "deployctl"), *args], cwd=cwd or self.root, env=self.env,
                              capture_output=True, text=True, timeout=600)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    def ok(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code == 0, f"deployctl {' '.join(args)}: exit {code}\n{out}\n{err}\n{self.comment()}"
        return out

    def comment(self) -> str:
        """The last comment a preview wrote (the engine's own message is there when it fails)."""
        found = sorted(self.tmp.glob("*.md"), key=lambda p: p.stat().st_mtime)
        return found[-1].read_text() if found else ""

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.root)

    def commit(self, message: str) -> str:
        self.repo.git.add("-A")
        return self.repo.index.commit(message, author=ACTOR, committer=ACTOR).hexsha

    def merge(self, branch: str, message: str) -> tuple[str, str]:
        """A PR merged with a merge commit; (the main branch before, the merge)."""
        self.repo.git.checkout("main")
        before = self.repo.head.commit.hexsha
        self.repo.git.merge("--no-ff", "-m", message, branch)
        return before, self.repo.head.commit.hexsha

    def current(self, env: str, app: str) -> str:
        return (self.root / ".deployments" / env / app / "current").resolve().name.split("-")[0]

    def tool_source(self) -> list[str]:
        """Anything of the tool in the repository: a package folder, or any Python but __main__.py."""
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                      if not {".git", ".venv", ".pulumi-state", ".deployments"} & set(p.parts)
                      and ((p.is_dir() and p.name in ("deployctl", "stacks", "components"))
                           or (p.suffix == ".py" and p.name != "__main__.py") or p.name == "pyproject.toml"))


@pytest.fixture
def team(installed: Installed, tmp_path: Path) -> Iterator[Team]:
    """An init'ed repository with one `local` app, `api`, whose first three commits pass their health
    check and whose fourth fails it; committed, nothing deployed yet."""
    t = Team(installed, tmp_path)
    code, out, err = t.run("init", "deploys", cwd=tmp_path)
    assert code == 0, err
    assert "wrote deploys/requirements.txt" in out and "deployctl doctor" in err
    assert t.tool_source() == []
    # the venv where Pulumi.yaml says (`virtualenv: .venv`), as the team's README has it made; git-ignored
    (t.root / ".venv").symlink_to(installed.venv)
    git.Repo.init(t.root, initial_branch="main")
    t.commit("deployctl init")
    api = AppRepo(tmp_path / "apps" / "api")
    t.api = [api.commit(f"api {i}", {"check.sh": text, "app.py": f"print({i})\n"})
             for i, text in enumerate([GOOD, GOOD, GOOD, BAD])]
    catalog = {"apps": {"api": {"kind": "local", "repo": str(api.path), "branch": "main",
                                "owners": ["@acme/api-team"], "settings": {"health": HEALTH}}}}
    (t.root / "apps.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    t.ok("codeowners")
    t.commit("add the api app")
    yield t


def deploy(t: Team, env: str, commit: str, message: str) -> tuple[str, str]:
    """bump on a branch, judged and previewed as its PR would be, then merged: (main before, the merge)."""
    branch = f"deploy/{env}-{commit[:7]}"
    t.ok("bump", env, "api", commit, "-m", message, "--branch", branch)
    assert t.repo.active_branch.name == branch
    assert t.ok("check", "--base", "main").strip() == "ok: no violations"
    return t.merge(branch, f"Merge pull request #{len(list(t.repo.iter_commits()))} from acme/{branch}")


def test_a_team_repository_from_init_through_its_whole_lifecycle_on_the_installed_package(team: Team):
    t, api = team, team.api
    # the package the engine imports is the venv's: the repository has none of it
    where = subprocess.run([str(t.tool.bin / "python"), "-c", "import deployctl; print(deployctl.__file__)"],
                           cwd=t.root, env=t.env, capture_output=True, text=True, check=True, timeout=60).stdout
    assert Path(where.strip()).is_relative_to(t.tool.venv)
    assert t.ok("--version").strip() == f"deployctl {t.tool.version}"

    # a deploy PR: bump, check, preview (the comment), merge, up
    branch = f"deploy/staging-{api[0][:7]}"
    t.ok("bump", "staging", "api", api[0], "-m", "first api", "--branch", branch)
    assert t.ok("check", "--base", "main").strip() == "ok: no violations"
    t.ok("preview", "--base", "main", "--comment-file", str(t.tmp / "comment.md"))
    body = (t.tmp / "comment.md").read_text()
    assert "### staging" in body and "**Pulumi:** " in body and "to create" in body
    assert "| create | `api-release` |" in body
    before, merged = t.merge(branch, "Merge pull request #1 from acme/deploy-api")
    out = t.ok("up")  # every stack: staging deploys api, production (no app yet) is created empty
    assert "staging: ok" in out, out
    assert t.current("staging", "api") == api[0]
    assert f"staging/api {api[0][:12]}: health try 1/1: ok: exit 0" in out
    t.commit("stack configs as Pulumi writes them")  # stack init adds the salt

    # the trace and the figures
    (entry,) = json.loads(t.ok("history", "staging", "api", "--json"))
    assert (entry["to"], entry["deploy"]["result"]) == (api[0], "succeeded")
    cells = {(c["env"], c["app"]): c for c in json.loads(t.ok("status", "--json"))}
    assert cells[("staging", "api")]["commit"] == api[0]
    metrics = json.loads(t.ok("metrics", "staging", "--json"))
    assert metrics["envs"]["staging"]["deploys"] == 1
    checks = {c["name"]: c for c in json.loads(t.run("doctor", "--json")[1])}
    assert checks["pulumi CLI"]["status"] == "ok" and checks["app repo api"]["status"] == "ok"
    assert checks["deployctl version"] == {"name": "deployctl version", "status": "ok", "fix": "",
                                           "detail": f"deployctl {t.tool.version}, as requirements.txt pins"}
    assert checks["secrets staging"]["status"] == "ok"

    # a deploy whose health check fails: switched back to what ran before
    before, merged = deploy(t, "staging", api[3], "api with a broken dependency")
    code, out, err = t.run("up", "--base", before, "--head", merged, "--branch", "main")
    assert code == 1, out + err
    assert "health try 1/1: failed: exit 3: database unreachable" in out
    assert f"staging: switching back api to {api[0][:12]}" in out
    assert f"failed, switched back: api to {api[0][:12]}" in err
    assert t.current("staging", "api") == api[0]
    results = {e["to"]: e["deploy"]["result"] for e in json.loads(t.ok("history", "staging", "--json"))}
    assert results == {api[0]: "succeeded", api[3]: "failed, switched back"}
    assert t.tool_source() == []  # the whole way through


def test_an_upgrade_by_its_pin_that_changes_no_program_previews_no_resource_change(team: Team):
    """Another version of the same program (a second wheel): the PR that changes the pin previews every
    stack (a program change), and no resource changes in any."""
    t, api = team, team.api
    t.ok("bump", "staging", "api", api[0], "-m", "first api")
    t.commit("first api")
    t.ok("up")
    t.commit("stack configs as Pulumi writes them")
    try:
        t.tool.pip_install("--no-deps", str(t.tool.next_wheel))  # a runner that installed the next version
        assert t.ok("--version").strip() == f"deployctl {t.tool.next_version}"
        code, out, err = t.run("check")
        assert (code, out.strip()) == (0, "ok: no violations")  # said, not failed
        assert (f"note: deployctl {t.tool.next_version} is installed, but requirements.txt pins "
                f"deploy-by-code=={t.tool.version}") in err

        t.repo.git.checkout("-b", "upgrade-deployctl")
        pin = t.root / "requirements.txt"
        pin.write_text(pin.read_text().replace(f"=={t.tool.version}\n", f"=={t.tool.next_version}\n"))
        t.commit(f"Upgrade deploy-by-code to {t.tool.next_version}")
        code, _, err = t.run("check", "--base", "main")
        assert code == 0 and "note:" not in err
        plan = json.loads(t.ok("plan", "--base", "main", "--json"))
        assert (plan["program_changed"], plan["stacks"]) == (True, ["staging", "production"])
        t.ok("preview", "--base", "main", "--comment-file", str(t.tmp / "upgrade.md"))
        body = (t.tmp / "upgrade.md").read_text()
        assert "### staging" in body and "### production" in body
        assert body.count("**Pulumi:** no changes") == 2, body
        assert not re.search(r"to (create|update|delete|replace)", body), body
    finally:
        t.tool.pip_install("--no-deps", "--force-reinstall", str(t.tool.wheel))  # the session's venv as it was
