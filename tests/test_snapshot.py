"""A corpus of malformed inputs: each fires its exact rule through `deployctl check`, never a traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deployctl.core.repo.tree import Entry, EntryKind, build_tree
from tests.builders import AppRepo, DeployRepo
from tests.scenario import run_cli

Mutation = Callable[[DeployRepo, str], None]


def _repo(tmp_path: Path) -> tuple[DeployRepo, str]:
    app = AppRepo(tmp_path / "app")
    sha = app.commit("one")
    deploy = DeployRepo(tmp_path / "deploy")
    deploy.catalog({"api": {"repo": str(app.path)}, "web": {"repo": str(app.path)}})
    deploy.env("staging").env("production", protected=True, promoteFrom="staging", reviewers=["@acme/release"])
    deploy.deploy("staging", "api", sha)
    deploy.commit()
    return deploy, sha


def _w(rel: str, data: str | bytes) -> Mutation:
    return lambda d, sha: d.write(rel, data.replace("SHA", sha) if isinstance(data, str) else data)


def _symlink(rel: str, target: str) -> Mutation:
    def run(d: DeployRepo, sha: str) -> None:
        path = d.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    return run


def _deploys_elsewhere(d: DeployRepo, sha: str) -> None:
    (d.path / "deploys").rename(d.path / "elsewhere")
    os.symlink("elsewhere", d.path / "deploys")


def _fifo(d: DeployRepo, sha: str) -> None:
    os.mkfifo(d.path / "deploys/staging/pipe")


def _catalog(text: str) -> Mutation:
    return lambda d, sha: d.write("apps.yaml", text.replace("REPO", str(d.path.parent / "app")))


def _stack(env: str, text: str) -> Mutation:
    return lambda d, sha: d.write(f"Pulumi.{env}.yaml", text)


# (id, mutation, rule, exit code)
CORPUS: list[tuple[str, Mutation, str, int]] = [
    # deploy-file grammar
    ("empty file", _w("deploys/staging/web", ""), "syntax", 1),
    ("whitespace only", _w("deploys/staging/web", " \n\t\r\n"), "syntax", 1),
    ("not hex", _w("deploys/staging/web", "release-42\n"), "syntax", 1),
    ("too short", _w("deploys/staging/web", "abc12\n"), "syntax", 1),
    ("41 hex", _w("deploys/staging/web", "a" * 41 + "\n"), "syntax", 1),
    ("upper-case hex", _w("deploys/staging/web", "ABCDEF0123456\n"), "syntax", 1),
    ("byte-order mark", _w("deploys/staging/web", b"\xef\xbb\xbf" + b"a" * 40), "syntax", 1),
    ("NUL bytes", _w("deploys/staging/web", b"\x00\x00\x00"), "syntax", 1),
    ("latin-1", _w("deploys/staging/web", b"caf\xe9 au lait"), "syntax", 1),
    ("utf-16", _w("deploys/staging/web", "SHA\n".encode("utf-16")), "syntax", 1),
    ("huge file", _w("deploys/staging/web", b"a" * 40 + b"\n" + b"#" * (1 << 20)), "syntax", 1),
    ("tag before hash", _w("deploys/staging/web", "[hotfix] SHA\n"), "syntax", 1),
    ("CRLF with bad hash", _w("deploys/staging/web", "zz\r\nSHA\r\n"), "syntax", 1),
    # names and paths
    ("upper-case env", _w("deploys/Staging/api", "SHA\n"), "invalid-path", 1),
    ("env with space", _w("deploys/my env/api", "SHA\n"), "invalid-path", 1),
    ("env starting with dash", _w("deploys/-dev/api", "SHA\n"), "invalid-path", 1),
    ("upper-case app", _w("deploys/staging/API", "SHA\n"), "invalid-path", 1),
    ("app with space", _w("deploys/staging/my api", "SHA\n"), "invalid-path", 1),
    ("app with dot", _w("deploys/staging/api.txt", "SHA\n"), "invalid-path", 1),
    ("app of 64 chars", _w("deploys/staging/" + "a" * 64, "SHA\n"), "invalid-path", 1),
    ("unicode app name", _w("deploys/staging/äpi", "SHA\n"), "invalid-path", 1),
    ("nested folder", _w("deploys/staging/api2/extra", "SHA\n"), "invalid-path", 1),
    # a link anywhere under deploys/: git and the working tree read different trees, nothing is judged
    ("symlink outside repo", _symlink("deploys/staging/web", "/etc/passwd"), "invalid-path", 2),
    ("symlinked env folder", _symlink("deploys/qa", "staging"), "invalid-path", 2),
    ("hidden symlink", _symlink("deploys/staging/.web", "../../apps.yaml"), "invalid-path", 2),
    ("symlink in a nested folder", _symlink("deploys/staging/api2/web", "../api"), "invalid-path", 2),
    ("deploys as a symlink", _deploys_elsewhere, "invalid-path", 2),
    ("fifo", _fifo, "invalid-path", 1),
    ("file directly in deploys", _w("deploys/README", "notes\n"), "invalid-path", 1),
    ("unknown env", _w("deploys/qa/api", "SHA\n"), "unknown-env", 1),
    ("stack config without folder", _stack("qa", "config: {}\n"), "unknown-env", 1),
    ("unknown app", _w("deploys/staging/billing", "SHA\n"), "unknown-app", 1),
    ("bad stack file name", _stack("QA", "config: {}\n"), "invalid-path", 1),
    # catalog
    ("catalog not YAML", _catalog("apps: [unclosed\n"), "catalog", 2),
    ("catalog unknown key", _catalog("apps:\n  api:\n    repo: x\n    colour: red\n"), "catalog", 2),
    ("catalog unknown kind", _catalog("apps:\n  api:\n    repo: x\n    kind: k8s\n"), "catalog", 2),
    ("catalog missing repo", _catalog("apps:\n  api:\n    kind: local\n"), "catalog", 2),
    ("catalog bad app name", _catalog("apps:\n  API:\n    repo: x\n"), "catalog", 2),
    ("catalog duplicate key", _catalog("apps:\n  api:\n    repo: x\n  api:\n    repo: y\n"), "catalog", 2),
    ("catalog unknown dependency", _catalog("apps:\n  api:\n    repo: x\n    depends_on: [db]\n"), "catalog", 2),
    ("catalog cycle", _catalog("apps:\n  api:\n    repo: x\n    depends_on: [web]\n"
                               "  web:\n    repo: x\n    depends_on: [api]\n"), "catalog", 2),
    ("catalog top-level list", _catalog("- api\n"), "catalog", 2),
    ("catalog missing", lambda d, sha: (d.path / "apps.yaml").unlink(), "catalog", 2),
    # stack config
    ("stack not YAML", _stack("staging", "config: [\n"), "stack-config", 2),
    ("protected not bool", _stack("staging", "config:\n  deploys:protected: maybe\n"), "stack-config", 2),
    ("freeze reversed", _stack("staging", "config:\n  deploys:freeze:\n    - start: 2026-02-01T00:00:00Z\n"
                                          "      end: 2026-01-01T00:00:00Z\n      reason: x\n"), "stack-config", 2),
    ("freeze without zone", _stack("staging", "config:\n  deploys:freeze:\n    - start: '2026-01-01'\n"
                                              "      end: '2026-02-01'\n      reason: x\n"), "stack-config", 2),
    ("unknown deploys key", _stack("staging", "config:\n  deploys:protect: true\n"), "stack-config", 2),
    ("promoteFrom unknown env", _stack("staging", "config:\n  deploys:promoteFrom: qa\n"), "stack-config", 2),
    ("promoteFrom itself", _stack("staging", "config:\n  deploys:promoteFrom: staging\n"), "stack-config", 2),
    # settings of a kind
    ("ecs settings missing", _catalog("apps:\n  api:\n    kind: ecs-service\n    repo: REPO\n"), "invalid-settings", 1),
]


@pytest.mark.parametrize(("mutate", "rule", "code"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_malformed_input_fires_its_rule(tmp_path: Path, mutate: Mutation, rule: str, code: int):
    deploy, sha = _repo(tmp_path)
    mutate(deploy, sha)
    rc, out, err = run_cli(deploy.path, "check", "--json")
    assert "Traceback" not in out + err
    assert rc == code, (out, err)
    report = json.loads(out)
    assert report["ok"] is False
    assert rule in {v["rule"] for v in report["violations"]}, report
    v = next(v for v in report["violations"] if v["rule"] == rule)
    assert v["message"] and v["file"]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


def test_hidden_files_are_ignored_and_dotdot_is_refused():
    tree = build_tree([
        Entry(path="deploys/staging", kind=EntryKind.DIR),
        Entry(path="deploys/staging/.gitkeep", kind=EntryKind.FILE, data=b""),
        Entry(path="deploys/.github", kind=EntryKind.DIR),
        Entry(path="deploys/..", kind=EntryKind.DIR),
    ])
    assert tree.envs == ("staging",)
    assert tree.files == {}
    assert [(v.rule, v.file) for v in tree.violations] == [("invalid-path", "deploys/..")]


def test_syntax_error_points_at_file_and_line(tmp_path: Path):
    deploy, _sha = _repo(tmp_path)
    deploy.write("deploys/staging/web", "\n\n  nonsense here\n")
    rc, out, _ = run_cli(deploy.path, "check")
    assert rc == 1
    assert "deploys/staging/web:3: error syntax: first token 'nonsense' is not a commit hash" in out


def test_catalog_error_points_at_line(tmp_path: Path):
    deploy, _ = _repo(tmp_path)
    deploy.write("apps.yaml", "apps:\n  api:\n    repo: x\n    colour: red\n")
    rc, _, err = run_cli(deploy.path, "check")
    assert rc == 2
    assert "apps.yaml:4: error catalog: apps.api.colour: unknown key" in err


def test_an_encrypted_setting_is_left_out_wherever_settings_are_judged():
    """`{secure: ...}` values only the program can read: the snapshot, the artifact check and the
    switch-back's health question all judge the settings without them, never as invalid."""
    from deployctl.core.change.rules.artifact import check_artifacts
    from deployctl.core.health.switchback import has_health
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot

    catalog = ("apps:\n  api:\n    kind: ecs-service\n    repo: https://example.com/api.git\n"
               "    settings: {image_repository: 1.dkr.ecr.us-east-1.amazonaws.com/api, cluster: main,\n"
               "               subnets: [s-1], execution_role_arn: 'arn:aws:iam::1:role/exec',\n"
               "               health: {url: 'https://api.example.com/health'}}\n")
    stack = ("config:\n  deploys:settings:\n    api:\n      environment:\n        PLAIN: yes-string\n"
             "        TOKEN:\n          secure: v1:abc:def\n")
    files = RepoFiles(catalog=catalog, stack_configs={"staging": stack},
                      entries=[Entry(path="deploys/staging", kind=EntryKind.DIR),
                               Entry(path="deploys/staging/api", kind=EntryKind.FILE, data=b"a" * 40 + b"\n")])
    snapshot = build_snapshot(files)
    assert snapshot.all_violations() == []
    assert snapshot.settings_of("staging", "api").environment == {"PLAIN": "yes-string"}  # type: ignore[attr-defined]  # an EcsServiceSettings
    assert has_health(snapshot, "staging")

    class Artifacts:
        asked: list[object] = []

        def prefetch(self, refs: list[object]) -> None:
            self.asked.extend(refs)

        def exists(self, ref: object) -> bool:
            return True

    oracle = Artifacts()
    assert check_artifacts(snapshot, snapshot.tree.in_env("staging"), oracle) == []  # type: ignore[arg-type]  # a stand-in oracle
    assert len(oracle.asked) == 1  # the image was looked for


