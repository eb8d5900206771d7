"""`deployctl pr-data`: the trusted preview reads a PR's deploy data from its head commit as blobs, and
never writes, imports or runs anything else of it. Real git repositories: a base checkout, and a PR
branch whose code would leave a marker file if anything of it ran."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deployctl.core.change.prdata import data_path_problem, stack_config_refusals
from tests.builders import DeployRepo
from tests.scenario import run_cli

API = "a" * 40
API2 = "b" * 40


def _payload(marker: Path) -> str:
    """Python that leaves the marker when it runs (imported, executed or installed)."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"


@pytest.fixture
def repo(tmp_path: Path) -> DeployRepo:
    deploy = DeployRepo(tmp_path / "deploys-repo")
    deploy.catalog({"api": {"repo": "../api", "owners": ["@acme/api"]}})
    deploy.env("staging", deployRoot=".deployments/staging")
    deploy.write("deploys/staging/api", f"{API} first\n")
    deploy.write("deploys/staging/old", f"{API} gone soon\n")
    deploy.write("__main__.py", "print('the program')\n")
    deploy.write(".github/workflows/preview.yml", "name: preview\n")
    deploy.commit("base")
    return deploy


def branch(deploy: DeployRepo, name: str = "pr") -> None:
    deploy.repo.git.checkout("-b", name)


def back_to_base(deploy: DeployRepo) -> str:
    deploy.repo.git.checkout("main")
    return deploy.repo.head.commit.hexsha


def pr_data(deploy: DeployRepo, *args: str) -> tuple[int, dict, str]:
    code, out, err = run_cli(deploy.path, "pr-data", "--base", "main", "--head", "pr", "--json", *args)
    assert "Traceback" not in err, err
    return code, (json.loads(out) if out.strip() else {}), err


def status(deploy: DeployRepo) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=deploy.path,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("shape", ["main", "root-py", "setup-py", "workflow"])
def test_a_pr_whose_code_would_run_is_refused_and_nothing_of_it_is_written(repo: DeployRepo, tmp_path: Path,
                                                                            shape: str) -> None:
    marker = tmp_path / "marker"
    branch(repo)
    repo.deploy("staging", "api", API2, "the data part of the PR")
    path = {"main": "__main__.py", "root-py": "pydantic.py", "setup-py": "setup.py",
            "workflow": ".github/workflows/preview.yml"}[shape]
    text = (f"on: pull_request_target\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
            f"      - run: touch {marker}\n") if shape == "workflow" else _payload(marker)
    repo.write(path, text)
    repo.commit("hostile")
    base = back_to_base(repo)

    code, result, _ = pr_data(repo)

    assert code == 1 and result["verdict"] == "code"
    assert [r["path"] for r in result["refused"]] == [path]
    assert "is code, not deploy data" in result["refused"][0]["message"]
    assert result["written"] == [] and result["deleted"] == []
    assert status(repo) == "" and repo.repo.head.commit.hexsha == base  # not one byte of the PR written
    assert (repo.path / "deploys/staging/api").read_text() == f"{API} first\n"  # not even its data
    assert not marker.exists()
    # What runs next in this checkout (the program, with the checkout first on the import path) is the
    # base's: it prints and leaves no marker
    ran = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, ''); import runpy; "
                          "runpy.run_path('__main__.py', run_name='__main__')"], cwd=repo.path, capture_output=True,
                         text=True, timeout=60, check=True)
    assert ran.stdout == "the program\n" and not marker.exists()


