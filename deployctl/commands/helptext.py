"""What --help teaches, and how it is laid out: each command's text (what it does, what it judges, its
exit codes, examples) and each option's line, as plain strings cli.py passes as `help=`; readable
placeholders (ENV, REF, TIME, never `<str>`); examples kept one per line.

Kept apart from the command modules so that `deployctl --help` and every command's start-up load no
command module but the one they run. A command's text is its NAME; an option's, NAME_PARAMETER.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typer.core import TyperGroup

DEPLOYCTL = ("Deploy by pull request: deploy files in git (deploys/<env>/<app>, newest commit on top), carried "
             "out by Pulumi.\n\nExit codes: 0 ok, 1 a safeguard refused or a deploy failed, 2 cannot judge or run.")
VERSION = "Print the version and exit."

# The options several commands share (cli.py's RepoOpt, JsonOpt, ...).
REPO = "The deploy repository (default: here)."
JSON = "Machine-readable JSON on stdout."
OFFLINE = "Use the app-repository cache only; never fetch; skip the artifact check (no S3/ECR calls)."
MESSAGE = "The comment written after the hash."
BRANCH = "Create this git branch and commit the change, ready for a pull request."
STACK = "Only this env (repeatable)."
ONLY_ENV = "Only this env."
ONLY_APP = "Only this app."
ENV_FOLDER = "The env folder under deploys/."
AUTHOR_BASE = "Judge against this base, as CI will (default: the merge base with origin/main, else main)."

# Readable placeholders in --help: what a value is, not its Python type (`<str>`, `<list[str]>`).
METAVARS = {"env": "ENV", "app_name": "APP", "commit": "COMMIT", "base": "REF", "head": "REF", "at": "TIME",
            "stack": "ENV", "branch": "BRANCH", "message": "TEXT", "limit": "N", "repo": "DIR", "html": "FILE",
            "comment_file": "FILE", "pr_url": "URL", "from_env": "ENV", "to_env": "ENV", "to": "COMMIT",
            "since": "TIME", "until": "TIME", "lock_timeout": "SECONDS", "timeout": "SECONDS", "reason": "TEXT",
            "bucket": "day|week|month", "notes_file": "FILE", "files": "FILE..."}
METAVARS.update(directory="DIR", protected="ENV", reviewers="OWNER", bin_dir="DIR")  # init, install-engine
METAVARS.update(envs="ENV...")  # propose
_EXAMPLES = re.compile(r"^(\s*Examples?:)\n", re.MULTILINE)


def lay_out(group: TyperGroup) -> TyperGroup:
    """The CLI's help as a person reads it: examples kept one per line (click's `\\b` paragraph) and
    readable metavars."""
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


CHECK = """Check deploy files against the safeguards.

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
CHECK_BASE = "Also judge every change since this ref (a PR's changes)."
CHECK_AT = "Judge freeze windows at this ISO-8601 time (default: now)."
CHECK_NO_ARTIFACTS = ("Skip artifact-missing: for a job without cloud credentials (the preview, with its role, judges "
                      "it).")
CHECK_DEPLOYED = ("Judge against what runs (each stack's `deployed` output, from the Pulumi backend), or never read "
                  "it. Default: without --base, when it can.")

UP = """Run `pulumi up` for envs, in promotion order (staging before production).

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
UP_BASE = "Deploy only the stacks changed since this ref."
UP_HEAD = "The merge commit being deployed (must be checked out)."
UP_BRANCH = "The deploy branch; a newer commit on it that touches a stack makes this run skip that stack."
UP_MESSAGE = "Update message."
UP_FORCE = "Override the stale-run guard (needs --reason)."
UP_REASON = "Why --force: recorded in the update message and shown by `deployctl history`."
UP_LOCK_TIMEOUT = "Seconds to wait for a stack another run holds, before failing."
UP_POST = ("After a switch-back, open the [rollback] pull request (GitHub Actions, GITHUB_TOKEN; pushes a branch to "
           "origin).")

PLAN = """Show what a change deploys: each app's old and new commit, and the affected stacks in deploy order.

