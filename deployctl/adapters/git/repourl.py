"""Where an app repository is: a catalog `repo` as a URL git can clone, and as people may see it.

Its own module so the Pulumi program, which needs only the URL, does not import the clone cache
(adapters/git/apprepos.py)."""

from __future__ import annotations

from pathlib import Path

from deployctl.core.repo.safegit import repo_problem
from deployctl.core.urls import redact_url
from deployctl.core.violations import CannotJudge


def is_url(spec: str) -> bool:
    return "://" in spec or (":" in spec and "@" in spec.split(":", 1)[0]) or spec.startswith("git@")


def repo_url(spec: str, deploy_root: Path) -> str:
    """A catalog `repo` as a URL git can clone: URLs as they are, paths from the deploy repo.

    Refuses what the catalog refuses (option-like values, `ext::` and other transports): whoever
    calls, a hostile value never reaches git."""
    if (problem := repo_problem(spec)) is not None:
        raise CannotJudge(f"repository {spec!r} {problem}; fix its `repo` in apps.yaml")
    if is_url(spec):
        return spec
    return (deploy_root / spec).resolve().as_uri()


display_url = redact_url
"""The URL without any credentials, fit for a log, a comment or a notification: core/urls.redact_url,
the one function that does it, under the name the app-repository code knows."""
