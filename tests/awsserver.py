"""A real S3/ECR-compatible API on loopback: moto's server mode in its own process.

Pulumi's S3 backend and boto3 both talk to it over HTTP, as they would to AWS. One server per
test session (per xdist worker); tests isolate themselves with a bucket of their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
               "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class AwsServer:
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_bucket(self, prefix: str = "bucket") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(Bucket=name)
        return name

    def backend_url(self, bucket: str, prefix: str = "state") -> str:
        """Pulumi's self-managed S3 backend URL, with the S3 driver's endpoint parameters."""
        return (f"s3://{bucket}/{prefix}?region={REGION}&endpoint={self.endpoint}"
                "&use_path_style=true&disable_https=true")


def start_server(log: Path) -> tuple[subprocess.Popen[bytes], AwsServer]:
    port = free_port()
    env = {**os.environ, **CREDENTIALS}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    server = AwsServer("127.0.0.1", port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"{server.endpoint}/moto-api/", timeout=1)
            return proc, server
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start within 30 s")


@pytest.fixture(scope="session")
def aws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsServer]:
    proc, server = start_server(tmp_path_factory.mktemp("moto") / "server.log")
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def aws_env(aws_server: AwsServer, monkeypatch: pytest.MonkeyPatch) -> AwsServer:
    """Credentials and endpoint for boto3 and Pulumi in this test: the loopback server, never AWS."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server.endpoint)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return aws_server
