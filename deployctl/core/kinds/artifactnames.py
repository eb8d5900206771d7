"""Where each kind's artifact for a commit lives: one naming, read by the components (what they
deploy) and by the `artifact-missing` rule (what must exist before they do)."""

from __future__ import annotations


def image_uri(image_repository: str, commit: str) -> str:
    """The container image of `commit`: its repository, tagged with the commit (ecs-service, lambda)."""
    return f"{image_repository}:{commit}"


def zip_key(prefix: str, commit: str) -> str:
    """Where the commit's zip lives in the bucket (lambda); a prefix given with stray slashes means the same."""
    prefix = prefix.strip("/")
    return f"{prefix}/{commit}.zip" if prefix else f"{commit}.zip"


def site_folder(app: str, commit: str) -> str:
    """The bucket folder of the commit's site (static-site): `<app>/<commit>`, CloudFront's origin path."""
    return f"{app}/{commit}"


def ssm_parameter(env: str, app: str, variable: str) -> str:
    """The SSM parameter holding an ecs-service app's secret environment variable in `env`."""
    return f"/deployctl/{env}/{app}/{variable}"