A change to Pulumi.<env>.yaml affects that stack; a change to the program (__main__.py, stacks/,
components/, the deployctl modules they import, apps.yaml, Pulumi.yaml, pyproject.toml, and a
team repository's pin of the tool, requirements.txt) affects every stack; a change to the CLI, its
templates or Slack affects none.

Examples:
  deployctl plan --base origin/main
  deployctl plan --base HEAD~1 --head HEAD --json
"""
PLAN_BASE = "The ref the change starts from (e.g. origin/main)."
PLAN_HEAD = "The ref it ends at (default: the working tree)."

PREVIEW = """Safeguards plus `pulumi preview` of each affected stack, as one PR comment.

Prints the markdown (or writes it to --comment-file). With --post, the comment is created on
the pull request, or edited in place on later pushes (one comment per PR).
Exits 1 when a safeguard errs or a preview fails, so the PR's check fails.

Examples:
  deployctl preview --base origin/main
  deployctl preview --base "$BASE_SHA" --post
"""
PREVIEW_BASE = "The ref the change starts from (e.g. origin/main; in GitHub Actions, default: the PR's base commit)."
PREVIEW_COMMENT_FILE = "Write the markdown comment here."
PREVIEW_POST = "Create or update the PR comment (GitHub Actions, GITHUB_TOKEN)."
PREVIEW_AT = "Judge freeze windows at this time (default: now)."
PREVIEW_OFFLINE = "Skip the artifact check (no S3/ECR calls)."

DEPLOYED = """What runs where, read back from Pulumi (each stack's `deployed` output).
"""

HISTORY = """Who deployed what, where, when and why: deploy-file history joined with Pulumi's updates.

Newest first, one row per deploy line with its own outcome: succeeded, failed, skipped (a newer
line reached Pulumi first; `then #PR` names it), in-progress, pending (no up has run it yet).
`ran` is when Pulumi's update ended, `merged` when the PR merged. With GITHUB_TOKEN and
GITHUB_REPOSITORY set, `approved by` comes from the PR's reviews on GitHub.

Examples:
  deployctl history
  deployctl history production api --limit 10
  deployctl history --json
"""
HISTORY_LIMIT = "At most this many entries."
HISTORY_NO_ENGINE = "Git history only; skip Pulumi."

METRICS = """Delivery metrics, DORA's four keys, per env and app: deployment frequency, lead time for
changes, change failure rate, time to restore, each with its DORA 2023 level and the counts
behind it. From the deploy history joined with Pulumi's updates, and the app repositories'
commit dates. A figure without data is null in --json.

Examples:
  deployctl metrics
  deployctl metrics production api --bucket month --since 2026-01-01
  deployctl metrics --json
"""
METRICS_SINCE = "Window start, ISO-8601 (default: 12 buckets ago)."
METRICS_UNTIL = "Window end, ISO-8601, exclusive (default: now)."
METRICS_BUCKET = "day, week or month."
METRICS_NO_ENGINE = "Git history only: take each line as deployed, successfully, when it was merged."

STATUS = """What runs where: the env-by-app matrix, lag and drift.

Each cell: the deployed commit, its comment, when and by whom; how many commits what runs is
behind its upstream env and its release branch; and its state, as `deployctl drift` classifies
it: in-sync, pending, in-progress (deploying now: who, since when, which PR; never drift),
failed, switched-back.

Examples:
  deployctl status
  deployctl status --html status.html
"""
STATUS_HTML = "Also write a self-contained HTML page here."
STATUS_PR_URL = ("PR link pattern for the page: an http(s) URL where {pr} stands for the PR number, e.g. "
                 "https://github.com/acme/deploys/pull/{pr}")

DRIFT = """Is what runs what git says? Each app in each env: in-sync, pending (merged, not run), in-progress
(an update runs now), failed, switched-back (its health check failed) or out-of-band (what runs
differs from Pulumi's record, found by the engine's refresh), with what differs and what fixes it.

Exit 0 when every app is in-sync or in-progress, 1 when anything drifted, 2 when it cannot judge.

Examples:
  deployctl drift
  deployctl drift production --json
  deployctl drift --no-refresh
"""
DRIFT_ENV = "Only these envs (default: every env)."
DRIFT_NO_REFRESH = "Judge from Pulumi's record alone; skip the engine's refresh (finds no out-of-band change)."
DRIFT_POST = "Post each env's drift as one GitHub issue, edited in place, closed when back in sync."

CODEOWNERS = """Write .github/CODEOWNERS from apps.yaml owners and each protected env's reviewers.

A protected env's deploy files are owned by its reviewers alone, so with branch protection
("require review from code owners") a production deploy cannot merge without them.

Examples:
  deployctl codeowners            regenerate the file
  deployctl codeowners --check    in CI: fail when it is out of date
"""
CODEOWNERS_CHECK_ONLY = "Only verify; exit 1 when the file is stale."

UNLOCK = """Recover a stack after a run died mid-`up` (killed runner, SIGKILL): clear its lock and
pending operations, and record that it was done (stack tag deployctl:unlocked).

Refuses (exit 1) while the lock's process still runs on this machine, and without --force when
the lock was taken on another machine. Works on file:// and s3:// backends.

Examples:
  deployctl unlock staging
  deployctl unlock production --force
"""
UNLOCK_ENV = "The env (stack) whose lock a dead run left."
UNLOCK_FORCE = "Also clear a lock taken on another machine, once you have checked that its run has ended."

DOCTOR = """Check a setup: Pulumi CLI version, backend reachable and its locks writable, passphrase,
provider plugins for the kinds in use, each app repository reachable. Says what to fix.

Exit 0 when every check passes (warnings allowed), 1 when one fails.

Examples:
  deployctl doctor
  deployctl doctor --json
"""
DOCTOR_TIMEOUT = "Seconds allowed for each network check."

INIT = """Create a team's deploy repository: stack configs, an empty catalog, deploy folders, the pin of
this exact version, a __main__.py that runs the installed program, CODEOWNERS, the workflows and
a README that says what to do next. It holds none of the tool's source.

It passes `deployctl check` and `deployctl codeowners --check` as it is. It never overwrites:
when any file it would write exists, it writes nothing (exit 2, naming them).

Examples:
  deployctl init acme-deploys
  deployctl init acme-deploys --reviewers @acme/release-managers
  deployctl init deploys --env dev --env staging --env prod --protected staging --protected prod
"""
INIT_DIRECTORY = "The new deploy repository (created when missing)."
INIT_ENV = ("An env, in promotion order: each promotes from the one before it (repeatable; default: staging, "
            "production).")
INIT_PROTECTED = "A protected env: its reviewers alone approve its deploys (repeatable; default: the last env)."
INIT_REVIEWERS = ("The protected envs' reviewers, @org/team or @user (repeatable; default: a placeholder team the new "
                  "README says to change).")

INSTALL_ENGINE = """Find or install the pinned Pulumi CLI, link it beside this venv's python (where deployctl
looks first, as `make engine` does), and print its bin folder.

A pulumi of the pinned version on PATH is used as it is; else the cached one; else the official
installer; else a build from the Go module proxy (about ten minutes, once). For a team's CI,
which has none of the tool's scripts.

Examples:
  deployctl install-engine
  deployctl install-engine --no-link >> "$GITHUB_PATH"
"""
INSTALL_ENGINE_BIN_DIR = "Where to install it (default: the cache, ~/.cache/deploy-by-code/pulumi-<version>/bin)."
INSTALL_ENGINE_NO_LINK = "Do not link it into this venv's bin folder."

BUMP = """Deploy a commit: prepend `<full hash> <message> [tags]` to deploys/ENV/APP.

The safeguards run first, judged as CI's `check --base` will judge the pull request (against the
merge base with the deploy repo's main branch): a refused deploy, or a no-op, writes nothing
(exit 1) and says which tag would allow it. A co-deploy group may be written one app at a time:
a note names the members the pull request still needs.

Examples:
  deployctl bump staging api 3f2a9c1 -m "login fix"
  deployctl bump production api 3f2a9c1 --hotfix -m "outage fix" --branch hotfix/login
"""
BUMP_APP_NAME = "The app (its file name)."
BUMP_COMMIT = "The app commit; a short hash is resolved to the full one."
BUMP_ROLLBACK = "Tag [rollback]: allows going back."
BUMP_HOTFIX = "Tag [hotfix]: allows off-branch fixes, skipping promotion, and freeze windows."

PROMOTE = """Deploy to one env what another env runs now (staging to production).

The commit is what Pulumi runs upstream (the stack's `deployed` output), else the upstream deploy
file on the base CI judges against; the command says which it used.

Example:
  deployctl promote api --from staging --to production -m "tested on staging"
"""
PROMOTE_APP_NAME = "The app to promote."
PROMOTE_FROM_ENV = "The env whose current commit to take."
PROMOTE_TO_ENV = "The env to deploy it to."

ROLLBACK = """Go back: prepend the previous (or given) commit, tagged [rollback].

Examples:
  deployctl rollback production api
  deployctl rollback production api --to 3f2a9c1 -m "bad migration"
"""
ROLLBACK_APP_NAME = "The app to roll back."
ROLLBACK_TO = "The commit to go back to (default: the previous deploy in the file)."

PROPOSE = """Propose the next deploy and the next promotion of each env, as pull requests, with the evidence
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
PROPOSE_ENVS = "Only these envs (default: each with a policy)."
PROPOSE_POST_PRS = ("Open or refresh one PR per proposal (GITHUB_TOKEN, GITHUB_REPOSITORY); close those that became "
                    "moot.")

PR_DATA = """Write a PR's deploy data into the base checkout, from its head commit's blobs, or refuse it as code.

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
PR_DATA_BASE = "The PR's base commit (checked out here)."
PR_DATA_HEAD = "The PR's head commit (fetched, not checked out)."
PR_DATA_POST = ("For a code change, post the PR comment that says its credentialed preview waits for approval "
                "(GITHUB_TOKEN).")
PR_DATA_NOTES_FILE = "Write what a reviewer must read (a health command the PR adds) here, as markdown for pr-comment."

PR_COMMENT = """Post several stacks' preview comments as the PR's one comment (GitHub Actions, GITHUB_TOKEN).

The trusted preview runs one job per stack, each with only its env's secrets; this joins them,
pr-data's notes (a file ending in .notes) first.

Example:
  deployctl pr-comment comments/*.md
"""
PR_COMMENT_FILES = "Each stack's comment (preview --comment-file)."
