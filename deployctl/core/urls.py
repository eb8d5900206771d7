"""URLs as people may see them: the one function that takes credentials out of a URL we print.

Every URL deployctl echoes (the backend's in `doctor`, `deployed` and `up`'s failure line, an app
repository's, a webhook's host, a Slack notice) goes through `redact_url`, and any text that may
quote one (the engine's own errors, git's stderr) through `redact_urls`. Pure: no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

REDACTED = "****"

SECRET_PARAM_PARTS = ("pass", "pwd", "secret", "token", "sig", "key", "credential", "auth", "session")
"""A query (or fragment) parameter whose name holds one of these is a secret: password, passphrase,
token, access_token, sig, signature, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, key,
api_key, secret, client_secret, auth, sslpassword..."""

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")
_MIN_SECRET = 4
"""A known secret shorter than this is not searched for in free text (it would blank common words)."""


def secret_param(name: str) -> bool:
    lowered = unquote(name).lower()
    return any(part in lowered for part in SECRET_PARAM_PARTS)


def _redact_params(text: str) -> str:
    """`a=1&password=x&b` with each secret parameter's value blanked (`&` and `;` separate them)."""
    out = []
    for part in re.split(r"([&;])", text):
        name, eq, _ = part.partition("=")
        out.append(f"{name}={REDACTED}" if eq and secret_param(name) else part)
    return "".join(out)


def _split(url: str) -> tuple[str, str, str] | None:
    """(scheme://, userinfo or "", the rest) of a URL with an authority; None for anything else.

    The userinfo ends at the LAST `@` before the query or fragment: a password may hold `@` or `/`
    (`https://u:p@ss@host/r.git` is user `u`, password `p@ss`, host `host`), and showing a part of a
    password is worse than showing too little of a path."""
    start = url.find("://")
    if start <= 0 or not _SCHEME_RE.match(url[:start]):
        return None
    head, rest = url[: start + 3], url[start + 3 :]
    end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, end)
    if at < 0:
        return head, "", rest
    return head, rest[:at], rest[at + 1 :]


def redact_url(url: str) -> str:
    """The URL without credentials: no userinfo (user, password or token), and every secret query or
    fragment parameter's value replaced by `****`. Anything that is not a URL comes back as it is."""
    parts = _split(url)
    if parts is None:
        return url
    head, _, rest = parts
    base, hash_, fragment = rest.partition("#")
    path, q, query = base.partition("?")
    return head + path + q + _redact_params(query) + hash_ + (_redact_params(fragment) if "=" in fragment
                                                                else fragment)


def url_secrets(url: str) -> list[str]:
    """Every secret a URL holds (its userinfo and its parts, secret parameters' values), as written and
    percent-decoded, longest first: what must not appear in text that may quote the URL in pieces."""
    parts = _split(url)
    if parts is None:
        return []
    _, userinfo, rest = parts
    found = [userinfo, *userinfo.split(":", 1)] if userinfo else []
    base, _, fragment = rest.partition("#")
    for params in (base.partition("?")[2], fragment):
        for part in re.split(r"[&;]", params):
            name, eq, value = part.partition("=")
            if eq and secret_param(name):
                found.append(value)
    found += [unquote(s) for s in found]
    return sorted({s for s in found if len(s) >= _MIN_SECRET}, key=len, reverse=True)


def redact_urls(text: str, known: list[str] | tuple[str, ...] = ()) -> str:
    """Text with every URL in it redacted, and the secrets of the `known` URLs (e.g. the backend's)
    blanked wherever they appear, however the text quotes them (a tool may print a URL half-masked)."""
    for url in known:
        if url:
            text = text.replace(url, redact_url(url))
    text = _URL_IN_TEXT_RE.sub(lambda m: redact_url(m.group(0)), text)
    for url in known:
        for secret in url_secrets(url):
            text = text.replace(secret, REDACTED)
    return text
