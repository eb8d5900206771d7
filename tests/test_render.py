"""The PR comment from real engine event streams (recorded by scripts/record-engine-events): counts, values,
replacements, failures, warnings, size, secrets."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from deployctl.core.change.changes import Op
from deployctl.core.change.plan import PlanChange
from deployctl.core.change.prcomment import PREVIEW_MARKER as MARKER
from deployctl.core.repo.commitinfo import CommitInfo
from deployctl.core.repo.model import Tag
from deployctl.core.trace.outcomes import (
    SECRET_SIG,
    Outcome,
    PropertyChange,
    ResourceChange,
    changes_from_events,
    failed_outcome,
    warnings_from_events,
)
from deployctl.core.violations import Severity, Violation, one_line
from deployctl.report.render import CommitLog, PreviewReport, StackPreview, github_compare_url, render_comment
from tests.builders import FIXTURES

EVENTS = FIXTURES / "engine-events"
OLD, NEW = "1" * 40, "2" * 40


def stream(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVENTS / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def outcome_of(env: str, events: list[dict]) -> Outcome:
    """The Outcome deployctl builds from a run's events, by the production path: a failed run through
    failed_outcome (adapters/pulumi/engine.py, on the engine's error), a passed one with the summary's counts
    (what the Automation API returns) and the changes; then the warnings (commands/preview.py)."""
    failed = any(e.get("resOpFailedEvent") or (e.get("diagnosticEvent") or {}).get("severity") == "error"
                 for e in events)
    if failed:
        outcome = failed_outcome(env, events, "")
    else:
        [summary] = [e["summaryEvent"] for e in events if "summaryEvent" in e]
        outcome = Outcome(env=env, ok=True, counts={k: int(v) for k, v in summary["resourceChanges"].items()},
                          changes=tuple(changes_from_events(events)))
    return outcome.model_copy(update={"warnings": warnings_from_events(events)})


def report(outcome: Outcome | None, violations: list[Violation] | None = None, **stack) -> PreviewReport:
    change = PlanChange(env="production", app="api", op=Op.UPDATE, old=OLD, new=NEW, comment="ship")
    log = CommitLog(count=2, author="Dana", compare_url=github_compare_url("git@github.com:acme/api.git", OLD, NEW),
                    commits=[CommitInfo(sha=NEW, author="Dana", email="d@x", time=datetime(2026, 1, 1, tzinfo=UTC),
                                        subject="Fix login")])
    return PreviewReport(base="a" * 40, head=None, violations=violations or [], stacks=[StackPreview(
        env="production", protected=True, changes=[change], logs={"api": log}, outcome=outcome, **stack)])


def test_update_stream_counts_and_each_changed_value():
    outcome = outcome_of("production", stream("preview-update"))
    assert outcome.ok and outcome.counts == {"same": 4, "update": 1}
    [step] = [c for c in outcome.changes if c.op == "update"]
    assert {p.path: (p.old, p.new) for p in step.properties} == {
        "commit": ("ddef9256d92d0841c8199d92f1324a15304ca99c", "b609cf6c99a87a0d767027daecfde13095e0ebca"),
        "keep_releases": ("3", "2")}
    body = render_comment(report(outcome))
    assert body.startswith(MARKER + "\n")
    assert "**Pulumi:** 1 to update, 4 unchanged" in body
    assert ("| update | `api-release` | `pulumi-python:dynamic:Resource` | "
            "`commit`: `ddef9256d92d` → `b609cf6c99a8`<br>`keep_releases`: `3` → `2` |") in body
    assert "<details><summary>Resource changes (1)</summary>" in body
    assert "| api | update | `111111111111` | `222222222222` | 2 | Dana |" in body
    assert "[Compare on GitHub](https://github.com/acme/api/compare/" in body
    assert "✅" in body.splitlines()[1]


@pytest.mark.parametrize("name", ["preview-update", "preview-replace", "up-create", "up-update"])
def test_the_summary_line_counts_exactly_the_table_rows(name: str):
    outcome = outcome_of("production", stream(name))
    body = render_comment(report(outcome))
    [summary] = re.findall(r"\*\*Pulumi:\*\* (.*)", body)
    counted = sum(int(n) for n, what in re.findall(r"(\d+) (to \S+|unchanged)", summary) if what != "unchanged")
    rows = re.search(r"Resource changes \((\d+)\)", body)
    assert counted == (int(rows.group(1)) if rows else 0) > 0
    assert "pulumi:providers:" not in body  # the engine's plumbing is in neither count


def test_the_header_names_the_pushed_head_or_says_working_tree():
    outcome = outcome_of("production", stream("preview-update"))
    pushed = report(outcome).model_copy(update={"head": "c7a8b9d0e1f2" + "0" * 28,
                                                "head_time": datetime(2026, 3, 2, 10, 14, tzinfo=UTC)})
    assert "→ head `c7a8b9d0e1f2` (pushed 2026-03-02 10:14 UTC)" in render_comment(pushed)
    assert "→ the working tree (not a pushed commit)" in render_comment(report(outcome))


def test_replacement_is_called_out_above_the_fold_with_the_property_that_forces_it():
    outcome = outcome_of("production", stream("preview-replace"))
    assert {c.name: c.op for c in outcome.changes if "replace" in c.op} == {"api-release": "replace",
                                                                             "web-release": "replace"}
    body = render_comment(report(outcome))
    assert "**Replacements:** `api-release` (pulumi-python:dynamic:Resource)" in body
    assert body.index("**Replacements:**") < body.index("<details><summary>Resource changes")
    assert ("`deploy_root`: `/work/deploys/.deployments/staging` → `/work/deploys/.deployments/staging-v2` "
            "(update-replace)") in body


def test_failed_operation_fails_the_report():
    outcome = outcome_of("production", stream("up-failed"))
    assert not outcome.ok
    assert "No such file or directory: '/proc/no-such-place" in (outcome.error or "")
    r = report(outcome)
    assert not r.ok
    body = render_comment(r)
    assert "pulumi preview failed" in body and "❌" in body.splitlines()[1]


def test_engine_warnings_reach_the_comment():
    events = stream("preview-update")
    events.insert(-1, {"sequence": 999, "diagnosticEvent": {
        "urn": "urn:pulumi:staging::deploys::deploys:apps:LocalApp$pulumi-python:dynamic:Resource::api-release",
        "message": "keep_releases is below 2: a rollback has nothing to go back to\n", "severity": "warning"}})
    outcome = outcome_of("production", events)
    assert outcome.warnings == ("api-release: keep_releases is below 2: a rollback has nothing to go back to",)
    body = render_comment(report(outcome))
    assert "**Pulumi warnings:**" in body
    assert "> - api-release: keep\\_releases is below 2" in body  # markdown shown as typed


def test_secret_inputs_show_as_secret_and_values_cannot_break_the_table():
    events = stream("preview-update")
    for event in events:
        meta = (event.get("resourcePreEvent") or {}).get("metadata") or {}
        if meta.get("op") == "update":
            meta["old"]["inputs"]["keep_releases"] = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270",
                                                      "ciphertext": "[secret]"}
            meta["new"]["inputs"]["commit"] = "a|b`c\nd"
    outcome = outcome_of("production", events)
    [step] = [c for c in outcome.changes if c.op == "update"]
    assert {p.path: p.old for p in step.properties}["keep_releases"] == "[secret]"
    body = render_comment(report(outcome))
    assert "`keep_releases`: `[secret]` → `2`" in body
    assert "``a\\|b`c\\nd``" in body  # the pipe cannot end the cell, the backtick the span, the newline the row


def test_safeguard_errors_come_first_and_cannot_be_missed():
    err = Violation(rule="promotion-order", severity=Severity.ERROR, file="deploys/production/api", line=1,
                    message="never ran in staging")
    warn = Violation(rule="short-hash", severity=Severity.WARNING, file="deploys/staging/web", line=1, message="x")
    body = render_comment(report(outcome_of("production", stream("preview-update")), [warn, err]))
    assert "## ❌ deployctl preview: 1 safeguard error(s)" in body
    assert "> [!CAUTION]" in body
    assert body.index("promotion-order") < body.index("short-hash") < body.index("### production")


def test_size_limit_trims_detailed_diffs_first_and_says_so():
    many = tuple(ResourceChange(urn=f"urn:pulumi:p::x::t::r{i}", type="aws:s3/bucket:Bucket", name=f"r{i}" * 5,
                                op="update", detailed={f"tags.k{j}": "update" for j in range(8)}) for i in range(600))
    big = Outcome(env="production", ok=True, counts={"update": 600}, changes=many)
    full = render_comment(report(big), limit=10_000_000)
    assert len(full) > 65_536
    body = render_comment(report(big))
    assert len(body) <= 65_536
    assert "Detailed resource diffs were trimmed" in body
    assert "Resource changes (600)" not in body
    assert "**Pulumi:** 600 to update" in body  # the counts survive trimming


def test_secret_values_are_redacted_everywhere():
    leaky = Outcome(env="production", ok=False, error="invalid keep_releases: input_value='hunter2-very-secret'")
    body = render_comment(report(leaky), secrets=["hunter2-very-secret"])
    assert "hunter2-very-secret" not in body
    assert "[secret]" in body


def test_compare_links_only_for_github():
    assert github_compare_url("https://github.com/acme/api.git", OLD, NEW) == f"https://github.com/acme/api/compare/{OLD}...{NEW}"
    assert github_compare_url("https://gitlab.com/acme/api.git", OLD, NEW) is None
    assert github_compare_url("file:///tmp/api", OLD, NEW) is None


# -- names are inert: nothing a name holds changes the comment's structure ------------------------------

HOSTILE_NAME = ("x`<!--``\n## ✅ Safeguards: all passed\n<details open><summary>ok</summary>\r\n"
                "::error::hidden | cell @acme/team [link](https://evil.example) *bold* \x1b[2J")


def named_report(name: str) -> PreviewReport:
    """One report with `name` in every place a name reaches: the env (a heading, the deploy order), the
    app (a table cell, a <summary>), a violation's file and message (an invalid-path error reports the
    bad name), resource names and types, a property path and values, a commit, a warning."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    log = CommitLog(count=1, author=name, commits=[CommitInfo(sha=NEW, author=name, email="a@x", time=when,
                                                              subject=name)])
    resource = ResourceChange(urn=f"urn:{name}", type=f"deploy:{name}", name=name, op="update", properties=(
        PropertyChange(path=name, kind="update", old=name, new=name),))
    gone = ResourceChange(urn="urn:gone", type=name, name=f"{name}-gone", op="delete")
    swapped = ResourceChange(urn="urn:swap", type=name, name=f"{name}-swap", op="replace", diffs=(name,))
    outcome = Outcome(env=name, ok=True, counts={"update": 1, "delete": 1, "replace": 1},
                      changes=(resource, gone, swapped), warnings=(name,))
    change = PlanChange(env=name, app=name, op=Op.UPDATE, old=OLD, new=NEW, comment=name, tags=(Tag.HOTFIX,))
    quiet = StackPreview(env=f"{name}-2", changes=[], reason=name, outcome=None)
    return PreviewReport(base=name, head=NEW, stacks=[
        StackPreview(env=name, protected=True, changes=[change], logs={name: log}, outcome=outcome), quiet],
        violations=[
            Violation(rule="invalid-path", severity=Severity.ERROR, file=f"deploys/{name}/web", line=None,
                      message=f"'{name}' is not a valid env name; rename the folder"),
            Violation(rule="short-hash", severity=Severity.WARNING, file=name, line=3, message=name)])


