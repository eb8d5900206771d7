"""What every app component is given: plain data from the deploy file, catalog and stack config."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import ConfigDict

from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.catalog import AppSettings, Kind

if TYPE_CHECKING:
    import pulumi

T = TypeVar("T")


class AppSpec(LazyModel):
    model_config = ConfigDict(frozen=True)

    env: str
    app: str
    kind: Kind
    commit: str
    """The artifact version: the app repository's commit named by the deploy file."""
    comment: str = ""
    repo_url: str
    path: str | None = None
    settings: AppSettings
    """The kind's validated settings model (catalog settings with the env's overrides); each component
    takes its own kind's subclass (components/base.py)."""
    deploy_root: str | None = None
    depends_on: list[str] = []
    secret_settings: tuple[str, ...] = ()
    """Dotted paths of the settings stored encrypted (`pulumi config set --secret`)."""

    def is_secret(self, path: str) -> bool:
        from deployctl.core.repo.envconfig import is_secret_setting

        return is_secret_setting(self.secret_settings, path)

    def setting(self, path: str, value: T) -> T | pulumi.Output[T]:
        """The value, kept secret in Pulumi's state, outputs and events when its setting is secret."""
        if value is None or not self.is_secret(path):
            return value
        import pulumi

        return pulumi.Output.secret(value)
