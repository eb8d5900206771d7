"""What may reach a git command line, and how long a network git operation may take.

Values from apps.yaml, deploy files and the command line are hostile: a repository named
`--upload-pack=...` would run a command, `ext::sh -c ...` would too. Pure checks here (used by the
catalog model, so `check` refuses them with a file:line), and the options every network git call
carries (used by the app-repository cache), so an unanswering server fails instead of hanging.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

GIT_TIMEOUT_VAR = "DEPLOYCTL_GIT_TIMEOUT"
DEFAULT_GIT_TIMEOUT = 300.0
"""Seconds one clone or fetch may take, start to end, whatever the server does."""
CONNECT_TIMEOUT_VAR = "DEPLOYCTL_GIT_CONNECT_TIMEOUT"
CONNECT_TIMEOUT = 15
"""Seconds to connect: ssh's ConnectTimeout (TCP and banner), the https probe (TCP and TLS
handshake; git has no connect timeout of its own and its low-speed limit starts only after the
handshake), and the low-speed window of http."""
LOW_SPEED_LIMIT = 1000
"""Bytes per second below which an http transfer counts as stalled."""

_SCP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:(?!/?/)[^\s]+$")
"""`git@host:owner/repo.git`: user@host, a colon, a path (not `//`, which would be a URL)."""
_URL_RE = re.compile(r"^(https|ssh|file)://[^\s]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
ALLOWED_PROTOCOLS = ("https", "ssh", "file")
"""Transports git may use at all, even through a redirect or a submodule (`protocol.allow`)."""


def option_like(value: str) -> bool:
    """A value git would parse as an option if it came before `--`."""
    return value.startswith("-")


def repo_problem(spec: str) -> str | None:
    """Why a catalog `repo` value must not reach git, or None when it is a repository git can clone.

    Allowed: https://, ssh://, file:// URLs, scp-like `user@host:path`, and local paths (relative
    to the deploy repo, or absolute). Refused: option-like values, `ext::`/`fd::` and other
    transport helpers, other URL schemes (git://, http://: unauthenticated, unencrypted), control
    characters.
    """
    if not spec or spec != spec.strip():
        return "is empty or has leading/trailing spaces"
    if _CONTROL_RE.search(spec):
        return "contains a control character (a newline, a NUL, ...)"
    if option_like(spec):
        return "begins with '-', so git would read it as an option"
    if "::" in spec.split("/", 1)[0]:
        return (f"uses the transport helper '{spec.split('::', 1)[0]}::', which can run commands; "
                "use an https://, ssh:// or git@host:path URL")
    if "://" in spec:
        if _URL_RE.match(spec):
            netloc = spec.split("://", 1)[1].split("/", 1)[0]
            if any(option_like(part) for part in re.split(r"[@:]", netloc)):
                return "has a user or host beginning with '-', which ssh would read as an option"
            return None
        scheme = spec.split("://", 1)[0]
        return f"uses the scheme '{scheme}://'; allowed: https://, ssh://, file://, git@host:path or a path"
    if _SCP_RE.match(spec):
        return None
    if ":" in spec.split("/", 1)[0] and not spec.startswith("/"):
        return "looks like host:path without a user (git@host:path) or a URL; write the URL in full"
    return None  # a local path


def path_problem(path: str) -> str | None:
    """Why an app's `path` (a folder inside its repository) is unsafe, or None."""
    if not path or _CONTROL_RE.search(path):
        return "is empty or contains a control character"
    if option_like(path):
        return "begins with '-'"
    if path.startswith("/") or "\\" in path:
        return "must be relative to the repository's root, with '/' separators"
    if any(part in ("..", ".") for part in path.strip("/").split("/")):
        return "must not contain '.' or '..' components"
    return None


_BRANCH_BAD = re.compile(r"(^[-/.]|\.\.|[\x00-\x20\x7f~^:?*\[\\]|@\{|//|/\.|\.lock$|/$|\.$)")


def branch_problem(branch: str) -> str | None:
    """Why a release `branch` is not a branch name git accepts (check-ref-format), or None."""
    if not branch or _BRANCH_BAD.search(branch):
        return "is not a valid branch name (git check-ref-format); e.g. main or release/1.x"
    return None


@dataclass(frozen=True)
class GitLimits:
    """What the environment says about network git, read once at the edge (adapters/apprepos.git_limits)
    and passed in, so these checks never read the process's environment themselves."""

    timeout: float = DEFAULT_GIT_TIMEOUT
    """DEPLOYCTL_GIT_TIMEOUT: seconds one clone or fetch may take, whole."""
    connect: int = CONNECT_TIMEOUT
    """DEPLOYCTL_GIT_CONNECT_TIMEOUT: seconds to connect."""
    proxied: bool = False
    """An https proxy is set (HTTPS_PROXY, ALL_PROXY): the server itself cannot be probed."""
    own_ssh: bool = False
    """GIT_SSH_COMMAND or GIT_SSH is set: ssh runs as the user configured it."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> GitLimits:
        """The limits an environment sets: a value that is not a positive number keeps the default."""
        try:
            timeout = float(environ.get(GIT_TIMEOUT_VAR, ""))
        except ValueError:
            timeout = DEFAULT_GIT_TIMEOUT
        raw = environ.get(CONNECT_TIMEOUT_VAR, "")
        return cls(timeout=timeout if timeout > 0 else DEFAULT_GIT_TIMEOUT,
                   connect=int(raw) if raw.isdigit() and int(raw) > 0 else CONNECT_TIMEOUT,
                   proxied=any(environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")),
                   own_ssh=bool(environ.get("GIT_SSH_COMMAND") or environ.get("GIT_SSH")))


def https_unanswered(url: str, limits: GitLimits) -> str | None:
    """For an https:// URL, why the server cannot be talked to within the connect timeout (no TCP
    connection, or no TLS handshake), else None. Other failures are left to git, which says more;
    behind a proxy (HTTPS_PROXY) nothing is probed."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    if not url.startswith("https://") or limits.proxied:
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 443
    except ValueError:
        return None
    if not host:
        return None
    limit = limits.connect
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # git verifies; this only times
    try:
        with socket.create_connection((host, port), timeout=limit) as raw:
            try:
                with context.wrap_socket(raw, server_hostname=host):
                    return None
            except TimeoutError:
                return f"no TLS answer within {limit} s"
    except TimeoutError:
        return f"no TCP connection within {limit} s"
    except (OSError, ssl.SSLError):
        return None


