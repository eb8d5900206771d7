"""The Pulumi program (stacks/program.py) run whole under Pulumi's mocks, in a deploy repo on disk:
what it registers, and what it refuses before registering anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks, set_all_config, set_mocks
from pulumi.runtime.settings import reset_options

COMMIT = "c0ffee" * 6 + "c0ff"
ECS_APP = ("apps:\n  api:\n    kind: ecs-service\n    repo: api.git\n    settings:\n"
           "      image_repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api\n      cluster: prod\n"
           "      subnets: [subnet-1]\n      environment: {LOG_LEVEL: info}\n")


class Recording(Mocks):
    def __init__(self) -> None:
        self.registered: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append((args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", {**args.inputs, "arn": f"arn:{args.name}"}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


@pytest.fixture
def run_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Write a one-env deploy repo (`prod`), then run the program in it under mocks with `config` as
    Pulumi hands it to the program (secrets decrypted); returns the recorded registrations."""

    def run(catalog: str, stack_file: str, config: dict[str, Any], secret_keys: list[str],
            mocks: Recording | None = None) -> Recording:
        (tmp_path / "apps.yaml").write_text(catalog)
        (tmp_path / "Pulumi.prod.yaml").write_text(stack_file)
        (tmp_path / "deploys" / "prod").mkdir(parents=True, exist_ok=True)
        (tmp_path / "deploys" / "prod" / "api").write_text(f"{COMMIT} first deploy\n")
        monkeypatch.chdir(tmp_path)
        mocks = mocks or Recording()
        reset_options()
        set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, secret_keys)
        set_mocks(mocks, project="deploys", stack="prod", preview=False)
        from deployctl.stacks.program import program

        pulumi.runtime.test(program)()
        return mocks

    yield run
    set_all_config({})
    reset_options()


SECRET_TOKEN = ("config:\n  deploys:settings:\n    api:\n      environment:\n"
                "        TOKEN:\n          secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBB\n")


def test_an_app_its_kind_cannot_deploy_stops_the_program_before_anything_is_registered(
        run_program: Any, caplog: pytest.LogCaptureFixture):
    decrypted = {"deploys:settings": {"api": {"environment": {"TOKEN": "hunter2"}}}}
    mocks = Recording()
    with pytest.raises(pulumi.RunError, match=r"nothing was deployed\. Run `deployctl check`"):  # `check` finds it too
        run_program(ECS_APP, SECRET_TOKEN, decrypted, ["deploys:settings"], mocks)
    assert mocks.registered == []
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "has secret environment variables (TOKEN)" in said and "set its execution_role_arn" in said
    assert "hunter2" not in said


def test_a_secret_ecs_variable_is_registered_as_a_secure_parameter_only(run_program: Any):
    catalog = ECS_APP.replace("      cluster: prod\n",
                              "      cluster: prod\n      execution_role_arn: arn:aws:iam::1:role/x\n")
    mocks = run_program(catalog, SECRET_TOKEN, {"deploys:settings": {"api": {"environment": {"TOKEN": "hunter2"}}}},
                        ["deploys:settings"])
    by_type = {typ: inputs for typ, _name, inputs in mocks.registered}
    parameter = by_type["aws:ssm/parameter:Parameter"]
    assert (parameter["name"], parameter["type"]) == ("/deployctl/prod/api/TOKEN", "SecureString")
    [container] = json.loads(by_type["aws:ecs/taskDefinition:TaskDefinition"]["containerDefinitions"])
    assert container["secrets"] == [{"name": "TOKEN", "valueFrom": "arn:api-env-TOKEN"}]
    assert "hunter2" not in json.dumps(container)


def test_a_secret_variable_added_per_env_keeps_the_catalogs_variables(run_program: Any):
    """Settings merge deeply: the env's `environment` adds TOKEN; the catalog's LOG_LEVEL stays."""
    catalog = ECS_APP.replace("      cluster: prod\n",
                              "      cluster: prod\n      execution_role_arn: arn:aws:iam::1:role/x\n")
    mocks = run_program(catalog, SECRET_TOKEN, {"deploys:settings": {"api": {"environment": {"TOKEN": "hunter2"}}}},
                        ["deploys:settings"])
    by_type = {typ: inputs for typ, _name, inputs in mocks.registered}
    [container] = json.loads(by_type["aws:ecs/taskDefinition:TaskDefinition"]["containerDefinitions"])
    assert {"name": "LOG_LEVEL", "value": "info"} in container["environment"]
    assert "TOKEN" not in {v["name"] for v in container["environment"]} and "hunter2" not in json.dumps(container)
    assert container["secrets"] == [{"name": "TOKEN", "valueFrom": "arn:api-env-TOKEN"}]


def test_the_program_accepts_exactly_the_env_settings_check_accepted(run_program: Any):
    """The env settings come from the parse `check` judged, not from Pulumi's reading of the same
    file: `protected: yes` (a YAML true to check, the text "yes" to Pulumi) deploys."""
    local = "apps:\n  api:\n    repo: api.git\n"
    stack = "config:\n  deploys:protected: yes\n  deploys:reviewers: ['@acme/release']\n"
    mocks = run_program(local, stack, {"deploys:protected": "yes", "deploys:reviewers": '["@acme/release"]'}, [])
    assert [name for _typ, name, _inputs in mocks.registered if name == "api"] == ["api"]


def test_the_program_refuses_an_override_for_an_app_the_catalog_lacks(run_program: Any,
                                                                      caplog: pytest.LogCaptureFixture):
    local = "apps:\n  api:\n    repo: api.git\n"
    stack = "config:\n  deploys:settings:\n    apii:\n      keep_releases: 2\n"
    mocks = Recording()
    with pytest.raises(pulumi.RunError, match="nothing was deployed"):
        run_program(local, stack, {"deploys:settings": {"apii": {"keep_releases": 2}}}, [], mocks)
    assert mocks.registered == []
    assert "Pulumi.prod.yaml:3: error stack-config" in "\n".join(r.getMessage() for r in caplog.records)
