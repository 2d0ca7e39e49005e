"""Fixtures: a pfsd process on a free loopback port, and gRPC stubs to drive it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from generated.pfs import pfs_pb2, pfs_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"pfsd ready on (\S+)")


@dataclass
class Pfsd:
    """A running `python -m pfsd` process."""

    proc: subprocess.Popen[str]
    address: str
    data_dir: Path

    def stop(self, sig: int | None = None) -> int:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def start_pfsd(data_dir: Path, listen: str = "127.0.0.1:0") -> Pfsd:
    """Start pfsd and wait for its ready line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pfsd", "--listen", listen, "--data-dir", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        m = READY.search(line)
        if m:
            return Pfsd(proc, m.group(1), data_dir)
    raise RuntimeError("pfsd did not start:\n" + "".join(lines))


@pytest.fixture(scope="session")
def pfsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pfsd]:
    server = start_pfsd(tmp_path_factory.mktemp("pfsd-data"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def channel(pfsd: Pfsd) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(pfsd.address) as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> pfs_pb2_grpc.APIStub:
    return pfs_pb2_grpc.APIStub(channel)


def repo_msg(name: str, project: str = "default") -> pfs_pb2.Repo:
    return pfs_pb2.Repo(name=name, type="user", project=pfs_pb2.Project(name=project))


def branch_msg(repo: str, name: str = "master", project: str = "default") -> pfs_pb2.Branch:
    return pfs_pb2.Branch(repo=repo_msg(repo, project), name=name)


def head(repo: str, branch: str = "master", project: str = "default") -> pfs_pb2.Commit:
    b = branch_msg(repo, branch, project)
    return pfs_pb2.Commit(repo=b.repo, branch=b)


def at(repo: str, commit_id: str, project: str = "default") -> pfs_pb2.Commit:
    return pfs_pb2.Commit(repo=repo_msg(repo, project), id=commit_id)


@pytest.fixture
def repo(stub: pfs_pb2_grpc.APIStub) -> str:
    """A fresh, empty repo in the default project."""
    name = "r" + uuid.uuid4().hex[:12]
    stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo_msg(name)))
    return name