def shape(body: str) -> list[tuple[str, ...]]:
    """The comment as a CommonMark + GFM-table parser sees it: every block, and every inline element
    but plain text (links, emphasis, code, raw HTML, line breaks), with the raw HTML's tags."""
    from markdown_it import MarkdownIt

    found: list[tuple[str, ...]] = []
    for token in MarkdownIt("commonmark").enable("table").parse(body):
        if token.type == "html_block":
            found.append((token.type, *re.findall(r"</?[A-Za-z!][^\s>]*", token.content)))
        elif token.type != "inline":
            found.append((token.type, token.tag))
        for child in token.children or []:
            if child.type == "html_inline":
                found.append((child.type, *re.findall(r"</?[A-Za-z!][^\s>]*", child.content)))
            elif child.type not in ("text", "text_special"):
                found.append((child.type, child.tag))
    return found


def inline_code(body: str) -> list[str]:
    from markdown_it import MarkdownIt

    return [c.content for t in MarkdownIt("commonmark").enable("table").parse(body) for c in t.children or []
            if c.type == "code_inline"]


def test_a_hostile_name_adds_no_fold_heading_link_or_line_to_the_comment():
    hostile, plain = render_comment(named_report(HOSTILE_NAME)), render_comment(named_report("web"))
    assert shape(hostile) == shape(plain)
    assert "\n## ✅ Safeguards" not in hostile and "\n<details open>" not in hostile and "\n::error" not in hostile
    assert "\r" not in hostile and "\x1b" not in hostile
    assert "@\u200dacme" in hostile  # in prose no mention pings (code spans never ping)
    # each path is shown whole, as one code span, with its line breaks as visible escapes
    shown = one_line(HOSTILE_NAME)
    assert f"deploys/{shown}/web" in inline_code(hostile) and f"{shown}:3" in inline_code(hostile)
    assert shown.replace("|", "\\|") not in inline_code(hostile)  # in table cells GitHub unescapes \| itself
    assert shown in inline_code(hostile)


