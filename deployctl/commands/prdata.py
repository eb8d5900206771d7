"""`deployctl pr-data`: bring a PR's deploy data into the base checkout, as blobs, or say it is code.

Run by the trusted preview (`pull_request_target`: the base branch's workflow and tool) after it has
fetched the PR's head commit as objects. Nothing of the PR is checked out, imported, installed or run:
git lists what the PR changes (`diff --raw` from the merge base, no diff drivers), and when every path is
deploy data (deployctl/core/change/prdata.py), exactly those files are written from the head commit's blobs
into the base checkout (regular files only, each path re-checked to stay where data lives). Anything
else is refused, and nothing is written.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl.adapters.git.reads import _read_blobs
from deployctl.adapters.git.repo import open_git, resolve_ref, run_git
from deployctl.core.change.prdata import (
    EntryMode,
    HealthCommand,
    PrData,
    Refusal,
    Verdict,
    catalog_health_commands,
    data_path_problem,
    entry_mode,
    health_command_changes,
    stack_config_refusals,
    stack_health_commands,
)
from deployctl.core.repo.catalog import CATALOG_FILE
from deployctl.core.repo.snapshot import env_of_stack_file
from deployctl.core.repo.yamlfile import YamlError, load_yaml
from deployctl.core.violations import CannotJudge, ExitStatus

if TYPE_CHECKING:
    from deployctl.adapters.git.repo import Repo

@dataclass(frozen=True)
class PrDataRequest:
    repo: Path
    base: str
    """The PR's base commit (checked out in repo)."""
    head: str
    """The PR's head commit (fetched, not checked out)."""
    post: bool = False
    """For a code change, post the comment that says its credentialed preview waits for approval."""
    notes_file: Path | None = None
    """Where to write what a reviewer must read (a health command the PR adds), for pr-comment."""
    as_json: bool = False


def pr_data(request: PrDataRequest) -> ExitStatus:
    """Judge and write the PR's data; print the verdict (on stderr for a code change, or JSON), write
    the notes, post the waiting comment when asked: 1 when it is code."""
    from deployctl import console
    from deployctl.commands.output import write_file

    repo, base, head = request.repo, request.base, request.head
    result = run_pr_data(repo, base, head)
    if request.notes_file is not None and (notes := notes_markdown(result)):
        write_file(request.notes_file, notes)
    if request.as_json:
        console.as_json(result.model_dump(mode="json"))
    else:
        for line in result_lines(result):
            (console.out if result.ok else console.error)(line)
    if request.post and not result.ok:
        from deployctl.commands.plan import run_plan
        from deployctl.commands.preview import post_comment
        from deployctl.report.tables import plan_lines

        post_comment(awaiting_comment(result, plan_lines(run_plan(repo, merge_base(repo, base, head), head))))
    return ExitStatus.OK if result.ok else ExitStatus.VIOLATION


@dataclass(frozen=True)
class PrCommentRequest:
    files: list[Path]
    """Each stack's comment (preview --comment-file), and pr-data's notes (a file ending in .notes)."""


def pr_comment(request: PrCommentRequest) -> ExitStatus:
    """Post the files as the PR's one comment, pr-data's notes first."""
    from deployctl.commands.preview import post_comment

    ordered = sorted(request.files, key=lambda f: (f.suffix != NOTES_SUFFIX, f.name))  # pr-data's notes first
    post_comment(combine_comments([f.read_text(encoding="utf-8") for f in ordered]))
    return ExitStatus.OK


_NO_DRIVERS = ("--no-ext-diff", "--no-textconv", "--no-renames", "--no-abbrev")


def merge_base(root: Path, base: str, head: str) -> str:
    """Where the PR branched from the base: what its plan compares against, so commits the base gained
    since are not shown as the PR undoing them."""
    repo = open_git(root)
    return run_git(repo, "merge-base", resolve_ref(repo, base), resolve_ref(repo, head))


def _changes(repo: Repo, base: str, head: str) -> list[tuple[str, EntryMode, str]]:
    """(path, what it is at head, its blob) of each path the PR changes: from the merge base of base and
    head to head, as GitHub shows a PR's files."""
    merge_base = run_git(repo, "merge-base", base, head)
    raw = run_git(repo, "diff", "--raw", "-z", *_NO_DRIVERS, merge_base, head, "--")
    fields = raw.split("\0")
    out = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        _old_mode, new_mode, _old_sha, new_sha, _status = meta[1:].split()
        out.append((path, entry_mode(new_mode), new_sha))
    return out