def test_ordered_envs_put_each_env_after_the_one_it_promotes_from():
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot

    stacks = {"production": "config:\n  deploys:promoteFrom: staging\n", "staging": "config: {}\n",
              "canary": "config:\n  deploys:promoteFrom: production\n", "sandbox": "config: {}\n"}
    entries = [Entry(path=f"deploys/{env}", kind=EntryKind.DIR) for env in ("production", "staging", "canary")]
    snapshot = build_snapshot(RepoFiles(catalog="apps: {}\n", stack_configs=stacks, entries=entries))
    assert snapshot.ordered_envs() == ["staging", "production", "canary"]  # sandbox has no folder
    assert snapshot.ordered_envs(sorted(snapshot.stacks)) == ["staging", "production", "canary", "sandbox"]
    assert snapshot.ordered_envs(["canary", "staging"]) == ["canary", "staging"]  # their link is not among them


def test_promote_from_is_pointed_at_by_its_key_not_by_a_comment_that_names_it():
    from deployctl.core.repo.envconfig import parse_stack_config

    text = ("# deploys:promoteFrom: staging was the old chain\n"
            "config:\n  deploys:protected: true\n  deploys:promoteFrom: staging\n"
            "  deploys:reviewers: ['@acme/release']\n")
    assert parse_stack_config("production", text).promote_from_line == 4
    unlinked = "config:\n  deploys:protected: true\n  deploys:reviewers: ['@acme/release']\n"
    assert parse_stack_config("staging", unlinked).promote_from_line is None


