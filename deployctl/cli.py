"""deployctl: the command line. The imperative shell around the pure core.

Exit codes (violations.ExitStatus): 0 all good (warnings allowed), 1 a violation or a failed deploy,
2 cannot judge or run (bad arguments, unreadable catalog or stack config, unreachable repository, no Pulumi).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from deployctl import console
from deployctl.core.violations import CannotJudge, ExitStatus, InputError, Violation, errors, internal_error

app = typer.Typer(
    name="deployctl",
    help=(
        "Deploy by pull request: deploy files in git (deploys/<env>/<app>, newest commit on top), "
        "carried out by Pulumi.\n\n"
        "Exit codes: 0 ok, 1 a safeguard refused or a deploy failed, 2 cannot judge or run."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

def _repo_dir(path: Path) -> Path:
    """--repo must name a folder: anything else is refused (exit 2) before a command reads it."""
    if not path.is_dir():
        raise CannotJudge(f"no deploy repository at {path} ({'not a folder' if path.exists() else 'no such folder'}); "
                          "run deployctl in the deploy repo's root, or pass --repo DIR")
    return path


RepoOpt = Annotated[Path, typer.Option("--repo", help="The deploy repository (default: here).",
                                       file_okay=False, resolve_path=True, callback=_repo_dir)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Use the app-repository cache only; never fetch; "
                                          "skip the artifact check (no S3/ECR calls).")]


def _parse_time(value: str | None, option: str = "at") -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CannotJudge(f"--{option} '{value}' is not an ISO-8601 time (e.g. 2026-12-24T10:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _write_file(path: Path, text: str) -> None:
    """A file the user named: a path that cannot be written is their mistake to fix (exit 2)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CannotJudge(f"cannot write {path}: {reason}; choose a writable path") from None


def _check_writable(path: Path) -> None:
    """A file the user named, tried before the work that fills it (opened to append, and removed again
    when it did not exist), so a path that cannot be written is said first, with the system's reason."""
    existed = path.exists()
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CannotJudge(f"cannot write {path}: {reason}; choose a writable path") from None
    if not existed:
        path.unlink(missing_ok=True)


def _report(violations: list[Violation], as_json: bool) -> ExitStatus:
    failed = bool(errors(violations))
    if as_json:
        console.as_json({"ok": not failed, "violations": [v.model_dump(mode="json") for v in violations]})
    else:
        for v in violations:
            console.violation(v)
        n_err, n_warn = len(errors(violations)), len(violations) - len(errors(violations))
        console.out(f"{n_err} error(s), {n_warn} warning(s)" if violations else "ok: no violations")
    return ExitStatus.VIOLATION if failed else ExitStatus.OK


