"""Every safeguard by id, with its family and the inputs it may read: the read-set contract.

`check --base` (commands/load.load_pair) reads the catalog, the stack configs, the names of every path under
`deploys/`, and the content of only three kinds of deploy file: the changed ones, the same app's file
in the env each promotes from, and the files of its co-deploy group in that env. A rule that read any
other deploy file would silently see it as absent. So each rule states what it reads here, and
tests/test_rulebook.py fails when a rule reads more than `check --base` loads, or when a rule id is
emitted without being stated here. What a rule reads includes what its precondition needs (the
catalog, for an app it knows; the app repository, for a commit resolved). Rule ids are part of the
interface: never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reads(StrEnum):
    """An input a rule may read."""

    FILE = "the deploy file itself, at head and at the base"
    UPSTREAM = "the same app's deploy file in the env this one promotes from, at the base"
    GROUP = "the deploy files of the app's co-deploy group in the same env"
    NAMES = "the names and kinds of every path under deploys/ (never their content)"
    CATALOG = "apps.yaml"
    STACK = "the env's Pulumi.<env>.yaml"
    APP_REPO = "the app repository, through the Commits oracle"
    ARTIFACTS = "the artifact store (S3, ECR), through the Artifacts oracle"
    OTHER_FILES = "any other deploy file's content (another app, another env)"


LOADED_WITH_BASE = frozenset(Reads) - {Reads.OTHER_FILES}
"""What `check --base` loads (commands/load.load_pair, related_paths); with a changed catalog or stack
config, and without --base, every deploy file is read. A rule that needs OTHER_FILES needs load_pair
changed first."""


class Family(StrEnum):
    GRAMMAR = "the deploy-file grammar"
    LAYOUT = "the repository layout and its configuration"
    COMMIT = "the commit a file names, in its app repository"
    CHANGE = "what a change does, against its base"
    ARTIFACT = "the built artifact of the commit"


@dataclass(frozen=True)
class Rule:
    id: str
    family: Family
    reads: frozenset[Reads]


def _rule(id_: str, family: Family, *reads: Reads) -> Rule:
    return Rule(id_, family, frozenset(reads))


F, U, G, N, C, S, A, X = (Reads.FILE, Reads.UPSTREAM, Reads.GROUP, Reads.NAMES, Reads.CATALOG, Reads.STACK,
                          Reads.APP_REPO, Reads.ARTIFACTS)

RULES: dict[str, Rule] = {r.id: r for r in (
    _rule("syntax", Family.GRAMMAR, F),
    _rule("invalid-path", Family.LAYOUT, N),
    _rule("unknown-env", Family.LAYOUT, N, S),
    _rule("unknown-app", Family.LAYOUT, F, C),
    _rule("catalog", Family.LAYOUT, C),
    _rule("stack-config", Family.LAYOUT, S),
    _rule("invalid-settings", Family.LAYOUT, F, C, S),
    _rule("commit-not-found", Family.COMMIT, F, C, A),
    _rule("ambiguous-commit", Family.COMMIT, F, C, A),
    _rule("short-hash", Family.COMMIT, F, S),
    _rule("path-not-found", Family.COMMIT, F, C, A),
    _rule("not-on-release-branch", Family.CHANGE, F, C, A),
    _rule("backward-deploy", Family.CHANGE, F, C, A),
    _rule("promotion-order", Family.CHANGE, F, U, C, S, A),
    _rule("freeze-window", Family.CHANGE, F, S),
    _rule("group-incomplete", Family.CHANGE, F, G, C),
    _rule("history-rewritten", Family.CHANGE, F, C),
    _rule("multiple-new-lines", Family.CHANGE, F, C),
    _rule("app-removed", Family.CHANGE, F),
    _rule("no-op", Family.CHANGE, F, C),
    _rule("artifact-missing", Family.ARTIFACT, F, C, S, X),
)}
