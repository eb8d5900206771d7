"""The layout is the architecture: each folder imports only what its place allows, so a newcomer finds
each concern in one guess and the pure core stays pure (no git, Pulumi, network or console in it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.builders import PROJECT_ROOT

ALLOWED = {
    "deployctl.core": ("deployctl.core",),
    "deployctl.adapters": ("deployctl.core", "deployctl.adapters", "deployctl.console"),
    "deployctl.report": ("deployctl.core", "deployctl.report"),
    "deployctl.commands": ("deployctl.core", "deployctl.adapters", "deployctl.report", "deployctl.commands",
                           "deployctl.console"),
    "stacks": ("deployctl.core", "deployctl.adapters", "deployctl.components", "deployctl.stacks"),
    "components": ("deployctl.core", "deployctl.adapters", "deployctl.components"),
}
"""Who may import what, every import counted (at the top, inside a function or for type checking)."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("deployctl.commands.init", "deployctl.__version__"): "the one place the version lives: what init pins, "
                                                         "and what doctor and check compare with the pin",
}
"""(module, what it imports) allowed against its place, each with the reason."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{a.name}" if node.module == "deployctl" else node.module
                         for a in node.names)
    return {name for name in found if name.split(".")[0] in ("deployctl", "stacks", "components")}


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_folder_imports_only_what_its_place_allows(folder: str) -> None:
    wrong = []
    for path in sorted((PROJECT_ROOT / folder.replace(".", "/")).rglob("*.py")):
        me = module_name(path)
        for name in sorted(imports(path)):
            if not name.startswith(ALLOWED[folder]) and (me, name) not in EXCEPTIONS:
                wrong.append(f"{me} imports {name}")
    assert wrong == []


def test_the_top_of_deployctl_is_the_cli_and_the_console_only() -> None:
    top = sorted(p.name for p in (PROJECT_ROOT / "deployctl").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "console.py"]
    folders = [p for p in (PROJECT_ROOT / "deployctl").iterdir() if p.is_dir() and p.name != "__pycache__"]
    # scaffold: the files `deployctl init` writes into a team's repo (data, no module)
    assert sorted(p.name for p in folders if not p.is_symlink()) == [
        "adapters", "commands", "core", "report", "scaffold"]
    # The reference deploy repo's own program folders, in the package's one namespace (pyproject.toml).
    assert {p.name: p.readlink().as_posix() for p in folders if p.is_symlink()} == {
        "components": "../components", "stacks": "../stacks"}


SUBPACKAGES = {
    "deployctl/core": (["lazymodel.py", "urls.py", "violations.py"],
                       ["change", "deliver", "health", "kinds", "repo", "trace"]),
    "deployctl/core/change": (None, ["rules"]),
    "deployctl/adapters": (["cachedir.py", "deadline.py", "github.py", "notify.py", "seconds.py"],
                           ["cloud", "git", "pulumi"]),
}
"""Each folder's own modules (the base its subpackages share) and its subpackages, which name the
architecture: a module is filed under what it is about, never left loose beside them."""


@pytest.mark.parametrize("folder", sorted(SUBPACKAGES))
def test_core_and_adapters_are_grouped_into_subpackages_that_name_the_architecture(folder: str) -> None:
    modules, packages = SUBPACKAGES[folder]
    here = PROJECT_ROOT / folder
    if modules is not None:
        assert sorted(p.name for p in here.glob("*.py") if p.name != "__init__.py") == modules
    found = sorted(p.name for p in here.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert found == packages
    assert all((here / name / "__init__.py").read_text(encoding="utf-8").startswith('"""') for name in packages)


def test_every_exception_is_still_needed() -> None:
    used = {(module_name(p), name) for p in (PROJECT_ROOT / "deployctl").rglob("*.py") for name in imports(p)}
    assert set(EXCEPTIONS) <= used


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (PROJECT_ROOT / folder).rglob("*.py"))


def test_no_module_imports_gitpython() -> None:
    """One handle on the deploy repository (adapters/git/repo.DeployRepo) runs git processes: the tool
    needs GitPython not at all (only the tests, which build real repositories with it)."""
    allowed: set[str] = set()
    found = []
    for path in _python_files("deployctl", "stacks", "components"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n == "git" or n.startswith("git.") for n in names):
                found.append(path.relative_to(PROJECT_ROOT).as_posix())
    assert sorted(set(found) - allowed) == []


def test_the_core_never_reads_the_environment() -> None:
    """The environment is read at the edges and passed in (e.g. safegit.GitLimits), so a core
    function's answer depends on its arguments only."""
    found = []
    for path in _python_files("deployctl/core"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                    and node.attr in ("environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"):
                found.append(f"{path.relative_to(PROJECT_ROOT).as_posix()}:{node.lineno} os.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.module == "os" \
                    and any(a.name in ("environ", "environb", "getenv", "getenvb") for a in node.names):
                found.append(f"{path.relative_to(PROJECT_ROOT).as_posix()}:{node.lineno} from os import")
    assert found == []
