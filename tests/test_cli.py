"""The CLI as a person reads it: --version, --help with examples on their own lines and readable
placeholders, each tag once in `plan`. The commands run in process (tests/scenario.py run_cli); the
installed entry point is proven here, in a subprocess, for each ExitStatus."""

from __future__ import annotations

import ast
import io
import json
import os
import re
from pathlib import Path

import pytest

from deployctl import console
from deployctl.core.violations import ExitStatus
from tests.builders import PROJECT_ROOT
from tests.scenario import build, run_cli, run_entry_point
from tests.test_layout import imports

COMMANDS = ["check", "plan", "preview", "up", "bump", "promote", "rollback", "history", "status", "deployed",
            "codeowners", "pr-data", "pr-comment", "drift", "propose"]


def test_version(tmp_path: Path):
    code, out, _ = run_entry_point(tmp_path, "--version")
    assert code == ExitStatus.OK and re.fullmatch(r"deployctl \d+\.\d+\.\d+\n", out)
    assert run_cli(tmp_path, "--version")[:2] == (code, out)


def test_the_installed_entry_point_exits_with_each_status_and_never_a_traceback(tmp_path: Path):
    sc = build(tmp_path)
    assert run_entry_point(sc.root, "check")[0] == ExitStatus.OK
    sc.deploy.deploy("staging", "api", "not-a-hash")
    code, out, err = run_entry_point(sc.root, "check")
    assert code == ExitStatus.VIOLATION and "syntax" in out, out + err
    code, _, err = run_entry_point(sc.root, "plan", "--base", "nope")
    assert code == ExitStatus.CANNOT_JUDGE and "cannot resolve 'nope'" in err
    code, _, err = run_entry_point(sc.root, "check", "--no-such-option")
    assert code == ExitStatus.CANNOT_JUDGE and "No such option" in err
    assert "Traceback" not in err


def test_the_entry_point_flushes_a_long_output_before_it_ends(tmp_path: Path):
    """main() ends the process without Python's teardown once the output is flushed: a JSON document
    far larger than a pipe's buffer arrives whole, and the exit status is the command's."""
    sc = build(tmp_path)
    for i in range(150):
        sc.deploy.deploy("staging", "api", sc.commits["c3" if i % 2 else "c2"], f"deploy {i} " + "x" * 400)
        sc.deploy.commit(f"deploy {i} (#{i + 10})")
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a pipe is by default
    code, out, err = run_entry_point(sc.root, "history", "--no-engine", "--json", env=buffered)
    assert code == ExitStatus.OK, err
    assert len(out) > 100_000  # a pipe holds 64 KiB
    entries = json.loads(out)
    assert len(entries) >= 150 and entries[0]["pr"] == 159
    code, out, err = run_entry_point(sc.root, "history", "--no-engine", env=buffered)  # a line a write
    assert code == ExitStatus.OK, err
    assert len(out.splitlines()) == len(entries) + 1 and out.endswith("\n"), out[-300:]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_reads_well(tmp_path: Path, name: str):
    code, out, err = run_cli(tmp_path, name, "--help", env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    assert code == 0, err
    assert "{" not in out.splitlines()[0], out  # the usage line says ENV, not {env}
    assert not re.search(r"<(str|int|dir|path|file|list\[\w+\]|int range|float)>", out), out  # nor `<str>`
    lines = out.splitlines()
    if "Example" in out:
        start = next(i for i, line in enumerate(lines) if line.strip().startswith("Example"))
        block = "\n".join(lines[start + 1:]).strip("\n").split("\n\n")[0]
        examples = block.splitlines()
        assert examples and all(line.strip().startswith("deployctl ") for line in examples), out
        assert all(line.count("deployctl ") == 1 for line in examples), out  # one example a line


def test_the_readme_lists_every_option_of_every_command():
    """The README's command table is the reference a person reads first: it cannot fall behind."""
    import typer

    from deployctl.cli import app

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = {line.split()[2].strip("`"): line.split("` |")[0] for line in table.splitlines()
            if line.startswith("| `deployctl ")}
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]  # a group
    assert set(rows) == set(commands) == set(COMMANDS) | {"metrics", "unlock", "doctor", "init", "install-engine"}
    for name, command in commands.items():
        options = {o for p in command.params for o in p.opts if o.startswith("--")} - {"--repo"}
        missing = {o for o in options if not re.search(re.escape(o) + r"\b", rows[name])}
        assert not missing, f"README's row of {name} lacks {sorted(missing)}"
    assert "Every command takes `--repo DIR`" in readme


