"""Real headless Chromium for tests: dump a page's DOM after load, or take a screenshot.

Chromium is a test dependency like Pulumi: a missing browser fails the test with the fix
(`make setup`, which runs scripts/install-browser), it never skips silently.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMEOUT = 90
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
]


def chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("headless Chromium is not installed (no `chromium` on PATH); run `make setup` "
                    "(or scripts/install-browser) and rerun the tests", pytrace=False)
    return binary


def _run(target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        try:
            proc = subprocess.run(
                [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, target],
                capture_output=True, text=True, timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not finish loading {target} within {TIMEOUT}s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"chromium failed on {target} (exit {proc.returncode}):\n{proc.stderr[-3000:]}", pytrace=False)
    return proc


def _target(path_or_url: str | Path) -> str:
    text = str(path_or_url)
    return text if "://" in text else Path(text).resolve().as_uri()


def dump_dom(path_or_url: str | Path, width: int | None = None) -> str:
    """The serialised DOM after the page loaded and its scripts ran (laid out `width` pixels wide)."""
    size = [f"--window-size={width},1000"] if width else []
    return _run(_target(path_or_url), "--dump-dom", "--virtual-time-budget=2000", *size).stdout


def screenshot(url: str | Path, png_path: Path, width: int = 1400, height: int = 1000) -> Path:
    """A PNG of the page's first `width` x `height` pixels."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.unlink(missing_ok=True)
    _run(_target(url), f"--screenshot={png_path}", f"--window-size={width},{height}", "--virtual-time-budget=2000")
    if not png_path.exists():
        pytest.fail(f"chromium wrote no screenshot to {png_path}", pytrace=False)
    return png_path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 at an ephemeral port; yields the base URL (with a trailing slash)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
