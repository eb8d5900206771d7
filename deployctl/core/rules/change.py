"""The change family: what a change does against its base (app-removed, freeze-window,
history-rewritten, no-op, not-on-release-branch, backward-deploy, promotion-order). Reads the file at
base and head, the upstream env's file, the catalog, the stack config and the app repository."""

from __future__ import annotations

from datetime import datetime

from deployctl.core.changes import FileChange, Op
from deployctl.core.model import Tag
from deployctl.core.model import short as _short
from deployctl.core.rules.commit import ERROR, WARNING, Commits, _resolved, _v
from deployctl.core.snapshot import Snapshot
from deployctl.core.violations import Violation


def check_change(base: Snapshot, head: Snapshot, c: FileChange, new_full: str | None,
                 commits: Commits, at: datetime) -> list[Violation]:
    found: list[Violation] = []
    app = head.catalog.apps.get(c.app)
    stack = head.stacks.get(c.env)
    if c.op is Op.REMOVE:
        found.append(_v("app-removed", WARNING, c,
                        f"deploys/{c.env}/{c.app} is deleted: '{c.app}' and its resources will be "
                        f"destroyed in '{c.env}'; make sure that is intended"))
    if c.op is not Op.NOOP and stack is not None and (window := stack.settings.freeze_at(at)) is not None \
            and not c.head_has(Tag.HOTFIX):
        found.append(_v("freeze-window", ERROR, c,
                        f"env '{c.env}' is frozen until {window.end.isoformat()} ({window.reason}); "
                        "wait for the window to end, or tag the line [hotfix] if this fix cannot "
                        "wait (a reviewer will see the tag)"))
    if c.head is None or app is None:
        return found
    if c.base_raw is not None and c.head_raw is not None and not c.head_raw.endswith(c.base_raw):
        found.append(_v("history-rewritten", ERROR, c,
                        "the change edits or removes existing lines; a deploy file only grows at "
                        "the top: restore the old content byte for byte and prepend the new line "
                        f"(deployctl bump {c.env} {c.app} <commit>)"))
    if c.op is Op.NOOP:
        found.append(_v("no-op", WARNING, c,
                        f"{_short(c.new)} is already what '{c.env}' runs for {c.app}; the new line "
                        "changes nothing (drop it, or name the commit you meant)"))
        return found
    if new_full is None:
        return found  # commit-not-found / ambiguous-commit already said why
    old_full = _resolved(commits, app.repo, c.old)

    on_branch = commits.on_branch(app.repo, new_full, app.branch)
    if not on_branch:
        descends = old_full is None or commits.is_ancestor(app.repo, old_full, new_full)
        if not c.head_has(Tag.HOTFIX):
            found.append(_v("not-on-release-branch", ERROR, c,
                            f"{_short(new_full)} is not on {c.app}'s release branch '{app.branch}' "
                            "(an old or unmerged branch?); merge it to "
                            f"'{app.branch}' and deploy that commit, or, for an urgent fix built on "
                            f"what runs now ({_short(c.old) or 'nothing'}), tag the line [hotfix]"))
        elif not descends:
            found.append(_v("not-on-release-branch", ERROR, c,
                            f"{_short(new_full)} is off '{app.branch}' and is not a descendant of "
                            f"{_short(old_full)}, which '{c.env}' runs now; [hotfix] allows only "
                            "a fix built on top of what runs: rebase the fix onto "
                            f"{_short(old_full)}"))

    if old_full is not None and old_full != new_full and not c.head_has(Tag.ROLLBACK):
        if commits.is_ancestor(app.repo, new_full, old_full):
            found.append(_v("backward-deploy", ERROR, c,
                            f"{_short(new_full)} is older than {_short(old_full)}, which '{c.env}' "
                            f"runs now: this deploy goes back in history; if that is the intent, "
                            f"tag the line [rollback] (deployctl rollback {c.env} {c.app} --to "
                            f"{_short(new_full)})"))
        elif not commits.is_ancestor(app.repo, old_full, new_full):
            found.append(_v("backward-deploy", ERROR, c,
                            f"{_short(new_full)} and {_short(old_full)} (running in '{c.env}') have "
                            "diverged: the new commit lacks changes that run now; deploy a commit "
                            "that contains both, or tag the line [rollback] if dropping them is "
                            "intended"))

    upstream = stack.settings.promote_from if stack else None
    if upstream and not c.head_has(Tag.HOTFIX):
        up_file = base.tree.get(upstream, c.app)
        seen = up_file.commits() if up_file else []
        if not any(new_full.startswith(s) for s in seen):
            found.append(_v("promotion-order", ERROR, c,
                            f"{_short(new_full)} never ran in '{upstream}', which '{c.env}' "
                            f"promotes from; deploy it to {upstream} first "
                            f"(deployctl bump {upstream} {c.app} {new_full}), merge, then "
                            f"deployctl promote {c.app} --from {upstream} --to {c.env}; "
                            "tag [hotfix] only for an emergency"))
    return found
