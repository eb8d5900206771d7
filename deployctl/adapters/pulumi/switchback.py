"""Automatic switch-back: when an app's health check fails, return it to the commit that ran before.

The failed update left the app on its new commit, and the engine did not deploy what depends on it.
A second update of the stack then runs with the failed app pinned to its previous commit (and its
dependents pinned to what they ran, so they stay held back). The pin is an explicit input to the
program: the environment variable DEPLOYCTL_PIN, `{"<env>": {"<app>": "<commit>"}}`, read by
stacks/program.py through `core.pins.pins_for` (a null commit leaves a never-deployed dependent out). A pinned
app gets no health check. The second update's message ends in `failed, switched back: ...`, which
`history` and `status` read back, and with --post a pull request prepends the `[rollback]` line so
that git says again what runs.

Stack setting `deploys:autoRollback: false` turns it off: the failed update is left as it is.

This module is the edge (the engine, git, GitHub); what to switch back, hold back or leave is
decided by core/health/switchback.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl.core.health.healthmessage import failure_of, progress_of
from deployctl.core.health.pins import PIN_VAR
from deployctl.core.health.switchback import (
    dependents,
    failed_apps,
    has_health,
    plan_pins,
    rollback_branch,
    stuck_reason,
)
from deployctl.core.repo.model import short
from deployctl.core.trace.outcomes import Outcome
from deployctl.core.trace.updatemessage import SWITCHED_BACK, switched_message

if TYPE_CHECKING:
    from deployctl.adapters.pulumi.engine import Engine
    from deployctl.core.repo.snapshot import Snapshot

# -- the edge: the second update ------------------------------------------------------------------


def _deployed(engine: Engine, env: str) -> dict[str, str]:
    outputs = engine.outputs(env).get("deployed") or {}
    return {app: str(v["commit"]) for app, v in outputs.items() if isinstance(v, dict) and v.get("commit")}


_ACTIVE: dict[str, dict[str, str | None]] = {}
_ACTIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def _pinned(env_vars: dict[str, str], env: str, pins: dict[str, str | None]) -> Iterator[None]:
    """Set DEPLOYCTL_PIN for this env's update. Stacks deploy side by side and may share one
    workspace environment, so the variable holds every env being switched back at the moment."""
    def publish() -> None:
        if _ACTIVE:
            env_vars[PIN_VAR] = json.dumps(_ACTIVE, sort_keys=True)
        else:
            env_vars.pop(PIN_VAR, None)

    with _ACTIVE_LOCK:
        _ACTIVE[env] = dict(pins)
        publish()
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.pop(env, None)
            publish()


def up_with_health(engine: Engine, env: str, text: str, snapshot: Snapshot,
                   say: Callable[[str], None], opener: Callable[[dict[str, tuple[str, str]]], str | None] | None = None,
                   run: Callable[[str, Callable[[dict[str, Any]], None] | None], Outcome] | None = None) -> Outcome:
    """`pulumi up` of one stack with its apps' health checks; on a failed check, switch back.

    Returns the first update's outcome when nothing failed a check; else a failed outcome whose error
    says what was switched back, held back, or left failed. `opener` opens the [rollback] pull request
    (from app to (failed commit, commit switched back to)) and returns its URL. `run(message, sink)`
    carries out one update (default: `engine.up`; `deploy` passes its stale-run guard and lock).
    """
    if run is None:
        def run(message: str, sink: Callable[[dict[str, Any]], None] | None) -> Outcome:
            return engine.up(env, message, sink=sink)

    checked = has_health(snapshot, env)
    before = _deployed(engine, env) if checked else {}
    progress: list[str] = []
    seen: set[str] = set()

    def sink(event: dict[str, Any]) -> None:
        diag = event.get("diagnosticEvent")
        line = progress_of(diag.get("message", "")) if diag else None
        if line and line not in seen:  # the engine may report one provider line twice
            seen.add(line)
            progress.append(line)
            if failure_of(line) is None:
                say(line)

    outcome = run(text, sink)
    failed = failed_apps(progress)
    if outcome.ok or not failed:
        return outcome
    present = {f.app for f in snapshot.tree.in_env(env)}
    held = dependents(snapshot.catalog, failed, present)
    now = {f.app: f.commit for f in snapshot.tree.in_env(env)}
    why = "; ".join(failure for line in progress if (failure := failure_of(line)) is not None)
    held_note = f"; held back (not deployed): {', '.join(held)}" if held else ""
    if not snapshot.stacks[env].settings.auto_rollback:
        return outcome.model_copy(update={"error": f"{why}{held_note}; deploys:autoRollback is false, so "
                                          f"nothing was switched back\n{outcome.error or ''}".rstrip()})
    pins, stuck = plan_pins(failed, held, before, now)
    switched = {app: pin for app in failed if app not in stuck and (pin := pins.get(app))}
    stuck_note = "".join(stuck_reason(env, app, before, now) for app in stuck if app in now)
    if not switched:
        return outcome.model_copy(update={"error": f"{why}{held_note}{stuck_note}"})
    say(f"{env}: switching back " + ", ".join(f"{a} to {short(c)}" for a, c in sorted(switched.items()))
        + (f" (holding back {', '.join(held)})" if held else ""))
    # The engine's env_vars is the very dict every run of its workspaces reads: pinning edits it.
    with _pinned(engine.env_vars, env, pins):
        second = run(switched_message(text, switched, held), None)
    result = (f"{SWITCHED_BACK}: " + ", ".join(f"{a} to {short(c)}" for a, c in sorted(switched.items()))
              if second.ok else f"switch-back failed too: {second.error}")
    pr = ""
    if second.ok and opener is not None:
        url = opener({a: (now[a], c) for a, c in switched.items()})
        pr = f"; rollback pull request: {url}" if url else ""
    return Outcome(env=env, ok=False, counts=second.counts, changes=second.changes, outputs=second.outputs,
                   update=second.update, error=f"{why}; {result}{held_note}{stuck_note}{pr}")


# -- the edge: the [rollback] pull request ------------------------------------------------------


def rollback_files(root: Path, env: str, moves: Mapping[str, tuple[str, str]]) -> dict[str, bytes]:
    """Each switched-back app's deploy file with the `[rollback]` line prepended. Pure but for the read."""
    from deployctl.core.change.authoring import prepend
    from deployctl.core.repo.model import Tag, deploy_path

    out: dict[str, bytes] = {}
    for app, (failed, back) in sorted(moves.items()):
        path = deploy_path(env, app)
        old = (root / path).read_bytes()
        out[path] = prepend(old, back, f"health check of {short(failed)} failed in {env}; switched back by deployctl",
                            (Tag.ROLLBACK,))
    return out


