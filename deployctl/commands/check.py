"""`deployctl check`: the safeguards over the working tree, or over the changes since a base; and,
where Pulumi's record can be read, over the changes from what runs (as `up` judges them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from deployctl import console
from deployctl.adapters.git.apprepos import AppRepos
from deployctl.commands.load import load_head, load_pair, open_engine, read_running
from deployctl.core.change import rules
from deployctl.core.change.running import Running
from deployctl.core.repo.snapshot import Snapshot
from deployctl.core.violations import CannotJudge, ExitStatus, Violation, errors


@dataclass(frozen=True)
class CheckRequest:
    repo: Path
    base: str | None = None
    at: str | None = None
    """An ISO-8601 time for the freeze windows, as typed (default: now)."""
    offline: bool = False
    no_artifacts: bool = False
    deployed: bool | None = None
    as_json: bool = False


def check(request: CheckRequest) -> ExitStatus:
    """Judge, and print each violation and the count (or the JSON document): 1 when one is an error."""
    from deployctl.commands.options import parse_time

    moment = parse_time(request.at)
    try:
        violations = run_check(request.repo, base=request.base, at=moment, offline=request.offline,
                               no_artifacts=request.no_artifacts, deployed=request.deployed)
    except CannotJudge as exc:
        if request.as_json and exc.violations:
            report(exc.violations, as_json=True)
        raise
    return report(violations, request.as_json)


def report(violations: list[Violation], as_json: bool) -> ExitStatus:
    failed = bool(errors(violations))
    if as_json:
        console.as_json({"ok": not failed, "violations": [v.model_dump(mode="json") for v in violations]})
    else:
        for v in violations:
            console.violation(v)
        n_err, n_warn = len(errors(violations)), len(violations) - len(errors(violations))
        console.out(f"{n_err} error(s), {n_warn} warning(s)" if violations else "ok: no violations")
    return ExitStatus.VIOLATION if failed else ExitStatus.OK


def run_check(root: Path, base: str | None, at: datetime, offline: bool = False,
              no_artifacts: bool = False, deployed: bool | None = None) -> list[Violation]:
    """`deployed`: True judges against what runs (an unreadable record is CannotJudge), False never
    reads it, None (the default) reads it without --base when it can: not --offline, a Pulumi CLI
    installed and a Pulumi.yaml here; when it cannot, a note says what was not judged and why."""
    wanted = deployed if deployed is not None else (base is None and not offline)
    if base is None:
        head, base_snap = load_head(root), None
    else:
        base_snap, head, _ = load_pair(root, base, None, whole=wanted)
    running = _what_runs(root, head, required=deployed is True) if wanted else None
    if not wanted and base is None:
        _note("--no-deployed" if deployed is False else "--offline")
    commits = AppRepos(root, offline=offline)
    from deployctl.commands.init import version_pin

    if (pin := version_pin(root)) is not None and not pin[0]:
        console.error(f"note: {pin[1]}")  # said, not judged: CI installs the pin, a laptop may lag
    from deployctl.adapters.cloud.artifacts import artifact_oracle

    with console.step("checking deploy files against the app repositories"):
        return rules.check(head, commits, base_snap, at, artifacts=artifact_oracle(offline, skip=no_artifacts),
                           running=running)


def _what_runs(root: Path, head: Snapshot, required: bool) -> Running | None:
    """What runs in every env (Pulumi's record), or None with a note when it cannot be read and was
    not asked for (`required`: then CannotJudge)."""
    from deployctl.adapters.pulumi.cli import find_pulumi

    try:
        if not (root / "Pulumi.yaml").is_file():
            raise CannotJudge(f"no Pulumi.yaml in {root}")
        if find_pulumi() is None:
            raise CannotJudge("no Pulumi CLI installed (`make engine` installs it)")
        with console.step("reading what runs (each stack's `deployed` output)"):
            return read_running(open_engine(root), head, head.envs)
    except CannotJudge as exc:
        if required:
            raise
        _note(str(exc).splitlines()[0][:300])
        return None


def _note(why: str) -> None:
    console.info(f"note: what runs was not read ({why}), so the change rules (freeze window, co-deploy group, "
                 "promotion order, backward deploy, history) did not judge the deploy files against it; "
                 "`deployctl check --deployed` with the Pulumi backend judges them as `deployctl up` will")
