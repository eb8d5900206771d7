"""One whole PR comment, byte for byte (tests/golden/pr-comment.md): what a reviewer reads, so any change
to it shows in the diff of a pull request. Regenerate on purpose with DEPLOYCTL_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from deployctl.core.change.changes import Op
from deployctl.core.change.plan import PlanChange
from deployctl.core.repo.commitinfo import CommitInfo
from deployctl.core.repo.model import Tag
from deployctl.core.violations import Severity, Violation
from deployctl.report.render import CommitLog, PreviewReport, StackPreview, github_compare_url, render_comment
from tests.builders import PROJECT_ROOT
from tests.test_render import HOSTILE_NAME, named_report, outcome_of, shape, stream

GOLDEN = PROJECT_ROOT / "tests" / "golden" / "pr-comment.md"
OLD, NEW, HOTFIX = "1" * 40, "2" * 40, "3" * 40


def whole_report() -> PreviewReport:
    """Two stacks (staging updates, production replaces), a commit log, a warning and an error."""
    when = datetime(2026, 3, 2, 10, 14, tzinfo=UTC)
    log = CommitLog(count=2, author="Dana", compare_url=github_compare_url("git@github.com:acme/api.git", OLD, NEW),
                    commits=[CommitInfo(sha=NEW, author="Dana", email="d@x", time=when, subject="Fix login"),
                             CommitInfo(sha="4" * 40, author="Ali", email="a@x", time=when, subject="Faster <cache>")])
    staging = StackPreview(env="staging", changes=[PlanChange(env="staging", app="api", op=Op.UPDATE, old=OLD,
                                                              new=NEW, comment="ship")],
                           logs={"api": log}, outcome=outcome_of("staging", stream("preview-update")))
    production = StackPreview(
        env="production", protected=True,
        changes=[PlanChange(env="production", app="web", op=Op.UPDATE, old=OLD, new=HOTFIX,
                            comment="urgent [hotfix]", tags=(Tag.HOTFIX,))],
        outcome=outcome_of("production", stream("preview-replace")))
    violations = [
        Violation(rule="short-hash", severity=Severity.WARNING, file="deploys/staging/api", line=1, env="staging",
                  app="api", message="abbreviated commit; write it in full"),
        Violation(rule="freeze-window", severity=Severity.ERROR, file="deploys/production/web", line=1,
                  env="production", app="web", message="env 'production' is frozen until 2027-01-04"),
    ]
    return PreviewReport(base="a" * 40, head="c7a8b9d0e1f2" + "0" * 28, head_time=when, stacks=[staging, production],
                         violations=violations)


def test_the_whole_comment_matches_the_golden_file() -> None:
    body = render_comment(whole_report())
    if os.environ.get("DEPLOYCTL_UPDATE_GOLDEN"):
        GOLDEN.write_text(body, encoding="utf-8")
    assert body == GOLDEN.read_text(encoding="utf-8")


HOSTILE_GOLDEN = PROJECT_ROOT / "tests" / "golden" / "pr-comment-hostile-names.md"


def test_a_comment_with_hostile_names_matches_its_golden_file() -> None:
    """Every name a backtick, `<!--`, line breaks, a fake heading, a `<details>`, a workflow command, a
    pipe, a mention, a link and an escape sequence: what a reviewer reads, byte for byte (the structure
    is asserted by tests/test_render.py's test_a_hostile_name_adds_no_fold_heading_link_or_line...)."""
    body = render_comment(named_report(HOSTILE_NAME))
    if os.environ.get("DEPLOYCTL_UPDATE_GOLDEN"):
        HOSTILE_GOLDEN.write_text(body, encoding="utf-8")
    assert body == HOSTILE_GOLDEN.read_text(encoding="utf-8")
    assert shape(body) == shape(render_comment(named_report("web")))