def test_settings_encrypted_as_a_whole_say_how_to_encrypt_them_instead():
    from deployctl.core.repo.envconfig import parse_stack_config
    from deployctl.core.repo.yamlfile import YamlError

    with pytest.raises(YamlError) as caught:
        parse_stack_config("production",
                           "config:\n  deploys:protected: true\n  deploys:settings:\n    secure: v1:abc\n")
    [violation] = caught.value.violations
    assert (violation.file, violation.line, violation.rule) == ("Pulumi.production.yaml", 3, "stack-config")
    assert "--secret --path 'deploys:settings.<app>.<setting>'" in violation.message
    assert "v1:abc" not in violation.message


@pytest.mark.parametrize(("text", "lines", "says"), [
    ("apps:\n  api:\n    repo: r\n  web:\n    repo: r\n    depends_on: [nope]\n", [6],
     "apps.web.depends_on: app 'web' depends on unknown app 'nope'"),
    ("apps:\n  api:\n    repo: r\n    depends_on: [api]\n", [4], "app 'api' depends on itself"),
    ("apps:\n  api:\n    repo: r\n    depends_on: [web]\n  web:\n    repo: r\n    depends_on: [api]\n", [4, 7],
     "depends_on has a cycle: api -> web -> api"),
])
def test_a_depends_on_error_points_at_its_depends_on(text: str, lines: list[int], says: str):
    """A cycle is reported at the depends_on of each app in it."""
    from deployctl.core.repo.catalog import parse_catalog
    from deployctl.core.repo.yamlfile import YamlError

    with pytest.raises(YamlError) as caught:
        parse_catalog(text)
    violations = caught.value.violations
    assert [(v.file, v.line, v.rule) for v in violations] == [("apps.yaml", line, "catalog") for line in lines]
    assert all(says in v.message for v in violations)


