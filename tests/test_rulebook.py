"""The rules' read-set contract (deployctl/core/change/rules/registry.py): every rule id the code emits is stated with
what it reads, nothing reads more than `check --base` loads, and `--base` loads what it says."""

from __future__ import annotations

import re
from pathlib import Path

from deployctl.adapters.git.reads import worktree_snapshot
from deployctl.commands.load import related_paths
from deployctl.core.change.rules.registry import LOADED_WITH_BASE, RULES
from tests.builders import PROJECT_ROOT
from tests.scenario import build

_EMITTED = re.compile(r'(?:violation_at\(\s*|rule=|RULE = |rule = |rule = "[a-z-]+" if [^\n]* else '
                      r'|load_yaml\([^()]*, )"([a-z][a-z-]+)"')


def emitted_rule_ids() -> set[str]:
    found: set[str] = set()
    for path in (PROJECT_ROOT / "deployctl").rglob("*.py"):
        found.update(_EMITTED.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_emitted_rule_is_registered_and_every_registered_rule_is_emitted() -> None:
    emitted = emitted_rule_ids()
    assert emitted == set(RULES)


def test_every_rule_is_in_the_readme_table() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The safeguards", 1)[1].split("\n\n", 2)[1]
    first_column = " ".join(re.findall(r"^\| ([^|]*) \|", table, re.MULTILINE))
    assert set(re.findall(r"`([a-z][a-z-]+)`", first_column)) == set(RULES)


def test_no_rule_reads_more_than_check_base_loads() -> None:
    assert all(rule.reads <= LOADED_WITH_BASE for rule in RULES.values())


def test_check_base_loads_the_changed_the_upstream_and_the_group_files(tmp_path: Path) -> None:
    sc = build(tmp_path)  # production promotes from staging; api and worker are the group `core`
    config = worktree_snapshot(sc.root)
    assert related_paths(config, ["deploys/production/api"]) == {
        "deploys/production/api", "deploys/staging/api", "deploys/production/worker"}
    assert related_paths(config, ["deploys/staging/web"]) == {"deploys/staging/web"}
