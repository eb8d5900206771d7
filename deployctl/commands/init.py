"""`deployctl init DIR`: a team's deploy repository, ready for `deployctl check` as it is.

What it holds (core/repo/scaffold.py): the stack configs, an empty catalog, the deploy folders, the pin of
this exact version, a `__main__.py` that runs the installed program, the CODEOWNERS that
`deployctl codeowners` would write, a README for the team and the workflows shipped with the package
(deployctl/scaffold/). None of the tool's source: the program is the pinned package.
It never overwrites: when any file it would write exists, it writes nothing (exit 2, naming them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl.core.repo.programpaths import PIN_FILE
from deployctl.core.violations import CannotJudge, ExitStatus

if TYPE_CHECKING:
    from deployctl.core.repo.scaffold import EnvPlan

WORKFLOWS_DIR = ".github/workflows"


def _scaffold() -> resources.abc.Traversable:
    return resources.files("deployctl") / "scaffold"


def _workflows() -> dict[str, str]:
    """Every workflow the package ships (deployctl/scaffold/workflows/*.yml), by its path in the repo."""
    folder = _scaffold() / "workflows"
    if not folder.is_dir():
        return {}
    return {f"{WORKFLOWS_DIR}/{item.name}": item.read_text(encoding="utf-8")
            for item in sorted(folder.iterdir(), key=lambda i: i.name) if item.name.endswith(".yml")}


def _readme(name: str, version: str, envs: list[EnvPlan], workflows: list[str]) -> str:
    import jinja2

    from deployctl.core.repo.scaffold import DISTRIBUTION, PLACEHOLDER_REVIEWERS

    template = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                  autoescape=False).from_string(
        (_scaffold() / "README.md.j2").read_text(encoding="utf-8"))
    return template.render(name=name, version=version, envs=envs, workflows=workflows, pin_file=PIN_FILE,
                           distribution=DISTRIBUTION, placeholder=PLACEHOLDER_REVIEWERS)


def init_files(name: str, envs: list[str] | None, protected: list[str] | None,
               reviewers: list[str] | None) -> dict[str, str]:
    """Every file of the new repository, path -> text, judged as `deployctl check` will judge it."""
    from deployctl import __version__
    from deployctl.core.repo.scaffold import PLACEHOLDER_REVIEWERS, plan_envs, repo_files
    from deployctl.core.repo.snapshot import RepoFiles, build_snapshot
    from deployctl.core.repo.tree import Entry, EntryKind
    from deployctl.report.codeowners import CODEOWNERS_FILE, render_codeowners

    try:
        plans = plan_envs(envs or [], protected, reviewers or [PLACEHOLDER_REVIEWERS])
    except ValueError as exc:
        raise CannotJudge(str(exc)) from None
    files = repo_files(__version__, plans)
    entries = [Entry(path=f"deploys/{p.name}", kind=EntryKind.DIR) for p in plans]
    entries += [Entry(path=f"deploys/{p.name}/.gitkeep", kind=EntryKind.FILE, data=b"") for p in plans]
    snapshot = build_snapshot(RepoFiles(catalog=files["apps.yaml"], entries=entries, stack_configs={
        p.name: files[f"Pulumi.{p.name}.yaml"] for p in plans}))
    if problems := [*snapshot.config_errors, *snapshot.violations]:  # a bug here, never the user's input
        raise CannotJudge("the new repository would not pass check: " + "; ".join(v.format() for v in problems))
    files[CODEOWNERS_FILE] = render_codeowners(snapshot.catalog, snapshot.stacks, set())
    workflows = _workflows()
    files.update(workflows)
    files["README.md"] = _readme(name, __version__, plans, sorted(workflows))
    return files


def _taken(root: Path, rel: str) -> bool:
    """A path init must not write: it exists (a dangling link too), or a folder on its way is a link
    (writing would land outside the new repository) or is not a folder."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        folder = root.joinpath(*parts[:i])
        if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
            return True
    return os.path.lexists(root / rel)


@dataclass(frozen=True)
class InitRequest:
    directory: Path
    """The new deploy repository (created when missing)."""
    envs: list[str] | None = None
    """In promotion order (default: staging, production)."""
    protected: list[str] | None = None
    reviewers: list[str] | None = None


def init(request: InitRequest) -> ExitStatus:
    """Write the repository, print each file written, and say what to read next."""
    from deployctl import console

    directory = request.directory
    written = run_init(directory, request.envs, request.protected, request.reviewers)
    for rel in written:
        console.out(f"wrote {directory / rel}")
    console.error(f"next: read {directory / 'README.md'} (\"What to do next\"), then `deployctl doctor`")
    return ExitStatus.OK


def run_init(root: Path, envs: list[str] | None = None, protected: list[str] | None = None,
             reviewers: list[str] | None = None) -> list[str]:
    """Write the new repository into root (created when missing); return the paths written."""
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise CannotJudge(f"{root} is not a folder; name a new or existing folder")
    files = init_files(root.resolve().name, envs, protected, reviewers)
    if taken := [rel for rel in files if _taken(root, rel)]:
        raise CannotJudge(f"{root} already has {', '.join(taken)}; init writes nothing over existing files "
                          "(move them away, or init a new folder)")
    try:
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "x", encoding="utf-8", newline="\n") as fh:  # "x": never over a file made meanwhile
                fh.write(text)
    except OSError as exc:
        raise CannotJudge(f"cannot write {root}: {exc.strerror or type(exc).__name__}; choose a writable "
                          "folder") from None
    return list(files)


def version_pin(root: Path) -> tuple[bool, str] | None:
    """Whether the installed tool is the version the repository pins (`PIN_FILE`), and what to say;
    None when the repository pins nothing (the tool's own source). For `doctor` and `check`."""
    from deployctl import __version__
    from deployctl.core.repo.scaffold import pin_note

    try:
        text = (root / PIN_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return False, f"{PIN_FILE}: cannot read it ({type(exc).__name__}), so the tool's pin is unknown"
    return pin_note(text, __version__)
