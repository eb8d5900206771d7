"""core/urls: the one function that takes credentials out of a URL we print, and out of text quoting one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployctl.core.urls import redact_url, redact_urls, url_secrets


@pytest.mark.parametrize(("url", "shown"), [
    ("https://u:p@ss@host/r.git", "https://host/r.git"),  # the last @ before the host ends the userinfo
    ("https://x-access-token:ghs_abc123@github.com/acme/web.git", "https://github.com/acme/web.git"),
    ("https://ghp_token1234@github.com/acme/web.git", "https://github.com/acme/web.git"),
    ("https://u:a/b+c@host:8443/r.git", "https://host:8443/r.git"),  # a base64 password with a /
    ("ssh://git@github.com/acme/web.git", "ssh://github.com/acme/web.git"),
    ("postgres://deploy:hunter2@db:5432/state?password=s3cr3t&sslmode=require",
     "postgres://db:5432/state?password=****&sslmode=require"),
    ("s3://state/team?region=eu-west-1&X-Amz-Signature=ab12&X-Amz-Credential=AKIA%2F1&X-Amz-Security-Token=t",
     "s3://state/team?region=eu-west-1&X-Amz-Signature=****&X-Amz-Credential=****&X-Amz-Security-Token=****"),
    ("azblob://c?sig=xyz;sv=2020&key=k&access_token=a&client_secret=z",
     "azblob://c?sig=****;sv=2020&key=****&access_token=****&client_secret=****"),
    ("https://host/cb#access_token=zz&state=1", "https://host/cb#access_token=****&state=1"),
    ("https://github.com/acme/web.git", "https://github.com/acme/web.git"),
    ("git@github.com:acme/web.git", "git@github.com:acme/web.git"),
    ("../apps/web", "../apps/web"),
    ("file:///srv/state", "file:///srv/state"),
])
def test_what_is_shown(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_text_quoting_a_url_half_masked_loses_its_secrets() -> None:
    backend = "postgres://deploy:hunter2@db:5432/state?password=s3cr3t&sslmode=disable"
    said = ('error: unable to open state database "postgres://deploy:[credential]@db:5432/state?password=s3cr3t'
            '&sslmode=disable": dial tcp: refused; also hunter2 and s3cr3t alone')
    clean = redact_urls(said, [backend])
    assert "hunter2" not in clean and "s3cr3t" not in clean
    assert "postgres://db:5432/state?password=****&sslmode=disable" in clean
    assert redact_urls("fetching https://u:tok3n@h/r.git failed") == "fetching https://h/r.git failed"


SAFE = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#&;=%*\"'<>`"),
               min_size=4, max_size=24)
"""Secrets as people paste them, with `@`, `/`, `:` and `+` (a query's or fragment's own delimiters
must be percent-encoded in a URL, and are)."""
USER = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#&;=%*:@/\"'<>`"),
               min_size=4, max_size=24)
"""A user name: no `:` (the password's separator), `@` or `/` of its own."""
HOST = st.builds(lambda name, port: name + port, st.sampled_from(["db", "github.com", "s3.eu-west-1.amazonaws.com",
                                                                  "127.0.0.1", "[::1]"]),
                 st.sampled_from(["", ":5432", ":8443"]))
SCHEME = st.sampled_from(["https", "http", "ssh", "postgres", "postgresql", "mysql", "s3", "azblob", "git+ssh"])
PARAM = st.sampled_from(["password", "token", "sig", "X-Amz-Signature", "X-Amz-Credential", "secret", "key",
                         "access_token", "sslpassword", "api_key", "Password"])


@settings(max_examples=200, deadline=None)
@given(scheme=SCHEME, user=USER, password=SAFE, host=HOST, path=st.sampled_from(["", "/", "/state", "/a/b.git"]),
       param=PARAM, value=SAFE, in_fragment=st.booleans())
def test_no_password_ever_survives(scheme: str, user: str, password: str, host: str, path: str, param: str,
                                   value: str, in_fragment: bool) -> None:
    where = "#" if in_fragment else "?region=x&"
    url = f"{scheme}://{user}:{password}@{host}{path}{where}{param}={value}"
    shown = redact_url(url)
    assert password not in shown and value not in shown.split(param, 1)[1]
    assert shown.startswith(f"{scheme}://{host}{path}")
    text = redact_urls(f"cannot open {url}: refused", [url])
    assert password not in text and value not in text and user not in text
    assert set(url_secrets(url)) >= {password, value}