def _commit_files(root: Path, files: Mapping[str, bytes], message: str, parent: str = "HEAD") -> str:
    """A commit on top of `parent` (HEAD) with `files` changed, made through a private index: the working
    tree (which other stacks' programs are reading) is never touched."""
    import subprocess
    import tempfile

    identity = {"GIT_AUTHOR_NAME": "deployctl", "GIT_AUTHOR_EMAIL": "deployctl@users.noreply.github.com"}
    identity |= {"GIT_COMMITTER_NAME": identity["GIT_AUTHOR_NAME"], "GIT_COMMITTER_EMAIL": identity["GIT_AUTHOR_EMAIL"]}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**identity, **os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}

        def git(*args: str, data: bytes | None = None) -> str:
            return subprocess.run(["git", *args], cwd=root, env=env, input=data, capture_output=True,
                                  check=True, timeout=60).stdout.decode().strip()

        git("read-tree", parent)
        for path, data in files.items():
            blob = git("hash-object", "-w", "--stdin", data=data)
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        tree = git("write-tree")
        return git("commit-tree", tree, "-p", parent, "-m", message)


def open_rollback_pr(root: Path, env: str, moves: Mapping[str, tuple[str, str]], base_branch: str,
                     environ: Mapping[str, str]) -> str:
    """Push a branch that prepends the `[rollback]` lines and open its pull request; returns its URL.

    Until it merges, the deploy file names the failed commit while Pulumi runs the previous one, so
    `status` shows the env as drifted.
    """
    from deployctl.adapters.github import github_from_env

    repo = environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise ValueError("GITHUB_REPOSITORY is not set (owner/name of the deploy repository)")
    names = ", ".join(f"{app} {short(failed)} -> {short(back)}" for app, (failed, back) in sorted(moves.items()))
    title = f"[rollback] {env}: {names} (health check failed)"
    sha = _commit_files(root, rollback_files(root, env, moves), title)
    branch = rollback_branch(env, moves)
    _push(root, f"{sha}:refs/heads/{branch}", environ)
    body = "\n".join([
        f"deployctl switched {env} back after a failed health check; this makes git say again what runs.",
        "", *(f"- `{app}`: `{short(failed)}` failed its health check; `{short(back)}` runs again"
              for app, (failed, back) in sorted(moves.items())),
        "", "Until this merges, `deployctl status` shows the env as drifted.",
    ])
    with github_from_env(environ) as client:
        created = client.create_pull_request(repo, title=title, head=branch, base=base_branch, body=body)
    return str(created.get("html_url") or f"#{created.get('number')}")


