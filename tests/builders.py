"""Small builders for real git repositories in temp dirs: app repos and deploy repos."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import git
import yaml

from deployctl.core.repo.envconfig import PROJECT

PROJECT_ROOT = Path(__file__).resolve().parent.parent


FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
"""The project's own fixtures: GitHub payloads written after GitHub's schema, engine events recorded
by scripts/record-engine-events. Nothing a test reads lives outside the repository."""


ACTOR = git.Actor("Dana Dev", "dana@example.com")


class AppRepo:
    """An app repository with a main branch; every commit changes a file so hashes differ."""

    def __init__(self, path: Path, branch: str = "main"):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.repo = git.Repo.init(path, initial_branch=branch)
        self._n = 0

    def commit(self, message: str = "", files: dict[str, str] | None = None,
               author: git.Actor = ACTOR) -> str:
        self._n += 1
        files = files or {f"changes/{self._n}.txt": f"{message}\n"}
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.repo.index.add([name])
        commit = self.repo.index.commit(message or f"change {self._n}", author=author, committer=author)
        return commit.hexsha

    def branch(self, name: str, start: str | None = None) -> None:
        self.repo.git.checkout("-b", name, *([start] if start else []))

    def checkout(self, name: str) -> None:
        self.repo.git.checkout(name)

    def merge(self, branch: str, message: str | None = None) -> str:
        self.repo.git.merge("--no-ff", "-m", message or f"Merge {branch}", branch)
        return self.repo.head.commit.hexsha

    def tag(self, name: str, rev: str = "HEAD") -> None:
        self.repo.create_tag(name, ref=rev)

    def head(self) -> str:
        return self.repo.head.commit.hexsha


class DeployRepo:
    """A deploy repository: apps.yaml, Pulumi.<env>.yaml and deploys/<env>/<app> files."""

    def __init__(self, path: Path, with_program: bool = False):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.repo = git.Repo.init(path, initial_branch="main")
        with self.repo.config_writer() as cfg:
            cfg.set_value("user", "name", ACTOR.name)
            cfg.set_value("user", "email", ACTOR.email)
        if with_program:
            self.copy_program()

    def copy_program(self) -> None:
        """The real Pulumi program of this project, so the engine runs exactly what ships."""
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(PROJECT_ROOT / name, self.path / name)
        (self.path / ".gitignore").write_text(".venv\n.pulumi-state/\n.deployments/\n")
        venv = PROJECT_ROOT / ".venv"
        if not (self.path / ".venv").exists():
            os.symlink(venv, self.path / ".venv")

    def catalog(self, apps: dict[str, dict[str, Any]]) -> DeployRepo:
        self.write("apps.yaml", yaml.safe_dump({"apps": apps}, sort_keys=False))
        return self

    def env(self, name: str, keep_dir: bool = True, **settings: Any) -> DeployRepo:
        config = {f"{PROJECT}:{k}": v for k, v in settings.items()}
        self.write(f"Pulumi.{name}.yaml", yaml.safe_dump({"config": config}, sort_keys=False))
        if keep_dir:
            self.write(f"deploys/{name}/.gitkeep", "")
        return self

    def write(self, rel: str, text: str | bytes) -> Path:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        return target

    def deploy(self, env: str, app: str, commit: str, comment: str = "") -> Path:
        """Prepend a deploy line, as a person would."""
        target = self.path / "deploys" / env / app
        old = target.read_bytes() if target.exists() else b""
        line = f"{commit} {comment}".rstrip() + "\n"
        return self.write(f"deploys/{env}/{app}", line.encode() + old)

    def remove(self, rel: str) -> None:
        (self.path / rel).unlink()

    def commit(self, message: str = "deploy") -> str:
        self.repo.git.add("-A")
        self.repo.index.commit(message, author=ACTOR, committer=ACTOR)
        return self.repo.head.commit.hexsha


def fast_history(path: Path, commits: int) -> None:
    """A linear history of many commits in seconds (git fast-import), byte-identical on every run."""
    git.Repo.init(path, initial_branch="main")
    lines = ["blob", "mark :1", "data 2", "x", ""]
    for i in range(commits):
        message = f"c{i}"
        lines += ["commit refs/heads/main", f"committer A <a@example.com> {1_700_000_000 + i} +0000",
                  f"data {len(message)}", message]
        lines += ["M 100644 :1 f", ""] if i == 0 else [""]
    import subprocess

    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input="\n".join(lines).encode() + b"\n", check=True)
