"""Shared fixtures: real processes (the gateway and its embedded PFS server) on free loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


class Gateway:
    """``python -m gateway`` (which starts its embedded pfsd) as a child process."""

    def __init__(self, data_dir: Path, *extra: str, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log = open(data_dir.parent / f"gateway-{self.port}.log", "wb")  # noqa: SIM115
        cmd = [sys.executable, "-m", "gateway", "--port", str(self.port), "--data-dir", str(data_dir), *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        wait_http(self.url + "/~/ready", self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def log_text(self) -> str:
        self.log.flush()
        return (self.data_dir.parent / f"gateway-{self.port}.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def gateway(tmp_path_factory) -> Gateway:
    gw = Gateway(tmp_path_factory.mktemp("gw") / "data")
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def endpoint(gateway) -> str:
    return gateway.url


def boto3_client(endpoint: str, **config):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="anonymous", aws_secret_access_key="anonymous",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      **config))


@pytest.fixture(scope="session")
def s3(endpoint):
    return boto3_client(endpoint)


def unique_repo() -> str:
    return "r" + uuid.uuid4().hex[:12]


@pytest.fixture
def bucket(s3) -> str:
    """A fresh bucket (``master.<repo>``) for one test."""
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def versioned_bucket(s3) -> str:
    """A fresh bucket with S3 versioning Enabled: its version IDs are the commits of its writes."""
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name
