"""The PR comment from real engine event streams (recorded by scripts/record-engine-events): counts, values,
replacements, failures, warnings, size, secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from deployctl.core.changes import Op
from deployctl.core.commitinfo import CommitInfo
from deployctl.core.outcomes import (
    SECRET_SIG,
    Outcome,
    ResourceChange,
    changes_from_events,
    failed_outcome,
    warnings_from_events,
)
from deployctl.core.plan import PlanChange
from deployctl.core.prcomment import PREVIEW_MARKER as MARKER
from deployctl.core.violations import Severity, Violation
from deployctl.report.render import CommitLog, PreviewReport, StackPreview, github_compare_url, render_comment
from tests.builders import FIXTURES

EVENTS = FIXTURES / "engine-events"
OLD, NEW = "1" * 40, "2" * 40


def stream(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVENTS / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def outcome_of(env: str, events: list[dict]) -> Outcome:
    """The Outcome deployctl builds from a run's events, by the production path: a failed run through
    failed_outcome (adapters/engine.py, on the engine's error), a passed one with the summary's counts
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
    assert "> - api-release: keep_releases is below 2" in body


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
    assert "`` a\\|b`c d ``" in body


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
