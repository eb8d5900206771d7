"""Run the shipped workflows end to end with nektos/act, on this machine, against loopback servers.

act (`make tools` builds it, pinned, from the Go module proxy into ~/.cache/deploy-by-code/tools and
links it into .venv/bin) runs each job on the host (`-P ubuntu-latest=-self-hosted`) in a copy of a
deploy repository's working tree. What GitHub's hosted runners would fetch (setup-python, setup-go,
cache, configure-aws-credentials, upload/download-artifact) cannot be fetched here: the stand-ins in
tests/fixtures/act/actions/ are placed in act's offline action cache as tagged git repositories
(`<owner>-<repo>@<ref>`, the layout act v0.2.89 clones remote actions into). The workflows themselves
run unchanged. Every bash a step starts dumps its environment (BASH_ENV) into `ActRun.envs`, so a test
can assert what each step held.

One `ActRunner` per test module shares the action cache, the prepared dependencies the setup-python
stand-in reuses, and the cached Pulumi CLI that `make engine` links.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STANDINS = Path(__file__).resolve().parent / "fixtures" / "act" / "actions"
ACT = ROOT / ".venv" / "bin" / "act"
PULUMI = ROOT / ".venv" / "bin" / "pulumi"
ORIGIN_URL = "https://github.com/acme/deploys.git"
"""act derives github.repository from the `origin` remote's URL."""
REPOSITORY = "acme/deploys"
TOKEN = "ghs_" + "A" * 36
"""An installation token's shape, as the Actions GITHUB_TOKEN has: it comments as github-actions[bot]."""
ACT_TIMEOUT = 600

