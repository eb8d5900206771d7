"""`deployctl doctor`: is this machine (a CI runner, a laptop) set up to deploy for a team?

Each check says what it found and, when it is not fine, what to do. Every network step is bounded
by a timeout; nothing is deployed and nothing is left behind (the lock probe is removed again).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict

from deployctl.adapters.pulumi.backend import backend_url, in_repo_file_backend, open_store
from deployctl.adapters.pulumi.cipolicy import (
    ALLOW_LOCAL,
    encryption_salt,
    in_ci,
    passphrase,
    passphrase_set,
    secrets_provider,
)
from deployctl.adapters.pulumi.locks import LOCKS_DIR
from deployctl.core.lazymodel import LazyModel
from deployctl.core.trace.outcomes import cli_cause
from deployctl.core.urls import redact_url, redact_urls
from deployctl.core.violations import CannotJudge, ExitStatus

PULUMI_VERSION = "3.274.1"
"""The pinned CLI (scripts/install-pulumi); a test keeps the two equal."""
AWS_KINDS = {"ecs-service", "lambda", "static-site"}
AWS_PLUGIN_VERSION = "7.51.1"
"""The provider the pinned pulumi-aws Python package asks for."""


class Check(LazyModel):
    model_config = ConfigDict(frozen=True)

    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorRequest:
    repo: Path
    timeout: float = 20.0
    """Seconds allowed for each network check."""
    as_json: bool = False


def doctor(request: DoctorRequest) -> ExitStatus:
    """Print each check and what to fix (text or JSON): 1 when one fails, warnings allowed."""
    from deployctl import console

    checks = run_doctor(request.repo, request.timeout)
    if request.as_json:
        console.as_json([c.model_dump(mode="json") for c in checks])
    else:
        console.out(render(checks))
    return ExitStatus.VIOLATION if any(c.status == "fail" for c in checks) else ExitStatus.OK


def render(checks: list[Check]) -> str:
    mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    lines = []
    for c in checks:
        lines.append(f"{mark[c.status]}  {c.name}: {c.detail}")
        if c.fix:
            lines.append(f"      fix: {c.fix}")
    failed = sum(c.status == "fail" for c in checks)
    lines.append(f"{failed} problem(s) to fix" if failed else "ready")
    return "\n".join(lines)


def _run(cmd: list[str], timeout: float, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return None


def check_cli(timeout: float) -> tuple[Check, Path | None]:
    from deployctl.adapters.pulumi.cli import find_pulumi

    pulumi = find_pulumi()
    fix = ("run `deployctl install-engine` (it finds or builds the pinned CLI) and put the folder it prints on "
           "PATH (in the tool's source: `make engine`), or put pulumi v" + PULUMI_VERSION + " on PATH")
    if pulumi is None or not pulumi.exists():
        return Check(name="pulumi CLI", status="fail", detail="not found", fix=fix), None
    result = _run([str(pulumi), "version"], timeout)
    version = result.stdout.strip() if result and result.returncode == 0 else None
    if version is None:
        return Check(name="pulumi CLI", status="fail", detail=f"{pulumi} does not run", fix=fix), None
    if version.lstrip("v") != PULUMI_VERSION:
        return Check(name="pulumi CLI", status="fail", detail=f"{version} at {pulumi}, pinned v{PULUMI_VERSION}",
                     fix=fix), pulumi
    return Check(name="pulumi CLI", status="ok", detail=f"{version} ({pulumi})"), pulumi


def check_backend(root: Path, pulumi: Path | None, timeout: float) -> list[Check]:
    url = backend_url(root)
    shown = redact_url(url)
    checks = []
    set_fix = ("set PULUMI_BACKEND_URL to the team's bucket, e.g. s3://acme-deploy-state/deploys?region=eu-west-1 "
               "(in GitHub: the repository variable PULUMI_BACKEND_URL); README: \"Set up for a team on GitHub\"")
    if url.startswith("file://"):
        what = "the in-repo file backend" if in_repo_file_backend(url, root) else "a file backend outside the repo"
        if in_ci(os.environ) and os.environ.get(ALLOW_LOCAL, "") in ("", "0"):
            checks.append(Check(name="backend", status="fail", detail=f"{what} ({shown}), on a CI runner: "
                                "the state and the deploy history vanish with the job", fix=set_fix))
        else:
            checks.append(Check(name="backend", status="warn", detail=f"{what} ({shown}): "
                                "fine for one machine, not shared with a team", fix=set_fix))
    store = open_store(url)
    if store is None:
        checks.append(Check(name="backend locks", status="warn", detail=f"{shown}: deployctl cannot read the "
                            "locks of this kind of backend (it reads file:// and s3://); Pulumi still locks"))
    else:
        probe = f"{LOCKS_DIR}/.deployctl-doctor/{uuid.uuid4().hex}.json"
        try:
            started = time.monotonic()
            store.list(".pulumi/")
            listed = time.monotonic()
            store.write(probe, json.dumps({"doctor": True}).encode())
            readable = store.read(probe) == json.dumps({"doctor": True}).encode()
            store.delete(probe)
            gone = probe not in store.list(f"{LOCKS_DIR}/.deployctl-doctor/")
            done = time.monotonic()
        except Exception as exc:
            checks.append(Check(name="backend reachable", status="fail",
                                detail=f"{shown}: {type(exc).__name__}: {redact_urls(str(exc), [url])[:300]}",
                                fix="check the bucket name, region and endpoint, and that this runner's credentials "
                                    "(in GitHub: the role of the job) may list, read, write and delete in it"))
        else:
            checks.append(Check(name="backend reachable", status="ok",
                                detail=f"{shown} (listed in {1000 * (listed - started):.0f} ms)"))
            checks.append(Check(
                name="backend locks", status="ok" if readable and gone else "fail",
                detail=(f"a lock file written and removed in {1000 * (done - listed):.0f} ms" if readable and gone
                        else "a lock file could not be read back or removed"),
                fix="" if readable and gone else "grant s3:GetObject, s3:PutObject and s3:DeleteObject on the "
                                                 "state prefix"))
    if pulumi is not None:
        checks.append(check_pulumi_backend(root, pulumi, shown, timeout))
    return checks


def check_pulumi_backend(root: Path, pulumi: Path, shown: str, timeout: float) -> Check:
    """Pulumi itself opens the backend with these parameters (what the engine will do)."""
    from deployctl.adapters.pulumi.engine import engine_env

    env = {**os.environ, **engine_env(root, pulumi)}
    if in_repo_file_backend(backend_url(root), root):
        (root / ".pulumi-state").mkdir(exist_ok=True)
    result = _run([str(pulumi), "stack", "ls", "--json", "--non-interactive"], max(timeout, 30), cwd=root, env=env)
    if result is None:
        return Check(name="backend (pulumi)", status="fail", detail=f"pulumi stack ls timed out on {shown}",
                     fix="check the network path to the backend from this runner")
    if result.returncode != 0:
        reason = cli_cause(redact_urls(result.stderr, [backend_url(root)])) or "it failed without saying why"
        return Check(name="backend (pulumi)", status="fail", detail=f"pulumi cannot open {shown}: {reason}",
                     fix="check PULUMI_BACKEND_URL's parameters (region=, endpoint=, ...) and the credentials")
    try:
        stacks = [s.get("name") for s in json.loads(result.stdout or "[]")]
    except ValueError:
        stacks = []
    return Check(name="backend (pulumi)", status="ok",
                 detail=f"pulumi opens it; stacks: {', '.join(map(str, stacks)) or '(none yet)'}")


def check_passphrase(root: Path, protected: dict[str, bool]) -> list[Check]:
    checks = []
    have = passphrase_set(os.environ)
    for env, is_protected in sorted(protected.items()):
        provider = secrets_provider(root, env)
        if provider:
            checks.append(Check(name=f"secrets {env}", status="ok",
                                detail=f"cloud secrets provider {provider.split('://', 1)[0]}://..."))
        elif (opens := _opens(root, env)) is False:
            checks.append(Check(
                name=f"secrets {env}", status="fail",
                detail=f"the {'passphrase set' if have else 'empty passphrase'} does not open {env}'s secrets "
                       f"(Pulumi.{env}.yaml's encryptionsalt): the next up or preview stops with "
                       "\"incorrect passphrase\"",
                fix=f"set PULUMI_CONFIG_PASSPHRASE to {env}'s passphrase (in GitHub: the secret of the {env} "
                    "environment); for a new passphrase, see README \"Secrets for a team\""))
        elif have:
            checks.append(Check(name=f"secrets {env}", status="ok", detail="a passphrase is set" + (
                f" and opens {env}'s secrets" if opens else " (the stack has no encryptionsalt yet)")))
        else:
            bad = is_protected and in_ci(os.environ) and os.environ.get(ALLOW_LOCAL, "") in ("", "0")
            checks.append(Check(
                name=f"secrets {env}", status="fail" if bad else "warn",
                detail=("the empty passphrase" + (" for a protected env" if is_protected else "")),
                fix="set PULUMI_CONFIG_PASSPHRASE (in GitHub: secrets.PULUMI_CONFIG_PASSPHRASE) or a cloud "
                    "secrets provider (`pulumi stack change-secrets-provider awskms://...`)"))
    return checks


def _opens(root: Path, env: str) -> bool | None:
    """Pulumi's own passphrase check against the stack's check value; None when it has none to try."""
    from deployctl.core.repo.passphrase import passphrase_opens

    salt = encryption_salt(root, env)
    return passphrase_opens(passphrase(os.environ), salt) if salt else None


def check_plugins(kinds: set[str], pulumi: Path | None, timeout: float) -> Check:
    needed = kinds & AWS_KINDS
    if not needed:
        return Check(name="plugins", status="ok", detail="the kinds in use (" + (", ".join(sorted(kinds)) or "none")
                     + ") need no provider plugin")
    fix = f"pulumi plugin install resource aws v{AWS_PLUGIN_VERSION}"
    if pulumi is None:
        return Check(name="plugins", status="fail", detail="no Pulumi CLI to ask", fix=fix)
    result = _run([str(pulumi), "plugin", "ls", "--json"], timeout)
    try:
        plugins = json.loads(result.stdout) if result and result.returncode == 0 else []
    except ValueError:
        plugins = []
    found = [p.get("version") for p in plugins or [] if p.get("name") == "aws" and p.get("kind") == "resource"]
    if not found:
        return Check(name="plugins", status="fail", detail=f"kinds {', '.join(sorted(needed))} need the aws "
                     "provider plugin, which is not installed", fix=fix)
    return Check(name="plugins", status="ok", detail=f"aws {', '.join(map(str, found))}")


def check_repo(name: str, spec: str, branch: str, root: Path, timeout: float) -> Check:
    """Can this runner read the app's repository? One `git ls-remote` through the bounded network git
    that every clone and fetch uses (a silent server, a hung helper: killed at the deadline)."""
    from dataclasses import replace

    from deployctl.adapters.git.apprepos import git_limits, run_network_git
    from deployctl.adapters.git.repourl import is_url, repo_url

    url = repo_url(spec, root)
    shown = redact_url(url)
    if not is_url(spec) and not (root / spec).exists():
        hint = (" (a demo repository: `make demo` creates it; point apps.yaml at your real repositories)"
                if ".demo/" in spec else "")
        return Check(name=f"app repo {name}", status="fail", detail=f"{spec} does not exist{hint}",
                     fix="set `repo:` in apps.yaml to the app's git URL")
    limits = git_limits()
    limits = replace(limits, timeout=min(timeout, limits.timeout), connect=max(1, min(int(timeout), limits.connect)))
    fix = ("give this runner read access: a deploy key (ssh URL, webfactory/ssh-agent) or a GitHub App "
           "installation token (https URL, a credential helper); README: \"Set up for a team on GitHub\"")
    try:
        result = run_network_git(["ls-remote", "--heads", "--", url, f"refs/heads/{branch}"], url, "read",
                                 limits=limits)
    except CannotJudge as exc:  # no answer, or none in time: its one line names the URL without credentials
        return Check(name=f"app repo {name}", status="fail", detail=str(exc), fix=fix)
    if result.returncode != 0:
        # git may echo credentials: redacted (by run_network_git, and again here) before anything is said
        stderr = result.stderr.decode(errors="replace")
        reason = cli_cause(redact_urls(stderr, [url])) or "git failed without saying why"
        return Check(name=f"app repo {name}", status="fail", detail=f"{shown}: {reason}", fix=fix)
    if not result.stdout.strip():
        return Check(name=f"app repo {name}", status="warn", detail=f"{shown} is reachable but has no branch "
                     f"{branch}", fix=f"set `branch:` of {name} in apps.yaml to its release branch")
    return Check(name=f"app repo {name}", status="ok", detail=f"{shown} ({branch})")


def run_doctor(root: Path, timeout: float = 20.0) -> list[Check]:
    from deployctl.adapters.git.reads import worktree_snapshot

    checks: list[Check] = []
    cli, pulumi = check_cli(timeout)
    checks.append(cli)
    from deployctl.commands.init import version_pin

    if (pin := version_pin(root)) is not None:
        checks.append(Check(name="deployctl version", status="ok" if pin[0] else "warn", detail=pin[1]))
    snapshot = worktree_snapshot(root)
    if snapshot.config_errors:
        checks.append(Check(name="deploy repo", status="fail", detail="; ".join(v.format() for v in
                                                                              snapshot.config_errors)[:500],
                            fix="run `deployctl check` and fix what it says"))
    checks += check_backend(root, pulumi, timeout)
    checks += check_passphrase(root, {e: s.settings.protected for e, s in snapshot.stacks.items()})
    used = {f.app for f in snapshot.tree.files.values()}
    apps = {name: spec for name, spec in snapshot.catalog.apps.items()}
    checks.append(check_plugins({str(apps[a].kind) for a in used if a in apps}, pulumi, timeout))
    local = sorted({f.env for f in snapshot.tree.files.values() if f.app in apps and apps[f.app].kind == "local"})
    if local and in_ci(os.environ) and not backend_url(root).startswith("file://"):
        checks.append(Check(
            name="local apps in CI", status="warn",
            detail=f"{', '.join(local)} deploy `local` apps, which release onto the runner that runs up: an "
                   "ephemeral CI runner's disk vanishes with its job, while the shared backend records them deployed",
            fix="deploy those stacks from a self-hosted runner with a persistent disk (the host itself), or "
                "use an AWS kind (README: \"Where the local kind fits\")"))
    repos: dict[str, tuple[str, str, str]] = {}
    for name, spec in sorted(apps.items()):
        repos.setdefault(spec.repo, (name, spec.repo, spec.branch))
    with ThreadPoolExecutor(max_workers=8) as pool:
        checks += list(pool.map(lambda r: check_repo(r[0], r[1], r[2], root, timeout), repos.values()))
    return checks
