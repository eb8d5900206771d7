"""Generators for realistic benchmark repositories, written with `git fast-import`.

Everything is deterministic (fixed seeds, authors and dates), so the same parameters give the same
repositories and the same commit hashes. Generated repositories are cached under
`${DEPLOYCTL_BENCH_DIR:-/tmp/deploy-by-code-bench}`, keyed by their parameters; a folder is only
used once its `bench.json` exists (written last), so an interrupted generation is redone.

- `make_app_repo`: a bare app repository of C commits: `main` with a merged two-commit feature
  branch every `merge_every` commits, and an unmerged `release/0.x` branch.
- `make_deploy_repo`: a deploy repository of N envs x M apps (apps.yaml, Pulumi.<env>.yaml, deploy
  files naming real commits of the app repositories on their release branch), then K deploy
  commits, each prepending one line to one file.
- `make_change`: a pull request on top of that: a branch that prepends a newer (descendant, promoted
  where the env requires it) commit to n files, so `deployctl check --base main` passes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

GEN_VERSION = 1
"""Bump when the generators change: it is part of every cache key."""

EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHAIN = 3
"""The first CHAIN envs form a promotion chain (env i promotes from env i-1); the rest are independent."""


def bench_dir() -> Path:
    return Path(os.environ.get("DEPLOYCTL_BENCH_DIR") or "/tmp/deploy-by-code-bench")


def git_env() -> dict[str, str]:
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench Bot", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench Bot", "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_AUTHOR_DATE": f"@{EPOCH + 10_000_000} +0000", "GIT_COMMITTER_DATE": f"@{EPOCH + 10_000_000} +0000",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }


def git(*args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, env=git_env())
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode()


def _data(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return b"data %d\n%s\n" % (len(raw), raw)


def _who(role: str, n: int, when: int) -> bytes:
    return f"{role} Dev {n % 40} <dev{n % 40}@example.com> {when} +0000\n".encode()


def _fast_import(git_dir: Path, stream: bytes, marks: Path | None = None) -> dict[int, str]:
    args = ["--git-dir", str(git_dir), "fast-import", "--quiet", "--done"]
    if marks is not None:
        args.append(f"--export-marks={marks}")
    git(*args, input=stream + b"done\n")
    if marks is None:
        return {}
    found = {}
    for line in marks.read_text().splitlines():
        mark, sha = line.split()
        found[int(mark[1:])] = sha
    marks.unlink()
    return found


# -- app repositories ---------------------------------------------------------------------------


def make_app_repo(path: Path, commits: int = 10_000, merge_every: int = 50, release_commits: int = 5,
                  seed: int = 0) -> list[str]:
    """A bare app repository of `commits` commits; returns main's first-parent commits, oldest first.

    Every commit changes one of 200 small files. Every `merge_every` main commits a feature branch of
    two commits is merged with --no-ff; `release/0.x` forks from the middle of main and is never merged.
    """
    rng = random.Random(f"app:{seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    out: list[bytes] = []
    mark = 0
    main: list[int] = []
    made = 0
    budget = commits - release_commits

    def commit(ref: str, message: str, parents: list[int]) -> int:
        nonlocal mark, made
        mark += 1
        made += 1
        when = EPOCH + made * 600
        out.append(f"commit {ref}\nmark :{mark}\n".encode())
        out.append(_who("author", made, when))
        out.append(_who("committer", made, when))
        out.append(_data(message))
        if parents:
            out.append(f"from :{parents[0]}\n".encode())
        for p in parents[1:]:
            out.append(f"merge :{p}\n".encode())
        name = f"src/m{rng.randrange(10)}/f{rng.randrange(20)}.txt"
        out.append(f"M 100644 inline {name}\n".encode())
        out.append(_data(f"change {made} of repo {seed}\n"))
        return mark

    while made < budget:
        tip = main[-1] if main else None
        if tip and len(main) % merge_every == merge_every - 1 and budget - made >= 3:
            a = commit("refs/heads/feature", f"feature {len(main)}: part 1", [tip])
            b = commit("refs/heads/feature", f"feature {len(main)}: part 2", [a])
            main.append(commit("refs/heads/main", f"Merge branch 'feature-{len(main)}'", [tip, b]))
        else:
            main.append(commit("refs/heads/main", f"main change {len(main)}", [tip] if tip else []))
    fork = main[len(main) // 2]
    for i in range(release_commits):
        fork = commit("refs/heads/release/0.x", f"0.x patch {i}", [fork])
    shas = _fast_import(path, b"".join(out), path / "bench-marks")
    git("--git-dir", str(path), "update-ref", "-d", "refs/heads/feature")
    return [shas[m] for m in main]


@dataclass
class AppRepos:
    """R app repositories of C commits each, and each one's main (first-parent, oldest first)."""

    root: Path
    paths: list[Path]
    main: list[list[str]]