def test_a_data_only_pr_is_written_exactly_from_the_head_commit(repo: DeployRepo) -> None:
    branch(repo)
    repo.deploy("staging", "api", API2, "next")
    repo.write("deploys/staging/web", f"{API2} new app\n")
    repo.write("deploys/qa/.gitkeep", "")
    repo.write("Pulumi.qa.yaml", yaml.safe_dump({"config": {"deploys:deployRoot": ".deployments/qa",
                                                            "aws:region": "eu-west-1"}}))
    repo.catalog({"api": {"repo": "../api", "owners": ["@acme/api"]}, "web": {"repo": "../web"}})
    repo.remove("deploys/staging/old")
    head = repo.commit("data only")
    back_to_base(repo)
    # main moves on after the PR branched: its own changes (code included) are not the PR's
    repo.write("__main__.py", "print('a newer program')\n")
    repo.commit("main moves")

    code, result, _ = pr_data(repo)

    assert code == 0 and result["verdict"] == "data" and result["refused"] == []
    assert result["written"] == ["Pulumi.qa.yaml", "apps.yaml", "deploys/qa/.gitkeep", "deploys/staging/api",
                                 "deploys/staging/web"]
    assert result["deleted"] == ["deploys/staging/old"]
    for rel in result["written"]:
        blob = subprocess.run(["git", "cat-file", "blob", f"{head}:{rel}"], cwd=repo.path, capture_output=True,
                              check=True).stdout
        assert (repo.path / rel).read_bytes() == blob, rel
    assert not (repo.path / "deploys/staging/old").exists()
    assert (repo.path / "__main__.py").read_text() == "print('a newer program')\n"  # the base's program stays
    assert sorted(line[3:] for line in status(repo).splitlines()) == sorted(result["written"] + result["deleted"])


def test_a_symlink_or_a_submodule_in_the_deploy_data_is_refused(repo: DeployRepo) -> None:
    branch(repo)
    (repo.path / "deploys/staging/link").symlink_to("/etc/passwd")
    repo.repo.git.add("-A")
    repo.repo.git.update_index("--add", "--cacheinfo", f"160000,{repo.repo.head.commit.hexsha},deploys/staging/sub")
    repo.repo.git.commit("-m", "links")
    back_to_base(repo)

    code, result, _ = pr_data(repo)

    assert code == 1
    messages = {r["path"]: r["message"] for r in result["refused"]}
    assert "is a symlink in the PR" in messages["deploys/staging/link"]
    assert "is a submodule in the PR" in messages["deploys/staging/sub"]
    assert status(repo) == ""


def test_a_health_command_added_by_a_stack_config_override_is_data_but_shown(repo: DeployRepo) -> None:
    branch(repo)
    repo.env("staging", deployRoot=".deployments/staging",
             settings={"api": {"health": {"command": "curl -fsS http://127.0.0.1:8080/health"}}})
    repo.write("Pulumi.staging.yaml", (repo.path / "Pulumi.staging.yaml").read_text() + "encryptionsalt: v1:x\n")
    repo.commit("health")
    back_to_base(repo)

    code, result, _ = pr_data(repo)
    assert code == 0 and result["written"] == ["Pulumi.staging.yaml"]
    assert result["health_commands"] == [{"path": "Pulumi.staging.yaml", "app": "api", "was": None,
                                          "command": "curl -fsS http://127.0.0.1:8080/health"}]
    repo.repo.git.checkout("--", ".")
    code, out, _ = run_cli(repo.path, "pr-data", "--base", "main", "--head", "pr")
    assert code == 0 and "note: Pulumi.staging.yaml: app 'api' health command" in out
    assert "curl -fsS http://127.0.0.1:8080/health" in out


@pytest.mark.parametrize(("key", "value", "top"), [
    ("aws:endpoints", [{"s3": "http://attacker.example"}], False),
    ("pulumi:disable-default-providers", ["aws"], False),
    ("secretsprovider", "awskms://alias/mine", True),
    ("encryptedkey", "AAAA", True),
])
def test_a_stack_config_that_changes_what_runs_is_refused(repo: DeployRepo, key: str, value: object,
                                                          top: bool) -> None:
    branch(repo)
    data = yaml.safe_load((repo.path / "Pulumi.staging.yaml").read_text())
    if top:
        data[key] = value
    else:
        data["config"][key] = value
    repo.write("Pulumi.staging.yaml", yaml.safe_dump(data))
    repo.commit("endpoint")
    back_to_base(repo)

    code, result, _ = pr_data(repo)

    assert code == 1 and result["verdict"] == "code"
    assert [(r["path"], r["key"]) for r in result["refused"]] == [("Pulumi.staging.yaml", key)]
    assert "only a release manager may approve it" in result["refused"][0]["message"]
    assert status(repo) == ""
    code, _, err = run_cli(repo.path, "pr-data", "--base", "main", "--head", "pr")
    assert code == 1 and f"'{key}'" in err and "nothing of it was written" in err


