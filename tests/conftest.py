from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own app-repository cache, so no test sees another's clones."""
    monkeypatch.setenv("DEPLOYCTL_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("DEPLOYCTL_LOG_DIR", str(tmp_path_factory.mktemp("logs")))  # failed ups' engine logs


@pytest.fixture(autouse=True)
def _local_backend_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI runs this suite with CI=true (.ci/run), where `up` and `preview` refuse the in-repo file
    backend and the empty passphrase; the tests' throwaway stacks opt in, explicitly. Tests of that
    refusal remove the opt-in themselves."""
    monkeypatch.setenv("DEPLOYCTL_ALLOW_LOCAL_BACKEND", "1")


from tests.awsserver import aws_env, aws_server  # noqa: E402, F401  (fixtures: S3/ECR on loopback)