def app_repos(commits: int, repos: int, log: Callable[[str], None] = lambda s: None) -> AppRepos:
    root = bench_dir() / f"apps-c{commits}-r{repos}-v{GEN_VERSION}"
    meta = root / "bench.json"
    if not meta.exists():
        shutil.rmtree(root, ignore_errors=True)
        log(f"generating {repos} app repositories of {commits:,} commits in {root}")
        mains = [make_app_repo(root / f"app-{j:02d}.git", commits, seed=j) for j in range(repos)]
        meta.write_text(json.dumps({"main": mains}))
    mains = json.loads(meta.read_text())["main"]
    return AppRepos(root=root, paths=[root / f"app-{j:02d}.git" for j in range(repos)], main=mains)


# -- deploy repositories ------------------------------------------------------------------------


@dataclass
class Change:
    env: str
    app: str
    repo: str  # the app repository's path
    old: str
    new: str


@dataclass
class DeployRepo:
    path: Path
    envs: int
    apps: int
    history_commits: int
    base: str = "main"
    head: str | None = None
    changes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict:
        return {**asdict(self), "path": str(self.path)}

    @classmethod
    def from_json(cls, data: dict) -> DeployRepo:
        data = {**data, "path": Path(data["path"]), "changes": [Change(**c) for c in data["changes"]]}
        return cls(**data)


def env_names(n: int) -> list[str]:
    return [f"env-{i:02d}" for i in range(n)]


def app_names(n: int) -> list[str]:
    return [f"app-{i:04d}" for i in range(n)]


def upstream_of(env: str) -> str | None:
    i = int(env.split("-")[1])
    return f"env-{i - 1:02d}" if 0 < i < CHAIN else None


