"""The text views (deployctl/report/tables.py): aligned, each commit shown by model.short."""

from __future__ import annotations

from deployctl.core.change.changes import Op
from deployctl.core.change.plan import Plan, PlanChange
from deployctl.core.repo.model import Tag
from deployctl.report.tables import deployed_lines, plan_lines


def test_deployed_lines_name_each_app_with_its_short_commit_kind_and_comment() -> None:
    lines = deployed_lines({"staging": {"web": {"commit": "b" * 40, "kind": "static-site", "comment": "site"},
                                        "api": {"commit": "a" * 40, "kind": "local", "comment": "fix"}}})
    assert lines == ["staging:", f"  {'api':<24} {'a' * 12}  {'local':<12} fix",
                     f"  {'web':<24} {'b' * 12}  {'static-site':<12} site"]


def test_plan_lines_show_each_tag_once_and_the_stacks_in_order() -> None:
    change = PlanChange(env="staging", app="api", op=Op.UPDATE, old="1" * 40, new="2" * 40,
                        comment="back [rollback]", tags=(Tag.ROLLBACK, Tag.HOTFIX))
    lines = plan_lines(Plan(base="a" * 40, head=None, changes=[change], stacks=["staging"]))
    assert lines[0] == f"plan {'a' * 12} -> working tree"
    assert lines[1].split() == ["staging/api", "update", "1" * 12, "->", "2" * 12, "back", "[rollback]", "[hotfix]"]
    assert lines[-1] == "stacks in deploy order: staging"
    assert plan_lines(Plan(base="a" * 40, head="b" * 40, changes=[], stacks=[]))[1:] == [
        "  no deploy file changes", "stacks in deploy order: (none)"]


HOSTILE_NAME = "x`<details>\n::error::all passed\r\x1b[2J\u202e"


def _one_row_each(lines: list[str]) -> None:
    """No name starts a line of its own or carries a control character into the terminal."""
    for line in lines:
        assert line.isprintable(), repr(line)
        assert not line.lstrip().startswith("::")


def test_a_hostile_name_or_comment_stays_in_its_row_in_every_table() -> None:
    from datetime import UTC, datetime

    from deployctl.core.trace.history import HistoryEntry
    from deployctl.report.tables import history_table

    change = PlanChange(env=HOSTILE_NAME, app=HOSTILE_NAME, op=Op.UPDATE, old="1" * 40, new="2" * 40,
                        comment=HOSTILE_NAME)
    plan = plan_lines(Plan(base="a" * 40, head=None, changes=[change], stacks=[HOSTILE_NAME]))
    assert len(plan) == 3
    assert "x`<details>\\n::error::all passed\\r\\x1b[2J\\u202e/x`<details>" in plan[1]  # shown, escaped
    deployed = deployed_lines({HOSTILE_NAME: {HOSTILE_NAME: {"commit": "b" * 40, "kind": HOSTILE_NAME,
                                                             "comment": HOSTILE_NAME}}})
    assert len(deployed) == 2
    entry = HistoryEntry(merged=datetime(2026, 1, 1, tzinfo=UTC), env=HOSTILE_NAME, app=HOSTILE_NAME, to="2" * 40,
                         comment=HOSTILE_NAME, commit="c" * 40, author=HOSTILE_NAME, approved_by=[HOSTILE_NAME])
    history = history_table([entry])
    assert len(history) == 2
    _one_row_each(plan + deployed + history)
