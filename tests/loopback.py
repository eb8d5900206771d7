"""Servers on loopback that never finish an answer: one that accepts and never sends a byte, one that
sends a status line and then an endless header, a line every 0.2 s (each read succeeds, so a
per-read timeout never fires). Raw sockets on a free 127.0.0.1 port; every thread is stopped and
every connection closed when the `with` block ends."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Literal

Mode = Literal["silent", "dribble"]
MODES: tuple[Mode, ...] = ("silent", "dribble")


@contextlib.contextmanager
def stalling_server(mode: Mode) -> Iterator[int]:
    """The port of a server that stalls every request as `mode` says."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    stop = threading.Event()
    conns: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def dribble(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                conn.recv(65536)  # the request's first bytes
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            n = 0
            while not stop.wait(0.2):
                n += 1
                conn.sendall(f"X-Dribble-{n}: still coming\r\n".encode())

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            if mode == "dribble":
                worker = threading.Thread(target=dribble, args=(conn,), daemon=True)
                threads.append(worker)
                worker.start()

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for worker in threads:
            worker.join(timeout=5)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        listener.close()


def elapsed(since: float) -> float:
    return time.monotonic() - since