def test_bump_usage_names_its_arguments(tmp_path: Path):
    _, out, _ = run_cli(tmp_path, "bump", "--help")
    assert out.startswith("Usage: deployctl bump [OPTIONS] ENV APP COMMIT")


def test_plan_prints_each_tag_once(tmp_path: Path):
    sc = build(tmp_path)
    sc.deploy.deploy("staging", "api", sc.commits["c1"], "login broke [rollback]")
    code, out, err = sc.cli("plan", "--base", "main")
    assert code == 0, err
    assert out.count("[rollback]") == 1


@pytest.mark.parametrize("command", ["up", "preview"])
def test_a_misspelt_stack_is_refused_with_base_too(tmp_path: Path, command: str):
    """With --base, --stack only narrows the affected stacks; a name that is no env is still an
    error (exit 2, the envs named), never a run that deploys or previews nothing."""
    sc = build(tmp_path)
    sc.deploy.deploy("staging", "api", sc.commits["c3"], "third")
    code, out, err = run_cli(sc.root, command, "--base", "main", "--stack", "prodution")
    assert code == ExitStatus.CANNOT_JUDGE, out + err
    assert ("no env 'prodution' (no Pulumi.prodution.yaml); did you mean 'production'? "
            "envs are production, staging") in err


CLI_PY = PROJECT_ROOT / "deployctl" / "cli.py"


def test_the_cli_only_declares_options_and_dispatches():
    """cli.py parses and hands one request to commands/<verb>.py, which does the work and prints it (as
    pre-commit's main.py and its commands): it stays short, imports no rendering (deployctl.report) and
    never picks JSON over text itself (console.as_json)."""
    source = CLI_PY.read_text(encoding="utf-8")
    assert len(source.splitlines()) < 350
    assert sorted(n for n in imports(CLI_PY) if n == "deployctl.report" or n.startswith("deployctl.report.")) == []
    tree = ast.parse(source)
    assert not [a for a in ast.walk(tree) if isinstance(a, ast.alias) and a.name == "as_json"]
    printing = {fn.name for fn in tree.body if isinstance(fn, ast.FunctionDef)
                for node in ast.walk(fn) if isinstance(node, ast.Attribute) and node.attr == "as_json"}
    assert printing == set()


def run_command(call: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with console.use(out, err):
        assert callable(call)
        code = call()
    return int(code), out.getvalue(), err.getvalue()


def test_a_command_runs_from_its_request_alone_and_prints_what_the_cli_prints(tmp_path: Path):
    """A command module is whole without the CLI: its request in, its output through the console and its
    ExitStatus out, byte for byte what `deployctl` prints and exits with."""
    from deployctl.commands.codeowners import CodeownersRequest, codeowners
    from deployctl.commands.plan import PlanRequest, plan

    sc = build(tmp_path)
    sc.deploy.deploy("staging", "api", sc.commits["c3"], "third")
    alone = run_command(lambda: plan(PlanRequest(sc.root, "main", None, as_json=True)))
    assert alone == sc.cli("plan", "--base", "main", "--json") and alone[0] == ExitStatus.OK
    assert json.loads(alone[1])["stacks"] == ["staging"]
    (sc.root / ".github").mkdir(exist_ok=True)
    (sc.root / ".github" / "CODEOWNERS").write_text("# stale\n", encoding="utf-8")
    stale = run_command(lambda: codeowners(CodeownersRequest(sc.root, check_only=True)))
    assert stale == sc.cli("codeowners", "--check") and stale[0] == ExitStatus.VIOLATION
    assert "out of date" in stale[2]


def test_a_command_line_naming_a_command_builds_that_command_alone_with_the_same_help():
    """`deployctl up ...` builds `up` alone (typer reads each command's signature to build it); what a
    person reads of it, its help and usage, is the whole CLI's."""
    import typer

    from deployctl.cli import command

    whole = command([])
    names = list(whole.commands)
    assert len(names) == 20 and command(["--help"]).commands.keys() == whole.commands.keys()

    def helped(group: typer.core.TyperGroup, name: str) -> str:
        with typer.Context(group, info_name="deployctl", terminal_width=100) as parent:
            sub = group.commands[name]
            return sub.get_help(typer.Context(sub, info_name=name, parent=parent))

    for name in names:
        alone = command([name, "--stack", "x"])
        assert list(alone.commands) == [name]
        assert helped(alone, name) == helped(whole, name)
        assert "Usage: deployctl " + name in helped(alone, name)