def test_cannot_judge_is_exit_2(repo: DeployRepo) -> None:
    code, _, err = run_cli(repo.path, "pr-data", "--base", "main", "--head", "no-such-ref")
    assert code == 2 and "cannot resolve 'no-such-ref'" in err
    branch(repo)
    repo.write("Pulumi.staging.yaml", "config: [unclosed\n")
    repo.commit("broken")
    back_to_base(repo)
    code, _, err = run_cli(repo.path, "pr-data", "--base", "main", "--head", "pr")
    assert code == 2 and "cannot judge Pulumi.staging.yaml" in err
    assert status(repo) == ""


def test_data_paths_and_keys() -> None:
    for path in ("apps.yaml", "Pulumi.staging.yaml", "deploys/staging/api", "deploys/staging/.gitkeep"):
        assert data_path_problem(path) is None, path
    for path in ("Pulumi.yaml", "__main__.py", "requirements.txt", "deploys", "deploys/../x", "./apps.yaml",
                 "sub/apps.yaml", "Pulumi.Bad Env.yaml", "deploys/a\\b", "deploys/a\nb", ".github/CODEOWNERS",
                 "deploys/.git/config", "deploys/x/.GIT/hooks/post-checkout", "deploys/.git./config"):
        assert data_path_problem(path) is not None, path
    base = {"config": {"deploys:protected": True, "aws:profile": "x"}, "encryptionsalt": "v1:a"}
    same_code_key = {"config": {"deploys:protected": False, "aws:profile": "x", "aws:region": "eu-west-1"},
                     "encryptionsalt": "v1:b"}
    assert stack_config_refusals("Pulumi.p.yaml", base, same_code_key) == []  # unchanged non-data key passes
    removed = {"config": {"deploys:protected": True}}
    assert [r.key for r in stack_config_refusals("Pulumi.p.yaml", base, removed)] == ["aws:profile"]
    assert [r.key for r in stack_config_refusals("Pulumi.p.yaml", None, {"config": {"aws:profile": "y"}})] \
        == ["aws:profile"]


def test_the_notes_file_and_the_comments_a_reviewer_reads(repo: DeployRepo, tmp_path: Path) -> None:
    from deployctl.commands.prdata import awaiting_comment, combine_comments
    from deployctl.core.change.prcomment import MAX_COMMENT_CHARS, PREVIEW_MARKER
    from deployctl.core.change.prdata import PrData, Refusal, Verdict

    branch(repo)
    repo.catalog({"api": {"repo": "../api", "settings": {"health": {"command": "rm -rf / `whoami` <b>"}}}})
    repo.commit("a health command")
    back_to_base(repo)
    notes = tmp_path / "pr-data.notes"
    code, _, _ = run_cli(repo.path, "pr-data", "--base", "main", "--head", "pr", "--notes-file", str(notes))
    assert code == 0
    text = notes.read_text()
    assert text.startswith("> [!IMPORTANT]") and "health command" in text
    assert "```\nrm -rf / `whoami` <b>\n```" in text  # exactly as written, in a block it cannot close

    joined = combine_comments([text, f"{PREVIEW_MARKER}\n## staging\n", f"{PREVIEW_MARKER}\n## production\n"])
    assert joined.startswith(PREVIEW_MARKER + "\n> [!IMPORTANT]") and joined.count(PREVIEW_MARKER) == 1
    assert joined.index("## staging") < joined.index("## production")
    assert len(combine_comments(["x" * (MAX_COMMENT_CHARS + 10)])) <= MAX_COMMENT_CHARS

    code_pr = PrData(verdict=Verdict.CODE, refused=[Refusal(path="setup.py", message="setup.py is code <!--")])
    body = awaiting_comment(code_pr, ["staging: api aaaaaaa -> bbbbbbb"])
    assert body.startswith(PREVIEW_MARKER) and "waiting for approval" in body and "`preview-code`" in body
    assert "<!--" not in body.split("\n", 1)[1] and "staging: api aaaaaaa -> bbbbbbb" in body


