"""Out-of-band drift found by the engine's own refresh (adapters/pulumi/refresh.py, core/trace/outofband.py).

On the real engine (file backend): the `local` kind's provider reads its `current` link and release
folder back, so a hand-switched or deleted release is found, `up` restores what git says, and the
refresh writes nothing. Under Pulumi's mocks: how each AWS kind's state read back names the commit
that runs (a changed image tag, a Lambda version or code key, an origin path).
"""

# ruff: noqa: F811  (the tests take test_components_aws's `deploy` fixture, imported below, as an argument)
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from deployctl.adapters.pulumi.refresh import out_of_band
from deployctl.core.repo.catalog import Kind, StaticSiteSettings
from deployctl.core.trace.outofband import Refreshed, runs
from deployctl.core.trace.outofband import out_of_band as judge
from deployctl.core.violations import CannotJudge
from tests.awsserver import AwsServer
from tests.engine_world import World, build_world
from tests.test_components_aws import (  # noqa: F401  (deploy: the mocks fixture)
    ALIAS,
    C1,
    C2,
    CDN,
    ECS,
    FUNCTION,
    IMAGE,
    SERVICE,
    TASK,
    ZIP,
    Deploy,
    Run,
    deploy,
    spec,
)

# pulumi_aws warns about its own deprecated modules when first imported (as in tests/test_components_aws.py)
pytestmark = [pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:.*deprecated in favor of:DeprecationWarning")]


# -- the local kind on the real engine ---------------------------------------------------------------


def _state(root: Path) -> dict[str, str]:
    """Every file of the backend, by digest: what a refresh must leave as it was."""
    base = root / ".pulumi-state"
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file()}


@pytest.fixture
def deployed(tmp_path: Path) -> World:
    """staging up with api on its second commit, the first one's release still on disk (keep_releases: 2)."""
    w = build_world(tmp_path, production=False)
    assert w.cli("up", "--stack", "staging")[0] == 0
    w.deploy.deploy("staging", "api", w.shas["api"][1], "second api")
    w.deploy.commit("second api")
    code, _out, err = w.cli("up", "--stack", "staging")
    assert code == 0, err
    assert w.releases("staging", "api") == {w.shas["api"][0], w.shas["api"][1]}
    return w


def _switch(w: World, app: str, release: str) -> None:
    link = w.root / ".deployments" / "staging" / app / "current"
    link.unlink()
    link.symlink_to(Path("releases") / release)


@pytest.mark.engine
def test_a_hand_switched_release_is_out_of_band_with_the_commit_that_runs_and_up_restores_it(deployed: World):
    w, api = deployed, deployed.shas["api"]
    engine = w.engine()
    assert out_of_band(engine, "staging") == {}  # in sync: nothing found

    _switch(w, "api", api[0])  # someone points `current` back by hand
    before = _state(w.root)
    found = out_of_band(engine, "staging")
    assert set(found) == {"api"}
    assert found["api"].runs == api[0]
    assert found["api"].detail == f"release: `current` runs {api[0][:12]}, Pulumi recorded {api[1][:12]}"
    assert _state(w.root) == before  # the preview wrote no refreshed state, no history, left no lock
    assert engine.outputs("staging")["deployed"]["api"]["commit"] == api[1]
    code, out, err = w.cli("drift", "staging", "--json")  # the command: out-of-band, exit 1, both ways out
    assert code == 1, err
    (state,) = [s for s in json.loads(out) if s["app"] == "api"]
    assert (state["state"], state["file"], state["running"]) == ("out-of-band", api[1], api[1])
    assert found["api"].detail in state["detail"] and "deployctl up --stack staging" in state["fix"]

    code, _out, err = w.cli("up", "--stack", "staging")
    assert code == 0, err
    assert w.current("staging", "api") == api[1]
    assert out_of_band(engine, "staging") == {}
    code, out, err = w.cli("drift", "staging")
    assert code == 0, err


