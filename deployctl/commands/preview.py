"""Reviewing a deploy PR: safeguards, commit logs and `pulumi preview`, as one PR comment."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from deployctl import console
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.adapters.pulumi.cipolicy import enforce_ci_policy
from deployctl.commands.load import chosen_stacks, load_pair, open_engine
from deployctl.core.change import rules
from deployctl.core.change.plan import PlanChange
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.trace.outcomes import Outcome
from deployctl.core.violations import CannotJudge, ExitStatus
from deployctl.report.render import CommitLog, PreviewReport, StackPreview, github_compare_url
from deployctl.report.render import warm as warm_renderer


@dataclass(frozen=True)
class PreviewRequest:
    repo: Path
    base: str | None = None
    """Default in GitHub Actions: the PR's base commit."""
    stacks: list[str] | None = None
    comment_file: Path | None = None
    """Write the markdown comment here (instead of stdout)."""
    post: bool = False
    """Create or update the PR's one comment."""
    at: str | None = None
    """The freeze windows' time, ISO-8601 as typed (default: now)."""
    offline: bool = False


def preview(request: PreviewRequest) -> ExitStatus:
    """Render the comment; print, write or post it; each failed preview's cause on stderr: 1 when a
    safeguard errs or a preview fails."""
    from deployctl.commands.options import parse_time
    from deployctl.commands.output import check_writable, write_file
    from deployctl.report.render import render_comment

    # What the options need is checked before the safeguards and the engine run, not after them.
    if request.post:
        require_post_context()
    if request.comment_file is not None:
        check_writable(request.comment_file)
    report, secrets = build_preview(request.repo, request.base or pull_request_base(), request.stacks,
                                    parse_time(request.at), offline=request.offline)
    body = render_comment(report, secrets)
    if request.comment_file is not None:
        write_file(request.comment_file, body)
        console.info(f"comment written to {request.comment_file} ({len(body)} characters)")
    elif not request.post:
        console.out(body)
    if request.post:
        post_comment(body)
    for line in failure_lines(report, secrets):
        console.error(line)
    return ExitStatus.OK if report.ok else ExitStatus.VIOLATION


def commit_log(repos: AppRepos, snapshot: Snapshot, change: PlanChange) -> CommitLog | None:
    app = snapshot.catalog.apps.get(change.app)
    if app is None or change.new is None:
        return None
    repo = repos.get(app.repo)
    try:
        news = repo.resolve(change.new)
        olds = repo.resolve(change.old) if change.old else []
    except CannotJudge:
        return None
    if len(news) != 1:
        return None
    new, old = news[0], (olds[0] if len(olds) == 1 else None)
    commits = repo.log(old, new, limit=50)
    # `log` lists newest first, so the deployed commit is usually already in hand
    info = commits[0] if commits and commits[0].sha == new else repo.info(new)
    return CommitLog(
        count=repo.count_between(old, new) if old else len(commits),
        commits=commits,
        author=info.author if info else None,
        compare_url=github_compare_url(app.repo, old, new) if old else None,
    )


def build_preview(root: Path, base: str, stacks: list[str] | None, at: datetime,
                  run_engine: bool = True, offline: bool = False) -> tuple[PreviewReport, list[str]]:
    """Safeguards, commit logs and `pulumi preview` for each affected stack; and secrets to redact.

    The previews run beside the safeguards and the commit logs (they do not depend on them, and a
    refused change is previewed all the same): the comment is ready when the engine is done."""
    from deployctl.adapters.cloud.artifacts import artifact_oracle

    base_snap, head_snap, plan = load_pair(root, base, None)
    envs = chosen_stacks(plan, head_snap, stacks)
    previews: _Previews | None = None
    if run_engine and envs:
        enforce_ci_policy(root, {e: head_snap.stacks[e].settings.protected for e in envs})
        previews = _Previews(root, envs)
        previews.start()
    repos = AppRepos(root)
    try:
        with console.step("running the safeguards"):
            violations = rules.check(head_snap, repos, base_snap, at, artifacts=artifact_oracle(offline))
        logs = {env: {c.app: log for c in plan.changes if c.env == env
                      if (log := commit_log(repos, head_snap, c)) is not None} for env in envs}
        if previews is not None:
            warm_renderer()  # while the engine runs
        outcomes, secrets = previews.result() if previews is not None else ({}, [])
    except BaseException:  # Ctrl-C, or what stopped the safeguards (an unreachable app repo): no engine
        if previews is not None:  # run is left behind, nor its files
            previews.cancel()
        raise
    head, head_time = plan.head, None
    if head is None and not os.environ.get("GITHUB_EVENT_PATH"):
        head = clean_head(root)  # a clean checkout is a commit a reviewer can name; a dirty one is not
    elif head is None:
        # CI checks out a merge of the PR; the reviewer wants to know which push of the PR this is.
        from deployctl.adapters.github import pull_request_context

        try:
            ctx = pull_request_context(os.environ)
        except CannotJudge:  # not a pull_request run (a push, a dispatch): the working tree it is
            ctx = None
        if ctx is not None:
            head, head_time = ctx.head_sha, ctx.pushed_at
    report = PreviewReport(base=plan.base, head=head, head_time=head_time, violations=violations, stacks=[
        StackPreview(env=env, protected=head_snap.stacks[env].settings.protected,
                     changes=[c for c in plan.changes if c.env == env], logs=logs[env], outcome=outcomes.get(env),
                     reason="the program changed" if plan.program_changed else "its stack config changed")
        for env in envs])
    return report, secrets


