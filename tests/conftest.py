from __future__ import annotations

from collections.abc import Iterator

import pytest

GIT_IDENTITY = "[user]\n\tname = deployctl tests\n\temail = tests@deployctl.invalid\n"


@pytest.fixture(autouse=True, scope="session")
def _own_git_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """git reads the tests' own global config, never the user's (~/.gitconfig): the commits the tests
    make need an identity, and a machine without one (a fresh CI runner) must pass as this one does.
    Each repository the builders make still sets its own author (tests/builders.py)."""
    config = tmp_path_factory.mktemp("git") / "config"
    config.write_text(GIT_IDENTITY, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(config))
        yield


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
