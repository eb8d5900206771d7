"""`deployctl init`: a team's deploy repository that passes check and codeowners --check as it is,
holds none of the tool's source, pins this exact version, and is never written over an existing file;
the pin as `plan`, `check` and `doctor` see it; `install-engine` from the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import git
import pytest
import yaml

from deployctl import __version__
from deployctl.core.repo.scaffold import pin_note, pinned_version
from deployctl.core.violations import ExitStatus
from tests import test_cli
from tests.builders import ACTOR, PROJECT_ROOT
from tests.scenario import run_cli


def init(tmp_path: Path, *args: str, name: str = "team") -> tuple[int, str, str, Path]:
    code, out, err = run_cli(tmp_path, "init", name, *args)
    return code, out, err, tmp_path / name


def commit_all(root: Path, message: str = "deployctl init") -> str:
    repo = git.Repo(root) if (root / ".git").exists() else git.Repo.init(root, initial_branch="main")
    repo.git.add("-A")
    return repo.index.commit(message, author=ACTOR, committer=ACTOR).hexsha


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}


def shipped_workflows() -> set[str]:
    folder = resources.files("deployctl") / "scaffold" / "workflows"
    return {f".github/workflows/{p.name}" for p in folder.iterdir() if p.name.endswith(".yml")} \
        if folder.is_dir() else set()


def test_init_writes_a_team_repository_that_passes_check_and_codeowners_as_it_is(tmp_path: Path):
    code, out, err, root = init(tmp_path)
    assert code == ExitStatus.OK, err
    expected = {"Pulumi.yaml", "__main__.py", "apps.yaml", "requirements.txt", ".gitignore", "README.md",
                "Pulumi.staging.yaml", "Pulumi.production.yaml", "deploys/staging/.gitkeep",
                "deploys/production/.gitkeep", ".github/CODEOWNERS", *shipped_workflows()}
    assert files_of(root) == expected
    assert sorted(out.splitlines()) == sorted(f"wrote {Path('team') / rel}" for rel in expected)  # says what it wrote
    assert "deployctl doctor" in err

    # none of the tool's source: no deployctl/, stacks/ or components/, no .py but __main__.py
    assert [p for p in expected if p.endswith(".py")] == ["__main__.py"]
    main = (root / "__main__.py").read_text()
    assert "from deployctl.stacks.program import program" in main and len(main.splitlines()) < 15
    assert (root / "requirements.txt").read_text().splitlines()[-1] == f"deploy-by-code=={__version__}"
    pulumi = yaml.safe_load((root / "Pulumi.yaml").read_text())
    assert pulumi["name"] == "deploys" and pulumi["runtime"]["name"] == "python"
    assert pulumi["runtime"]["options"]["virtualenv"] == ".venv"
    assert yaml.safe_load((root / "apps.yaml").read_text()) == {"apps": {}}
    production = yaml.safe_load((root / "Pulumi.production.yaml").read_text())["config"]
    assert production == {"deploys:protected": "true", "deploys:promoteFrom": "staging",
                          "deploys:reviewers": ["@your-org/release-managers"]}
    assert yaml.safe_load((root / "Pulumi.staging.yaml").read_text())["config"] == {}
    readme = (root / "README.md").read_text()
    assert "@your-org/release-managers" in readme and "deployctl doctor" in readme
    assert "deployctl install-engine" in readme and "Set up for a team on GitHub" in readme

    commit_all(root)
    code, out, err = run_cli(root, "check")
    assert (code, out.strip()) == (ExitStatus.OK, "ok: no violations"), err
    assert "note:" not in err  # the installed version is the pinned one
    code, out, err = run_cli(root, "codeowners", "--check")
    assert (code, out.strip()) == (ExitStatus.OK, ".github/CODEOWNERS is up to date"), err
    assert "/requirements.txt @your-org/release-managers" in (root / ".github/CODEOWNERS").read_text()


def test_the_workflows_init_writes_are_the_shipped_ones_and_pass_actionlint(tmp_path: Path):
    code, _, err, root = init(tmp_path)
    assert code == ExitStatus.OK, err
    written = {p.relative_to(root).as_posix() for p in (root / ".github" / "workflows").glob("*")} \
        if (root / ".github" / "workflows").exists() else set()
    assert written == shipped_workflows()
    for rel in written:
        shipped = resources.files("deployctl") / "scaffold" / "workflows" / Path(rel).name
        assert (root / rel).read_text() == shipped.read_text(encoding="utf-8")
    actionlint = PROJECT_ROOT / ".venv" / "bin" / "actionlint"
    if written and actionlint.exists():  # installed by `make setup` (the lead's job), never built here
        done = subprocess.run([str(actionlint), "-no-color", *sorted(written)], cwd=root, capture_output=True,
                              text=True, timeout=120)
        assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_init_refuses_to_overwrite_any_file_and_writes_nothing(tmp_path: Path):
    root = tmp_path / "team"
    (root / "deploys" / "staging").mkdir(parents=True)
    (root / "README.md").write_text("ours\n")
    (root / "deploys" / "staging" / ".gitkeep").write_text("")
    before = files_of(root)
    code, out, err, _ = init(tmp_path)
    assert code == ExitStatus.CANNOT_JUDGE
    assert "README.md" in err and "deploys/staging/.gitkeep" in err and "writes nothing" in err
    assert out == "" and files_of(root) == before and (root / "README.md").read_text() == "ours\n"


def test_init_never_writes_through_a_link(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "team"
    root.mkdir()
    (root / ".github").symlink_to(outside)  # .github/CODEOWNERS would land outside the repository
    (root / "apps.yaml").symlink_to(tmp_path / "nowhere.yaml")  # a dangling link is taken too
    code, _, err, _ = init(tmp_path)
    assert code == ExitStatus.CANNOT_JUDGE and ".github/CODEOWNERS" in err and "apps.yaml" in err
    assert list(outside.iterdir()) == [] and not (tmp_path / "nowhere.yaml").exists()
    assert sorted(p.name for p in root.iterdir()) == [".github", "apps.yaml"]


def test_init_with_named_envs_chains_promotion_and_protects_what_it_is_told(tmp_path: Path):
    code, _, err, root = init(tmp_path, "--env", "dev", "--env", "staging", "--env", "prod", "--protected",
                              "staging", "--protected", "prod", "--reviewers", "@acme/release-managers",
                              "--reviewers", "@acme/sre")
    assert code == ExitStatus.OK, err
    configs = {env: yaml.safe_load((root / f"Pulumi.{env}.yaml").read_text())["config"]
               for env in ("dev", "staging", "prod")}
    assert configs["dev"] == {}
    assert configs["staging"]["deploys:promoteFrom"] == "dev" and configs["prod"]["deploys:promoteFrom"] == "staging"
    assert configs["prod"]["deploys:reviewers"] == ["@acme/release-managers", "@acme/sre"]
    assert configs["staging"]["deploys:protected"] == "true" and "deploys:protected" not in configs["dev"]
    assert all((root / "deploys" / env / ".gitkeep").exists() for env in configs)
    assert "your-org" not in (root / "README.md").read_text().split("## What to do next")[0]
    commit_all(root)
    assert run_cli(root, "check")[0] == ExitStatus.OK
    assert run_cli(root, "codeowners", "--check")[0] == ExitStatus.OK


@pytest.mark.parametrize(("args", "says"), [
    (["--env", "Prod"], "env 'Prod'"),
    (["--env", "../etc"], "env '../etc'"),
    (["--env", "dev", "--env", "dev"], "named twice"),
    (["--protected", "live"], "--protected live: not one of the envs (staging, production)"),
    (["--reviewers", "release managers"], "reviewer 'release managers'"),
    (["--reviewers", "@acme/rm\n/** @me"], "an owner is @user"),
])
def test_init_refuses_bad_names_with_what_to_do_and_writes_nothing(tmp_path: Path, args: list[str], says: str):
    code, _, err, root = init(tmp_path, *args)
    assert code == ExitStatus.CANNOT_JUDGE and says in err, err
    assert not root.exists()


@pytest.mark.parametrize("name", ["init", "install-engine"])
def test_the_new_commands_help_reads_well(tmp_path: Path, name: str):
    test_cli.test_help_reads_well(tmp_path, name)


def test_a_change_of_the_pin_is_a_program_change_every_stack_is_planned(tmp_path: Path):
    code, _, err, root = init(tmp_path)
    assert code == ExitStatus.OK, err
    base = commit_all(root)
    pin = root / "requirements.txt"
    pin.write_text(pin.read_text().replace(f"=={__version__}", "==99.0.0"))
    head = commit_all(root, "upgrade deploy-by-code to 99.0.0")
    code, out, err = run_cli(root, "plan", "--base", base, "--head", head, "--json")
    assert code == ExitStatus.OK, err
    result = json.loads(out)
    assert (result["stacks"], result["program_changed"]) == (["staging", "production"], True)


def test_check_and_doctor_say_when_the_installed_tool_is_not_the_pinned_one(tmp_path: Path):
    code, _, err, root = init(tmp_path)
    assert code == ExitStatus.OK, err
    pin = root / "requirements.txt"
    pin.write_text(pin.read_text().replace(f"=={__version__}", "==99.0.0"))
    commit_all(root)
    code, out, err = run_cli(root, "check")
    assert (code, out.strip()) == (ExitStatus.OK, "ok: no violations")  # said, not a rule's failure
    assert (f"note: deployctl {__version__} is installed, but requirements.txt pins deploy-by-code==99.0.0: "
            "run `pip install -r requirements.txt`") in err
    code, out, err = run_cli(root, "doctor", "--json", "--timeout", "30")
    checks = {c["name"]: c for c in json.loads(out)}
    assert checks["deployctl version"]["status"] == "warn" and "pins deploy-by-code==99.0.0" in \
        checks["deployctl version"]["detail"]
    pin.write_text(f"deploy-by-code=={__version__}\n")
    code, out, err = run_cli(root, "doctor", "--json", "--timeout", "30")
    checks = {c["name"]: c for c in json.loads(out)}
    assert checks["deployctl version"] == {"name": "deployctl version", "status": "ok", "fix": "",
                                           "detail": f"deployctl {__version__}, as requirements.txt pins"}


def test_this_repository_pins_nothing_so_doctor_says_nothing_of_a_pin():
    from deployctl.commands.init import version_pin

    assert version_pin(PROJECT_ROOT) is None  # the tool's own source: its program is the source itself


@pytest.mark.parametrize(("text", "pinned"), [
    ("deploy-by-code==1.2.3\n", "1.2.3"),
    ("# a comment\nboto3==1\nDeploy_By_Code == 1.2.3 \\\n    --hash=sha256:ab\n", "1.2.3"),
    ("deploy-by-code>=1.2\n", None),
    ("# deploy-by-code==1.2.3\n", None),
    ("", None),
])
def test_the_pin_is_read_only_as_an_exact_version(text: str, pinned: str | None):
    assert pinned_version(text) == pinned
    ok, note = pin_note(text, "1.2.3")
    assert ok is (pinned == "1.2.3")
    assert ("pins no exact deploy-by-code version" in note) is (pinned is None)


def test_install_engine_prints_the_pinned_cli_it_finds_on_path(tmp_path: Path):
    """The package's own copy of scripts/install-pulumi, run by `deployctl install-engine`: a pinned
    pulumi on PATH is used as it is (never a build here: `make engine` linked the cached CLI)."""
    linked = PROJECT_ROOT / ".venv" / "bin" / "pulumi"
    if not linked.exists():
        pytest.fail("the pinned Pulumi CLI is not linked into .venv/bin; run `make engine`")
    bin_dir = linked.resolve().parent
    env = {"PATH": os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]), "HOME": str(tmp_path)}
    code, out, err = run_cli(tmp_path, "install-engine", "--no-link", env=env)  # this suite's venv stays as it is
    assert code == ExitStatus.OK, err
    assert out == f"{bin_dir}\n" and "already on PATH" in err and "linked" not in err
    shipped = resources.files("deployctl.adapters.pulumi") / "install-pulumi"
    assert shipped.read_text(encoding="utf-8") == (PROJECT_ROOT / "scripts" / "install-pulumi").read_text()
    assert shutil.which("bash")


def test_init_into_the_folder_of_a_new_clone_with_its_venv_passes_check_before_any_commit(tmp_path: Path):
    """README, "Use it for your team": `git init`, a venv, `deployctl init .`, `check`."""
    root = tmp_path / "acme-deploys"
    git.Repo.init(root, initial_branch="main")
    (root / ".venv" / "bin").mkdir(parents=True)
    code, out, err = run_cli(root, "init", ".")
    assert code == ExitStatus.OK, err
    assert "wrote requirements.txt" in out.splitlines()
    assert (root / "README.md").read_text().startswith("# acme-deploys\n")
    assert run_cli(root, "check")[:2] == (ExitStatus.OK, "ok: no violations\n")
    assert run_cli(root, "codeowners", "--check")[0] == ExitStatus.OK


def test_the_readme_tells_a_team_to_install_this_version():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it for your team", 1)[1].split("\n## ", 1)[0]
    assert f"pip install deploy-by-code=={__version__}" in section and "deployctl init ." in section
    assert "### Upgrading" in section
    assert readme.index("## Use it for your team") < readme.index("## Set up for a team on GitHub")


def test_init_refuses_a_file_for_its_folder(tmp_path: Path):
    (tmp_path / "team").write_text("a file\n")
    code, _, err, root = init(tmp_path)
    assert code == ExitStatus.CANNOT_JUDGE and "is not a folder" in err
    assert root.read_text() == "a file\n"
