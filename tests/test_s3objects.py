"""The S3 object client: its signatures are botocore's, its calls work against a real S3 API on loopback
(moto's server), and botocore makes the calls whenever a setting is one only botocore honours."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployctl.adapters.pulumi import s3objects
from deployctl.adapters.pulumi.backend import S3Store, open_store
from deployctl.adapters.pulumi.s3objects import (
    EMPTY_SHA256,
    BotoObjects,
    DirectSettings,
    S3Error,
    SignedObjects,
    direct_settings,
    sign,
)
from tests.awsserver import REGION, AwsServer

KEYS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def botocore_headers(s: DirectSettings, method: str, url: str, body: bytes, now: datetime) -> dict[str, str]:
    """What botocore's own S3 signer sends for the same request."""
    import hashlib
    from unittest import mock

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body,
                         headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):  # its clock
        S3SigV4Auth(Credentials(s.access_key, s.secret_key, s.session_token), "s3", s.region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


key_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(key=key_text, prefix=key_text, body=st.binary(max_size=64), token=st.none() | st.text("abcXYZ09+/=", min_size=1),
       path_style=st.booleans(), method=st.sampled_from(["GET", "PUT", "DELETE"]), listing=st.booleans(),
       secret=st.text("abcdefXYZ0189+/", min_size=8, max_size=40))
def test_each_signature_is_the_one_botocore_makes(key: str, prefix: str, body: bytes, token: str | None,
                                                  path_style: bool, method: str, listing: bool, secret: str):
    from urllib.parse import quote

    s = DirectSettings(endpoint="http://127.0.0.1:9000", region="eu-west-3", path_style=path_style,
                       access_key="AKIDEXAMPLE", secret_key=secret, session_token=token)
    now = datetime(2026, 12, 7, 10, 11, 12, tzinfo=UTC)
    host = "127.0.0.1:9000" if path_style else "my-bucket.127.0.0.1:9000"
    path = f"/my-bucket/{key}" if path_style else f"/{key}"
    query = {"list-type": "2", "prefix": prefix, "encoding-type": "url"} if listing else {}
    body = b"" if method != "PUT" else body
    import hashlib

    ours = sign(s, method, host, path, query, hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256, now)
    url = f"http://{host}{quote(path, safe='/-_.~')}" + (f"?{s3objects.canonical_query(query)}" if query else "")
    theirs = botocore_headers(s, method, url, body, now)
    assert ours["Authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"]
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")


@pytest.fixture
def signed(aws_env: AwsServer) -> Iterator[tuple[SignedObjects, str]]:
    bucket = aws_env.new_bucket("signed")
    s = DirectSettings(endpoint=aws_env.endpoint, region=REGION, path_style=True, access_key="testing",
                       secret_key="testing")
    yield SignedObjects(s, timeout=5), bucket


def test_signed_calls_write_list_read_and_delete_what_botocore_sees(signed: tuple[SignedObjects, str],
                                                                    aws_env: AwsServer,
                                                                    monkeypatch: pytest.MonkeyPatch):
    client, bucket = signed
    boto = aws_env.client("s3")
    odd = ["state/.pulumi/stacks/p/a b+c.json", "state/.pulumi/é/ü~x.json", "state/.pulumi/q?x=1&y#z"]
    for i, key in enumerate(odd):
        client.put(bucket, key, f"{i}".encode())
    boto.put_object(Bucket=bucket, Key="other/x", Body=b"not listed")
    assert sorted(o["Key"] for o in boto.list_objects_v2(Bucket=bucket, Prefix="state/")["Contents"]) == sorted(odd)
    monkeypatch.setattr(s3objects, "PAGE", 2)  # three keys: two pages
    assert sorted(client.list_keys(bucket, "state/")) == sorted(odd)
    assert client.list_keys(bucket, "state/.pulumi/é/") == ["state/.pulumi/é/ü~x.json"]
    assert [client.get(bucket, k) for k in odd] == [b"0", b"1", b"2"]
    assert client.get(bucket, "other/x") == b"not listed"
    client.delete(bucket, odd[0])
    assert odd[0] not in client.list_keys(bucket, "state/")
    with pytest.raises(S3Error) as missing:
        client.get(bucket, odd[0])
    assert (missing.value.status, missing.value.code) == (404, "NoSuchKey")
    with pytest.raises(S3Error) as nobucket:
        client.list_keys("no-such-bucket-here", "")
    assert nobucket.value.code == "NoSuchBucket"
    refused = S3Error(403, "AccessDenied", f"a write of s3://{bucket}/k", s3objects.ACTIONS["PUT"])
    assert "need s3:PutObject on it" in str(refused) and "need" not in str(missing.value)


def test_the_store_reads_the_same_through_either_client(aws_env: AwsServer):
    """An s3:// backend with static keys gets the signed client; its answers are botocore's."""
    bucket = aws_env.new_bucket("either")
    store = open_store(aws_env.backend_url(bucket, "team/state"))
    assert isinstance(store, S3Store) and isinstance(store.client, SignedObjects)
    boto = S3Store(BotoObjects(aws_env.client("s3")), bucket, "team/state")
    store.write(".pulumi/locks/p/s/1.json", b"{}")
    boto.write(".pulumi/history/p/s/s-1.history.json", b"[]")
    for one in (store, boto):
        assert sorted(one.list(".pulumi/")) == [".pulumi/history/p/s/s-1.history.json", ".pulumi/locks/p/s/1.json"]
        assert one.read(".pulumi/locks/p/s/1.json") == b"{}"
    boto.delete(".pulumi/locks/p/s/1.json")
    assert store.list(".pulumi/locks/") == []


@contextlib.contextmanager
def one_answer_per_connection() -> Iterator[tuple[int, list[int]]]:
    """A server that answers one request per connection (as HTTP/1.1 keep-alive, no `Connection: close`)
    and then closes it: a kept connection is found closed by the next call. Yields (port, requests per
    connection)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    served: list[int] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                served.append(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1]), served
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_kept_connection_the_server_closed_is_retried_once_on_a_new_one():
    with one_answer_per_connection() as (port, served):
        client = SignedObjects(DirectSettings(endpoint=f"http://127.0.0.1:{port}", region=REGION, path_style=True,
                                              access_key="k", secret_key="s"), timeout=5)
        assert [client.get("b", "x") for _ in range(3)] == [b"ok"] * 3
        assert len(served) == 3


PLAIN = {**KEYS, "AWS_REGION": "eu-west-3"}


@pytest.mark.parametrize(("bucket", "endpoint", "path_style", "profile", "environ", "expected"), [
    ("state", None, False, None, PLAIN, "https://s3.eu-west-3.amazonaws.com"),
    ("state", "http://127.0.0.1:9000", True, None, {**KEYS, "AWS_DEFAULT_REGION": "us-east-1"}, "http://127.0.0.1:9000"),
    ("state", None, True, None, {**PLAIN, "AWS_SESSION_TOKEN": "t"}, "https://s3.eu-west-3.amazonaws.com"),
    ("state", None, False, None, {**PLAIN, "AWS_ACCESS_KEY_ID": ""}, None),  # no static keys: botocore's chain
    ("state", None, False, None, KEYS, None),  # no region
    ("state", None, False, "ci", PLAIN, None),  # a profile in the URL
    ("state", None, False, None, {**PLAIN, "AWS_PROFILE": "ci"}, None),
    ("state", None, False, None, {**PLAIN, "AWS_ROLE_ARN": "arn:aws:iam::1:role/x"}, None),
    ("state", None, False, None, {**PLAIN, "HTTPS_PROXY": "http://proxy:3128"}, None),
    ("state", None, False, None, {**PLAIN, "AWS_USE_FIPS_ENDPOINT": "true"}, None),
    ("state", None, False, None, {**PLAIN, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, None),
    ("my.dotted.bucket", None, False, None, PLAIN, None),  # virtual hosts and TLS: botocore's rules
    ("state", "https://minio.internal", False, None, PLAIN, None),  # a custom endpoint's virtual hosts
    ("state", "ftp://x", True, None, PLAIN, None),
])
def test_botocore_makes_the_calls_whenever_a_setting_is_one_only_it_honours(
        bucket: str, endpoint: str | None, path_style: bool, profile: str | None, environ: dict[str, str],
        expected: str | None):
    found = direct_settings(bucket, None, endpoint, path_style, profile, environ)
    assert (found.endpoint if found else None) == expected


def test_the_url_region_wins_and_the_session_token_is_kept():
    found = direct_settings("state", "ap-south-1", None, False, None, {**PLAIN, "AWS_SESSION_TOKEN": "tok"})
    assert found is not None and found.region == "ap-south-1" and found.session_token == "tok"
    assert found.endpoint == "https://s3.ap-south-1.amazonaws.com"


def test_a_refused_call_names_the_iam_action_it_needs(httpserver):
    """S3 answering 403 AccessDenied (a real HTTP server on loopback): each call's error names the IAM
    action the runner's credentials lack, and where the README lists them."""
    import re

    from pytest_httpserver import HTTPServer

    server: HTTPServer = httpserver
    server.expect_request(re.compile("/state/.*")).respond_with_data(
        "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", status=403,
        content_type="application/xml")
    client = SignedObjects(DirectSettings(endpoint=server.url_for("").rstrip("/"), region=REGION, path_style=True,
                                          access_key=KEYS["AWS_ACCESS_KEY_ID"],
                                          secret_key=KEYS["AWS_SECRET_ACCESS_KEY"]), timeout=5)
    calls = {"s3:ListBucket": lambda: client.list_keys("state", ".pulumi/"),
             "s3:GetObject": lambda: client.get("state", "k"),
             "s3:PutObject": lambda: client.put("state", "k", b"x"),
             "s3:DeleteObject": lambda: client.delete("state", "k")}
    for action, call in calls.items():
        with pytest.raises(S3Error) as refused:
            call()
        assert refused.value.status == 403 and refused.value.code == "AccessDenied"
        assert f"need {action} on it" in str(refused.value) and "Set up for a team on GitHub" in str(refused.value)