@pytest.mark.parametrize("name", ["x`<!--", "``", "`", " a ", "a`", "`a", "|", "a\\|b", "```\n~~~", "", "<br>"])
def test_code_spans_cannot_close_early(name: str):
    from deployctl.report.render import code

    for table in (False, True):
        body = f"| c |\n|---|\n| {code(name, table=True)} |\n" if table else f"see {code(name)} here\n"
        assert inline_code(body) == [one_line(name) or " "], body


# --- honest diffs: a change is named for what AWS does ---

def test_a_new_ecs_task_definition_revision_is_named_as_one_not_as_a_replacement():
    """ECS registers a new task-definition revision on every deploy (the old one kept): the comment says
    so, and keeps the Replacements callout for what is really replaced."""
    outcome = outcome_of("production", stream("preview-replace"))
    task = "aws:ecs/taskDefinition:TaskDefinition"
    changes = [c.model_copy(update={"type": task}) if c.name == "api-release" else c for c in outcome.changes]
    body = render_comment(report(outcome.model_copy(update={"changes": changes})))
    assert f"**New revisions** (registered beside the old one, kept for a rollback; the service moves to it): " \
           f"`api-release` ({task})" in body
    [callout] = re.findall(r"\*\*Replacements:\*\* (.*)", body)
    assert "api-release" not in callout and "`web-release`" in callout
    assert body.index("**New revisions**") < body.index("<details><summary>Resource changes")


# -- a hostile repository URL in the compare link ---------------------------------------------------


@pytest.mark.parametrize("repo", ["https://github.com/acme/x)](https://evil.example",
                                  "https://github.com/acme/x%0A## all passed", "git@github.com:acme/x<!--",
                                  "https://token@github.com/acme/x.git"])
def test_a_repo_url_never_breaks_out_of_the_compare_link(repo: str):
    from deployctl.report.render import github_compare_url

    assert github_compare_url(repo, "a" * 40, "b" * 40) is None
    assert github_compare_url("git@github.com:acme/web.git", "a", "b") == "https://github.com/acme/web/compare/a...b"