class _Previews(threading.Thread):
    """`pulumi preview` of each stack, one after another, in the background; `result` waits for them
    and raises what stopped them (no CLI, an unreadable backend) in the caller's thread."""

    def __init__(self, root: Path, envs: list[str]):
        super().__init__(name="pulumi-preview", daemon=True)
        self.root, self.envs = root, envs
        self.outcomes: dict[str, Outcome] = {}
        self.secrets: list[str] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            from deployctl.adapters.pulumi.progress import ResourceProgress

            engine = open_engine(self.root)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="secrets") as beside:
                # A stack with secret config needs a CLI run (and the Automation API) of its own to
                # read them: beside the previews, not after them.
                secrets = beside.submit(lambda: [s for env in self.envs for s in engine.secret_values(env)])
                for env in self.envs:
                    if self.stop.is_set():
                        return
                    progress = ResourceProgress(env, preview=True)
                    console.info(f"pulumi preview {env} ...")  # a plain line: the safeguards may hold the spinner
                    outcome = engine.preview(env, sink=progress, stop=self.stop)
                    self.outcomes[env] = outcome.model_copy(update={"warnings": progress.warnings})
                self.secrets = secrets.result()
        except BaseException as exc:  # re-raised by result(), in the thread that asked
            self.error = exc

    def cancel(self) -> None:
        """Stop the engine run under way (as Ctrl-C would) and wait for it to end."""
        self.stop.set()
        self.join()

    def result(self) -> tuple[dict[str, Outcome], list[str]]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.outcomes, self.secrets


def post_comment(body: str) -> None:
    """Create or update the PR's one preview comment, from the GitHub Actions environment."""
    from deployctl.adapters.github import GitHubError, github_from_env, pull_request_context

    ctx = pull_request_context(os.environ)
    try:
        with github_from_env(os.environ) as client:
            action, comment_id = client.upsert_comment(ctx.repository, ctx.number, body)
    except GitHubError as exc:
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if exc.status != 403 or not summary:
            raise
        # A PR from a fork gets a read-only token: the reviewer still sees the preview in the run.
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(body + "\n")
        console.error(f"cannot comment on {ctx.repository}#{ctx.number} (403: a fork's read-only token, or "
                      "the workflow lacks `pull-requests: write`); the preview is in the job summary instead")
        return
    console.info(f"preview comment {action} on {ctx.repository}#{ctx.number} (comment {comment_id})")


def clean_head(root: Path) -> str | None:
    """The checked-out commit, when the working tree is exactly it (nothing changed or untracked)."""
    from deployctl.adapters.git.repo import open_git, run_git

    repo = open_git(root)
    if run_git(repo, "status", "--porcelain", "--untracked-files=normal").strip():
        return None
    return run_git(repo, "rev-parse", "--verify", "HEAD^{commit}").strip()


def require_post_context() -> None:
    """--post needs a pull request event and a token: said before the safeguards or the engine run."""
    from deployctl.adapters.github import github_from_env, pull_request_context

    if not os.environ.get("GITHUB_EVENT_PATH"):
        raise CannotJudge("--post comments on a pull request and needs its GitHub Actions event "
                          "(GITHUB_EVENT_PATH is not set); run it in a pull_request workflow, or drop --post "
                          "(--comment-file F writes the comment to a file)")
    pull_request_context(os.environ)  # a readable pull_request event, or a CannotJudge that says what is wrong
    github_from_env(os.environ).close()  # a token, or a CannotJudge naming GITHUB_TOKEN


def failure_lines(report: PreviewReport, secrets: list[str]) -> list[str]:
    """Each failed preview's one-line cause, for stderr: the reason is never only inside the comment."""
    from deployctl.report.render import redact

    return [redact(s.outcome.failure_line(), secrets) for s in report.stacks if s.outcome is not None
            and not s.outcome.ok]


def pull_request_base() -> str:
    """The PR's base commit, from the GitHub Actions event, when --base is not given."""
    from deployctl.adapters.github import pull_request_context

    if not os.environ.get("GITHUB_EVENT_PATH"):
        raise CannotJudge("--base is required outside GitHub Actions (e.g. --base origin/main)")
    return pull_request_context(os.environ).base_sha
