"""`deployctl propose` on real repositories: the policy keys and their errors at file:line, proposals
judged exactly as `bump` and `check --base` judge a line, artifacts on moto's ECR, freeze windows and
co-deploy groups, and promotions read from the real engine's trace (soak from Pulumi's update times,
a failed health check and its switch-back holding the promotion)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployctl.core.change.prdata import stack_config_refusals
from deployctl.core.repo.envconfig import PROJECT, format_duration, parse_duration
from tests.awsserver import AwsServer
from tests.builders import AppRepo, DeployRepo
from tests.engine_world import World, merge
from tests.scenario import Scenario, build, run_cli

ACCOUNT = "123456789012"


def set_policy(root: Path, env: str, **settings: Any) -> None:
    """Set `deploys:<key>` values in Pulumi.<env>.yaml, keeping everything else (the salt Pulumi wrote)."""
    path = root / f"Pulumi.{env}.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    config = data.setdefault("config", {})
    for key, value in settings.items():
        if value is None:
            config.pop(f"{PROJECT}:{key}", None)
        else:
            config[f"{PROJECT}:{key}"] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def propose(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict], str]:
    code, out, err = run_cli(root, "propose", "--json", *args, env=env)
    assert "Traceback" not in err, err
    return code, (json.loads(out) if out.strip() else []), err


def freeze_now(reason: str = "launch") -> list[dict[str, str]]:
    now = datetime.now(UTC)
    return [{"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat(),
             "reason": reason}]


# -- the policy keys ------------------------------------------------------------------------------


@pytest.fixture
def sc(tmp_path: Path) -> Scenario:
    return build(tmp_path)


@pytest.mark.parametrize(("env", "settings", "at", "message"), [
    ("staging", {"autoDeploy": ["apii", "web"]}, "- apii",
     "deploys:autoDeploy lists app 'apii', which is not in apps.yaml, so it would never be proposed; fix the name, "
     "or remove it from the list; did you mean 'api'?"),
    ("staging", {"autoDeploy": "yes"}, "deploys:autoDeploy:", "'yes' is neither true, false nor a list of apps"),
    ("staging", {"autoPromote": {"soak": "2h"}}, "deploys:autoPromote:", "this env has no deploys:promoteFrom"),
    ("production", {"autoPromote": {"soak": "2 hours"}}, "soak:", "'2 hours' is not a duration"),
    ("production", {"autoPromote": {"soak": 2}}, "soak:", "2 is not a duration; write a number with its unit"),
    ("production", {"autoPromote": {"wait": "2h"}}, "wait:", "unknown key"),
    ("production", {"autoMerge": True}, "deploys:autoMerge:",
     "a protected env's deploys wait for its reviewers' approval"),
    ("production", {"autoPromote": {"soak": "1h"}, "autoDeploy": True}, "deploys:autoDeploy:",
     "keep one of deploys:autoDeploy and deploys:autoPromote"),
])
def test_a_policy_key_that_cannot_be_used_is_a_stack_config_error_at_its_line(
        sc: Scenario, env: str, settings: dict, at: str, message: str) -> None:
    set_policy(sc.root, env, **settings)
    sc.deploy.commit("a policy")  # propose judges the committed base, as CI will
    text = (sc.root / f"Pulumi.{env}.yaml").read_text()
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith(at))
    for command in (["check", "--no-deployed"], ["propose"]):
        code, out, err = run_cli(sc.root, *command)
        assert code == 2, (command, out, err)
        said = out + err
        assert f"Pulumi.{env}.yaml:{line}: error stack-config: " in said and message in said, said


@pytest.mark.parametrize(("text", "seconds", "shown"), [
    ("0s", 0, "0s"), ("30m", 1800, "30m"), ("2h", 7200, "2h"), ("1h30m", 5400, "1h30m"), ("1d", 86400, "1d"),
    (" 90s ", 90, "1m30s"),
])
def test_a_soak_is_a_number_with_its_unit(text: str, seconds: int, shown: str) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert format_duration(parse_duration(text)) == shown


@pytest.mark.parametrize("text", ["", "2", "2 h", "h", "1.5h", "-1h", "2w", "1m2h", True, None])
def test_anything_else_is_no_soak(text: object) -> None:
    with pytest.raises(ValueError, match="is not a duration; write a number with its unit"):
        parse_duration(text)


def test_the_policy_keys_that_can_be_used_pass_check(sc: Scenario) -> None:
    set_policy(sc.root, "staging", autoDeploy=["api", "web"], autoMerge="true")
    set_policy(sc.root, "production", autoPromote={"soak": "1h30m"})
    code, out, err = run_cli(sc.root, "check", "--no-deployed")
    assert (code, out.strip()) == (0, "ok: no violations"), err


def test_the_trusted_preview_takes_a_policy_change_as_data() -> None:
    base = {"config": {"deploys:protected": True}}
    head = {"config": {"deploys:protected": True, "deploys:autoPromote": {"soak": "2h"}, "deploys:autoMerge": False,
                       "deploys:autoDeploy": ["api"]}}
    assert stack_config_refusals("Pulumi.production.yaml", base, head) == []


# -- deploys --------------------------------------------------------------------------------------


def test_propose_prints_the_next_deploys_writes_nothing_and_each_passes_bump_and_check(sc: Scenario) -> None:
    set_policy(sc.root, "staging", autoDeploy=True)
    sc.deploy.commit("staging deploys automatically")
    before = sc.deploy.repo.head.commit.hexsha
    code, found, _ = propose(sc.root)
    assert code == 0
    c = sc.commits
    assert [(p["env"], p["kind"], p["apps"], p["blocked"], p["branch"]) for p in found] == [
        ("staging", "deploy", {"api": c["c4"], "worker": c["c4"]}, [], "deployctl/propose/staging/group.core"),
        ("staging", "deploy", {"web": c["w2"]}, [], "deployctl/propose/staging/web"),
    ]
    assert found[1]["title"] == f"Deploy web {c['w2'][:12]} to staging"
    assert f"web {c['w2'][:12]} is the tip of release branch 'main', after {c['w1'][:12]}, which staging has now" \
        in found[1]["evidence"]
    assert set(found[0]) == {"env", "kind", "apps", "title", "branch", "evidence", "blocked", "held", "auto_merge"}
    code, out, _ = run_cli(sc.root, "propose")
    assert code == 0 and out.splitlines()[0] == (f"staging: Deploy core (api {c['c4'][:12]}, worker {c['c4'][:12]}) "
                                                 "to staging [ready]")
    assert sc.deploy.repo.head.commit.hexsha == before and not sc.deploy.repo.is_dirty(untracked_files=True)
    # what bump writes for it passes, and CI's check --base of that branch passes
    sc.deploy.repo.git.checkout("-b", "by-hand")
    for app, commit in [*found[0]["apps"].items(), *found[1]["apps"].items()]:
        code, _, err = run_cli(sc.root, "bump", "staging", app, commit)
        assert code == 0, err
    code, out, err = run_cli(sc.root, "check", "--base", "main", "--no-artifacts")
    assert (code, out.strip()) == (0, "ok: no violations"), out + err


def test_a_frozen_env_holds_its_due_deploy_as_bump_would(sc: Scenario) -> None:
    set_policy(sc.root, "staging", autoDeploy=["web"], freeze=freeze_now())
    sc.deploy.commit("frozen staging")
    code, found, _ = propose(sc.root)
    assert code == 1
    (p,) = found
    assert (p["apps"], p["blocked"]) == ({"web": sc.commits["w2"]}, ["freeze-window"])
    assert p["held"][0].startswith("freeze-window: deploys/staging/web: env 'staging' is frozen until")
    code, _, err = run_cli(sc.root, "bump", "staging", "web", sc.commits["w2"])
    assert code == 1 and "freeze-window" in err
    code, out, _ = run_cli(sc.root, "propose")
    assert code == 1 and "[blocked (freeze-window)]" in out and "held: freeze-window: " in out


def test_a_release_branch_commit_without_the_apps_path_is_skipped_for_the_newest_with_it(tmp_path: Path) -> None:
    app = AppRepo(tmp_path / "apps" / "svc")
    old = app.commit("one", {"svc/main.py": "1\n"})
    good = app.commit("two", {"svc/main.py": "2\n"})
    app.repo.git.mv("svc", "service")
    moved = app.repo.index.commit("move the service folder")
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({"svc": {"kind": "local", "repo": str(app.path), "path": "svc"}})
    deploy.env("staging", autoDeploy=True)
    deploy.deploy("staging", "svc", old)
    deploy.commit("initial")
    code, found, _ = propose(deploy.path)
    assert code == 0
    (p,) = found
    assert (p["apps"], p["blocked"]) == ({"svc": good}, [])
    assert (f"svc {good[:12]} is the newest commit (the tip, {moved.hexsha[:12]}, is held by path-not-found) that "
            f"passes of release branch 'main', after {old[:12]}, which staging has now") in p["evidence"]


def test_a_group_half_of_which_has_nothing_newer_is_held_by_group_incomplete(sc: Scenario) -> None:
    sc.deploy.catalog({
        "api": {"kind": "local", "repo": str(sc.api.path), "group": "core"},
        "worker": {"kind": "local", "repo": str(sc.api.path), "group": "core"},
        "web": {"kind": "local", "repo": "../apps/web", "group": "core"},
    })
    sc.deploy.deploy("staging", "web", sc.commits["w2"])
    set_policy(sc.root, "staging", autoDeploy=True)
    sc.deploy.commit("web joins the core group, on its newest commit")
    code, found, _ = propose(sc.root)
    assert code == 1
    (p,) = found
    assert p["apps"] == {"api": sc.commits["c4"], "web": sc.commits["w2"], "worker": sc.commits["c4"]}
    assert p["blocked"] == ["group-incomplete"] and p["branch"] == "deployctl/propose/staging/group.core"


def test_an_env_name_that_is_no_env_cannot_be_judged_and_an_env_without_policy_is_said(sc: Scenario) -> None:
    code, out, err = run_cli(sc.root, "propose", "stagign")
    assert code == 2 and "no env 'stagign'" in err and "did you mean 'staging'?" in err
    code, out, err = run_cli(sc.root, "propose", "staging")
    assert (code, out.strip()) == (0, "nothing to propose: staging has no deploys:autoDeploy or deploys:autoPromote")
    assert "note: staging has neither deploys:autoDeploy nor deploys:autoPromote" in err
    code, out, err = run_cli(sc.root, "propose")
    assert (code, out.strip()) == (0, "nothing to propose: no env has deploys:autoDeploy or deploys:autoPromote")


def test_post_without_a_token_or_repository_cannot_run_and_plans_nothing(sc: Scenario,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(sc.root, "staging", autoDeploy=True)
    sc.deploy.commit("policy")
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = run_cli(sc.root, "propose", "--post")
    assert code == 2 and out == "" and "GITHUB_TOKEN is not set" in err  # checked before anything is planned
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    code, out, err = run_cli(sc.root, "propose", "--post")
    assert code == 2 and out == "" and "GITHUB_REPOSITORY is '', not 'owner/name'" in err


def test_auto_promote_without_a_pulumi_backend_cannot_judge(sc: Scenario) -> None:
    set_policy(sc.root, "production", autoPromote={"soak": "2h"})
    sc.deploy.commit("policy")
    code, _, err = run_cli(sc.root, "propose")
    assert code == 2
    assert ("cannot judge: production: deploys:autoPromote promotes what the upstream env runs, read from Pulumi, "
            "which cannot be read (no Pulumi.yaml here)") in err


# -- artifacts on moto's ECR ------------------------------------------------------------------------


def push_image(server: AwsServer, repository: str, tag: str) -> None:
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": f"sha256:{uuid.uuid4().hex * 2}", "size": 1,
                                      "mediaType": "application/vnd.docker.container.image.v1+json"},
                           "layers": []})
    server.client("ecr").put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)


def test_an_image_missing_from_ecr_is_never_proposed(tmp_path: Path, aws_env: AwsServer) -> None:
    app = AppRepo(tmp_path / "apps" / "checkout")
    c1, c2, c3 = (app.commit(f"c{i}") for i in (1, 2, 3))
    repository = f"checkout-{uuid.uuid4().hex[:8]}"
    aws_env.client("ecr").create_repository(repositoryName=repository)
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({"checkout": {"kind": "ecs-service", "repo": str(app.path), "settings": {
        "image_repository": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{repository}", "cluster": "prod",
        "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ecs-exec", "subnets": ["subnet-1"]}}})
    deploy.env("staging", autoDeploy=True)
    deploy.deploy("staging", "checkout", c1)
    deploy.commit("initial")
    push_image(aws_env, repository, c1)

    code, found, _ = propose(deploy.path)  # neither c2 nor c3 was built
    assert code == 1
    (p,) = found
    assert (p["apps"], p["blocked"]) == ({"checkout": c3}, ["artifact-missing"])
    assert f"the artifact of {c3[:12]} does not exist: image {repository}:{c3}" in p["held"][0]

    push_image(aws_env, repository, c2)  # CI built c2: the newest commit with its image
    code, found, _ = propose(deploy.path)
    assert code == 0
    (p,) = found
    assert (p["apps"], p["blocked"]) == ({"checkout": c2}, [])
    assert f"checkout: artifact found for {c2[:12]} (image {repository}:{c2})" in p["evidence"]


# -- promotions from the real engine's trace --------------------------------------------------------

GOOD = "echo ok\n"
BAD = "echo 'database unreachable' >&2\nexit 3\n"
HEALTH = {"command": "sh check.sh", "retries": 0, "interval": 0.1, "timeout": 10}


def promoting_world(tmp: Path) -> World:
    """api (local, health-checked: its commits 0 and 1 pass, 2 fails) on staging and a protected
    production that promotes from it; both deployed at api 0."""
    api = AppRepo(tmp / "apps" / "api")
    shas = [api.commit(f"api {i}", {"check.sh": text, "app.py": f"print({i})\n"})
            for i, text in enumerate([GOOD, GOOD, BAD])]
    web = AppRepo(tmp / "apps" / "web")
    deploy = DeployRepo(tmp / "deploy", with_program=True)
    deploy.catalog({"api": {"repo": str(api.path), "settings": {"health": HEALTH}}})
    deploy.env("staging", deployRoot=".deployments/staging")
    deploy.env("production", protected=True, promoteFrom="staging", deployRoot=".deployments/production",
               reviewers=["@acme/release"], autoPromote={"soak": "0s"})
    deploy.deploy("staging", "api", shas[0], "first api")
    deploy.deploy("production", "api", shas[0], "first api")
    deploy.commit("initial deploys")
    w = World(deploy=deploy, api=api, web=web, shas={"api": shas})
    code, out, err = w.cli("up")
    assert code == 0, out + err
    w.deploy.commit("stack configs as Pulumi writes them")
    return w


def deploy_staging(w: World, commit: str, number: int) -> tuple[int, str, str]:
    before, merged = merge(w, f"Merge pull request #{number} from acme/api", lambda: w.deploy.deploy(
        "staging", "api", commit, "new api"))
    return w.cli("up", "--base", before, "--head", merged, "--branch", "main")


@pytest.mark.engine
def test_a_promotion_waits_for_its_soak_from_pulumis_update_times_and_a_failed_check_upstream_holds_it(
        tmp_path: Path) -> None:
    w = promoting_world(tmp_path)
    api = w.shas["api"]
    code, found, _ = propose(w.root)
    assert (code, found) == (0, [])  # staging runs what production has: nothing to promote

    started = datetime.now(UTC)
    code, out, err = deploy_staging(w, api[1], 11)
    assert code == 0, out + err
    ended = w.engine().history("staging")[0].end
    assert ended is not None and started <= ended <= datetime.now(UTC)

    code, found, _ = propose(w.root)  # soak 0s: due now
    assert code == 0
    (p,) = found
    assert (p["env"], p["kind"], p["apps"], p["blocked"]) == ("production", "promote", {"api": api[1]}, [])
    assert p["title"] == f"Promote api {api[1][:12]} staging -> production"
    assert f"staging runs api {api[1][:12]} (Pulumi's `deployed` record)" in p["evidence"]
    assert (f"update 2 of staging deployed it and succeeded at {ended.isoformat()}; its health check passed in "
            "that update") in p["evidence"]
    assert any(e.startswith("soak: has run ") and e.endswith("in staging, at least the 0s required")
               for e in p["evidence"])
    code, out, err = w.cli("promote", "api", "--from", "staging", "--to", "production")  # promote agrees
    assert code == 0, err
    w.deploy.repo.git.checkout("--", "deploys")

    set_policy(w.root, "production", autoPromote={"soak": "2h"})
    w.deploy.commit("production soaks for two hours")
    code, found, _ = propose(w.root)
    assert code == 1
    (p,) = found
    assert (p["apps"], p["blocked"]) == ({"api": api[1]}, ["soak"])
    due = (ended + timedelta(hours=2)).isoformat()
    assert p["held"][0].startswith(f"soak: api {api[1][:12]} has run in staging for ")
    assert p["held"][0].endswith(f" of the 2h soak; due at {due}")

    set_policy(w.root, "production", autoPromote={"soak": "0s"})
    w.deploy.commit("production soaks for no time")
    code, out, err = deploy_staging(w, api[2], 12)  # its health check fails: switched back to api 1
    assert code == 1 and f"failed, switched back: api to {api[1][:12]}" in err
    assert w.engine().outputs("staging")["deployed"]["api"]["commit"] == api[1]
    code, found, _ = propose(w.root)
    assert code == 1
    (p,) = found
    assert (p["apps"], p["blocked"]) == ({"api": api[1]}, ["upstream-unhealthy"])
    assert (f"upstream-unhealthy: the last deploy of api to staging, {api[2][:12]} (update 4 of staging, "
            in p["held"][0])
    assert "failed its health check and was switched back" in p["held"][0]


# -- propose never proposes what a safeguard refuses ---------------------------------------------


def test_propose_after_a_force_push_of_the_release_branch_proposes_nothing_the_env_would_go_back_to(tmp_path: Path):
    """The release branch was rewritten (force-pushed) below what staging runs: every newer commit of
    the branch has diverged from it. Nothing is proposed ready; the tip is held by backward-deploy,
    as `bump` refuses it, and the walk back never settles on an older diverged commit."""
    import json

    from tests.builders import AppRepo, DeployRepo
    from tests.scenario import run_cli

    app = AppRepo(tmp_path / "apps" / "api")
    first = app.commit("one")
    running = app.commit("two: runs in staging")
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({"api": {"kind": "local", "repo": str(app.path)}})
    deploy.env("staging", autoDeploy=True)
    deploy.deploy("staging", "api", running)
    deploy.commit("staging runs two")
    code, out, _ = run_cli(deploy.path, "propose", "--json")
    assert (code, json.loads(out)) == (0, [])  # staging runs the tip; the cache now holds `two`
    app.repo.git.reset("--hard", first)  # the force-push: `two` is gone from main
    rewritten = [app.commit(f"rewritten {i}") for i in range(3)]
    code, out, err = run_cli(deploy.path, "propose", "--json")
    assert code == 1, out + err
    (p,) = json.loads(out)
    assert (p["apps"], p["blocked"]) == ({"api": rewritten[-1]}, ["backward-deploy"])
    assert "have diverged" in p["held"][0]
    code, _, err = run_cli(deploy.path, "bump", "staging", "api", rewritten[-1])
    assert code == 1 and "backward-deploy" in err
