"""A TOTAL deadline per HTTP request (Slack, GitHub); the seconds come from the environment
(adapters/seconds.py).

httpx's timeouts bound each socket operation, not the request: a server that dribbles one header
byte every few seconds is never "timed out" and holds the caller forever. `request_within` arms a
watchdog for the whole request (connect, TLS, headers, body, redirects): at the deadline it shuts
the request's sockets down, which ends any read under way, and the call fails with
DeadlineExceeded. The sockets are taken from httpcore's documented `trace` extension, so each
request must open its own connection: clients from `bounded_client` keep none alive.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import httpx


class DeadlineExceeded(httpx.TimeoutException):
    """The whole request (not one read) took longer than its deadline."""


class _Watch:
    """The sockets one request opened, shut down when its deadline passes."""

    def __init__(self) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if not name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:  # connected just as the deadline passed
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read at once (close() would not)


def bounded_client(per_read: float) -> httpx.Client:
    """A client whose every request opens its own connection (so `request_within` can end it)."""
    return httpx.Client(timeout=per_read, limits=httpx.Limits(max_keepalive_connections=0))


def request_within(client: httpx.Client, method: str, url: str, seconds: float, **kwargs: Any) -> httpx.Response:
    """`client.request(...)`, whole (headers and body read), within `seconds`, else DeadlineExceeded.

    No socket read waits longer than the deadline either (the client's own per-read timeout is capped
    by it). A request on a connection kept alive from an earlier one cannot be cut short: use
    `bounded_client`."""
    watch = _Watch()
    timer = threading.Timer(seconds, watch.expire)
    timer.daemon = True
    per_read = client.timeout.read
    timeout = min(per_read, seconds) if per_read is not None else seconds
    timer.start()
    try:
        resp = client.request(method, url, timeout=httpx.Timeout(timeout), extensions={"trace": watch.trace},
                              **kwargs)
    except httpx.TransportError:
        if watch.expired:
            raise DeadlineExceeded(f"no complete answer within {seconds:g} s") from None
        raise
    finally:
        timer.cancel()
    return resp
