"""A proposed deploy or promotion PR, as data (issue 25).

`propose` plans these (pure, from the snapshot, the trace and the app repositories), prints them, and
with `--post` turns each into one branch and one PR found again by its marker.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel

BRANCH_PREFIX = "deployctl/propose"
"""Every proposal branch is under it: the only branches `propose --post` ever writes."""


class ProposalKind(StrEnum):
    DEPLOY = "deploy"
    """The newest commit of an app's release branch that passes every safeguard (`autoDeploy`)."""
    PROMOTE = "promote"
    """What the upstream env has run, healthy, for at least the soak time (`autoPromote`)."""


class Proposal(LazyModel):
    """One PR to open or refresh: one env, one app or one co-deploy group."""

    model_config = ConfigDict(frozen=True)

    env: str
    kind: ProposalKind
    apps: dict[str, str]
    """App -> the full commit to deploy (a co-deploy group has every member)."""
    title: str
    branch: str
    """The PR's head branch; stable per (env, app or group), so a newer commit refreshes the same PR."""
    evidence: list[str]
    """What made it safe, for the reviewer: artifact found, the upstream run and its time, the soak."""
    blocked: list[str] = []
    """Rule ids holding a due step (e.g. `freeze-window`, `soak`, `promotion-order`); empty when ready."""
    held: list[str] = []
    """Why, for a person: one line per rule in `blocked` (the safeguard's own message); empty when ready."""
    auto_merge: bool = False
    """Set GitHub's auto-merge on the PR (only for an unprotected env with `deploys:autoMerge`)."""

    @property
    def key(self) -> str:
        """The marker that finds this PR again: env and app or group, never the commit."""
        return self.branch

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