def test_an_invalid_setting_names_the_file_and_line_that_hold_it():
    """On the deploy file (what the change deploys), with where the bad value is written: the env's
    override when there is one, else the catalog."""
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot

    catalog = "apps:\n  api:\n    repo: r\n    settings:\n      keep_releases: 0\n  web:\n    repo: r\n"
    staging = "config:\n  deploys:settings:\n    web:\n      keep_releases: -1\n"
    entries = [Entry(path="deploys/staging", kind=EntryKind.DIR),
               *(Entry(path=f"deploys/staging/{app}", kind=EntryKind.FILE, data=b"abc1234\n")
                 for app in ("api", "web"))]
    found = build_snapshot(RepoFiles(catalog=catalog, stack_configs={"staging": staging}, entries=entries)).violations
    said = {v.file: v.message for v in found if v.rule == "invalid-settings"}
    assert "keep_releases: Input should be greater than or equal to 1 (apps.yaml:5)" in said["deploys/staging/api"]
    assert "(Pulumi.staging.yaml:4)" in said["deploys/staging/web"]



def test_a_nested_setting_is_located_where_it_is_written_once_overrides_merge():
    """The env's `health` merges into the catalog's: a bad `url` left from the catalog is the
    catalog's line, one the env writes is the env's."""
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot

    catalog = ("apps:\n  api:\n    repo: r\n    settings:\n      health:\n        url: ftp://x\n"
               "  web:\n    repo: r\n    settings:\n      health:\n        command: ./ok\n")
    staging = ("config:\n  deploys:settings:\n    api:\n      health:\n        retries: 1\n"
               "    web:\n      health:\n        url: ftp://y\n")
    entries = [Entry(path="deploys/staging", kind=EntryKind.DIR),
               *(Entry(path=f"deploys/staging/{app}", kind=EntryKind.FILE, data=b"abc1234\n")
                 for app in ("api", "web"))]
    found = build_snapshot(RepoFiles(catalog=catalog, stack_configs={"staging": staging}, entries=entries)).violations
    said = {v.file: v.message for v in found if v.rule == "invalid-settings"}
    assert "health.url: url must start with http:// or https:// (apps.yaml:6)" in said["deploys/staging/api"]
    assert "health.url: url must start with http:// or https:// (Pulumi.staging.yaml:8)" in said["deploys/staging/web"]

