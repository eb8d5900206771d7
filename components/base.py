"""The base of every app component: its kind's typed settings, `version` and `running`.

A kind subclasses `AppComponent[TheKindSettings]` and names `settings_type`: the settings arrive
checked and typed (`self.settings`), and the kind says where its health check looks
(`health_target`), so nothing outside the kind reaches into its resources.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, cast

import pulumi

from deployctl.components.spec import AppSpec
from deployctl.core.repo.catalog import AppSettings

S = TypeVar("S", bound=AppSettings)


class AppComponent(pulumi.ComponentResource, Generic[S]):
    """An app of one kind in one env. `running` resolves to the commit only once the app's resources
    were created or updated: when an update fails, the stack's `deployed` output keeps what runs."""

    type_name: ClassVar[str]
    """The Pulumi type of the kind's component (`deploys:apps:LocalApp`): in every URN, never renamed."""
    settings_type: ClassVar[type[AppSettings]]
    running: pulumi.Output[str]

    def __init__(self, name: str, spec: AppSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.type_name, name, None, opts)
        if not isinstance(spec.settings, self.settings_type):
            raise TypeError(f"{type(self).__name__} takes {self.settings_type.__name__}, "
                            f"not {type(spec.settings).__name__} (app '{spec.app}' is of kind {spec.kind.value})")
        self.spec = spec
        self.settings = cast(S, spec.settings)  # checked just above: settings_type is S
        self.version = spec.commit

    def health_target(self) -> dict[str, Any]:
        """What this kind's health check needs from its resources (Outputs, resolved after them)."""
        return {}
