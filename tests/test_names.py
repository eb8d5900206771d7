"""A misspelt env or app gets exit 2 with the closest valid name, from every command that takes one."""

from __future__ import annotations

import pytest

from deployctl.core.repo.names import closest, unknown
from tests.scenario import Scenario, build, run_cli


def test_closest_and_the_message():
    assert closest("helo", ["hello", "web"]) == "hello" and closest("stagin", ["staging", "production"]) == "staging"
    assert closest("zzz", ["hello", "web"]) is None
    assert str(unknown("app", "helo", ["web", "hello"], "staging")) == (
        "no app 'helo' in staging; did you mean 'hello'? apps in staging: hello, web")
    assert str(unknown("app", "zzz", ["web"])) == "no app 'zzz'; apps: web"


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build(tmp_path_factory.mktemp("names"))


@pytest.mark.parametrize(("args", "said"), [
    (["history", "stagin"], "no env 'stagin'; did you mean 'staging'?"),
    (["history", "staging", "wbe"], "no app 'wbe' in staging; did you mean 'web'?"),
    (["history", "staging", "wbe", "--no-engine"], "no app 'wbe' in staging; did you mean 'web'?"),
    (["rollback", "staging", "wbe"], "no app 'wbe' in apps.yaml; did you mean 'web'?"),
    (["rollback", "stagin", "web"], "did you mean 'staging'?"),
    (["bump", "staging", "wbe", "0" * 40], "no app 'wbe' in apps.yaml; did you mean 'web'?"),
    (["bump", "prodution", "web", "0" * 40], "did you mean 'production'?"),
    (["promote", "wbe", "--from", "staging", "--to", "production"], "did you mean 'web'?"),
    (["metrics", "stagin", "--no-engine"], "did you mean 'staging'?"),
    (["metrics", "staging", "wbe", "--no-engine"], "no app 'wbe' in apps.yaml; did you mean 'web'?"),
    (["deployed", "--stack", "stagin"], "did you mean 'staging'?"),
    (["up", "--stack", "prodution"], "did you mean 'production'?"),
    (["preview", "--base", "HEAD", "--stack", "prodution"], "did you mean 'production'?"),
    (["unlock", "stagin"], "did you mean 'staging'?"),
])
def test_a_typo_is_exit_2_naming_the_closest_valid_name(sc: Scenario, args: list[str], said: str):
    code, out, err = run_cli(sc.root, *args)
    assert code == 2, (out, err)
    assert said in err and "Traceback" not in err
    assert "no deploys yet" not in out