def test_an_unknown_upstream_env_is_pointed_at_its_promote_from_line():
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot

    stacks = {"production": "config:\n  deploys:protected: true\n  deploys:promoteFrom: stagin\n"
                            "  deploys:reviewers: ['@acme/release']\n"}
    snapshot = build_snapshot(RepoFiles(catalog="apps: {}\n", stack_configs=stacks,
                                        entries=[Entry(path="deploys/production", kind=EntryKind.DIR)]))
    [error] = [v for v in snapshot.config_errors if "promoteFrom" in v.message]
    assert (error.file, error.line) == ("Pulumi.production.yaml", 3)


def test_check_names_a_secret_it_cannot_read_in_the_right_place_and_what_an_ecs_secret_needs():
    """A setting stored encrypted is judged by the program only: `check` neither calls it missing nor
    places it in apps.yaml; an ECS secret variable without an execution role is an error `check` finds."""
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot

    catalog = ("apps:\n  api:\n    kind: ecs-service\n    repo: r\n"
               "    settings: {cluster: c, logs: false, subnets: [s-1]}\n")
    entries = [Entry(path="deploys/staging", kind=EntryKind.DIR),
               Entry(path="deploys/staging/api", kind=EntryKind.FILE, data=b"abc1234\n")]

    def invalid(staging: str) -> list[str]:
        found = build_snapshot(RepoFiles(catalog=catalog, stack_configs={"staging": staging}, entries=entries))
        return [v.message for v in found.violations if v.rule == "invalid-settings"]

    secret_image = "config:\n  deploys:settings:\n    api:\n      image_repository:\n        secure: v1:AAAA\n"
    assert invalid(secret_image) == []  # set, as a secret: not "Field required"
    [message] = invalid("config:\n  deploys:settings:\n    api:\n      image_repository: r\n"
                        "      environment:\n        TOKEN:\n          secure: v1:BBBB\n")
    assert "secret environment variables (TOKEN)" in message
    assert "execution_role_arn (allowed ssm:GetParameters on /deployctl/staging/api/*)" in message
    assert "v1:BBBB" not in message


def test_settings_stored_encrypted_whole_or_as_the_role_are_not_errors_and_a_whole_settings_error_is_named():
    """An app's whole override as one secret, or a secret execution role, is set (only the program can
    read it); a problem with the settings as a whole is labelled `settings`, located at the catalog."""
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot

    def invalid(catalog: str, staging: str) -> list[str]:
        entries = [Entry(path="deploys/staging", kind=EntryKind.DIR),
                   Entry(path="deploys/staging/api", kind=EntryKind.FILE, data=b"abc1234\n")]
        found = build_snapshot(RepoFiles(catalog=catalog, stack_configs={"staging": staging}, entries=entries))
        return [v.message for v in [*found.config_errors, *found.violations] if v.rule == "invalid-settings"]

    ecs = "apps:\n  api:\n    kind: ecs-service\n    repo: r\n    settings: {cluster: c, subnets: [s-1]}\n"
    assert invalid(ecs, "config:\n  deploys:settings:\n    api:\n      secure: v1:WHOLE\n") == []
    role = ("config:\n  deploys:settings:\n    api:\n      image_repository: r\n      execution_role_arn:\n"
            "        secure: v1:ROLE\n      environment:\n        TOKEN:\n          secure: v1:BBBB\n")
    assert invalid(ecs, role) == []
    [message] = invalid("apps:\n  api:\n    kind: lambda\n    repo: r\n    settings: {role_arn: x}\n",
                        "config: {}\n")
    assert "are invalid: settings: " in message and "(apps.yaml:5)" in message


def test_a_link_anywhere_under_deploys_stops_judging_and_is_named():
    """`deploys` itself, an env folder, a deploy file, a hidden entry, an entry of a nested folder."""
    assert [(v.rule, v.file) for v in build_tree([Entry(path="deploys", kind=EntryKind.SYMLINK)]).links] == [
        ("invalid-path", "deploys")]
    tree = build_tree([
        Entry(path="deploys", kind=EntryKind.DIR),
        Entry(path="deploys/staging", kind=EntryKind.DIR),
        Entry(path="deploys/qa", kind=EntryKind.SYMLINK),
        Entry(path="deploys/staging/web", kind=EntryKind.SYMLINK),
        Entry(path="deploys/staging/.hidden", kind=EntryKind.SYMLINK),
        Entry(path="deploys/staging/nest", kind=EntryKind.DIR),
        Entry(path="deploys/staging/nest/x", kind=EntryKind.SYMLINK),
    ])
    assert {v.file for v in tree.links} == {"deploys/qa", "deploys/staging/web", "deploys/staging/.hidden",
                                            "deploys/staging/nest/x"}
    assert all(v.rule == "invalid-path" and "symbolic link" in v.message for v in tree.links)
    assert [v.app for v in tree.links if v.file == "deploys/staging/web"] == ["web"]
    assert tree.files == {} and tree.envs == ("staging",)
    assert [v.file for v in tree.violations] == ["deploys/staging/nest"]  # the nested folder itself