DATA_ONLY_CONFIG = (
    "core.hooksPath=/dev/null",  # no hook runs (reference-transaction, post-checkout, pre-push, ...)
    "core.fsmonitor=false",  # no file-system monitor command
    "protocol.ext.allow=never",  # no `ext::` transport, whatever a config or a URL says
)
"""`-c` pairs every git call on an app-repository clone (and every network git call) carries: a
clone in the cache is data, so nothing in its config or hooks folder may run a command. They beat
the repository's own config (the command line wins); the other commands a config can name
(core.sshCommand, core.alternateRefsCommand, filter drivers, ...) are kept out by
apprepos.CLONE_CONFIG_KEYS, which discards a clone whose config says more than git and deployctl
write."""


def data_only_config() -> list[str]:
    """DATA_ONLY_CONFIG as git's command-line options."""
    return [arg for pair in DATA_ONLY_CONFIG for arg in ("-c", pair)]


def network_config(limits: GitLimits) -> list[str]:
    """`-c` options for every network git call: a stall fails, only safe transports are used, and no
    hook or configured command runs (data_only_config)."""
    low_speed_time = max(1, min(limits.connect, int(limits.timeout)))
    args = [
        *data_only_config(),
        "-c", f"http.lowSpeedLimit={LOW_SPEED_LIMIT}",
        "-c", f"http.lowSpeedTime={low_speed_time}",
        "-c", "protocol.allow=never",
    ]
    for proto in ALLOWED_PROTOCOLS:
        args += ["-c", f"protocol.{proto}.allow=always"]
    return args


QUIET_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}
"""Every app-repository git call: never prompt for a password, answer in the C locale."""


def network_env(limits: GitLimits) -> dict[str, str]:
    """Environment for network git: never prompt; ssh with a connect timeout and batch mode."""
    env = dict(QUIET_GIT_ENV)
    if not limits.own_ssh:
        env["GIT_SSH_COMMAND"] = (f"ssh -o BatchMode=yes -o ConnectTimeout={limits.connect} "
                                  "-o ServerAliveInterval=15 -o ServerAliveCountMax=2")
    return env