_USES = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+)/([\w.-]+)@([\w.-]+)", re.M)
_CAPTURE = """\
# BASH_ENV of every bash a workflow step starts: its environment, for the tests (tests/actrunner.py).
if [ -n "${ACT_ENV_CAPTURE:-}" ]; then
  __f=$(mktemp "$ACT_ENV_CAPTURE/env.XXXXXXXX") && env -0 > "$__f"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    __s="$ACT_ENV_CAPTURE/summary.${GITHUB_JOB:-job}.$(printf '%s' "$GITHUB_STEP_SUMMARY" | cksum | cut -d' ' -f1)"
    trap '[ -s "$GITHUB_STEP_SUMMARY" ] && cp "$GITHUB_STEP_SUMMARY" "'"$__s"'"' EXIT
  fi
  unset __f __s
fi
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Dana Deployer", "GIT_AUTHOR_EMAIL": "dana@example.com",
           "GIT_COMMITTER_NAME": "Dana Deployer", "GIT_COMMITTER_EMAIL": "dana@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def used_actions(workflows: list[Path]) -> set[tuple[str, str, str]]:
    """(owner, repo, ref) of every remote action the workflows use. act runs actions/checkout itself
    only when a step names no other ref (it copies the working tree); one naming `ref:` needs its own."""
    found = set()
    for wf in workflows:
        found.update(_USES.findall(wf.read_text()))
    return found


def place_standins(cache: Path, workflows: list[Path]) -> None:
    """Each action the workflows use, as its stand-in, where act's offline mode looks for it: a git
    repository at `<owner>-<repo>@<ref>` whose origin is the action's GitHub URL, tagged `<ref>`. An
    action without a stand-in is left out: a run that reaches it fails, naming it (act cannot fetch it)."""
    for owner, repo, ref in sorted(used_actions(workflows)):
        source = STANDINS / f"{owner}-{repo}"
        if not (source / "action.yml").is_file():
            continue
        target = cache / f"{owner}-{repo}@{ref}"
        if target.exists():
            continue
        shutil.copytree(source, target)
        git(target, "init", "--quiet", "--initial-branch=main")
        git(target, "add", "-A")
        git(target, "commit", "--quiet", "-m", f"stand-in for {owner}/{repo}")
        git(target, "tag", ref)
        git(target, "remote", "add", "origin", f"https://github.com/{owner}/{repo}")


@dataclass
class ActRun:
    """One act invocation: its exit code, its log (act's JSON lines) and each step's environment."""

    returncode: int
    records: list[dict[str, Any]]
    envs: list[dict[str, str]]
    summaries: dict[str, str]
    artifacts: Path

    def job_results(self) -> dict[str, str]:
        """Job (act's name, with the matrix value) -> success/failure, for each job that ran."""
        return {r["job"]: r["jobResult"] for r in self.records if "jobResult" in r}

    def log(self, job: str | None = None) -> str:
        return "\n".join(str(r.get("msg", "")) for r in self.records
                         if job is None or r.get("job") == job or r.get("jobID") == job)

    def ran(self, job_id: str) -> list[str]:
        """The runs of a job, in the order they started: each one's `stack` matrix value, else its name."""
        runs: list[str] = []
        for r in self.records:
            if r.get("jobID") == job_id:
                name = str((r.get("matrix") or {}).get("stack") or r.get("job"))
                if name not in runs:
                    runs.append(name)
        return runs

    def result(self, job_id: str, stack: str | None = None) -> str | None:
        """success/failure of a job (of its run for `stack`), None when it never ran."""
        for r in self.records:
            if r.get("jobID") == job_id and "jobResult" in r \
                    and (stack is None or (r.get("matrix") or {}).get("stack") == stack):
                return str(r["jobResult"])
        return None

    def step_envs(self, job_id: str) -> list[dict[str, str]]:
        return [e for e in self.envs if e.get("GITHUB_JOB") == job_id]


@dataclass
class ActRunner:
    """What every run of a session shares: act, its action cache, the prepared dependencies."""

    home: Path
    cache: Path = field(init=False)
    capture_script: Path = field(init=False)

    def __post_init__(self) -> None:
        self.cache = self.home / "act-cache"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.capture_script = self.home / "capture-env.sh"
        self.capture_script.write_text(_CAPTURE)
        workflows = [*(ROOT / ".github" / "workflows").glob("*.yml"),
                     *(ROOT / "deployctl" / "scaffold" / "workflows").glob("*.yml")]
        place_standins(self.cache, workflows)

    def base_env(self) -> dict[str, str]:
        """act's own environment, which the host runner hands to every step: nothing of this test
        process's but what a runner has (no token, no cloud credential, no PULUMI_* variable)."""
        go = shutil.which("go")
        if go is None:
            raise AssertionError("go is not on PATH (act and the Pulumi CLI are built with it)")
        python = Path(sys._base_executable).resolve()  # the interpreter this venv was made from
        return {
            "HOME": os.environ["HOME"],
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.home),
            "BASH_ENV": str(self.capture_script),
            "ACT_STANDIN_PYTHON": str(python),
            "ACT_STANDIN_SITE": sysconfig.get_paths()["purelib"],
            "ACT_STANDIN_SOURCE": str(ROOT),
            "ACT_STANDIN_GO_BIN": str(Path(go).resolve().parent),
            "ACT_STANDIN_AWS_KEY": "testing",
            "ACT_STANDIN_AWS_SECRET": "testing",
            # The CLI `make engine` linked into the venv: the workflows' `make engine` finds it again.
            "DEPLOYCTL_PULUMI_HOME": str(PULUMI.resolve().parent.parent),
            "GOFLAGS": "-mod=mod",
        }

    def run(self, world: DeployWorld, event: str, payload: dict[str, Any], workflow: str, *,
            secrets: dict[str, str] | None = None, variables: dict[str, str] | None = None,
            env: dict[str, str] | None = None, api_url: str = "", job: str | None = None) -> ActRun:
        """`act EVENT` on one workflow of the deploy repo `repo`, as GitHub would run it for `payload`."""
        run_dir = self.home / "runs" / uuid.uuid4().hex[:10]
        capture, artifacts = run_dir / "env", run_dir / "artifacts"
        capture.mkdir(parents=True)
        artifacts.mkdir()
        event_file = run_dir / "event.json"
        event_file.write_text(json.dumps(payload))
        args = [str(ACT), event, "--json", "-W", workflow, "-e", str(event_file),
                "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
                "--action-cache-path", str(self.cache), "--container-daemon-socket", "-",
                "--secret", f"GITHUB_TOKEN={TOKEN}"]
        if job:
            args += ["-j", job]
        if api_url:
            args += ["--env", f"GITHUB_API_URL={api_url}"]
        for key, value in (secrets or {}).items():
            args += ["--secret", f"{key}={value}"]
        for key, value in (variables or {}).items():
            args += ["--var", f"{key}={value}"]
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        # The steps' git reaches "GitHub" (the origin's URL) in the bare repository beside the deploy repo.
        gitconfig = run_dir / "gitconfig"
        gitconfig.write_text(f'[url "{world.origin}"]\n\tinsteadOf = {ORIGIN_URL}\n'
                             f'[url "{world.origin}"]\n\tinsteadOf = {ORIGIN_URL.removesuffix(".git")}\n'
                             '[user]\n\tname = github-actions\n\temail = actions@example.com\n')
        proc_env = {**self.base_env(), "ACT_ENV_CAPTURE": str(capture), "ACT_STANDIN_ARTIFACTS": str(artifacts),
                    "GIT_CONFIG_GLOBAL": str(gitconfig),
                    "DEPLOYCTL_CACHE": str(run_dir / "repo-cache")}  # a fresh runner's: empty
        proc = subprocess.run(args, cwd=world.path, env=proc_env, capture_output=True, text=True, timeout=ACT_TIMEOUT)
        (run_dir / "act.log").write_text(proc.stdout + proc.stderr)  # for a failure's reader
        records = []
        for line in proc.stdout.splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append({"msg": line})
        if proc.stderr.strip():
            records.append({"msg": proc.stderr})
        envs = []
        summaries: dict[str, str] = {}
        for f in sorted(capture.iterdir()):
            if f.name.startswith("env."):
                envs.append(dict(e.split("=", 1) for e in f.read_text(errors="replace").split("\0") if "=" in e))
            elif f.name.startswith("summary."):
                job_id = f.name.split(".")[1]
                summaries[job_id] = summaries.get(job_id, "") + f.read_text()
        return ActRun(proc.returncode, records, envs, summaries, artifacts)


# -- a deploy repository for act to run in ------------------------------------------------------


@dataclass
class DeployWorld:
    """A deploy repo made from this checkout's tracked files (its workflows as they are now), with the
    demo's catalog pointing at the demo app repositories by absolute path, an `origin` whose URL says
    acme/deploys (a bare repository on disk, through git's url.insteadOf), and `main` pushed."""

    path: Path
    origin: Path
    apps: dict[str, list[str]]

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def prepend(self, env: str, app: str, commit: str, comment: str) -> None:
        f = self.path / "deploys" / env / app
        f.write_text(f"{commit} {comment}\n" + f.read_text())

    def commit(self, message: str, push_branch: str | None = None) -> str:
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message)
        if push_branch:
            self.git("push", "--quiet", "--force", str(self.origin), f"HEAD:refs/heads/{push_branch}")
        return self.head()