@pytest.mark.engine
def test_a_deleted_release_is_found_and_a_plain_up_of_the_stack_restores_it(deployed: World):
    w, api = deployed, deployed.shas["api"]
    shutil.rmtree(w.root / ".deployments/staging/api/releases" / api[1])
    engine = w.engine()
    found = out_of_band(engine, "staging")
    assert set(found) == {"api"}
    assert found["api"].runs is None
    assert found["api"].detail == (f"release: `current` points at releases/{api[1]}, which is gone; "
                                   f"Pulumi recorded {api[1][:12]}")
    # a plain `pulumi up` (no refresh) sees it too: the provider's diff reads the app folder
    outcome = engine.up("staging", "restore api")
    assert outcome.ok, outcome.error
    assert {c.name: c.op for c in outcome.changes if c.op != "same"} == {"api-release": "update"}
    assert (w.root / ".deployments/staging/api/current/app.py").read_text() == "print('api 1')\n"
    assert out_of_band(engine, "staging") == {}


@pytest.mark.engine
def test_an_app_folder_removed_runs_nothing_and_other_apps_stay_in_sync(deployed: World):
    w = deployed
    shutil.rmtree(w.root / ".deployments/staging/web")
    found = out_of_band(w.engine(), "staging")
    assert set(found) == {"web"}
    assert found["web"].runs is None
    assert found["web"].detail.startswith("release: nothing runs")
    assert w.cli("up", "--stack", "staging")[0] == 0
    assert (w.root / ".deployments/staging/web/current/index.html").read_text() == "<h1>0</h1>\n"


@pytest.mark.engine
def test_a_deploy_root_absent_from_this_machine_keeps_the_record(deployed: World):
    """Another runner deploys the env: this machine cannot tell, so neither the refresh nor a preview
    claims a difference (a PR's preview on a hosted runner shows no spurious update)."""
    w = deployed
    os.rename(w.root / ".deployments", w.root.parent / "moved-away")
    engine = w.engine()
    assert out_of_band(engine, "staging") == {}
    preview = engine.preview("staging")
    assert preview.ok and {c.op for c in preview.changes} == {"same"}


@pytest.mark.engine
def test_a_stack_never_created_has_nothing_out_of_band_and_stays_uncreated(tmp_path: Path):
    w = build_world(tmp_path, production=False)
    engine = w.engine()
    assert out_of_band(engine, "staging") == {}
    assert engine.existing("staging") is None


@pytest.mark.engine
def test_a_refresh_that_fails_is_a_cannot_judge_naming_the_stack_and_cause(deployed: World):
    deployed.deploy.write("deploys/staging/api", "zzz\n")
    with pytest.raises(CannotJudge, match=r"what runs in staging .*deploys/staging/api:1: error syntax"):
        out_of_band(deployed.engine(), "staging")


def test_the_release_provider_reads_back_the_current_link_and_diffs_against_it(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch):
    """The provider alone (its process runs in the checkout): `read` for a refresh, `diff` for a plain up."""
    from deployctl.components.local import MARKER, LocalReleaseProvider

    monkeypatch.chdir(tmp_path)
    c1, c2 = "a" * 40, "b" * 40
    app_dir = tmp_path / ".deployments" / "staging" / "api"
    for commit in (c1, c2):
        (app_dir / "releases" / commit).mkdir(parents=True)
    (app_dir / MARKER).write_text("created by deployctl\nenv: staging\n")
    (app_dir / "current").symlink_to(f"releases/{c1}")
    root = ".deployments/staging"
    props = {"app": "api", "env": "staging", "commit": c1, "path": None, "deploy_root": root, "keep_releases": 2,
             "source": "x", "release_dir": f"{root}/api/releases/{c1}", "current": f"{root}/api/current"}
    provider = LocalReleaseProvider()
    same = provider.read("api", props)
    assert (same.outs, same.inputs) == (props, None)  # in sync: the record as it is
    assert provider.diff("api", props, props).changes is False

    (app_dir / "current").unlink()
    (app_dir / "current").symlink_to(f"releases/{c2}")
    switched = provider.read("api", props)
    assert switched.outs == {**props, "commit": c2, "release_dir": f"{root}/api/releases/{c2}"}
    assert switched.inputs is not None and switched.inputs["commit"] == c2
    assert provider.diff("api", props, props).changes is True  # a plain up switches it back
    assert provider.read("api", {**props, "env": None}).outs["commit"] == c2  # a record made before envs

    (app_dir / MARKER).write_text("created by deployctl\nenv: production\n")
    assert provider.read("api", props).outs["commit"] is None  # another env's folder runs nothing of ours