def push_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """The GitHub token as an HTTP header for the one push to the GitHub server (GITHUB_SERVER_URL,
    default https://github.com), as actions/checkout sets it: git's config from the environment of
    that command only (never argv, never a file, never another host); nothing without a token."""
    import base64

    token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN")
    if not token:
        return {}
    server = (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{server}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}


def _push(root: Path, refspec: str, environ: Mapping[str, str] | None = None) -> None:
    """Push to the deploy repo's origin as every network git call goes: connect timeout, low-speed
    limit, wall-clock cap, no prompt; a failure is a CannotJudge naming origin (credentials masked).
    The checkout keeps no credential (`persist-credentials: false`): the token authenticates this push."""
    from deployctl.adapters.git.apprepos import run_network_git
    from deployctl.adapters.git.repo import open_git, run_git
    from deployctl.adapters.git.repourl import display_url
    from deployctl.core.violations import CannotJudge

    url = run_git(open_git(root), "remote", "get-url", "--", "origin")
    done = run_network_git(["-C", str(root), "push", "--quiet", "--", "origin", refspec], url, "push to",
                           extra_env=push_credentials(environ if environ is not None else os.environ))
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise CannotJudge(f"cannot push to {display_url(url)}: {said[0].replace(url, display_url(url))}")


TOKEN_VARS = ("GITHUB_TOKEN", "GH_TOKEN")
_WITHHELD: dict[str, str] = {}
"""The GitHub token `up` took out of its process environment, for the [rollback] opener alone."""


@contextlib.contextmanager
def github_token_withheld(environ: MutableMapping[str, str] = os.environ) -> Iterator[None]:
    """Take the GitHub token out of the environment for the block (`up`): every engine command
    inherits that environment, and with it the program, the providers and an app's health command
    (an app's own code). The deploy job's token may push a branch and open a pull request, so only
    the [rollback] opener gets it back (rollback_opener), and only for its push and its one request."""
    taken = {var: environ.pop(var) for var in TOKEN_VARS if var in environ}
    _WITHHELD.clear()
    _WITHHELD.update(taken)
    try:
        yield
    finally:
        _WITHHELD.clear()
        environ.update(taken)


def rollback_opener(root: Path, env: str, branch: str,
                    say_error: Callable[[str], None]) -> Callable[[dict[str, tuple[str, str]]], str | None]:
    """The --post opener for up_with_health: never raises (the switch-back already happened)."""
    remote, _, name = branch.partition("/")
    base_branch = name if name and remote == "origin" else branch

    def opener(moves: dict[str, tuple[str, str]]) -> str | None:
        import subprocess

        from deployctl.core.violations import CannotJudge

        try:
            return open_rollback_pr(root, env, moves, base_branch, {**os.environ, **_WITHHELD})
        except (CannotJudge, ValueError, OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace").strip()
            say_error(f"{env}: could not open the [rollback] pull request: {detail}; run "
                      + " && ".join(f"deployctl rollback {env} {app} --to {back}" for app, (_, back) in moves.items()))
            return None

    return opener


__all__ = ["github_token_withheld", "open_rollback_pr", "rollback_opener", "up_with_health"]
