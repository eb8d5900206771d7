"""What every app component is given: plain data from the deploy file, catalog and stack config."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from deployctl.catalog import Kind


class AppSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    kind: Kind
    commit: str
    """The artifact version: the app repository's commit named by the deploy file."""
    comment: str = ""
    repo_url: str
    path: str | None = None
    settings: Any
    """The kind's validated settings model (catalog settings with the env's overrides)."""
    deploy_root: str | None = None
    depends_on: list[str] = []

    @property
    def short(self) -> str:
        return self.commit[:12]