def copy_tracked(source: Path, target: Path) -> None:
    """This checkout's tracked files as they are in the working tree (links kept as links)."""
    for rel in git(source, "ls-files", "-z").split("\0"):
        if not rel:
            continue
        src, dst = source / rel, target / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)


def demo_world(tmp: Path) -> DeployWorld:
    """The demo (examples/demo, scripts/demo_repos.py) as a team's deploy repo on GitHub."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import demo_repos  # a script's module, beside it

    apps = demo_repos.build(tmp / "repos")
    path = tmp / "deploys"
    path.mkdir()
    copy_tracked(ROOT, path)
    catalog = (ROOT / "examples" / "demo" / "apps.yaml").read_text()
    for app in apps:
        catalog = catalog.replace(f"repo: .demo/repos/{app}", f"repo: {tmp / 'repos' / app}")
    (path / "apps.yaml").write_text(catalog)
    shutil.copytree(ROOT / "examples" / "demo" / "deploys", path / "deploys", dirs_exist_ok=True)
    subprocess.run([sys.executable, "-m", "deployctl", "codeowners", "--repo", str(path)], check=True,
                   capture_output=True)
    return _publish(path, tmp / "origin.git", apps, "The demo's catalog and first deploys")


def _publish(path: Path, origin: Path, apps: dict[str, list[str]], message: str) -> DeployWorld:
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "config", "user.name", "Dana Deployer")
    git(path, "config", "user.email", "dana@example.com")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", message)
    git(origin.parent, "init", "--quiet", "--bare", str(origin))
    git(path, "remote", "add", "origin", ORIGIN_URL)  # what act reads (a url.insteadOf would show through)
    git(path, "push", "--quiet", str(origin), "main")
    return DeployWorld(path=path, origin=origin, apps=apps)


# -- event payloads, after GitHub's documented webhook schemas -----------------------------------


def repository_payload() -> dict[str, Any]:
    return {"full_name": REPOSITORY, "name": "deploys", "owner": {"login": "acme"}, "default_branch": "main",
            "html_url": f"https://github.com/{REPOSITORY}"}


def pull_request_event(number: int, base: str, head: str, branch: str, action: str = "opened") -> dict[str, Any]:
    return {"action": action, "number": number, "repository": repository_payload(),
            "pull_request": {"number": number, "state": "open", "title": f"deploy {branch}",
                             "html_url": f"https://github.com/{REPOSITORY}/pull/{number}",
                             "updated_at": "2026-12-07T09:00:00Z",
                             "head": {"sha": head, "ref": branch, "repo": {"full_name": REPOSITORY}},
                             "base": {"sha": base, "ref": "main", "repo": {"full_name": REPOSITORY}}}}


def push_event(before: str, after: str) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "before": before, "after": after, "deleted": False, "created": False,
            "repository": repository_payload(), "head_commit": {"id": after}}


def dispatch_event(stack: str) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "inputs": {"stack": stack}, "repository": repository_payload()}


def schedule_event(cron: str) -> dict[str, Any]:
    return {"schedule": cron, "repository": repository_payload()}


def env_dispatch_event(env: str) -> dict[str, Any]:
    """workflow_dispatch of propose.yml (its `env` input) on main."""
    return {"ref": "refs/heads/main", "inputs": {"env": env}, "repository": repository_payload()}


def merge_group_event(base: str, head: str) -> dict[str, Any]:
    return {"action": "checks_requested", "repository": repository_payload(),
            "merge_group": {"head_sha": head, "head_ref": "refs/heads/gh-readonly-queue/main/pr-9-" + base,
                            "base_sha": base, "base_ref": "refs/heads/main"}}


def init_world(tmp: Path) -> DeployWorld:
    """A team's deploy repo as `deployctl init` writes it (its workflows, the pinned tool), with the demo's
    api as its one app, deployed to staging, published like `demo_world`'s."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import demo_repos  # a script's module, beside it

    apps = demo_repos.build(tmp / "repos")
    path = tmp / "deploys"
    subprocess.run([sys.executable, "-m", "deployctl", "init", str(path), "--env", "staging", "--env", "production",
                    "--reviewers", "@acme/release-managers"], check=True, capture_output=True, cwd=tmp)
    catalog = path / "apps.yaml"
    api = f"apps:\n  api:\n    kind: local\n    repo: {tmp / 'repos' / 'api'}\n    owners: [\"@acme/api-team\"]"
    catalog.write_text(catalog.read_text().replace("apps: {}", api))
    (path / "deploys" / "staging" / "api").write_text(f"{apps['api'][1]} first deploy\n")
    subprocess.run([sys.executable, "-m", "deployctl", "codeowners", "--repo", str(path)], check=True,
                   capture_output=True)
    return _publish(path, tmp / "origin.git", apps, "deployctl init, and the api")