def _objects(aws: AwsServer, bucket: str) -> dict[str, str]:
    s3 = aws.client("s3")
    return {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.mark.engine
def test_on_the_s3_backend_a_hand_switched_release_is_found_and_nothing_is_written(
        tmp_path: Path, aws_env: AwsServer, monkeypatch: pytest.MonkeyPatch):
    bucket = aws_env.new_bucket("refresh")
    monkeypatch.setenv("PULUMI_BACKEND_URL", aws_env.backend_url(bucket))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "a team secret")
    w = build_world(tmp_path, production=False)
    code, _out, err = w.cli("up", "--stack", "staging")
    assert code == 0, err
    api = w.shas["api"]
    releases = w.root / ".deployments/staging/api/releases"
    shutil.copytree(releases / api[0], releases / api[2])  # a release put there and switched to by hand
    _switch(w, "api", api[2])
    before = _objects(aws_env, bucket)
    assert any(k.endswith("/staging.json") for k in before)
    found = out_of_band(w.engine(), "staging")
    assert {app: o.runs for app, o in found.items()} == {"api": api[2]}
    assert _objects(aws_env, bucket) == before  # no state, history or backup object written, no lock left


# -- the AWS kinds: which commit the state read back names (Pulumi's mocks) ---------------------------


def _refreshed(recorded: Run, read: dict[str, dict[str, Any] | None] | None = None) -> list[Refreshed]:
    """The mocks' states of one deploy as recorded, and as read back with `read`'s states (by resource
    name; None: gone) in place of theirs."""
    read = read or {}
    return [Refreshed(name=r.name, type=r.typ, recorded=r.state, read=read.get(r.name, r.state))
            for r in recorded.registered if r.typ.startswith("aws:")]


def _state_of(run: Run, typ: str, **changes: Any) -> dict[str, Any]:
    return {**run.one(typ).state, **changes}


def test_ecs_task_definition_read_with_another_image_tag_runs_that_commit(deploy: Deploy) -> None:
    first, second = deploy(spec(Kind.ECS_SERVICE, C1, ECS)), deploy(spec(Kind.ECS_SERVICE, C2, ECS))
    assert judge(_refreshed(first), ["api"]) == {}
    read = {"api-task": _state_of(first, TASK, containerDefinitions=second.one(TASK).state["containerDefinitions"])}
    found = judge(_refreshed(first, read), ["api"])
    assert found["api"].runs == C2
    assert found["api"].detail.startswith("api-task: containerDefinitions: runs ")


def test_ecs_service_moved_to_a_revision_pulumi_never_registered_runs_an_unknown_commit(deploy: Deploy) -> None:
    first, second = deploy(spec(Kind.ECS_SERVICE, C1, ECS)), deploy(spec(Kind.ECS_SERVICE, C2, ECS))
    moved = second.one(TASK).state["arn"]
    found = judge(_refreshed(first, {"api-service": _state_of(first, SERVICE, taskDefinition=moved)}), ["api"])
    assert found["api"].runs is None
    assert found["api"].detail == (f"api-service: taskDefinition: runs {moved}, "
                                   f"Pulumi recorded {first.one(TASK).state['arn']}")


def test_ecs_a_change_beside_the_image_still_runs_the_recorded_commit(deploy: Deploy) -> None:
    first = deploy(spec(Kind.ECS_SERVICE, C1, ECS))
    found = judge(_refreshed(first, {"api-service": _state_of(first, SERVICE, desiredCount=0)}), ["api"])
    assert found["api"].runs == C1
    assert found["api"].detail == "api-service: desiredCount: runs 0, Pulumi recorded 2"