@app.command()
def check(
    base: Annotated[str | None, typer.Option(help="Also judge every change since this ref (a PR's changes).")] = None,
    at: Annotated[str | None, typer.Option(help="Judge freeze windows at this ISO-8601 time (default: now).")] = None,
    offline: OfflineOpt = False,
    no_artifacts: Annotated[bool, typer.Option("--no-artifacts", help="Skip artifact-missing: for a job without "
                                               "cloud credentials (the preview, with its role, judges it).")] = False,
    deployed: Annotated[bool | None, typer.Option("--deployed/--no-deployed", help="Judge against what runs "
                                                  "(each stack's `deployed` output, from the Pulumi backend), or "
                                                  "never read it. Default: without --base, when it can.")] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Check deploy files against the safeguards.

    Without --base: every deploy file (syntax, names, env and app known, commit exists).
    With --base REF: also every change since REF: wrong branch, backward deploy, skipped
    promotion, freeze window, half a co-deploy group, rewritten history.
    Against what runs (as `deployctl up` judges): every app whose deployed commit (Pulumi's
    record) differs from its deploy file is judged with those change rules too. Without --base,
    check reads what runs when it can (a Pulumi CLI, a Pulumi.yaml, not --offline) and says so in
    a note when it cannot; --deployed requires it (exit 2 when the backend cannot be read), and
    --no-deployed never reads it (a job without Pulumi, like the `checks` workflow).

    Examples:
      deployctl check
      deployctl check --no-deployed --no-artifacts
      deployctl check --base origin/main
      deployctl check --base origin/main --at 2026-12-24T10:00:00Z --json
    """
    from deployctl.commands.check import run_check

    moment = _parse_time(at)
    try:
        violations = run_check(repo, base=base, at=moment, offline=offline, no_artifacts=no_artifacts,
                               deployed=deployed)
    except CannotJudge as exc:
        if as_json and exc.violations:
            _report(exc.violations, as_json=True)
        raise
    raise typer.Exit(_report(violations, as_json))


@app.command()
def up(
    stack: Annotated[list[str] | None, typer.Option("--stack", help="Only this env (repeatable).")] = None,
    base: Annotated[str | None, typer.Option(help="Deploy only the stacks changed since this ref.")] = None,
    head: Annotated[str | None, typer.Option(help="The merge commit being deployed (must be checked out).")] = None,
    branch: Annotated[str, typer.Option(help="The deploy branch; a newer commit on it that touches a stack "
                                        "makes this run skip that stack.")] = "origin/main",
    message: Annotated[str | None, typer.Option("-m", "--message", help="Update message.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Override the stale-run guard (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why --force: recorded in the update message "
                                               "and shown by `deployctl history`.")] = None,
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", min=0, help="Seconds to wait for a stack "
                                                "another run holds, before failing.")] = 300.0,
    post: Annotated[bool, typer.Option("--post", help="After a switch-back, open the [rollback] pull request "
                                       "(GitHub Actions, GITHUB_TOKEN; pushes a branch to origin).")] = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Run `pulumi up` for envs, in promotion order (staging before production).

    The safeguards run first; nothing deploys that they refuse. They judge each stack from what
    runs there (its `deployed` output in the Pulumi backend) to what the head says, with every
    rule (freeze window, co-deploy group, promotion order, backward deploy, history), with or
    without --base: a retry is judged as the merge was. A downstream env is not deployed
    when its upstream failed. With --base, only the stacks the change affects. With --head, the
    checkout must be exactly --head (untracked files in deploys/ and Pulumi.*.yaml included); a
    stack that a newer commit on --branch also changes is skipped: the newer run deploys it
    (unless that commit's run may never start: a `[skip ci]` marker).
    DEPLOYCTL_PARALLEL (default 4) stacks of a wave deploy side by side.
    DEPLOYCTL_SLACK_WEBHOOK, when set, gets one message per stack. Each app's `settings.health`
    check runs after its update; a failing check switches the app back to what ran before (exit 1).

    Stale-run guard: a stack whose last successful update (read from the backend) ran from a
    deploy-repo commit that is not an ancestor of this one is refused; --force --reason overrides.
    A stack another run holds is waited for (--lock-timeout), then judged again.
    In CI, the in-repo file backend and the empty passphrase of a protected env are refused
    (DEPLOYCTL_ALLOW_LOCAL_BACKEND=1 allows them, for tests and demos).

    Examples:
      deployctl up                                  every env
      deployctl up --stack staging
      deployctl up --base "$BEFORE" --head "$GITHUB_SHA"   after a merge, in CI
      deployctl up --stack production --force --reason "restore after the bad rollback"
    """
    from deployctl.commands.up import UpRequest, main

    raise typer.Exit(main(UpRequest(root=repo, stacks=tuple(stack) if stack is not None else None, base=base,
                                    head=head, message=message, branch=branch, force=force, reason=reason,
                                    lock_timeout=lock_timeout, post=post, as_json=as_json)))


@app.command()
def plan(
    base: Annotated[str, typer.Option(help="The ref the change starts from (e.g. origin/main).")],
    head: Annotated[str | None, typer.Option(help="The ref it ends at (default: the working tree).")] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Show what a change deploys: each app's old and new commit, and the affected stacks in deploy order.

    A change to Pulumi.<env>.yaml affects that stack; a change to the program (__main__.py, stacks/,
    components/, the deployctl modules they import, apps.yaml, Pulumi.yaml, pyproject.toml, and a
    team repository's pin of the tool, requirements.txt) affects every stack; a change to the CLI, its
    templates or Slack affects none.

    Examples:
      deployctl plan --base origin/main
      deployctl plan --base HEAD~1 --head HEAD --json
    """
    from deployctl.commands.plan import run_plan

    result = run_plan(repo, base, head)
    if as_json:
        console.as_json(result.model_dump(mode="json"))
        return
    from deployctl.report.tables import plan_lines

    for line in plan_lines(result):
        console.out(line)


@app.command()
def preview(
    base: Annotated[str | None, typer.Option(help="The ref the change starts from (e.g. origin/main; in "
                                             "GitHub Actions, default: the PR's base commit).")] = None,
    stack: Annotated[list[str] | None, typer.Option("--stack", help="Only this env (repeatable).")] = None,
    comment_file: Annotated[Path | None, typer.Option(help="Write the markdown comment here.")] = None,
    post: Annotated[bool, typer.Option("--post", help="Create or update the PR comment (GitHub Actions, "
                                       "GITHUB_TOKEN).")] = False,
    at: Annotated[str | None, typer.Option(help="Judge freeze windows at this time (default: now).")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Skip the artifact check (no S3/ECR calls).")] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Safeguards plus `pulumi preview` of each affected stack, as one PR comment.

    Prints the markdown (or writes it to --comment-file). With --post, the comment is created on
    the pull request, or edited in place on later pushes (one comment per PR).
    Exits 1 when a safeguard errs or a preview fails, so the PR's check fails.

    Examples:
      deployctl preview --base origin/main
      deployctl preview --base "$BASE_SHA" --post
    """
    from deployctl.commands.preview import (
        build_preview,
        failure_lines,
        post_comment,
        pull_request_base,
        require_post_context,
    )
    from deployctl.report.render import render_comment

    # What the options need is checked before the safeguards and the engine run, not after them.
    if post:
        require_post_context()
    if comment_file is not None:
        _check_writable(comment_file)
    report, secrets = build_preview(repo, base or pull_request_base(), stack, _parse_time(at), offline=offline)
    body = render_comment(report, secrets)
    if comment_file is not None:
        _write_file(comment_file, body)
        console.info(f"comment written to {comment_file} ({len(body)} characters)")
    elif not post:
        console.out(body)
    if post:
        post_comment(body)
    for line in failure_lines(report, secrets):
        console.error(line)
    raise typer.Exit(ExitStatus.OK if report.ok else ExitStatus.VIOLATION)


@app.command()
def deployed(
    stack: Annotated[list[str] | None, typer.Option("--stack", help="Only this env (repeatable).")] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """What runs where, read back from Pulumi (each stack's `deployed` output)."""
    from deployctl.commands.deployed import read_deployed

    result = read_deployed(repo, stacks=stack)
    if as_json:
        console.as_json(result)
        return
    from deployctl.report.tables import deployed_lines

    for line in deployed_lines(result):
        console.out(line)


@app.command()
def history(
    env: Annotated[str | None, typer.Argument(help="Only this env.")] = None,
    app_name: Annotated[str | None, typer.Argument(metavar="APP", help="Only this app.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many entries.", min=1)] = None,
    no_engine: Annotated[bool, typer.Option("--no-engine", help="Git history only; skip Pulumi.")] = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Who deployed what, where, when and why: deploy-file history joined with Pulumi's updates.

    Newest first, one row per deploy line with its own outcome: succeeded, failed, skipped (a newer
    line reached Pulumi first; `then #PR` names it), in-progress, pending (no up has run it yet).
    `ran` is when Pulumi's update ended, `merged` when the PR merged. With GITHUB_TOKEN and
    GITHUB_REPOSITORY set, `approved by` comes from the PR's reviews on GitHub.

    Examples:
      deployctl history
      deployctl history production api --limit 10
      deployctl history --json
    """
    from deployctl.commands.history import run_history, with_approvals

    entries = with_approvals(run_history(repo, env, app_name, limit, with_engine=not no_engine))
    if as_json:
        from deployctl.core.history import history_json

        console.json_text(history_json(entries, console.json_indent()))
        return
    from deployctl.report.tables import history_table

    for line in history_table(entries) if entries else []:
        console.out(line)
    if not entries:
        console.out("no deploys yet")


@app.command()
def metrics(
    env: Annotated[str | None, typer.Argument(help="Only this env.")] = None,
    app_name: Annotated[str | None, typer.Argument(metavar="APP", help="Only this app.")] = None,
    since: Annotated[str | None, typer.Option(help="Window start, ISO-8601 (default: 12 buckets ago).")] = None,
    until: Annotated[str | None, typer.Option(help="Window end, ISO-8601, exclusive (default: now).")] = None,
    bucket: Annotated[str, typer.Option(help="day, week or month.")] = "week",
    no_engine: Annotated[bool, typer.Option("--no-engine", help="Git history only: take each line as "
                                            "deployed, successfully, when it was merged.")] = False,
    offline: OfflineOpt = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Delivery metrics, DORA's four keys, per env and app: deployment frequency, lead time for
    changes, change failure rate, time to restore, each with its DORA 2023 level and the counts
    behind it. From the deploy history joined with Pulumi's updates, and the app repositories'
    commit dates. A figure without data is null in --json.

    Examples:
      deployctl metrics
      deployctl metrics production api --bucket month --since 2026-01-01
      deployctl metrics --json
    """
    from deployctl.commands.metrics import run_metrics
    from deployctl.core.metrics import BUCKETS, render_text

    if bucket not in BUCKETS:
        raise CannotJudge(f"--bucket '{bucket}' is not one of {', '.join(BUCKETS)}")
    window = {name: _parse_time(value, name) if value else None for name, value in (("since", since),
                                                                                  ("until", until))}
    result = run_metrics(repo, env, app_name, window["since"], window["until"], bucket,  # type: ignore[arg-type]  # one of BUCKETS, checked above
                         datetime.now(UTC), with_engine=not no_engine, offline=offline)
    if as_json:
        console.json_text(result.json_text(console.json_indent()))
    else:
        console.out(render_text(result))


@app.command()
def status(
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML page here.")] = None,
    pr_url: Annotated[str | None, typer.Option(help="PR link pattern for the page: an http(s) URL where {pr} "
                                               "stands for the PR number, e.g. "
                                               "https://github.com/acme/deploys/pull/{pr}")] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """What runs where: the env-by-app matrix, lag and drift.

    Each cell: the deployed commit, its comment, when and by whom; how many commits what runs is
    behind its upstream env and its release branch; and its state, as `deployctl drift` classifies
    it: in-sync, pending, in-progress (deploying now: who, since when, which PR; never drift),
    failed, switched-back.

    Examples:
      deployctl status
      deployctl status --html status.html
    """
    from deployctl.commands.status import run_status
    from deployctl.report.status import render_html, render_text, status_rows

    if html is not None:
        _check_writable(html)
    report = run_status(repo, pr_url=pr_url)
    if html is not None:
        _write_file(html, render_html(report, pr_url=pr_url))
        console.info(f"status page written to {html}")
    if as_json:
        console.as_json(status_rows(report))
    else:
        console.out(render_text(report))


@app.command()
def drift(
    env: Annotated[list[str] | None, typer.Argument(help="Only these envs (default: every env).")] = None,
    no_refresh: Annotated[bool, typer.Option("--no-refresh", help="Judge from Pulumi's record alone; skip the "
                                             "engine's refresh (finds no out-of-band change).")] = False,
    post: Annotated[bool, typer.Option("--post", help="Post each env's drift as one GitHub issue, edited in "
                                       "place, closed when back in sync.")] = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Is what runs what git says? Each app in each env: in-sync, pending (merged, not run), in-progress
    (an update runs now), failed, switched-back (its health check failed) or out-of-band (what runs
    differs from Pulumi's record, found by the engine's refresh), with what differs and what fixes it.

    Exit 0 when every app is in-sync or in-progress, 1 when anything drifted, 2 when it cannot judge.

    Examples:
      deployctl drift
      deployctl drift production --json
      deployctl drift --no-refresh
    """
    from deployctl.commands.drift import engine_refresh, poster, run_drift
    from deployctl.commands.load import open_engine
    from deployctl.core.appstate import exit_status

    publish = poster() if post else None
    engine = open_engine(repo)
    states = run_drift(repo, env, None if no_refresh else engine_refresh(engine), engine=engine)
    if as_json:
        console.as_json([s.to_json() for s in states])
    else:
        from deployctl.report.status import render_drift

        console.out(render_drift(states))
    if publish is not None:
        publish(repo, states)
    raise typer.Exit(exit_status(states))


@app.command()
def codeowners(
    check_only: Annotated[bool, typer.Option("--check", help="Only verify; exit 1 when the file is stale.")] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Write .github/CODEOWNERS from apps.yaml owners and each protected env's reviewers.

    A protected env's deploy files are owned by its reviewers alone, so with branch protection
    ("require review from code owners") a production deploy cannot merge without them.

    Examples:
      deployctl codeowners            regenerate the file
      deployctl codeowners --check    in CI: fail when it is out of date
    """
    from deployctl.commands.codeowners import codeowners as run_codeowners

    diff = run_codeowners(repo, check_only)
    if check_only and diff:
        console.out("\n".join(diff))
        console.error(".github/CODEOWNERS is out of date; run `deployctl codeowners` and commit it")
        raise typer.Exit(ExitStatus.VIOLATION)
    console.out(".github/CODEOWNERS is up to date" if not diff else ".github/CODEOWNERS written")


@app.command()
def unlock(
    env: Annotated[str, typer.Argument(help="The env (stack) whose lock a dead run left.")],
    force: Annotated[bool, typer.Option("--force", help="Also clear a lock taken on another machine, once "
                                        "you have checked that its run has ended.")] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Recover a stack after a run died mid-`up` (killed runner, SIGKILL): clear its lock and
    pending operations, and record that it was done (stack tag deployctl:unlocked).

    Refuses (exit 1) while the lock's process still runs on this machine, and without --force when
    the lock was taken on another machine. Works on file:// and s3:// backends.

    Examples:
      deployctl unlock staging
      deployctl unlock production --force
    """
    from deployctl.adapters.backend import Refused
    from deployctl.commands.unlock import run_unlock

    try:
        done = run_unlock(repo, env, force)
    except Refused as exc:
        console.error(str(exc))
        raise typer.Exit(ExitStatus.VIOLATION) from None
    for line in done:
        console.out(line)


@app.command()
def doctor(
    as_json: JsonOpt = False,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for each network check.", min=1)] = 20.0,
    repo: RepoOpt = Path("."),
) -> None:
    """Check a setup: Pulumi CLI version, backend reachable and its locks writable, passphrase,
    provider plugins for the kinds in use, each app repository reachable. Says what to fix.

    Exit 0 when every check passes (warnings allowed), 1 when one fails.

    Examples:
      deployctl doctor
      deployctl doctor --json
    """
    from deployctl.commands.doctor import render, run_doctor

    checks = run_doctor(repo, timeout)
    if as_json:
        console.as_json([c.model_dump(mode="json") for c in checks])
    else:
        console.out(render(checks))
    raise typer.Exit(ExitStatus.VIOLATION if any(c.status == "fail" for c in checks) else ExitStatus.OK)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The new deploy repository (created when missing).")],
    env: Annotated[list[str] | None, typer.Option("--env", help="An env, in promotion order: each promotes "
                                                  "from the one before it (repeatable; default: staging, "
                                                  "production).")] = None,
    protected: Annotated[list[str] | None, typer.Option("--protected", help="A protected env: its reviewers "
                                                        "alone approve its deploys (repeatable; default: the "
                                                        "last env).")] = None,
    reviewers: Annotated[list[str] | None, typer.Option("--reviewers", help="The protected envs' reviewers, "
                                                        "@org/team or @user (repeatable; default: a placeholder "
                                                        "team the new README says to change).")] = None,
) -> None:
    """Create a team's deploy repository: stack configs, an empty catalog, deploy folders, the pin of
    this exact version, a __main__.py that runs the installed program, CODEOWNERS, the workflows and
    a README that says what to do next. It holds none of the tool's source.

    It passes `deployctl check` and `deployctl codeowners --check` as it is. It never overwrites:
    when any file it would write exists, it writes nothing (exit 2, naming them).

    Examples:
      deployctl init acme-deploys
      deployctl init acme-deploys --reviewers @acme/release-managers
      deployctl init deploys --env dev --env staging --env prod --protected staging --protected prod
    """
    from deployctl.commands.init import run_init

    written = run_init(directory, env, protected, reviewers)
    for rel in written:
        console.out(f"wrote {directory / rel}")
    console.error(f"next: read {directory / 'README.md'} (\"What to do next\"), then `deployctl doctor`")


@app.command("install-engine")
def install_engine(
    bin_dir: Annotated[Path | None, typer.Argument(help="Where to install it (default: the cache, "
                                                   "~/.cache/deploy-by-code/pulumi-<version>/bin).")] = None,
    no_link: Annotated[bool, typer.Option("--no-link", help="Do not link it into this venv's bin folder.")] = False,
) -> None:
    """Find or install the pinned Pulumi CLI, link it beside this venv's python (where deployctl
    looks first, as `make engine` does), and print its bin folder.

    A pulumi of the pinned version on PATH is used as it is; else the cached one; else the official
    installer; else a build from the Go module proxy (about ten minutes, once). For a team's CI,
    which has none of the tool's scripts.

    Examples:
      deployctl install-engine
      deployctl install-engine --no-link >> "$GITHUB_PATH"
    """
    from deployctl.adapters.installengine import install_engine as run_install
    from deployctl.adapters.installengine import link_beside_python

    found = run_install(bin_dir.resolve() if bin_dir is not None else None)
    if not no_link and (linked := link_beside_python(found)) is not None:
        console.error(f"linked into {linked}")
    console.out(str(found))


MessageOpt = Annotated[str, typer.Option("-m", "--message", help="The comment written after the hash.")]
BranchOpt = Annotated[str | None, typer.Option("--branch", help="Create this git branch and commit the change, "
                                               "ready for a pull request.")]


AuthorBaseOpt = Annotated[str | None, typer.Option(
    "--base", metavar="REF", help="Judge against this base, as CI will (default: the merge base with "
    "origin/main, else main).")]


@app.command()
def bump(
    env: Annotated[str, typer.Argument(help="The env folder under deploys/.")],
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app (its file name).")],
    commit: Annotated[str, typer.Argument(help="The app commit; a short hash is resolved to the full one.")],
    message: MessageOpt = "",
    rollback: Annotated[bool, typer.Option("--rollback", help="Tag [rollback]: allows going back.")] = False,
    hotfix: Annotated[bool, typer.Option("--hotfix", help="Tag [hotfix]: allows off-branch fixes, "
                                         "skipping promotion, and freeze windows.")] = False,
    branch: BranchOpt = None,
    base: AuthorBaseOpt = None,
    repo: RepoOpt = Path("."),
) -> None:
    """Deploy a commit: prepend `<full hash> <message> [tags]` to deploys/ENV/APP.

    The safeguards run first, judged as CI's `check --base` will judge the pull request (against the
    merge base with the deploy repo's main branch): a refused deploy, or a no-op, writes nothing
    (exit 1) and says which tag would allow it. A co-deploy group may be written one app at a time:
    a note names the members the pull request still needs.

    Examples:
      deployctl bump staging api 3f2a9c1 -m "login fix"
      deployctl bump production api 3f2a9c1 --hotfix -m "outage fix" --branch hotfix/login
    """
    from deployctl.commands.bump import BumpRequest
    from deployctl.commands.bump import bump as bump_verb
    from deployctl.core.model import Tag

    tags = tuple(t for t, on in ((Tag.ROLLBACK, rollback), (Tag.HOTFIX, hotfix)) if on)
    raise typer.Exit(bump_verb(BumpRequest(root=repo, env=env, app=app_name, commit=commit, message=message,
                                           tags=tags, branch=branch, base=base)))


@app.command()
def promote(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app to promote.")],
    from_env: Annotated[str, typer.Option("--from", help="The env whose current commit to take.")],
    to_env: Annotated[str, typer.Option("--to", help="The env to deploy it to.")],
    message: MessageOpt = "",
    branch: BranchOpt = None,
    base: AuthorBaseOpt = None,
    repo: RepoOpt = Path("."),
) -> None:
    """Deploy to one env what another env runs now (staging to production).

    The commit is what Pulumi runs upstream (the stack's `deployed` output), else the upstream deploy
    file on the base CI judges against; the command says which it used.

    Example:
      deployctl promote api --from staging --to production -m "tested on staging"
    """
    from deployctl.commands.bump import PromoteRequest
    from deployctl.commands.bump import promote as promote_verb

    raise typer.Exit(promote_verb(PromoteRequest(root=repo, app=app_name, from_env=from_env, to_env=to_env,
                                                 message=message, branch=branch, base=base)))


@app.command()
def rollback(
    env: Annotated[str, typer.Argument(help="The env folder under deploys/.")],
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app to roll back.")],
    to: Annotated[str | None, typer.Option("--to", help="The commit to go back to (default: the "
                                           "previous deploy in the file).")] = None,
    message: MessageOpt = "",
    branch: BranchOpt = None,
    base: AuthorBaseOpt = None,
    repo: RepoOpt = Path("."),
) -> None:
    """Go back: prepend the previous (or given) commit, tagged [rollback].

    Examples:
      deployctl rollback production api
      deployctl rollback production api --to 3f2a9c1 -m "bad migration"
    """
    from deployctl.commands.bump import RollbackRequest
    from deployctl.commands.bump import rollback as rollback_verb

    raise typer.Exit(rollback_verb(RollbackRequest(root=repo, env=env, app=app_name, to=to, message=message,
                                                   branch=branch, base=base)))


@app.command()
def propose(
    envs: Annotated[list[str] | None, typer.Argument(help="Only these envs (default: each with a policy).")] = None,
    post_prs: Annotated[bool, typer.Option("--post", help="Open or refresh one PR per proposal (GITHUB_TOKEN, "
                                           "GITHUB_REPOSITORY); close those that became moot.")] = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Propose the next deploy and the next promotion of each env, as pull requests, with the evidence
    that each is safe.

    The policy is each env's stack config: `deploys:autoDeploy: true` (or a list of apps) proposes, per
    app or co-deploy group, the newest commit of its release branch that passes every safeguard of
    the env; `deploys:autoPromote: {soak: 2h}` proposes what the upstream env runs (Pulumi's record)
    once it has run there healthy for the soak time (from the trace). Each line is judged as `bump`
    and `promote` judge theirs, against the merge base with the deploy repo's main branch. A step
    that is due but held says which rules hold it (`freeze-window`, `soak`, `upstream-unhealthy`,
    any safeguard's id). Without --post nothing is written.

    Exit 0 when it ran, 1 when a due step is held, 2 when it cannot judge.

    Examples:
      deployctl propose
      deployctl propose production --json
      deployctl propose --post
    """
    from deployctl.commands.propose import poster, proposal_lines, run_propose

    publish = poster() if post_prs else None
    proposals, judged = run_propose(repo, envs, datetime.now(UTC))
    if as_json:
        console.as_json([p.to_json() for p in proposals])
    else:
        for line in proposal_lines(proposals):
            console.out(line)
        if not proposals:
            unset = f"{', '.join(envs)} has no" if envs else "no env has"
            console.out("nothing to propose" + (f": {', '.join(judged)} up to date" if judged
                                                 else f": {unset} deploys:autoDeploy or deploys:autoPromote"))
    if publish is not None:
        publish(repo, proposals, judged)
    raise typer.Exit(ExitStatus.VIOLATION if any(p.blocked for p in proposals) else ExitStatus.OK)


@app.command("pr-data")
def pr_data(
    base: Annotated[str, typer.Option(help="The PR's base commit (checked out here).")],
    head: Annotated[str, typer.Option(help="The PR's head commit (fetched, not checked out).")],
    post: Annotated[bool, typer.Option("--post", help="For a code change, post the PR comment that says its "
                                       "credentialed preview waits for approval (GITHUB_TOKEN).")] = False,
    notes_file: Annotated[Path | None, typer.Option("--notes-file", help="Write what a reviewer must read (a "
                                                    "health command the PR adds) here, as markdown for "
                                                    "pr-comment.")] = None,
    as_json: JsonOpt = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Write a PR's deploy data into the base checkout, from its head commit's blobs, or refuse it as code.

    For the trusted preview (pull_request_target): nothing of the PR is checked out, run, imported or
    installed. When every path the PR changes is deploy data (deploys/**, apps.yaml, Pulumi.<env>.yaml;
    regular files only) and its stack configs change only data keys (deploys:*, aws:region,
    encryptionsalt), exactly those files are written here. Anything else (code, Pulumi.yaml, a link, a
    provider endpoint, a secrets provider) is refused and nothing is written. A health command the PR
    adds or changes is shown.

    Exit codes: 0 data only, written; 1 refused (a code change or a key that is not data); 2 cannot judge.

    Examples:
      deployctl pr-data --base "$BASE_SHA" --head "$HEAD_SHA"
      deployctl pr-data --base "$BASE_SHA" --head "$HEAD_SHA" --json --post
    """
    from deployctl.commands.prdata import awaiting_comment, merge_base, notes_markdown, result_lines, run_pr_data

    result = run_pr_data(repo, base, head)
    if notes_file is not None and (notes := notes_markdown(result)):
        _write_file(notes_file, notes)
    if as_json:
        console.as_json(result.model_dump(mode="json"))
    else:
        for line in result_lines(result):
            (console.out if result.ok else console.error)(line)
    if post and not result.ok:
        from deployctl.commands.plan import run_plan
        from deployctl.commands.preview import post_comment
        from deployctl.report.tables import plan_lines

        post_comment(awaiting_comment(result, plan_lines(run_plan(repo, merge_base(repo, base, head), head))))
    raise typer.Exit(ExitStatus.OK if result.ok else ExitStatus.VIOLATION)


@app.command("pr-comment")
def pr_comment(
    files: Annotated[list[Path], typer.Argument(help="Each stack's comment (preview --comment-file).",
                                                exists=True, dir_okay=False)],
) -> None:
    """Post several stacks' preview comments as the PR's one comment (GitHub Actions, GITHUB_TOKEN).

    The trusted preview runs one job per stack, each with only its env's secrets; this joins them,
    pr-data's notes (a file ending in .notes) first.

    Example:
      deployctl pr-comment comments/*.md
    """
    from deployctl.commands.prdata import NOTES_SUFFIX, combine_comments
    from deployctl.commands.preview import post_comment

    ordered = sorted(files, key=lambda f: (f.suffix != NOTES_SUFFIX, f.name))  # pr-data's notes first
    post_comment(combine_comments([f.read_text(encoding="utf-8") for f in ordered]))


def _version(value: bool) -> None:
    if value:
        from deployctl import __version__

        console.out(f"deployctl {__version__}")
        raise typer.Exit(ExitStatus.OK)


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                               callback=_version, is_eager=True)] = False,
) -> None:
    """Deploy by pull request: deploy files in git (deploys/<env>/<app>, newest commit on top), carried out
    by Pulumi.

    Exit codes: 0 ok, 1 a safeguard refused or a deploy failed, 2 cannot judge or run."""


# Readable placeholders in --help: what a value is, not its Python type (`<str>`, `<list[str]>`).
METAVARS = {"env": "ENV", "app_name": "APP", "commit": "COMMIT", "base": "REF", "head": "REF", "at": "TIME",
            "stack": "ENV", "branch": "BRANCH", "message": "TEXT", "limit": "N", "repo": "DIR", "html": "FILE",
            "comment_file": "FILE", "pr_url": "URL", "from_env": "ENV", "to_env": "ENV", "to": "COMMIT",
            "since": "TIME", "until": "TIME", "lock_timeout": "SECONDS", "timeout": "SECONDS", "reason": "TEXT",
            "bucket": "day|week|month", "notes_file": "FILE", "files": "FILE..."}
_EXAMPLES = re.compile(r"^(\s*Examples?:)\n", re.MULTILINE)
METAVARS.update(directory="DIR", protected="ENV", reviewers="OWNER", bin_dir="DIR")  # init, install-engine
METAVARS.update(envs="ENV...")  # propose


def command() -> typer.core.TyperGroup:
    """The click command behind the typer app, with examples kept one per line (click's `\\b`
    paragraph) and readable metavars."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)  # an app of several commands is a group
    commands = getattr(group, "commands", {}).values()
    for cmd in [group, *commands]:
        if cmd.help:
            cmd.help = _EXAMPLES.sub(lambda m: f"{m.group(1)}\n\n\b\n", cmd.help)
        for param in cmd.params:
            if getattr(param, "is_flag", False):
                continue
            name = METAVARS.get(param.name or "", (param.name or "value").upper())
            param.metavar = name
            if param.param_type_name == "argument":  # typer writes `{name} <str>`: say ENV, or [ENV] if optional
                shown = name if param.required else f"[{name}]"
                param._usage_display_name = lambda shown=shown: shown
                param.display_type_rich = lambda ctx: None
    return group


def _status(code: int) -> int:
    """An ExitStatus where the code is one (every deployctl code is), else the code as it is."""
    return ExitStatus(code) if code in ExitStatus._value2member_map_ else code


def run(args: list[str] | None = None) -> int:
    """Run one command line (sys.argv when None) and say how it ended: no traceback ever reaches a
    user. The tests call this in process, with console.use and click's CliRunner isolation."""
    try:
        code = command()(args=args, standalone_mode=False, prog_name="deployctl")
        return _status(code) if isinstance(code, int) else ExitStatus.OK
    except typer.Exit as exc:
        return _status(exc.exit_code)
    except InputError as exc:
        for v in exc.violations:
            console.violation(v, err=True)
        return ExitStatus.VIOLATION
    except CannotJudge as exc:
        console.error(f"cannot judge: {exc}")
        return ExitStatus.CANNOT_JUDGE
    except KeyboardInterrupt:
        console.error("interrupted")
        return ExitStatus.INTERRUPTED
    except typer.Abort:
        return ExitStatus.INTERRUPTED
    except typer.TyperException as exc:  # usage errors: a bad option, a missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            console.error(str(exc))
        return ExitStatus.CANNOT_JUDGE
    except Exception as exc:  # anything unforeseen: a message, never a traceback
        if os.environ.get("DEPLOYCTL_DEBUG"):
            raise
        console.error(internal_error(exc))
        return ExitStatus.CANNOT_JUDGE


def main() -> None:
    """Entry point (`deployctl`, `python -m deployctl`): the exit code says what happened (ExitStatus).

    The process ends as soon as its output is flushed: Python's own teardown of the modules a command
    loaded (Pulumi's gRPC and protobuf, pydantic) costs 0.1-0.2 s, as much as a small command's work.
    Every command has joined its threads and closed its files by the time it returns. A profiler,
    debugger or coverage tool attached still gets its normal exit (it writes its report then)."""
    code = run()
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    with contextlib.suppress(OSError, ValueError):  # a reader that went away: nothing more can be said
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
