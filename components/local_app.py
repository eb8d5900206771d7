"""The `local` kind's component: an app released on this machine (the release resource and its
provider are in `components/local.py`, which the provider's process loads on its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from deployctl.components.base import AppComponent
from deployctl.components.local import LocalRelease, portable_source
from deployctl.components.spec import AppSpec
from deployctl.core.repo.catalog import LocalSettings


class LocalApp(AppComponent[LocalSettings]):
    """An app released on this machine; `version` is the commit."""

    type_name = "deploys:apps:LocalApp"
    settings_type = LocalSettings

    def __init__(self, name: str, spec: AppSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, spec, opts)
        if not spec.deploy_root:  # the program always resolves one (deploys:deployRoot, or its default)
            raise ValueError(f"env '{spec.env}' has no deploys:deployRoot for local app '{name}'")
        self.release = LocalRelease(
            f"{name}-release",
            {
                "app": spec.app,
                "env": spec.env,  # written in the app folder's marker: an env never touches another's
                "commit": spec.commit,
                "path": spec.path,
                "deploy_root": spec.deploy_root,
                "keep_releases": spec.setting("keep_releases", self.settings.keep_releases),
                "source": portable_source(spec.repo_url),
            },
            pulumi.ResourceOptions(parent=self),
            secret=("keep_releases",) if spec.is_secret("keep_releases") else (),
        )
        self.running = self.release.commit
        self.workdir = str(Path(spec.deploy_root) / spec.app / "current")  # where a health command runs
        self.register_outputs({"version": spec.commit, "current": self.release.current})

    def health_target(self) -> dict[str, Any]:
        return {"workdir": self.workdir}
