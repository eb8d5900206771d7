"""`make demo`: the whole product on this machine, with the real Pulumi engine and no account.

It works in `.demo/workspace`, a new deploy repo made from this one's committed tree, so your
checkout is never touched (the
repository itself ships a clean starter: an empty catalog and empty env folders):
1. copies the demo catalog and deploy files from examples/demo/ into the workspace, and builds the
   demo app repositories they point at;
2. `deployctl up` of every env (staging, then production) and what runs where, read from Pulumi;
3. one review cycle: a branch that promotes api to production, `deployctl check` and
   `deployctl preview` (the PR comment), the merge, `deployctl up`, and the trace in history;
4. the incident that started it all, refused: an old-branch commit aimed at production.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_repos

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo" / "workspace"
EXAMPLE = ROOT / "examples" / "demo"
DEPLOYCTL = [sys.executable, "-m", "deployctl"]


def say(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=WORK, check=True, capture_output=True, text=True).stdout.strip()


def deployctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    print(f"$ deployctl {' '.join(args)}", flush=True)
    proc = subprocess.run([*DEPLOYCTL, *args], cwd=WORK, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"demo: `deployctl {' '.join(args)}` failed with exit code {proc.returncode}")
    return proc


def prepare(fresh: bool) -> None:
    if WORK.exists():
        if not fresh:
            sys.exit(f"demo: {WORK.relative_to(ROOT)} exists (what you tried there is kept); "
                     "rerun with --fresh (`make demo DEMO_ARGS=--fresh`) to start over")
        shutil.rmtree(WORK)
    # A new deploy repo from this one's committed tree (not its history): the trace starts at the demo.
    WORK.mkdir(parents=True)
    tree = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(WORK)], input=tree, check=True)
    git("init", "--quiet", "--initial-branch=main")
    os.symlink(ROOT / ".venv", WORK / ".venv")
    git("config", "user.name", "Dana Deployer")
    git("config", "user.email", "dana@example.com")
    git("add", "-A")
    git("commit", "--quiet", "-m", "Start a deploy repo from deploy-by-code's clean starter")
    demo_repos.build(WORK / ".demo" / "repos")
    shutil.copy(EXAMPLE / "apps.yaml", WORK / "apps.yaml")
    shutil.copytree(EXAMPLE / "deploys", WORK / "deploys", dirs_exist_ok=True)
    subprocess.run([*DEPLOYCTL, "codeowners"], cwd=WORK, check=True, capture_output=True)
    git("add", "-A")
    git("commit", "--quiet", "-m", "The demo's catalog and first deploys (from examples/demo)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="wipe an existing .demo/workspace first")
    args = parser.parse_args()
    prepare(args.fresh)
    say("1. The deploy repository: one folder per env, one file per app")
    for env in ("staging", "production"):
        for f in sorted(p for p in (WORK / "deploys" / env).iterdir() if not p.name.startswith(".")):
            print(f"deploys/{env}/{f.name}: {f.read_text().splitlines()[0]}")

    say("2. pulumi up of every env, staging first (the real engine, local backend)")
    deployctl("check")
    deployctl("up")
    say("What runs where, read back from Pulumi (each stack's `deployed` output)")
    deployctl("deployed")
    current = WORK / ".deployments" / "production" / "api" / "current"
    print(f"{current.relative_to(WORK)} -> {os.readlink(current)}")

    say("3. A review cycle: promote api's login fix from staging to production")
    api = demo_repos.build(WORK / ".demo" / "repos")["api"]
    fix, old_branch = api[3], api[2]
    git("checkout", "--quiet", "-b", "deploy/api-login-fix")
    deployctl("promote", "api", "--from", "staging", "--to", "production", "-m", "login fix, tested on staging")
    git("commit", "--quiet", "-am", "Promote api login fix to production")
    deployctl("check", "--base", "main")
    deployctl("plan", "--base", "main")
    say("The PR comment a reviewer approves from (deployctl preview)")
    deployctl("preview", "--base", "main", "--comment-file", str(WORK / ".demo" / "comment.md"))
    print((WORK / ".demo" / "comment.md").read_text())
    say("Merge, then deploy what the merge changed")
    git("checkout", "--quiet", "main")
    before = git("rev-parse", "HEAD")
    git("merge", "--quiet", "--no-ff", "-m", "Merge pull request #1 from acme/deploy/api-login-fix",
        "deploy/api-login-fix")
    merge = git("rev-parse", "HEAD")
    deployctl("up", "--base", before, "--head", merge, "--branch", "main")
    print(f"{current.relative_to(WORK)} -> {os.readlink(current)}  (was {api[1][:12]}, now {fix[:12]})")
    say("The trace: who deployed what, where, when, through which PR, and did it succeed")
    deployctl("history", "production", "api")

    say("4. The incident, refused: an old-branch commit aimed at production")
    git("checkout", "--quiet", "-b", "oops")
    (WORK / "deploys" / "production" / "api").write_text(
        f"{old_branch} meant for staging\n" + (WORK / "deploys" / "production" / "api").read_text())
    proc = deployctl("check", "--base", "main", check=False)
    git("checkout", "--quiet", "--", ".")
    git("checkout", "--quiet", "main")
    if proc.returncode != 1:
        sys.exit("demo: the old-branch deploy was not refused")
    print(f"\nDemo done. Explore it: cd {WORK.relative_to(ROOT)} && ../../.venv/bin/deployctl status")


if __name__ == "__main__":
    main()
