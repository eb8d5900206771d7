"""What `up` tells GitHub Actions about its stacks, when it runs there: the job summary it appends to
`$GITHUB_STEP_SUMMARY` (report/jobsummary.py) and `url=` in `$GITHUB_OUTPUT` (the deploy job's
environment URL). Outside Actions (neither variable set) it does nothing and reads nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from deployctl import console
from deployctl.core.trace.outcomes import Outcome

if TYPE_CHECKING:
    from deployctl.commands.up import UpRun


def tell_github(run: UpRun, outcomes: list[Outcome], environ: Mapping[str, str] = os.environ) -> None:
    """Append the job summary and the environment URL (the first deployed stack's, when one app names
    one). A file that cannot be written is said once, and the deploy's result stands."""
    summary, output = environ.get("GITHUB_STEP_SUMMARY"), environ.get("GITHUB_OUTPUT")
    if not summary and not output:
        return
    from deployctl.report.jobsummary import environment_url, render_job_summary

    if summary:
        from deployctl.commands.up import numbered

        try:
            shown = numbered(run.root, outcomes)  # the update numbers `history` shows
        except Exception:  # a backend that stopped answering after the deploy: the numbers are left out
            shown = outcomes
        server, repo = environ.get("GITHUB_SERVER_URL"), environ.get("GITHUB_REPOSITORY")
        text = render_job_summary(shown, run.changes, run.head, run.pr, run.merge,
                                  f"{server.rstrip('/')}/{repo}" if server and repo else None)
        _append(summary, text)
    urls = [url for o in outcomes if not o.skipped and (url := environment_url(run.head, o.env))]
    if output and urls:
        _append(output, f"url={urls[0]}\n")


def _append(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        console.info(f"could not write {path} ({exc.strerror or exc}); the deploy's result stands")