class _State:
    """Every deploy file's lines (index into its app's main, comment), newest first."""

    def __init__(self, envs: list[str], apps: list[str], repos: AppRepos):
        self.envs, self.apps, self.repos = envs, apps, repos
        self.files: dict[tuple[str, str], list[tuple[int, str]]] = {}

    def repo_of(self, app: str) -> int:
        return int(app.split("-")[1]) % len(self.repos.paths)

    def main(self, app: str) -> list[str]:
        return self.repos.main[self.repo_of(app)]

    def render(self, env: str, app: str) -> bytes:
        main = self.main(app)
        return "".join(f"{main[i]} {comment}\n" for i, comment in self.files[(env, app)]).encode()

    def current(self, env: str, app: str) -> int | None:
        lines = self.files.get((env, app))
        return lines[0][0] if lines else None

    def next_deploy(self, env: str, app: str, rng: random.Random, headroom: float) -> tuple[int, str] | None:
        """A valid next deploy for the file: a promotion from upstream, or a newer main commit."""
        cur = self.current(env, app)
        up = upstream_of(env)
        if up is not None:
            up_cur = self.current(up, app)
            if up_cur is None or (cur is not None and up_cur <= cur):
                return None
            return up_cur, f"promote from {up}"
        limit = int(len(self.main(app)) * headroom)
        if cur is None:
            return rng.randrange(len(self.main(app)) // 10, len(self.main(app)) // 2), "first deploy"
        new = min(cur + rng.randint(1, 10), limit)
        return (new, "release") if new > cur else None


def _seed(state: _State, seed: int) -> None:
    """Three deploys per file; a promoted env runs its upstream's previous commit."""
    for env in state.envs:
        up = upstream_of(env)
        for app in state.apps:
            if up is not None:
                state.files[(env, app)] = [(i, f"promote from {up}") for i, _ in state.files[(up, app)][1:]]
                continue
            rng = random.Random(f"{seed}:{env}:{app}")
            n = len(state.main(app))
            idx = rng.randrange(n // 10, n // 2)
            lines = []
            for k in range(3):
                lines.append((idx, f"deploy {3 - k} by dev{rng.randrange(40)}"))
                idx -= rng.randint(1, 30)
            state.files[(env, app)] = lines


def _catalog(apps: list[str], repos: AppRepos, deploy_path: Path) -> str:
    lines = ["# Generated by bench/generate.py", "apps:"]
    for app in apps:
        j = int(app.split("-")[1]) % len(repos.paths)
        rel = os.path.relpath(repos.paths[j], deploy_path)
        lines += [f"  {app}:", "    kind: local", f"    repo: {rel}", "    branch: main",
                  f'    owners: ["@acme/team-{j:02d}"]']
        if int(app.split("-")[1]) % 3 == 0:
            lines += ["    settings:", "      keep_releases: 3"]
    return "\n".join(lines) + "\n"


def _stack_config(env: str) -> str:
    lines = ["config:", f"  deploys:deployRoot: .deployments/{env}"]
    if (up := upstream_of(env)) is not None:
        lines.append(f"  deploys:promoteFrom: {up}")
    if env == f"env-{CHAIN - 1:02d}":
        lines += ["  deploys:protected: true", "  deploys:reviewers:", '    - "@acme/release-managers"']
    return "\n".join(lines) + "\n"


def make_deploy_repo(path: Path, envs: int, apps: int, repos: AppRepos, history_commits: int,
                     seed_all: bool = True, seed: int = 0) -> tuple[DeployRepo, _State]:
    """A deploy repository (a Pulumi project) with a working tree checked out at main.

    seed_all: the first commit deploys every app to every env (three lines each); otherwise the
    deploy files are created by the history commits. Then `history_commits` squash-merged deploy
    commits, each prepending one line to one file (a release, or a promotion from upstream).
    """
    env_list, app_list = env_names(envs), app_names(apps)
    state = _State(env_list, app_list, repos)
    path.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--initial-branch=main", str(path))
    out: list[bytes] = []
    when = EPOCH + 1_000

    def commit(message: str, files: dict[str, bytes], n: int) -> None:
        out.append(b"commit refs/heads/main\n")
        out.append(_who("author", n, when))
        out.append(_who("committer", n, when))
        out.append(_data(message))
        for name, data in files.items():
            out.append(f"M 100644 inline {name}\n".encode())
            out.append(_data(data))

    first: dict[str, bytes] = {
        "apps.yaml": _catalog(app_list, repos, path).encode(),
        ".gitignore": b".venv\n.pulumi-state/\n.deployments/\n",
    }
    for name in ("Pulumi.yaml", "__main__.py"):
        first[name] = (PROJECT_ROOT / name).read_bytes()
    for env in env_list:
        first[f"Pulumi.{env}.yaml"] = _stack_config(env).encode()
        first[f"deploys/{env}/.gitkeep"] = b""
    if seed_all:
        _seed(state, seed)
        for env, app in state.files:
            first[f"deploys/{env}/{app}"] = state.render(env, app)
    commit("Set up the deploy repository", first, 0)

    rng = random.Random(f"history:{seed}")
    independent = [e for e in env_list if upstream_of(e) is None]
    for k in range(history_commits):
        when += 300
        env, app = rng.choice(env_list), rng.choice(app_list)
        step = state.next_deploy(env, app, rng, headroom=0.9)
        while step is None:
            env, app = rng.choice(independent), rng.choice(app_list)
            step = state.next_deploy(env, app, rng, headroom=0.9)
        idx, comment = step
        state.files.setdefault((env, app), []).insert(0, (idx, f"{comment} (#{k + 1})"))
        commit(f"Deploy {app} {state.main(app)[idx][:12]} to {env} (#{k + 1})",
               {f"deploys/{env}/{app}": state.render(env, app)}, k + 1)
    _fast_import(path / ".git", b"".join(out))
    git("reset", "--quiet", "--hard", cwd=path)
    return DeployRepo(path=path, envs=envs, apps=apps, history_commits=history_commits), state


def make_change(repo: DeployRepo, state: _State, n_files: int = 100, app_limit: int | None = None,
                seed: int = 0) -> DeployRepo:
    """A realistic, valid pull request: branch `pr/bench` prepends a newer commit to n files.

    Each new commit is on main and a descendant of what runs; in a promoted env it is what the
    upstream env runs at the base. Files are picked among the first `app_limit` apps, so repos of
    different sizes get the same kind of change. The working tree is left at the PR's head.
    """
    rng = random.Random(f"change:{seed}")
    apps = state.apps[:app_limit] if app_limit else state.apps
    candidates = [(e, a) for e in state.envs for a in apps]
    rng.shuffle(candidates)
    base_state = {k: list(v) for k, v in state.files.items()}
    changes: list[Change] = []
    git("checkout", "--quiet", "-b", "pr/bench", cwd=repo.path)
    for env, app in candidates:
        if len(changes) == n_files:
            break
        cur = state.current(env, app)
        up = upstream_of(env)
        if up is not None:
            up_cur = base_state[(up, app)][0][0]
            if cur is None or up_cur <= cur:
                continue
            new, comment = up_cur, f"promote from {up}"
        else:
            new = min(cur + rng.randint(1, 20), len(state.main(app)) - 1)
            comment = "release for the benchmark PR"
            if new <= cur:
                continue
        state.files[(env, app)].insert(0, (new, comment))
        (repo.path / "deploys" / env / app).write_bytes(state.render(env, app))
        main = state.main(app)
        changes.append(Change(env=env, app=app, repo=str(state.repos.paths[state.repo_of(app)]),
                              old=main[cur], new=main[new]))
    if len(changes) < n_files:
        raise RuntimeError(f"only {len(changes)} of {n_files} files can take a valid change")
    git("add", "-A", cwd=repo.path)
    git("commit", "--quiet", "-m", f"Deploy {n_files} apps (benchmark PR)", cwd=repo.path)
    repo.head = git("rev-parse", "HEAD", cwd=repo.path).strip()
    repo.changes = sorted(changes, key=lambda c: (c.env, c.app))
    return repo


def cached(name: str, build: Callable[[Path], DeployRepo], log: Callable[[str], None] = lambda s: None) -> DeployRepo:
    """The deploy repo `name` under the bench dir, built once by `build(path)`."""
    path = bench_dir() / f"{name}-v{GEN_VERSION}"
    meta = path / ".git" / "bench.json"
    if not meta.exists():
        shutil.rmtree(path, ignore_errors=True)
        log(f"generating {path}")
        repo = build(path)
        meta.write_text(json.dumps(repo.to_json()))
    return DeployRepo.from_json(json.loads(meta.read_text()))


def check_repo(envs: int, apps: int, repos: AppRepos, history_commits: int, n_changes: int, app_limit: int,
               log: Callable[[str], None] = lambda s: None) -> DeployRepo:
    """A deploy repo of envs x apps with a PR of n_changes files checked out (base: main)."""
    commits = len(repos.main[0])

    def build(path: Path) -> DeployRepo:
        repo, state = make_deploy_repo(path, envs, apps, repos, history_commits)
        return make_change(repo, state, n_changes, app_limit)

    name = f"deploy-e{envs}-a{apps}-k{history_commits}-ch{n_changes}-l{app_limit}-m{commits}-r{len(repos.paths)}"
    return cached(name, build, log)


def history_repo(envs: int, apps: int, repos: AppRepos, history_commits: int,
                 log: Callable[[str], None] = lambda s: None) -> DeployRepo:
    """A deploy repo whose history is `history_commits` commits, each prepending one line to one file."""
    commits = len(repos.main[0])

    def build(path: Path) -> DeployRepo:
        return make_deploy_repo(path, envs, apps, repos, history_commits, seed_all=False)[0]

    return cached(f"history-e{envs}-a{apps}-k{history_commits}-m{commits}-r{len(repos.paths)}", build, log)