def _blobs_at(repo: Repo, rev: str, paths: list[str]) -> dict[str, bytes]:
    """The regular files among `paths` at `rev` (absent ones left out), read as blobs."""
    if not paths:
        return {}
    shas = {}
    for record in filter(None, run_git(repo, "ls-tree", "-z", "--full-tree", rev, "--", *paths).split("\0")):
        meta, path = record.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob" and entry_mode(mode) is EntryMode.FILE:
            shas[path] = sha
    blobs = _read_blobs(repo, sorted(set(shas.values())))
    return {path: blobs[sha] for path, sha in shas.items()}


def _parse(path: str, data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return load_yaml(data.decode("utf-8"), path, "stack-config")[0]
    except (UnicodeDecodeError, YamlError) as exc:
        raise CannotJudge(f"cannot judge {path} of the PR: it is not valid UTF-8 YAML ({exc}); "
                          "fix the file, then push again") from None


def judge(repo: Repo, base: str, head: str) -> tuple[PrData, dict[str, str]]:
    """The verdict on the PR's changes, and (for data) the blob of each path to write ("" deletes)."""
    changes = _changes(repo, base, head)
    refused: list[Refusal] = []
    for path, mode, _ in changes:
        if (problem := data_path_problem(path)) is not None:
            refused.append(Refusal(path=path, message=f"{path} {problem}"))
        elif mode in (EntryMode.SYMLINK, EntryMode.SUBMODULE, EntryMode.OTHER):
            refused.append(Refusal(path=path, message=f"{path} is a {mode.value} in the PR, not a regular file: "
                                                      "deploy data is regular files only"))
    configs = [p for p, _, _ in changes if p == CATALOG_FILE or env_of_stack_file(p) is not None]
    notes: list[HealthCommand] = []
    if configs:
        olds, news = _blobs_at(repo, base, configs), _blobs_at(repo, head, configs)
        for path in configs:
            old, new = _parse(path, olds.get(path)), _parse(path, news.get(path))
            if path == CATALOG_FILE:
                notes += health_command_changes(path, catalog_health_commands(old), catalog_health_commands(new))
                continue
            refused += stack_config_refusals(path, old, new)
            notes += health_command_changes(path, stack_health_commands(old), stack_health_commands(new))
    changed = [p for p, _, _ in changes]
    if refused:
        return PrData(verdict=Verdict.CODE, changed=changed, refused=refused, health_commands=notes), {}
    plan = {path: ("" if mode is EntryMode.DELETED else sha) for path, mode, sha in changes}
    written, deleted = sorted(p for p, s in plan.items() if s), sorted(p for p, s in plan.items() if not s)
    return (PrData(verdict=Verdict.DATA, changed=changed, health_commands=notes, written=written, deleted=deleted),
            plan)


def _real_dir(root: Path, rel: str) -> Path:
    """The folder for data file `rel` under root, made when missing; never through a link."""
    folder = root
    for part in rel.split("/")[:-1]:
        folder = folder / part
        try:
            info = os.lstat(folder)
        except FileNotFoundError:
            folder.mkdir()
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise CannotJudge(f"{folder} is not a real folder (a link or a file); nothing of the PR was written "
                              "beyond it: check out the base branch cleanly")
    return folder


def _check_target(root: Path, rel: str) -> None:
    """Refuse, before anything is written, a data path whose folder or file in the base checkout is not
    a real folder or a regular file (a link would take the write elsewhere)."""
    folder = root
    for part in rel.split("/")[:-1]:
        folder = folder / part
        try:
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                raise CannotJudge(f"{folder} is not a real folder (a link or a file); nothing of the PR was "
                                  "written: check out the base branch cleanly")
        except FileNotFoundError:
            return
    try:
        if not stat.S_ISREG(os.lstat(folder / rel.rsplit("/", 1)[-1]).st_mode):
            raise CannotJudge(f"{root / rel} is not a regular file in the base checkout; nothing of the PR was "
                              "written: check out the base branch cleanly")
    except FileNotFoundError:
        return


def _write(root: Path, rel: str, data: bytes | None) -> None:
    """Write (None: delete) one data file in the base checkout: a regular file, replacing only one."""
    if data_path_problem(rel) is not None:  # judged already; checked again where the path meets the disk
        raise CannotJudge(f"{rel} is not a deploy-data path; nothing more is written")
    target = _real_dir(root, rel) / rel.rsplit("/", 1)[-1]
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise CannotJudge(f"{target} is not a regular file in the base checkout; nothing more is written")
    if data is None:
        if info is not None:
            target.unlink()
        return
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def run_pr_data(root: Path, base: str, head: str) -> PrData:
    """Judge the PR (base..head) and, when it is data only, write its data files into `root`."""
    repo = open_git(root)
    base_sha, head_sha = resolve_ref(repo, base), resolve_ref(repo, head)
    result, plan = judge(repo, base_sha, head_sha)
    if result.verdict is not Verdict.DATA:
        return result
    blobs = _read_blobs(repo, sorted({s for s in plan.values() if s}))
    for rel in sorted(plan):
        _check_target(root, rel)
    for rel in sorted(plan):
        _write(root, rel, blobs[plan[rel]] if plan[rel] else None)
    return result


def result_lines(result: PrData) -> list[str]:
    """The verdict for people: what was written, or why the PR is code."""
    if result.ok:
        lines = [f"data only: {len(result.written)} file(s) written from the PR's head, "
                 f"{len(result.deleted)} deleted"]
        lines += [f"  wrote {p}" for p in result.written] + [f"  deleted {p}" for p in result.deleted]
    else:
        lines = ["code change: the PR changes more than deploy data, so nothing of it was written; its "
                 "credentialed preview waits for a release manager's approval (environment preview-code)"]
        lines += [f"  {r.message}" for r in result.refused]
    lines += [f"note: {n}" for n in result.notes]
    return lines


def combine_comments(texts: list[str]) -> str:
    """Several stacks' preview comments (one per stack, previewed each with its own env's secrets) as one
    PR comment: the first keeps the marker that finds it again, the others lose theirs."""
    from deployctl.core.change.prcomment import MAX_COMMENT_CHARS, PREVIEW_MARKER

    parts = [t.strip().removeprefix(PREVIEW_MARKER).strip() for t in texts if t.strip()]
    body = PREVIEW_MARKER + "\n" + "\n\n---\n\n".join(parts) + "\n"
    if len(body) > MAX_COMMENT_CHARS:
        cut = "\n\n_… cut to fit GitHub's comment limit: the whole preview is in each job's summary._\n"
        body = body[: MAX_COMMENT_CHARS - len(cut)] + cut
    return body


def awaiting_comment(result: PrData, plan_lines: list[str]) -> str:
    """The PR comment of a code change before approval: what made it code, the plan (read from git, no
    credentials), and that its credentialed preview waits in the `preview-code` environment."""
    from deployctl.core.change.prcomment import PREVIEW_MARKER
    from deployctl.report.render import fence, md

    out = [PREVIEW_MARKER, "## ⏳ deployctl preview: a code change, waiting for approval", "",
           "This PR changes more than deploy data, so none of its code ran with a credential. The safeguards "
           "ran without credentials in the `checks` workflow; the credentialed `pulumi preview` of its code "
           "waits for a release manager to approve the `preview-code` environment in this PR's `preview` run.",
           "", "**Not deploy data:**", ""]
    out += [f"- {md(r.message)}" for r in result.refused[:50]]
    if len(result.refused) > 50:
        out.append(f"- … and {len(result.refused) - 50} more")
    if result.health_commands:
        out += ["", notes_markdown(result).rstrip("\n")]
    out += ["", "**The plan** (from git, no credentials):", "", fence("\n".join(plan_lines) or "no deploy changes")]
    return "\n".join(out) + "\n"


NOTES_SUFFIX = ".notes"
"""pr-data's notes file: `pr-comment` puts it first, above the stacks' previews."""


def notes_markdown(result: PrData) -> str:
    """What a reviewer must read although it is data (each health command `up` will run, exactly as
    written, in a block it cannot close), as the top of the PR comment; empty when there is none."""
    from deployctl.report.render import fence, md

    if not result.health_commands:
        return ""
    out = ["> [!IMPORTANT]", "> **Deploy data that runs something:** `up` runs each health command below through a "
           "shell on the deploy runner, with the deploy role. Read it before you approve.", ""]
    for h in result.health_commands:
        was = "" if h.was is None else " (changed)"
        out += [f"{md(h.path)}, app {md(h.app)}{was}:", "", fence(h.command), ""]
        if h.was is not None:
            out += ["was:", "", fence(h.was), ""]
    return "\n".join(out)
