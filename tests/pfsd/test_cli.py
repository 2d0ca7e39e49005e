"""The process: CLI flags and env, Unix sockets, signals, auth and version services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from google.protobuf import empty_pb2

from generated.auth import auth_pb2, auth_pb2_grpc
from generated.pfs import pfs_pb2, pfs_pb2_grpc
from generated.version.versionpb import version_pb2_grpc
from tests.pfsd.conftest import ROOT, Pfsd, start_pfsd


def test_auth_not_activated(channel: grpc.Channel) -> None:
    stub = auth_pb2_grpc.APIStub(channel)
    try:
        stub.WhoAmI(auth_pb2.WhoAmIRequest())
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNIMPLEMENTED
        assert exc.details() == "the auth service is not activated"
    else:
        raise AssertionError("WhoAmI should fail")


def test_version(channel: grpc.Channel) -> None:
    version = version_pb2_grpc.APIStub(channel).GetVersion(empty_pb2.Empty())
    assert (version.major, version.minor) == (2, 7)


def test_unix_socket_and_sigint(tmp_path: Path) -> None:
    sock = tmp_path / "pfsd.sock"
    server = start_pfsd(tmp_path / "data", listen=f"unix://{sock}")
    try:
        with grpc.insecure_channel(f"unix://{sock}") as ch:
            names = [p.project.name for p in pfs_pb2_grpc.APIStub(ch).ListProject(pfs_pb2.ListProjectRequest())]
            assert names == ["default"]
    finally:
        assert server.stop(signal.SIGINT) == 0


def test_env_vars_and_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PFSD_LISTEN": "127.0.0.1:0", "PFSD_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pfsd"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "pfsd ready on 127.0.0.1:" in line
    assert Pfsd(proc, "", tmp_path).stop() == 0
    assert (tmp_path / "d" / "meta.db").exists()