@pytest.mark.parametrize("shape", ["deploys", "deploy file", "env folder"])
def test_the_working_tree_and_the_commit_see_the_same_links(tmp_path: Path, shape: str):
    """Read from the working tree and from git at the commit, fully and for one changed file alike."""
    from deployctl.adapters.git.reads import commit_files, worktree_files
    from deployctl.core.repo.snapshot import build_snapshot

    deploy, sha = _repo(tmp_path)
    before = deploy.repo.head.commit.hexsha
    if shape == "deploys":
        _deploys_elsewhere(deploy, sha)
    elif shape == "deploy file":
        (deploy.path / "deploys/staging/api").rename(deploy.path / "api-file")
        os.symlink("../../api-file", deploy.path / "deploys/staging/api")
    else:
        (deploy.path / "deploys/staging").rename(deploy.path / "staging-folder")
        os.symlink("../staging-folder", deploy.path / "deploys/staging")
    deploy.commit("a link")
    for paths in (None, {"deploys/staging/api"}):
        seen = [build_snapshot(files) for files in (worktree_files(deploy.path, paths=paths),
                                                     commit_files(deploy.repo, "HEAD", paths))]
        errors = [[(v.rule, v.file) for v in s.config_errors] for s in seen]
        assert errors[0] == errors[1] != [], (paths, errors)
        assert errors[0][0][0] == "invalid-path"
        assert seen[0].tree.files.keys() == seen[1].tree.files.keys() == set()
    assert build_snapshot(commit_files(deploy.repo, before)).config_errors == ()


def test_an_env_override_merges_into_the_catalogs_settings_key_by_key():
    from deployctl.core.repo.catalog import App, app_settings, merge_settings

    catalog = {"environment": {"LOG_LEVEL": "info", "REGION": "eu"}, "subnets": ["a", "b"],
               "health": {"url": "https://x/health", "retries": 5}}
    merged = merge_settings(catalog, {"environment": {"REGION": "us", "TOKEN": "t"}, "subnets": ["c"],
                                      "health": {"retries": 1}})
    assert merged == {"environment": {"LOG_LEVEL": "info", "REGION": "us", "TOKEN": "t"}, "subnets": ["c"],
                      "health": {"url": "https://x/health", "retries": 1}}  # a list replaces; mappings merge
    assert merge_settings(catalog, {"environment": {"secure": "v1:A"}})["environment"] == {"secure": "v1:A"}
    app = App(kind="ecs-service", repo="r", settings={"image_repository": "i", "cluster": "c", **catalog})
    settings = app_settings("api", app, {"health": {"retries": 0}})
    assert settings.health is not None and (settings.health.url, settings.health.retries) == ("https://x/health", 0)


def test_a_commit_read_whole_is_read_from_git_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`up` reads its head whole for the safeguards and again to compare the checkout: git answers
    once per commit id (a commit's files never change); a partial read and another commit ask git."""
    from deployctl.adapters.git import reads

    deploy, _ = _repo(tmp_path)
    head = deploy.repo.head.commit.hexsha
    monkeypatch.setattr(reads, "_WHOLE", {})
    calls: list[str] = []
    real = reads._commit_files
    monkeypatch.setattr(reads, "_commit_files", lambda repo, commit, paths: calls.append(commit) or
                        real(repo, commit, paths))
    first = reads.commit_files(deploy.repo, head)
    assert reads.commit_files(deploy.repo, head) is first and reads.commit_files(deploy.repo, "HEAD") is first
    assert calls == [head]
    partial = reads.commit_files(deploy.repo, head, {"deploys/staging/api"})
    assert partial.entries != first.entries and calls[-1] == head
    (deploy.path / "deploys/staging/api").write_text(f"{'b' * 40}\n")
    deploy.commit("another deploy")
    after = reads.commit_files(deploy.repo, "HEAD")
    assert after != first and calls[-1] == deploy.repo.head.commit.hexsha