def test_a_secret_health_command_is_named_never_shown() -> None:
    from deployctl.core.change.prdata import health_command_changes, stack_health_commands

    base = {"config": {"deploys:settings": {"api": {"health": {"command": "echo old"}}}}}
    head = {"config": {"deploys:settings": {"api": {"health": {"command": {"secure": "v1:abc"}}},
                                            "web": {"health": {"url": "http://x/"}}}}}
    (change,) = health_command_changes("Pulumi.staging.yaml", stack_health_commands(base), stack_health_commands(head))
    assert (change.app, change.command, change.was) == ("api", "[secret]", "echo old")
    assert health_command_changes("p", stack_health_commands(head), stack_health_commands(head)) == []


def test_a_code_pr_gets_its_waiting_comment_then_the_approved_previews_in_the_same_comment(
        repo: DeployRepo, tmp_path: Path, httpserver) -> None:
    """The comment a code PR gets from the trusted `sort` job, then `pr-comment` editing that one comment
    with the stacks' previews: GitHub's API on loopback, as the Actions token sees it."""
    import os

    from tests.builders import FIXTURES
    from tests.githubfake import serve_pr_comments

    comments = serve_pr_comments(httpserver)
    env = {**os.environ, "GITHUB_EVENT_PATH": str(FIXTURES / "github-events" / "pull_request.opened.json"),
           "GITHUB_REPOSITORY": "acme/deploys", "GITHUB_API_URL": httpserver.url_for("").rstrip("/"),
           "GITHUB_TOKEN": "ghs_test_token"}
    branch(repo)
    repo.deploy("staging", "api", API2, "with code")
    repo.write("setup.py", "print('pip would run me')\n")
    repo.commit("code")
    back_to_base(repo)

    code, _, err = run_cli(repo.path, "pr-data", "--base", "main", "--head", "pr", "--post", env=env)
    assert code == 1, err
    (waiting,) = comments
    assert "waiting for approval" in waiting["body"] and "setup.py" in waiting["body"]
    assert re.search(rf"staging/api +update +{API[:12]} -> {API2[:12]}", waiting["body"])  # the plan, from git
    files = [tmp_path / "staging.md", tmp_path / "pr-data.notes"]
    files[0].write_text("<!-- deployctl:preview -->\n## staging previewed\n")
    files[1].write_text("> [!IMPORTANT]\n> notes\n")
    code, _, err = run_cli(repo.path, "pr-comment", *map(str, files), env=env)
    assert code == 0, err
    assert len(comments) == 1  # edited in place: one comment per PR
    body = comments[0]["body"]
    assert body.startswith("<!-- deployctl:preview -->\n> [!IMPORTANT]") and "## staging previewed" in body


def test_a_link_in_the_base_checkout_stops_the_write_before_anything_is_written(repo: DeployRepo,
                                                                                 tmp_path: Path) -> None:
    branch(repo)
    repo.catalog({"api": {"repo": "../api"}})
    repo.deploy("staging", "api", API2, "next")
    repo.commit("data")
    back_to_base(repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    staging = repo.path / "deploys" / "staging"
    for child in staging.iterdir():
        child.unlink()
    staging.rmdir()
    staging.symlink_to(outside)  # the checkout is not what git says: never followed
    before = (repo.path / "apps.yaml").read_bytes()

    code, _, err = run_cli(repo.path, "pr-data", "--base", "main", "--head", "pr")

    assert code == 2 and "is not a real folder" in err
    assert list(outside.iterdir()) == [] and (repo.path / "apps.yaml").read_bytes() == before