def test_ecs_a_secret_container_document_names_no_commit(deploy: Deploy) -> None:
    first = deploy(spec(Kind.ECS_SERVICE, C1, ECS))
    blinded = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}
    found = judge(_refreshed(first, {"api-task": _state_of(first, TASK, containerDefinitions=blinded)}), ["api"])
    assert found["api"].runs is None
    assert "[secret]" in found["api"].detail


def test_lambda_image_function_read_with_another_tag_runs_that_commit(deploy: Deploy) -> None:
    first, second = deploy(spec(Kind.LAMBDA, C1, IMAGE)), deploy(spec(Kind.LAMBDA, C2, IMAGE))
    read = {"api-function": _state_of(first, FUNCTION, imageUri=second.one(FUNCTION).state["imageUri"])}
    assert judge(_refreshed(first, read), ["api"])["api"].runs == C2


def test_lambda_zip_function_read_with_another_code_key_runs_that_commit(deploy: Deploy) -> None:
    first, second = deploy(spec(Kind.LAMBDA, C1, ZIP)), deploy(spec(Kind.LAMBDA, C2, ZIP))
    assert first.one(FUNCTION).state["s3Key"] == f"builds/api/{C1}.zip"
    read = {"api-function": _state_of(first, FUNCTION, s3Key=second.one(FUNCTION).state["s3Key"])}
    assert judge(_refreshed(first, read), ["api"])["api"].runs == C2


def test_lambda_code_replaced_under_the_same_key_runs_an_unknown_commit(deploy: Deploy) -> None:
    first = deploy(spec(Kind.LAMBDA, C1, ZIP))
    recorded = _refreshed(first, {})
    recorded = [r.model_copy(update={"recorded": {**r.recorded, "codeSha256": "old"},
                                     "read": {**(r.read or {}), "codeSha256": "old"}}) for r in recorded]
    assert judge(recorded, ["api"]) == {}
    changed = [r.model_copy(update={"read": {**(r.read or {}), "codeSha256": "new"}}) if r.type == FUNCTION else r
               for r in recorded]
    found = judge(changed, ["api"])
    assert found["api"].runs is None
    assert found["api"].detail == "api-function: codeSha256: runs new, Pulumi recorded old"


def test_lambda_alias_moved_to_another_version_runs_an_unknown_commit(deploy: Deploy) -> None:
    deploy(spec(Kind.LAMBDA, C1, ZIP))
    second = deploy(spec(Kind.LAMBDA, C2, ZIP))  # the account's second published version
    recorded_version = second.one(ALIAS).state["functionVersion"]
    found = judge(_refreshed(second, {"api-live": _state_of(second, ALIAS, functionVersion="1")}), ["api"])
    assert found["api"].runs is None
    assert found["api"].detail == f"api-live: functionVersion: runs 1, Pulumi recorded {recorded_version}"
    assert runs(_refreshed(second)) == C2  # not moved: the function's code key names the commit


SITE = StaticSiteSettings(bucket="sites")


def test_static_site_distribution_read_with_another_origin_path_runs_that_commit(deploy: Deploy) -> None:
    first, second = deploy(spec(Kind.STATIC_SITE, C1, SITE)), deploy(spec(Kind.STATIC_SITE, C2, SITE))
    assert first.one(CDN).state["origins"][0]["originPath"] == f"/api/{C1}"
    read = {"api-cdn": _state_of(first, CDN, origins=second.one(CDN).state["origins"])}
    found = judge(_refreshed(first, read), ["api"])
    assert found["api"].runs == C2
    assert json.dumps(found["api"].detail).count("origins") == 1


def test_a_resource_gone_is_named_and_runs_nothing(deploy: Deploy) -> None:
    first = deploy(spec(Kind.STATIC_SITE, C1, SITE))
    found = judge(_refreshed(first, {"api-cdn": None}), ["api"])
    assert found["api"] == found["api"].model_copy(update={"detail": "api-cdn: gone (Pulumi records it)", "runs": None})
