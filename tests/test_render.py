"""The PR comment from real engine event streams: counts, diffs, replacements, failures, size, secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from deployctl.apprepos import CommitInfo
from deployctl.changes import Op
from deployctl.outcomes import Outcome, ResourceChange, outcome_from_events
from deployctl.plan import PlanChange
from deployctl.render import MARKER, CommitLog, PreviewReport, StackPreview, github_compare_url, render_comment
from deployctl.violations import Severity, Violation
from tests.builders import shared_fixtures

EVENTS = shared_fixtures("pulumi-engine-events")
OLD, NEW = "1" * 40, "2" * 40


def stream(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVENTS / f"{name}.json").read_text().splitlines() if line.strip()]


def report(outcome: Outcome | None, violations: list[Violation] | None = None, **stack) -> PreviewReport:
    change = PlanChange(env="production", app="api", op=Op.UPDATE, old=OLD, new=NEW, comment="ship")
    log = CommitLog(count=2, author="Dana", compare_url=github_compare_url("git@github.com:acme/api.git", OLD, NEW),
                    commits=[CommitInfo(sha=NEW, author="Dana", email="d@x", time=datetime(2026, 1, 1, tzinfo=UTC),
                                        subject="Fix login")])
    return PreviewReport(base="a" * 40, head=None, violations=violations or [], stacks=[StackPreview(
        env="production", protected=True, changes=[change], logs={"api": log}, outcome=outcome, **stack)])


def test_update_stream_counts_and_per_resource_diff():
    outcome = outcome_from_events("production", stream("up-4"))
    assert outcome.ok and outcome.counts == {"same": 5, "update": 1}
    body = render_comment(report(outcome))
    assert body.startswith(MARKER + "\n")
    assert "**Pulumi:** 1 to update, 5 unchanged" in body
    assert "| update | `eks-sg` | `aws:ec2/securityGroup:SecurityGroup` |" in body
    assert "`ingress[1].fromPort` (add)" in body
    assert "<details><summary>Resource changes (1)</summary>" in body
    assert "| api | update | `111111111111` | `222222222222` | 2 | Dana |" in body
    assert "[Compare on GitHub](https://github.com/acme/api/compare/" in body
    assert "✅" in body.splitlines()[1]


def test_replacement_is_called_out_above_the_fold():
    outcome = outcome_from_events("production", stream("webserver-userdata"))
    assert {c.name: c.op for c in outcome.changes if c.op != "same"} == {"web-server-www": "replace"}
    body = render_comment(report(outcome))
    assert "**Replacements:** `web-server-www` (aws:ec2/instance:Instance)" in body
    assert body.index("**Replacements:**") < body.index("<details><summary>Resource changes")
    assert "`userData` (update-replace)" in body


def test_failed_operation_fails_the_report():
    outcome = outcome_from_events("production", stream("failed-stacks-dont-rewrite-operations"))
    assert not outcome.ok
    r = report(outcome)
    assert not r.ok
    body = render_comment(r)
    assert "pulumi preview failed" in body and "❌" in body.splitlines()[1]


def test_safeguard_errors_come_first_and_cannot_be_missed():
    err = Violation(rule="promotion-order", severity=Severity.ERROR, file="deploys/production/api", line=1,
                    message="never ran in staging")
    warn = Violation(rule="short-hash", severity=Severity.WARNING, file="deploys/staging/web", line=1, message="x")
    body = render_comment(report(outcome_from_events("production", stream("up-4")), [warn, err]))
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
