from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own app-repository cache, so no test sees another's clones."""
    monkeypatch.setenv("DEPLOYCTL_CACHE", str(tmp_path_factory.mktemp("cache")))


from tests.awsserver import aws_env, aws_server  # noqa: E402, F401  (fixtures: S3/ECR on loopback)
