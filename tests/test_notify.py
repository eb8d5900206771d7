"""Slack deploy notices: the payload, and a webhook that fails never fails the deploy (real HTTP on loopback)."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from deployctl.adapters import notify
from deployctl.adapters.notify import AppChange, DeployNotice, post_slack, slack_payload
from tests.loopback import MODES, Mode, elapsed, stalling_server

HOOK_PATH = "/services/T0SECRET/B0SECRET/xyzSecretWebhookToken"
OLD, NEW = "a" * 40, "b" * 40
NOTICE = DeployNotice(
    env="production", result="succeeded",
    apps=[AppChange(app="api", old=OLD, new=NEW), AppChange(app="web", old=None, new="c" * 40)],
    pr=123, merge_commit="d" * 40, run_url="https://github.com/acme/deploys/actions/runs/99",
)


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "RETRY_PAUSE", 0.0)


def all_text(payload: dict) -> str:
    return json.dumps(payload["blocks"], ensure_ascii=False)


def test_the_posted_payload(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("ok")
    assert post_slack(httpserver.url_for(HOOK_PATH), NOTICE) is True

    (request, _), = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    payload = request.get_json()
    assert payload["text"].startswith("production: deployed ✅")
    assert payload["blocks"][0] == {"type": "header",
                                    "text": {"type": "plain_text", "text": "production: deployed ✅", "emoji": True}}
    text = all_text(payload)
    assert f"*api*: `{OLD[:12]}` → `{NEW[:12]}`" in text
    assert "*web*: (new) → `cccccccccccc`" in text
    assert "<https://github.com/acme/deploys/pull/123|#123>" in text
    assert f"<https://github.com/acme/deploys/commit/{'d' * 40}|dddddddddddd>" in text
    assert "<https://github.com/acme/deploys/actions/runs/99|workflow run>" in text


def test_failed_and_skipped_headlines_and_escaping() -> None:
    failed = slack_payload(NOTICE.model_copy(update={"result": "failed", "message": "boom <x> & y", "pr": None}))
    assert failed["blocks"][0]["text"]["text"] == "production: deploy failed ❌"
    assert "boom &lt;x&gt; &amp; y" in all_text(failed)
    assert "pull" not in all_text(failed)
    skipped = slack_payload(DeployNotice(env="staging", result="skipped"))
    assert skipped["text"] == "staging: nothing deployed ⏭️"


def test_many_apps_stay_within_slack_limits() -> None:
    apps = [AppChange(app=f"app-{i:04d}", old=OLD, new=NEW) for i in range(2000)]
    payload = slack_payload(DeployNotice(env="staging", result="succeeded", apps=apps))
    assert len(payload["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in payload["blocks"] if b["type"] == "section")
    assert "more app(s)" in payload["blocks"][-1]["text"]["text"]


def test_a_5xx_is_retried_once(httpserver: HTTPServer) -> None:
    statuses = [500, 200]

    def handler(request: Request) -> Response:
        return Response("x", statuses.pop(0))

    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_handler(handler)
    assert post_slack(httpserver.url_for(HOOK_PATH), NOTICE) is True
    assert len(httpserver.log) == 2


def test_a_webhook_that_always_fails_returns_false_and_hides_the_url(
        httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("no", status=500)
    url = httpserver.url_for(HOOK_PATH)
    assert post_slack(url, NOTICE) is False
    assert len(httpserver.log) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "localhost" in err and "HTTP 500" in err
    assert "SECRET" not in err and "/services/" not in err and url not in err


def test_a_4xx_is_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("invalid_token", status=403)
    assert post_slack(httpserver.url_for(HOOK_PATH), NOTICE) is False
    assert len(httpserver.log) == 1


def test_an_unreachable_webhook_returns_false_quickly(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    assert post_slack(f"http://127.0.0.1:{port}{HOOK_PATH}", NOTICE, timeout=2) is False
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert "127.0.0.1" in err and "SECRET" not in err


@pytest.mark.parametrize("url", ["", "not a url", "ftp://example.com/hook", "http://[bad/hook"])
def test_a_bad_url_never_raises(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert post_slack(url, NOTICE, timeout=2) is False
    assert "warning" in capsys.readouterr().err


# -- deadlines: a webhook that never answers, or dribbles an endless header ---------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_stalling_webhook_ends_within_the_whole_notifications_deadline(
        mode: Mode, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEPLOYCTL_SLACK_TIMEOUT", "1.5")
    with stalling_server(mode) as port:
        started = time.monotonic()
        assert post_slack(f"http://127.0.0.1:{port}{HOOK_PATH}", NOTICE) is False
        took = elapsed(started)
    assert took < 1.5 + 1.0, took  # both tries and the pause share the one deadline
    err = capsys.readouterr().err
    assert "failed" in err and "SECRET" not in err
    if mode == "dribble":  # every read succeeded: only the total deadline ends it
        assert "no complete answer within 1.5 s (DEPLOYCTL_SLACK_TIMEOUT)" in err


def test_a_bad_deadline_setting_never_raises(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEPLOYCTL_SLACK_TIMEOUT", "soon")
    assert post_slack("http://127.0.0.1:9/hook", NOTICE) is False
    assert "DEPLOYCTL_SLACK_TIMEOUT is 'soon'" in capsys.readouterr().err


# -- names and URLs are inert in Slack ------------------------------------------------------------------


def test_names_cannot_link_or_mention_and_urls_lose_their_credentials() -> None:
    hostile = DeployNotice(
        env="staging", result="failed", apps=[AppChange(app="<!channel>", old=OLD, new=NEW),
                                              AppChange(app="<https://evil.example|click> @here", new=NEW)],
        run_url="https://github.com/acme/deploys/actions/runs/9|<!everyone>",
        message="staging: app web failed: cannot open postgres://u:hunter2@db/state?password=s3cr3t&x=1 "
                "(see deploys/<@U123>/web & <!subteam^S1>)")
    payload = slack_payload(hostile)
    text = all_text(payload) + payload["text"]
    assert "<!" not in text and "<@" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "@\u200dhere" in text
    assert "hunter2" not in text and "s3cr3t" not in text and "password=****" in text
    assert "runs/9%7C&lt;!everyone&gt;|workflow run>" in text  # a `|` cannot end the link early
