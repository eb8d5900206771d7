"""deployctl: the command line. It declares each command's options and hands them, as one typed request,
to the command's module (deployctl/commands/<verb>.py), which does the work, prints it and returns its
ExitStatus. The help texts live in commands/helptext.py.

Exit codes (violations.ExitStatus): 0 all good (warnings allowed), 1 a violation or a failed deploy,
2 cannot judge or run (bad arguments, unreadable catalog or stack config, unreachable repository, no Pulumi).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from deployctl import console
from deployctl.commands import helptext
from deployctl.core.violations import CannotJudge, ExitStatus, InputError, internal_error

app = typer.Typer(name="deployctl", help=helptext.DEPLOYCTL, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None)


def _repo_dir(path: Path) -> Path:
    """--repo must name a folder: anything else is refused (exit 2) before a command reads it."""
    if not path.is_dir():
        raise CannotJudge(f"no deploy repository at {path} ({'not a folder' if path.exists() else 'no such folder'}); "
                          "run deployctl in the deploy repo's root, or pass --repo DIR")
    return path


RepoOpt = Annotated[Path, typer.Option("--repo", help=helptext.REPO, file_okay=False, resolve_path=True,
                                       callback=_repo_dir)]
JsonOpt = Annotated[bool, typer.Option("--json", help=helptext.JSON)]
OfflineOpt = Annotated[bool, typer.Option("--offline", help=helptext.OFFLINE)]
StackOpt = Annotated[list[str] | None, typer.Option("--stack", help=helptext.STACK)]
EnvArg = Annotated[str | None, typer.Argument(help=helptext.ONLY_ENV)]
AppArg = Annotated[str | None, typer.Argument(metavar="APP", help=helptext.ONLY_APP)]
HERE = Path(".")
# bump, promote and rollback: what they write
EnvFolderArg = Annotated[str, typer.Argument(help=helptext.ENV_FOLDER)]
MessageOpt = Annotated[str, typer.Option("-m", "--message", help=helptext.MESSAGE)]
BranchOpt = Annotated[str | None, typer.Option("--branch", help=helptext.BRANCH)]
AuthorBaseOpt = Annotated[str | None, typer.Option("--base", metavar="REF", help=helptext.AUTHOR_BASE)]


@app.command(help=helptext.CHECK)
def check(base: Annotated[str | None, typer.Option(help=helptext.CHECK_BASE)] = None,
          at: Annotated[str | None, typer.Option(help=helptext.CHECK_AT)] = None,
          offline: OfflineOpt = False,
          no_artifacts: Annotated[bool, typer.Option("--no-artifacts", help=helptext.CHECK_NO_ARTIFACTS)] = False,
          deployed: Annotated[bool | None, typer.Option("--deployed/--no-deployed",
                                                        help=helptext.CHECK_DEPLOYED)] = None,
          as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import check
    return check.check(check.CheckRequest(repo, base, at, offline, no_artifacts, deployed, as_json))


@app.command(help=helptext.UP)
def up(stack: StackOpt = None,
       base: Annotated[str | None, typer.Option(help=helptext.UP_BASE)] = None,
       head: Annotated[str | None, typer.Option(help=helptext.UP_HEAD)] = None,
       branch: Annotated[str, typer.Option(help=helptext.UP_BRANCH)] = "origin/main",
       message: Annotated[str | None, typer.Option("-m", "--message", help=helptext.UP_MESSAGE)] = None,
       force: Annotated[bool, typer.Option("--force", help=helptext.UP_FORCE)] = False,
       reason: Annotated[str | None, typer.Option("--reason", help=helptext.UP_REASON)] = None,
       lock_timeout: Annotated[float, typer.Option("--lock-timeout", min=0, help=helptext.UP_LOCK_TIMEOUT)] = 300.0,
       post: Annotated[bool, typer.Option("--post", help=helptext.UP_POST)] = False,
       as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands.up import UpRequest, main
    return main(UpRequest(root=repo, stacks=tuple(stack) if stack is not None else None, base=base, head=head,
                          message=message, branch=branch, force=force, reason=reason, lock_timeout=lock_timeout,
                          post=post, as_json=as_json))


@app.command(help=helptext.PLAN)
def plan(base: Annotated[str, typer.Option(help=helptext.PLAN_BASE)],
         head: Annotated[str | None, typer.Option(help=helptext.PLAN_HEAD)] = None,
         as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import plan
    return plan.plan(plan.PlanRequest(repo, base, head, as_json))


@app.command(help=helptext.PREVIEW)
def preview(base: Annotated[str | None, typer.Option(help=helptext.PREVIEW_BASE)] = None,
            stack: StackOpt = None,
            comment_file: Annotated[Path | None, typer.Option(help=helptext.PREVIEW_COMMENT_FILE)] = None,
            post: Annotated[bool, typer.Option("--post", help=helptext.PREVIEW_POST)] = False,
            at: Annotated[str | None, typer.Option(help=helptext.PREVIEW_AT)] = None,
            offline: Annotated[bool, typer.Option("--offline", help=helptext.PREVIEW_OFFLINE)] = False,
            repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import preview
    return preview.preview(preview.PreviewRequest(repo, base, stack, comment_file, post, at, offline))


@app.command(help=helptext.DEPLOYED)
def deployed(stack: StackOpt = None, as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import deployed
    return deployed.deployed(deployed.DeployedRequest(repo, stack, as_json))


@app.command(help=helptext.HISTORY)
def history(env: EnvArg = None, app_name: AppArg = None,
            limit: Annotated[int | None, typer.Option(help=helptext.HISTORY_LIMIT, min=1)] = None,
            no_engine: Annotated[bool, typer.Option("--no-engine", help=helptext.HISTORY_NO_ENGINE)] = False,
            as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import history
    return history.history(history.HistoryRequest(repo, env, app_name, limit, not no_engine, as_json))


@app.command(help=helptext.METRICS)
def metrics(env: EnvArg = None, app_name: AppArg = None,
            since: Annotated[str | None, typer.Option(help=helptext.METRICS_SINCE)] = None,
            until: Annotated[str | None, typer.Option(help=helptext.METRICS_UNTIL)] = None,
            bucket: Annotated[str, typer.Option(help=helptext.METRICS_BUCKET)] = "week",
            no_engine: Annotated[bool, typer.Option("--no-engine", help=helptext.METRICS_NO_ENGINE)] = False,
            offline: OfflineOpt = False, as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import metrics
    return metrics.metrics(metrics.MetricsRequest(repo, env, app_name, since, until, bucket, not no_engine, offline,
                                                  as_json))


@app.command(help=helptext.STATUS)
def status(html: Annotated[Path | None, typer.Option("--html", help=helptext.STATUS_HTML)] = None,
           pr_url: Annotated[str | None, typer.Option(help=helptext.STATUS_PR_URL)] = None,
           as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import status
    return status.status(status.StatusRequest(repo, html, pr_url, as_json))


@app.command(help=helptext.DRIFT)
def drift(env: Annotated[list[str] | None, typer.Argument(help=helptext.DRIFT_ENV)] = None,
          no_refresh: Annotated[bool, typer.Option("--no-refresh", help=helptext.DRIFT_NO_REFRESH)] = False,
          post: Annotated[bool, typer.Option("--post", help=helptext.DRIFT_POST)] = False,
          as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import drift
    return drift.drift(drift.DriftRequest(repo, env, not no_refresh, post, as_json))


@app.command(help=helptext.CODEOWNERS)
def codeowners(check_only: Annotated[bool, typer.Option("--check", help=helptext.CODEOWNERS_CHECK_ONLY)] = False,
               repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import codeowners
    return codeowners.codeowners(codeowners.CodeownersRequest(repo, check_only))


@app.command(help=helptext.UNLOCK)
def unlock(env: Annotated[str, typer.Argument(help=helptext.UNLOCK_ENV)],
           force: Annotated[bool, typer.Option("--force", help=helptext.UNLOCK_FORCE)] = False,
           repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import unlock
    return unlock.unlock(unlock.UnlockRequest(repo, env, force))


@app.command(help=helptext.DOCTOR)
def doctor(as_json: JsonOpt = False,
           timeout: Annotated[float, typer.Option(help=helptext.DOCTOR_TIMEOUT, min=1)] = 20.0,
           repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import doctor
    return doctor.doctor(doctor.DoctorRequest(repo, timeout, as_json))


@app.command(help=helptext.INIT)
def init(directory: Annotated[Path, typer.Argument(help=helptext.INIT_DIRECTORY)],
         env: Annotated[list[str] | None, typer.Option("--env", help=helptext.INIT_ENV)] = None,
         protected: Annotated[list[str] | None, typer.Option("--protected", help=helptext.INIT_PROTECTED)] = None,
         reviewers: Annotated[list[str] | None, typer.Option("--reviewers", help=helptext.INIT_REVIEWERS)] = None,
         ) -> ExitStatus:
    from deployctl.commands import init
    return init.init(init.InitRequest(directory, env, protected, reviewers))


@app.command("install-engine", help=helptext.INSTALL_ENGINE)
def install_engine(bin_dir: Annotated[Path | None, typer.Argument(help=helptext.INSTALL_ENGINE_BIN_DIR)] = None,
                   no_link: Annotated[bool, typer.Option("--no-link", help=helptext.INSTALL_ENGINE_NO_LINK)] = False,
                   ) -> ExitStatus:
    from deployctl.commands import installengine
    return installengine.install_engine(installengine.InstallEngineRequest(bin_dir, not no_link))


@app.command(help=helptext.BUMP)
def bump(env: EnvFolderArg,
         app_name: Annotated[str, typer.Argument(metavar="APP", help=helptext.BUMP_APP_NAME)],
         commit: Annotated[str, typer.Argument(help=helptext.BUMP_COMMIT)],
         message: MessageOpt = "",
         rollback: Annotated[bool, typer.Option("--rollback", help=helptext.BUMP_ROLLBACK)] = False,
         hotfix: Annotated[bool, typer.Option("--hotfix", help=helptext.BUMP_HOTFIX)] = False,
         branch: BranchOpt = None, base: AuthorBaseOpt = None, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import bump as verb
    from deployctl.core.repo.model import Tag
    tags = tuple(t for t, on in ((Tag.ROLLBACK, rollback), (Tag.HOTFIX, hotfix)) if on)
    return verb.bump(verb.BumpRequest(root=repo, env=env, app=app_name, commit=commit, message=message, tags=tags,
                                      branch=branch, base=base))


@app.command(help=helptext.PROMOTE)
def promote(app_name: Annotated[str, typer.Argument(metavar="APP", help=helptext.PROMOTE_APP_NAME)],
            from_env: Annotated[str, typer.Option("--from", help=helptext.PROMOTE_FROM_ENV)],
            to_env: Annotated[str, typer.Option("--to", help=helptext.PROMOTE_TO_ENV)],
            message: MessageOpt = "", branch: BranchOpt = None, base: AuthorBaseOpt = None, repo: RepoOpt = HERE,
            ) -> ExitStatus:
    from deployctl.commands import bump as verb
    return verb.promote(verb.PromoteRequest(root=repo, app=app_name, from_env=from_env, to_env=to_env,
                                            message=message, branch=branch, base=base))


@app.command(help=helptext.ROLLBACK)
def rollback(env: EnvFolderArg,
             app_name: Annotated[str, typer.Argument(metavar="APP", help=helptext.ROLLBACK_APP_NAME)],
             to: Annotated[str | None, typer.Option("--to", help=helptext.ROLLBACK_TO)] = None,
             message: MessageOpt = "", branch: BranchOpt = None, base: AuthorBaseOpt = None, repo: RepoOpt = HERE,
             ) -> ExitStatus:
    from deployctl.commands import bump as verb
    return verb.rollback(verb.RollbackRequest(root=repo, env=env, app=app_name, to=to, message=message,
                                              branch=branch, base=base))


@app.command(help=helptext.PROPOSE)
def propose(envs: Annotated[list[str] | None, typer.Argument(help=helptext.PROPOSE_ENVS)] = None,
            post_prs: Annotated[bool, typer.Option("--post", help=helptext.PROPOSE_POST_PRS)] = False,
            as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import propose
    return propose.propose(propose.ProposeRequest(repo, envs, post_prs, as_json))


@app.command("pr-data", help=helptext.PR_DATA)
def pr_data(base: Annotated[str, typer.Option(help=helptext.PR_DATA_BASE)],
            head: Annotated[str, typer.Option(help=helptext.PR_DATA_HEAD)],
            post: Annotated[bool, typer.Option("--post", help=helptext.PR_DATA_POST)] = False,
            notes_file: Annotated[Path | None, typer.Option("--notes-file", help=helptext.PR_DATA_NOTES_FILE)] = None,
            as_json: JsonOpt = False, repo: RepoOpt = HERE) -> ExitStatus:
    from deployctl.commands import prdata
    return prdata.pr_data(prdata.PrDataRequest(repo, base, head, post, notes_file, as_json))


@app.command("pr-comment", help=helptext.PR_COMMENT)
def pr_comment(files: Annotated[list[Path], typer.Argument(help=helptext.PR_COMMENT_FILES, exists=True,
                                                           dir_okay=False)]) -> ExitStatus:
    from deployctl.commands import prdata
    return prdata.pr_comment(prdata.PrCommentRequest(files))


def _version(value: bool) -> None:
    if value:
        from deployctl import __version__

        console.out(f"deployctl {__version__}")
        raise typer.Exit(ExitStatus.OK)


@app.callback()
def _root(show_version: Annotated[bool, typer.Option("--version", help=helptext.VERSION, callback=_version,
                                                     is_eager=True)] = False) -> None:
    """--version, read before any command."""


def command(args: list[str] | None = None) -> typer.core.TyperGroup:
    """The click command behind the typer app, its help laid out for reading (commands/helptext.py).
    A command line naming a command builds that command alone: typer reads every command's signature
    to build it (~30 ms for 20), paid before each `up`. Its help, usage and errors are the same; the
    root callback keeps it a group, so its usage still reads `deployctl up [OPTIONS]`."""
    words = sys.argv[1:] if args is None else args
    chosen = [info for info in app.registered_commands if words and _name(info) == words[0]]
    source = app
    if chosen:
        source = copy.copy(app)
        source.registered_commands = chosen
    group = typer.main.get_command(source)
    assert isinstance(group, typer.core.TyperGroup)  # a callback and commands: a group
    return helptext.lay_out(group)


def _name(info: typer.models.CommandInfo) -> str | None:
    callback = info.callback
    return info.name or (typer.main.get_command_name(callback.__name__) if callback is not None else None)


def _status(code: int) -> int:
    """An ExitStatus where the code is one (every deployctl code is), else the code as it is."""
    return ExitStatus(code) if code in ExitStatus._value2member_map_ else code


def run(args: list[str] | None = None) -> int:
    """Run one command line (sys.argv when None) and say how it ended: no traceback ever reaches a
    user. The tests call this in process, with console.use and click's CliRunner isolation."""
    try:
        code = command(args)(args=args, standalone_mode=False, prog_name="deployctl")
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


GC_YOUNG = 50_000
"""Allocations between two collections of the young generation (mypy's CLI does the same, at 200,000)."""


def main() -> None:
    """Entry point (`deployctl`, `python -m deployctl`): the exit code says what happened (ExitStatus).

    The process ends as soon as its output is flushed: Python's own teardown of the modules a command
    loaded (Pulumi's gRPC and protobuf, pydantic) costs 0.1-0.2 s, as much as a small command's work.
    Every command has joined its threads and closed its files by the time it returns. A profiler,
    debugger or coverage tool attached still gets its normal exit (it writes its report then).

    The cycle collector runs every GC_YOUNG allocations, not Python's 700: a command builds tens of
    thousands of short-lived objects (a deploy line each), and each collection walked every object
    alive, the imported modules' included; in `metrics` over 10,000 deploy commits, 0.3 s of 2 s."""
    gc.set_threshold(GC_YOUNG, 20, 100)
    code = run()
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    with contextlib.suppress(OSError, ValueError):  # a reader that went away: nothing more can be said
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
