"""The change family: what a change does against its base (app-removed, freeze-window,
history-rewritten, no-op, not-on-release-branch, backward-deploy, promotion-order). Reads the file at
base and head, the upstream env's file, the catalog, the stack config and the app repository.

One function per rule, each stating its own precondition (registry.py states what it reads), so a
rule reads as its row in the README and none depends on another having run first; `check_change`
runs `CHANGE_RULES` in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from deployctl.core.change.changes import FileChange, Op
from deployctl.core.change.rules.common import ERROR, WARNING, Commits, violation_at
from deployctl.core.repo.catalog import App
from deployctl.core.repo.envconfig import StackConfig
from deployctl.core.repo.model import Tag
from deployctl.core.repo.model import short as _short
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.violations import Violation


@dataclass(frozen=True)
class ChangeFacts:
    """One change and what its rules may ask: the two snapshots, the new commit as the commit family
    resolved it (None when it did not resolve), the app repositories and the time of the check."""

    base: Snapshot
    head: Snapshot
    change: FileChange
    new_full: str | None
    commits: Commits
    at: datetime

    @property
    def app(self) -> App | None:
        return self.head.catalog.apps.get(self.change.app)

    @property
    def stack(self) -> StackConfig | None:
        return self.head.stacks.get(self.change.env)

    @cached_property
    def old_matches(self) -> list[str] | None:
        """The commits that the commit the env runs now names in its app repository (None: it runs
        nothing, or the app is unknown); asked once."""
        app = self.app
        return self.commits.resolve(app.repo, self.change.old) if app is not None and self.change.old else None

    @property
    def old_full(self) -> str | None:
        """The commit the env runs now, in full (None: nothing, or it does not resolve to one)."""
        matches = self.old_matches
        return matches[0] if matches is not None and len(matches) == 1 else None

    @property
    def old_gone(self) -> bool:
        """The env runs a commit its app repository no longer has (a force-pushed release branch): an
        answer, unlike a repository that cannot be read (the oracle raises CannotJudge for that)."""
        return self.old_matches == []


ChangeRule = Callable[[ChangeFacts], Violation | None]


def _judged(x: ChangeFacts) -> App | None:
    """Precondition: the new line parsed and its app is known (else syntax / unknown-app said why)."""
    return x.app if x.change.head is not None else None


def _deploying(x: ChangeFacts) -> tuple[App, str] | None:
    """Precondition: a change that deploys a commit: not a no-op, the new line parsed, its app known and
    the new commit resolved (else commit-not-found / ambiguous-commit said why)."""
    app = _judged(x)
    if app is None or x.change.op is Op.NOOP or x.new_full is None:
        return None
    return app, x.new_full


def app_removed(x: ChangeFacts) -> Violation | None:
    """Any removed deploy file (a warning: the app's resources are destroyed)."""
    c = x.change
    if c.op is not Op.REMOVE:
        return None
    return violation_at("app-removed", WARNING, c,
              f"deploys/{c.env}/{c.app} is deleted: '{c.app}' and its resources will be "
              f"destroyed in '{c.env}'; make sure that is intended")


def freeze_window(x: ChangeFacts) -> Violation | None:
    """Skips a no-op change; needs the env's stack config; a [hotfix] line passes."""
    c = x.change
    if c.op is Op.NOOP or x.stack is None or c.head_has(Tag.HOTFIX):
        return None
    if (window := x.stack.settings.freeze_at(x.at)) is None:
        return None
    return violation_at("freeze-window", ERROR, c,
              f"env '{c.env}' is frozen until {window.end.isoformat()} ({window.reason}); "
              "wait for the window to end, or tag the line [hotfix] if this fix cannot "
              "wait (a reviewer will see the tag)")


def history_rewritten(x: ChangeFacts) -> Violation | None:
    """Needs the new line parsed and the app known; judges a file that existed at the base (no-ops
    too). Cutting old lines from the bottom is allowed (a file near the 1 MiB limit), as long as the
    line that ran is kept; nothing else of the old content may change."""
    c = x.change
    if _judged(x) is None or c.base_raw is None or c.head_raw is None or c.shape() is not None:
        return None
    return violation_at("history-rewritten", ERROR, c,
              "the change edits or removes existing lines; a deploy file only grows at "
              "the top (old lines may only be cut from the bottom, keeping the line that runs): "
              "restore the old content byte for byte and prepend the new line "
              f"(deployctl bump {c.env} {c.app} <commit>)")


def multiple_new_lines(x: ChangeFacts) -> Violation | None:
    """Needs the new line parsed and the app known; judges created files, updates and no-ops alike.
    A change adds one line per file: every line below the top is taken for a deploy that ran
    (`rollback` returns to it), so a second new line would be history nobody reviewed as a deploy."""
    c = x.change
    if _judged(x) is None or (shape := c.shape()) is None or len(lines := shape.new_lines()) <= 1:
        return None
    if c.base_raw is None:
        return violation_at("multiple-new-lines", ERROR, c,
                  f"the new file has {len(lines)} lines; a new deploy file holds the one line to "
                  "deploy (a later rollback would return to the lines below it as if they had run): "
                  f"keep only the first (deployctl bump {c.env} {c.app} <commit>)")
    return violation_at("multiple-new-lines", ERROR, c,
              f"the change adds {len(lines)} lines on top; a change deploys one commit with one "
              "new line per file (a later rollback would return to the second as if it had run): "
              "keep only the new first line (a second `bump` in one branch adds a second line: edit the first "
              "instead), and deploy another commit in its own pull request")


def no_op(x: ChangeFacts) -> Violation | None:
    """Needs the new line parsed and the app known; only a change to the commit the env runs now."""
    c = x.change
    if _judged(x) is None or c.op is not Op.NOOP:
        return None
    return violation_at("no-op", WARNING, c,
              f"{_short(c.new)} is already what '{c.env}' runs for {c.app}; the new line "
              "changes nothing (drop it, or name the commit you meant)")


def not_on_release_branch(x: ChangeFacts) -> Violation | None:
    """Skips a no-op change; needs the new commit resolved. Off the branch, a [hotfix] line passes
    only when it descends from what runs now."""
    if (deploying := _deploying(x)) is None:
        return None
    (app, new_full), c = deploying, x.change
    if x.commits.on_branch(app.repo, new_full, app.branch):
        return None
    if not c.head_has(Tag.HOTFIX):
        return violation_at("not-on-release-branch", ERROR, c,
                  f"{_short(new_full)} is not on {c.app}'s release branch '{app.branch}' "
                  "(an old or unmerged branch?); merge it to "
                  f"'{app.branch}' and deploy that commit, or, for an urgent fix built on "
                  f"what runs now ({_short(c.old) or 'nothing'}), tag the line [hotfix]")
    old_full = x.old_full
    if old_full is None or x.commits.is_ancestor(app.repo, old_full, new_full):
        return None
    return violation_at("not-on-release-branch", ERROR, c,
              f"{_short(new_full)} is off '{app.branch}' and is not a descendant of "
              f"{_short(old_full)}, which '{c.env}' runs now; [hotfix] allows only "
              "a fix built on top of what runs: rebase the fix onto "
              f"{_short(old_full)}")


def backward_deploy(x: ChangeFacts) -> Violation | None:
    """Skips a no-op change; needs the new commit and what runs now resolved, and different; a
    [rollback] line passes. What runs now being gone from the app repository is itself a finding:
    nothing can tell the new commit is not older (`_old_gone`)."""
    if (deploying := _deploying(x)) is None:
        return None
    (app, new_full), c, old_full = deploying, x.change, x.old_full
    if x.old_gone:
        return _old_gone(x, app, new_full)
    if old_full is None or old_full == new_full or c.head_has(Tag.ROLLBACK):
        return None
    if x.commits.is_ancestor(app.repo, new_full, old_full):
        return violation_at("backward-deploy", ERROR, c,
                  f"{_short(new_full)} is older than {_short(old_full)}, which '{c.env}' "
                  f"runs now: this deploy goes back in history; if that is the intent, "
                  f"tag the line [rollback] (deployctl rollback {c.env} {c.app} --to "
                  f"{_short(new_full)})")
    if x.commits.is_ancestor(app.repo, old_full, new_full):
        return None
    return violation_at("backward-deploy", ERROR, c,
              f"{_short(new_full)} and {_short(old_full)} (running in '{c.env}') have "
              "diverged: the new commit lacks changes that run now; deploy a commit "
              "that contains both, or tag the line [rollback] if dropping them is "
              "intended")


def _old_gone(x: ChangeFacts, app: App, new_full: str) -> Violation:
    """An error unless the line is tagged [rollback] or [hotfix] (a reviewer sees the tag), then a
    warning: never a silent pass, since the new commit may lack changes that run now."""
    c, old = x.change, _short(x.change.old)
    gone = (f"{old}, which '{c.env}' runs now, is no longer in {c.app}'s repository ({app.repo}; "
            f"its release branch force-pushed?), so whether {_short(new_full)} is newer cannot be told")
    tag = next((t for t in (Tag.ROLLBACK, Tag.HOTFIX) if c.head_has(t)), None)
    if tag is not None:
        return violation_at("backward-deploy", WARNING, c,
                  f"{gone}; the [{tag.value}] tag accepts that it may lack changes that run now: make sure "
                  "it has them")
    return violation_at("backward-deploy", ERROR, c,
              f"{gone}: it may lack changes that run now; push a branch or tag holding {old} back to "
              "the app repository (from any clone that still has it) so the deploy can be judged, or, "
              "if dropping what it had is intended, tag the line [rollback] ([hotfix] for an urgent fix)")


def promotion_order(x: ChangeFacts) -> Violation | None:
    """Skips a no-op change; needs the new commit resolved and an env that promotes from another; a
    [hotfix] line passes. Reads only the upstream file at the base."""
    if (deploying := _deploying(x)) is None:
        return None
    (_, new_full), c = deploying, x.change
    upstream = x.stack.settings.promote_from if x.stack else None
    if not upstream or c.head_has(Tag.HOTFIX):
        return None
    up_file = x.base.tree.get(upstream, c.app)
    if any(new_full.startswith(s) for s in (up_file.commits() if up_file else [])):
        return None
    return violation_at("promotion-order", ERROR, c,
              f"{_short(new_full)} never ran in '{upstream}', which '{c.env}' "
              f"promotes from; deploy it to {upstream} first "
              f"(deployctl bump {upstream} {c.app} {new_full}), merge, then "
              f"deployctl promote {c.app} --from {upstream} --to {c.env}; "
              "tag [hotfix] only for an emergency")


CHANGE_RULES: tuple[ChangeRule, ...] = (app_removed, freeze_window, history_rewritten, multiple_new_lines, no_op,
                                        not_on_release_branch, backward_deploy, promotion_order)
"""The change family in order; each function is named after its rule id (registry.py)."""


def check_change(base: Snapshot, head: Snapshot, c: FileChange, new_full: str | None,
                 commits: Commits, at: datetime) -> list[Violation]:
    """Every change rule on one change."""
    facts = ChangeFacts(base=base, head=head, change=c, new_full=new_full, commits=commits, at=at)
    return [v for rule in CHANGE_RULES if (v := rule(facts)) is not None]
