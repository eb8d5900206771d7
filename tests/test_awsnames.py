"""The AWS names the components choose, and `check`'s refusal of two deployments claiming one."""

from __future__ import annotations

from deployctl.core.kinds.awsnames import (
    COMMENT_MAX,
    LAMBDA_NAME_MAX,
    aws_name,
    distribution_comment,
    lambda_function_name,
)
from deployctl.core.repo.snapshot import RepoFiles, Snapshot, build_snapshot
from deployctl.core.repo.tree import Entry, EntryKind
from deployctl.core.violations import Violation

SITE = "    repo: r\n    kind: static-site\n    settings:\n      bucket: sites\n"
API = ("    repo: r\n    kind: ecs-service\n    settings:\n      image_repository: repo\n"
       "      cluster: shared\n      subnets: [s-1]\n")


def build(catalog: str, stacks: dict[str, str], deployed: dict[str, list[str]]) -> Snapshot:
    entries = [Entry(path=f"deploys/{env}", kind=EntryKind.DIR) for env in stacks]
    entries += [Entry(path=f"deploys/{env}/{app}", kind=EntryKind.FILE, data=b"abc1234\n")
                for env, apps in deployed.items() for app in apps]
    return build_snapshot(RepoFiles(catalog=catalog, stack_configs=stacks, entries=entries))


def collisions(snapshot: Snapshot) -> list[Violation]:
    return [v for v in snapshot.violations if v.rule == "invalid-settings" and "also claimed" in v.message]


def test_a_name_that_fits_is_env_dash_app_and_a_long_one_is_cut_with_a_digest():
    assert aws_name("prod", "api", 64) == lambda_function_name("prod", "api") == "prod-api"
    long = lambda_function_name("e" * 63, "a" * 63)
    assert len(long) == LAMBDA_NAME_MAX and long.startswith("e" * 27 + "-" + "a" * 27 + "-")
    assert lambda_function_name("e" * 3, "a" * 63).startswith("eee-" + "a" * 51 + "-")
    assert long != lambda_function_name("e" * 63, "a" * 62 + "b")
    assert len(distribution_comment("e" * 63, "a" * 63, "c" * 40)) <= COMMENT_MAX


def test_two_envs_claiming_one_cloudfront_alias_is_an_error_at_the_line_that_writes_it():
    catalog = f"apps:\n  web:\n{SITE}      aliases: [www.example.com]\n"
    stacks = {"staging": "config: {}\n", "production": "config: {}\n"}
    found = collisions(build(catalog, stacks, {"staging": ["web"], "production": ["web"]}))
    assert {(v.env, v.file, v.line) for v in found} == {("staging", "apps.yaml", 7), ("production", "apps.yaml", 7)}
    staging = next(v for v in found if v.env == "staging")
    assert "CloudFront alias 'www.example.com' of app 'web' in env 'staging' is also claimed by app 'web' in env " \
        "'production'" in staging.message
    assert "aliases" in staging.message and staging.format().startswith("apps.yaml:7: error invalid-settings:")


def test_an_alias_written_per_env_is_no_collision_and_one_reused_is_pointed_at_the_env_file():
    catalog = f"apps:\n  web:\n{SITE}"
    own = {"staging": "config:\n  deploys:settings:\n    web:\n      aliases: [staging.example.com]\n",
           "production": "config:\n  deploys:settings:\n    web:\n      aliases: [www.example.com]\n"}
    assert collisions(build(catalog, own, {"staging": ["web"], "production": ["web"]})) == []
    same = {**own, "staging": "config:\n  deploys:settings:\n    web:\n      aliases: [WWW.example.com.]\n"}
    found = collisions(build(catalog, same, {"staging": ["web"], "production": ["web"]}))
    assert {(v.env, v.file, v.line) for v in found} == {("staging", "Pulumi.staging.yaml", 4),
                                                        ("production", "Pulumi.production.yaml", 4)}


def test_two_envs_of_an_ecs_app_in_one_cluster_do_not_collide():
    stacks = {"staging": "config: {}\n", "production": "config: {}\n"}
    assert collisions(build(f"apps:\n  api:\n{API}", stacks, {"staging": ["api"], "production": ["api"]})) == []


def test_env_and_app_names_that_join_to_one_service_name_in_one_cluster_are_an_error():
    catalog = f"apps:\n  api:\n{API}  eu-api:\n{API}"
    stacks = {"prod": "config: {}\n", "prod-eu": "config: {}\n"}
    found = collisions(build(catalog, stacks, {"prod": ["eu-api"], "prod-eu": ["api"]}))
    assert {(v.env, v.app, v.file) for v in found if v.message.startswith("ECS service")} == {
        ("prod", "eu-api", "deploys/prod/eu-api"), ("prod-eu", "api", "deploys/prod-eu/api")}
    assert "ECS service 'prod-eu-api'" in found[0].message and "cluster 'shared'" in found[0].message
    assert "rename the env or the app" in found[0].message


def test_an_alias_stored_encrypted_is_left_to_the_program():
    catalog = f"apps:\n  web:\n{SITE}      aliases: [www.example.com]\n"
    stacks = {"staging": "config:\n  deploys:settings:\n    web:\n      aliases:\n        secure: AAAA\n",
              "production": "config: {}\n"}
    assert collisions(build(catalog, stacks, {"staging": ["web"], "production": ["web"]})) == []


def test_check_refuses_one_alias_in_two_envs_at_the_catalog_line(tmp_path, aws_env):
    """Through the CLI on a real git repository, the site's build in S3 on loopback: exit 1, the
    rule, file:line, both envs named."""
    import json

    from tests.builders import AppRepo, DeployRepo
    from tests.scenario import run_cli

    web = AppRepo(tmp_path / "web")
    sha = web.commit("site", {"index.html": "<h1>hi</h1>\n"})
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="sites")
    s3.put_object(Bucket="sites", Key=f"web/{sha}/index.html", Body=b"<h1>hi</h1>\n")
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({"web": {"repo": str(web.path), "kind": "static-site",
                            "settings": {"bucket": "sites", "aliases": ["www.example.com"]}}})
    deploy.env("staging").env("production", promoteFrom="staging")
    deploy.deploy("staging", "web", sha)
    deploy.deploy("production", "web", sha)
    deploy.commit("both envs")
    code, out, err = run_cli(deploy.path, "check", "--json")
    assert code == 1, out + err
    found = [v for v in json.loads(out)["violations"] if v["rule"] == "invalid-settings"]
    assert {(v["env"], v["file"], v["line"]) for v in found} == {("staging", "apps.yaml", 7),  # `aliases:`
                                                                 ("production", "apps.yaml", 7)}
    assert all("CloudFront alias 'www.example.com'" in v["message"] for v in found)
