from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import AppRepo, DeployRepo


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own app-repository cache, so no test sees another's clones."""
    monkeypatch.setenv("DEPLOYCTL_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def app_repo(tmp_path: Path) -> AppRepo:
    return AppRepo(tmp_path / "apps" / "api")


@pytest.fixture
def deploy_repo(tmp_path: Path) -> DeployRepo:
    return DeployRepo(tmp_path / "deploy")
