"""bench/walk.py: the walk of `deployctl up` through our modules, measured on a real deploy repo."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from bench.walk import by_room, collapse, figures, measure, room, splice


def test_the_figures_of_a_walk_count_each_return_once_and_charge_it_to_the_pair_it_crossed():
    walk = collapse(["cli", "cli", "up", "git", "repo", "git", "repo", "git", "up", "engine", "engine"])
    assert walk == ["cli", "up", "git", "repo", "git", "repo", "git", "up", "engine"]
    got = figures(walk)
    assert (got["distinct"], got["transitions"], got["edges"], got["returns"]) == (5, 8, 4, 4)
    assert got["returns_by_module"] == {"git": 2, "repo": 1, "up": 1}
    assert got["returns_by_pair"] == [{"pair": ["git", "repo"], "returns": 3}, {"pair": ["git", "up"], "returns": 1}]
    assert figures([]) == {"distinct": 0, "transitions": 0, "returns": 0, "edges": 0, "modules": [],
                           "returns_by_module": {}, "returns_by_pair": [], "walk": []}


def test_a_room_is_a_part_of_the_architecture_and_a_walk_by_rooms_merges_steps_within_one():
    assert [room(m) for m in ("deployctl.cli", "deployctl.commands.up", "deployctl.core.repo.model",
                              "deployctl.core.change.rules.commit", "deployctl.core.violations",
                              "deployctl.adapters.git.repo", "deployctl.adapters.github", "deployctl.report.render",
                              "deployctl.components.local", "stacks.program")] == [
        "cli", "commands.up", "core.repo", "core.change", "core", "adapters.git", "adapters", "report", "program",
        "program"]
    walk = ["deployctl.cli", "deployctl.adapters.git.reads", "deployctl.adapters.git.repo",
            "deployctl.adapters.git.reads", "deployctl.core.repo.model", "deployctl.adapters.git.repo"]
    got = by_room({"to_engine": {"walk": walk}})["to_engine"]
    assert got["walk"] == ["cli", "adapters.git", "core.repo", "adapters.git"]
    assert (got["distinct"], got["returns"]) == (3, 1)


def test_a_threads_calls_are_spliced_whole_where_its_first_call_came():
    calls = [(0, 1, "cli"), (1, 1, "up"), (2, 2, "worker"), (3, 3, "reader"), (4, 2, "engine"), (5, 3, "reader2"),
             (6, 1, "up"), (7, 1, "console")]
    assert [m for _, m in splice(calls)] == ["cli", "up", "worker", "reader", "reader2", "engine", "up", "console"]
    assert splice([]) == []


def _consistent(part: dict[str, Any]) -> None:
    walk = part["walk"]
    assert part["distinct"] == len(set(walk)) == len(part["modules"]) > 0
    assert part["transitions"] == len(walk) - 1
    assert all(a != b for a, b in pairwise(walk))  # consecutive repeats collapsed
    assert part["returns"] == part["transitions"] + 1 - part["distinct"]
    assert part["returns"] == sum(part["returns_by_module"].values())
    assert part["returns"] == sum(row["returns"] for row in part["returns_by_pair"])
    assert part["distinct"] - 1 <= part["edges"] <= part["transitions"]  # a connected walk, each edge crossed
    assert {"deployctl.cli", "deployctl.commands.up", "deployctl.adapters.pulumi.engine"} <= set(walk)


@pytest.mark.engine
def test_the_walk_of_up_runs_from_the_cli_to_the_engine_and_its_figures_agree():
    result = measure(envs=("staging", "qa"))
    to_engine, whole = result["to_engine"], result["whole"]
    for part in (to_engine, whole):
        _consistent(part)
    assert to_engine["walk"][0] == "deployctl.cli"  # the walk starts where the command line is parsed
    assert to_engine["walk"][-1] == "deployctl.adapters.pulumi.engine"  # cut at the engine's update
    assert whole["walk"][:len(to_engine["walk"])] == to_engine["walk"]
    assert to_engine["distinct"] <= whole["distinct"] and to_engine["transitions"] < whole["transitions"]
    assert any(m.startswith("deployctl.adapters.git") for m in to_engine["modules"])  # judged from git first
