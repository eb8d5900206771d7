"""The one codec of what a health check says through the engine (core/health/healthmessage.py): what the
check writes (components/health.py) is what the switch-back reads (core/health/switchback.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deployctl.core.health.checks import HealthResult, HealthTarget
from deployctl.core.health.healthmessage import (
    failed_app,
    failed_line,
    failure_line,
    failure_of,
    progress_line,
    progress_of,
)
from deployctl.core.health.switchback import failed_apps
from deployctl.core.repo.catalog import NAME_RE

COMMIT = "c" * 40


def test_a_failed_check_round_trips_through_stderr() -> None:
    target = HealthTarget(env="staging", app="api", kind="local", commit=COMMIT)
    failure = failure_line(target, HealthResult(ok=False, tries=1, detail="HTTP 503, expected 200"))
    assert failure == "staging/api: health check of cccccccccccc failed after 1 try: HTTP 503, expected 200"
    written = progress_line(failed_line(failure))
    assert written == "deployctl-health: FAILED " + failure
    read = progress_of(f"some engine noise\n{written}\n")
    assert read is not None and failure_of(read) == failure and failed_app(failure) == "api"
    assert failed_apps([read, "staging/web: health try 1/4: ok: HTTP 200", read]) == ["api"]


def test_other_lines_are_no_failure() -> None:
    assert failure_of("staging/api cccccccccccc: health try 1/4: failed: HTTP 503") is None
    assert progress_of("FAILED staging/api: not ours, no prefix") is None


names = st.from_regex(NAME_RE, fullmatch=True)


@given(env=names, app=names, tries=st.integers(1, 101), detail=st.text())
def test_any_failure_names_its_app_and_a_one_line_detail_comes_back_whole(env: str, app: str, tries: int,
                                                                          detail: str) -> None:
    failure = failure_line(HealthTarget(env=env, app=app, kind="local", commit=COMMIT),
                           HealthResult(ok=False, tries=tries, detail=detail))
    read = progress_of(progress_line(failed_line(failure)))
    assert read is not None and (back := failure_of(read)) is not None
    assert failed_app(back) == app
    if detail and detail == " ".join(detail.split()):  # one stderr line carries it whole: no break, no edge space
        assert back == failure
