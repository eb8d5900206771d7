"""The four object calls deployctl makes on an S3 backend (list, get, put, delete), by two clients.

botocore's client takes ~0.4 s to import and make (its models, endpoint rules and credential chain),
which `up` would pay before every update, longer than the calls it makes. So where the settings are
the plain case, static keys in the environment (what aws-actions/configure-aws-credentials and most
CI set) and an explicit region and endpoint, `SignedObjects` makes the same calls over the standard
library's HTTP client, signed with Signature Version 4 (tests compare each signature with botocore's).
Anything else (a profile, SSO or a role to assume, a proxy, FIPS or dual-stack endpoints, a bucket
name that is not a plain DNS label) goes to botocore, which knows all of it: `direct_settings` says
which, from the URL and the environment alone.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote_plus, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PAGE = 1000
"""Keys per listing page (S3's own maximum)."""
BOTOCORE_ONLY = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
"""Settings only botocore honours: with any of them set, botocore makes the calls."""
BOTOCORE_FLAGS = ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT")


class ObjectClient(Protocol):
    """What S3Store asks of a client: keys are whole (the store adds its prefix)."""

    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...
    def get(self, bucket: str, key: str) -> bytes: ...
    def put(self, bucket: str, key: str, data: bytes) -> None: ...
    def delete(self, bucket: str, key: str) -> None: ...


class S3Error(Exception):
    """S3 answered with an error status; `code` is its error code (NoSuchKey, AccessDenied, ...)."""

    def __init__(self, status: int, code: str, what: str, action: str = ""):
        hint = (f"; the runner's credentials need {action} on it (README, \"Set up for a team on GitHub\", step 1)"
                if status == 403 and action else "")
        super().__init__(f"S3 answered {status} {code} to {what}{hint}")
        self.status, self.code = status, code


ACTIONS = {"GET": "s3:GetObject", "PUT": "s3:PutObject", "DELETE": "s3:DeleteObject"}
"""The IAM action each object call needs (a listing: s3:ListBucket), named when S3 refuses it."""


@dataclass(frozen=True)
class DirectSettings:
    """Where and how `SignedObjects` calls: an endpoint (scheme://host[:port]), path-style or not."""

    endpoint: str
    region: str
    path_style: bool
    access_key: str
    secret_key: str
    session_token: str | None = None
    ca_bundle: str | None = None


def direct_settings(bucket: str, region: str | None, endpoint: str | None, path_style: bool, profile: str | None,
                    environ: Mapping[str, str]) -> DirectSettings | None:
    """The settings for `SignedObjects`, or None when botocore must make the calls: no static keys in
    the environment, no region, a setting only botocore honours, an endpoint from the environment, or
    a virtual-hosted bucket that is not a plain DNS label."""
    key, secret = environ.get("AWS_ACCESS_KEY_ID", ""), environ.get("AWS_SECRET_ACCESS_KEY", "")
    region = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not key or not secret or not region or profile or any(environ.get(name) for name in BOTOCORE_ONLY):
        return None
    if any(environ.get(name, "").lower() == "true" for name in BOTOCORE_FLAGS):
        return None
    if endpoint is None:
        if environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"):
            return None
        endpoint = f"https://s3.{region}.amazonaws.com"
    elif not path_style:  # a custom endpoint's virtual hosts: botocore's rules
        return None
    if not path_style and not _dns_label(bucket):
        return None
    if urlsplit(endpoint).scheme not in ("http", "https") or urlsplit(endpoint).path not in ("", "/"):
        return None
    return DirectSettings(endpoint=endpoint.rstrip("/"), region=region, path_style=path_style, access_key=key,
                          secret_key=secret, session_token=environ.get("AWS_SESSION_TOKEN") or None,
                          ca_bundle=environ.get("AWS_CA_BUNDLE") or None)


def _dns_label(bucket: str) -> bool:
    return 3 <= len(bucket) <= 63 and all(c.islower() or c.isdigit() or c == "-" for c in bucket) \
        and bucket[0] != "-" and bucket[-1] != "-"


# -- Signature Version 4 ------------------------------------------------------------------------


def _uri_encode(text: str, safe: str = "") -> str:
    return quote(text, safe="-_.~" + safe)


def sign(settings: DirectSettings, method: str, host: str, path: str, query: Mapping[str, str],
         payload_hash: str, now: datetime) -> dict[str, str]:
    """The headers that sign one request (AWS Signature Version 4, service s3): `path` and `query`
    unencoded; the caller sends `path` and `query` encoded as `canonical_target` does."""
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": stamp}
    if settings.session_token:
        headers["x-amz-security-token"] = settings.session_token
    names = sorted(headers)
    canonical = "\n".join([
        method, _uri_encode(path, safe="/"), canonical_query(query),
        "".join(f"{name}:{headers[name].strip()}\n" for name in names), ";".join(names), payload_hash])
    scope = f"{day}/{settings.region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing_key = f"AWS4{settings.secret_key}".encode()
    for part in (day, settings.region, "s3", "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={settings.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(query.items()))


# -- the two clients ----------------------------------------------------------------------------


class SignedObjects:
    """S3's object calls over http.client, signed; connections are kept for the next call (TLS once).
    S3Store bounds each call, whole, within `timeout`; each socket operation gets twice that, only so
    that a call left behind past the store's deadline ends some time (the store has said it stalled)."""

    def __init__(self, settings: DirectSettings, timeout: float):
        self.settings, self.timeout = settings, 2 * timeout
        parts = urlsplit(settings.endpoint)
        self._https, self._netloc = parts.scheme == "https", parts.netloc
        self._idle: dict[str, list[http.client.HTTPConnection]] = {}
        """Kept connections by host (one host path-style; a host per bucket otherwise)."""
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        import xml.etree.ElementTree as ET

        keys: list[str] = []
        query = {"list-type": "2", "prefix": prefix, "encoding-type": "url", "max-keys": str(PAGE)}
        while True:
            body = self._call("GET", bucket, "", query, b"", "a listing")
            root = ET.fromstring(body)
            ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            keys += [unquote_plus(k.text or "") for k in root.iterfind(f"{ns}Contents/{ns}Key")]
            token = root.findtext(f"{ns}NextContinuationToken")
            if root.findtext(f"{ns}IsTruncated") != "true" or not token:
                return keys
            query = {**query, "continuation-token": token}

    def get(self, bucket: str, key: str) -> bytes:
        return self._call("GET", bucket, key, {}, b"", "a read")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self._call("PUT", bucket, key, {}, data, "a write")

    def delete(self, bucket: str, key: str) -> None:
        self._call("DELETE", bucket, key, {}, b"", "a delete")

    def _call(self, method: str, bucket: str, key: str, query: Mapping[str, str], body: bytes, what: str) -> bytes:
        host = self._netloc if self.settings.path_style else f"{bucket}.{self._netloc}"
        path = f"/{bucket}/{key}" if self.settings.path_style else f"/{key}"
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        headers = sign(self.settings, method, host, path, query, payload, datetime.now(UTC))
        target = _uri_encode(path, safe="/") + (f"?{canonical_query(query)}" if query else "")
        if method == "PUT":
            headers["Content-Length"] = str(len(body))
        status, data = self._send(host, method, target, body, headers)
        if status // 100 != 2:
            action = "s3:ListBucket" if query else ACTIONS[method]
            raise S3Error(status, _error_code(data, status), f"{what} of s3://{bucket}/{key}", action)
        return data

    def _send(self, host: str, method: str, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """One request; a kept connection the server closed meanwhile is retried once on a new one
        (every call here is idempotent)."""
        for attempt in (0, 1):
            conn, reused = self._connection(host)
            try:
                conn.request(method, target, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.setdefault(host, []).append(conn)
            return response.status, data
        raise AssertionError("unreachable")

    def _connection(self, host: str) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if kept := self._idle.get(host):
                return kept.pop(), True
        if not self._https:
            return http.client.HTTPConnection(host, timeout=self.timeout), False
        if self._tls is None:
            self._tls = _tls_context(self.settings.ca_bundle)
        return http.client.HTTPSConnection(host, timeout=self.timeout, context=self._tls), False


def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The CA bundle botocore would use: AWS_CA_BUNDLE, else certifi's (botocore's default)."""
    if ca_bundle is None:
        try:
            import certifi

            ca_bundle = certifi.where()
        except ImportError:
            pass
    return ssl.create_default_context(cafile=ca_bundle)


def _error_code(body: bytes, status: int) -> str:
    import xml.etree.ElementTree as ET

    try:
        return ET.fromstring(body).findtext("Code") or str(status)
    except ET.ParseError:
        return "NoSuchKey" if status == 404 else str(status)


class BotoObjects:
    """The same calls through a botocore S3 client (every other setting botocore knows)."""

    def __init__(self, client: Any):
        self.client = client

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)
