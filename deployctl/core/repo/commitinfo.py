"""One app commit as a person reads it (the PR comment's commit log): data, so the report renders
it without importing the edge that asks git (adapters/git/apprepos.py builds it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel


class CommitInfo(LazyModel):
    model_config = ConfigDict(frozen=True)

    sha: str
    author: str
    email: str
    time: datetime
    subject: str
