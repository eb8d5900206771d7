"""A deploy repo running this project's real Pulumi program on a local file backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deployctl.adapters.pulumi.engine import Engine
from tests.builders import AppRepo, DeployRepo
from tests.scenario import run_cli


@dataclass
class World:
    deploy: DeployRepo
    api: AppRepo
    web: AppRepo
    shas: dict[str, list[str]]

    @property
    def root(self) -> Path:
        return self.deploy.path

    def cli(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        return run_cli(self.root, *args, env=env)

    def engine(self) -> Engine:
        return Engine(self.root)

    def current(self, env: str, app: str) -> str:
        link = self.root / ".deployments" / env / app / "current"
        return link.resolve().name.split("-")[0]  # a subfolder release is <commit>-<path digest>

    def block_release(self, env: str, app: str, commit: str, path: str | None = None) -> None:
        """A file where the commit's release folder goes: its `up` passes the safeguards, then fails
        inside the engine for real (the provider cannot install the release)."""
        from deployctl.components.local import release_name

        releases = self.root / ".deployments" / env / app / "releases"
        releases.mkdir(parents=True, exist_ok=True)
        (releases / release_name(commit, path)).write_text("not a release folder\n")

    def releases(self, env: str, app: str) -> set[str]:
        return {p.name for p in (self.root / ".deployments" / env / app / "releases").iterdir()}


def build_world(tmp: Path, production: bool = True) -> World:
    api = AppRepo(tmp / "apps" / "api")
    api_shas = [api.commit(f"api {i}", {"app.py": f"print('api {i}')\n"}) for i in range(4)]
    web = AppRepo(tmp / "apps" / "web")
    web_shas = [web.commit(f"web {i}", {"site/index.html": f"<h1>{i}</h1>\n"}) for i in range(3)]
    deploy = DeployRepo(tmp / "deploy", with_program=True)
    deploy.catalog({
        "api": {"repo": str(api.path), "settings": {"keep_releases": 2}},
        "web": {"repo": str(web.path), "path": "site", "depends_on": ["api"]},
    })
    deploy.env("staging", deployRoot=".deployments/staging")
    deploy.deploy("staging", "api", api_shas[0], "first api")
    deploy.deploy("staging", "web", web_shas[0], "first web")
    if production:
        deploy.env("production", protected=True, promoteFrom="staging", deployRoot=".deployments/production",
                   reviewers=["@acme/release"])
        deploy.deploy("production", "api", api_shas[0], "first api")
        deploy.deploy("production", "web", web_shas[0], "first web")
    deploy.commit("initial deploys")
    return World(deploy=deploy, api=api, web=web, shas={"api": api_shas, "web": web_shas})


def merge(w: World, message: str, edit: Callable[[], object]) -> tuple[str, str]:
    """A PR merged with a merge commit; returns (before, merge)."""
    repo = w.deploy.repo
    before = repo.head.commit.hexsha
    repo.git.checkout("-b", f"pr-{len(list(repo.iter_commits()))}")
    edit()
    w.deploy.commit("the change")
    branch = repo.active_branch.name
    repo.git.checkout("main")
    repo.git.merge("--no-ff", "-m", message, branch)
    return before, repo.head.commit.hexsha
