"""kill -9 in the middle of large writes, restart on the same data dir, check nothing broke."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import grpc

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import at, head, repo_msg, start_pfsd
from tests.pfsd.helpers import get, put


def _writer(address: str, stop: threading.Event) -> None:
    """Keep streaming big and small objects until the server dies under us."""
    with grpc.insecure_channel(address) as ch:
        stub = pfs_pb2_grpc.APIStub(ch)
        i = 0
        while not stop.is_set():
            try:
                put(stub, "crash", f"/inflight/{i}", os.urandom(1024) * (8 * 1024 if i % 2 else 4))
            except grpc.RpcError:
                return
            i += 1


def test_kill9_mid_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_pfsd(data_dir)
    expected: dict[str, tuple[str, bytes]] = {}
    with grpc.insecure_channel(server.address) as ch:
        stub = pfs_pb2_grpc.APIStub(ch)
        stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo_msg("crash")))
        for name, size in [("small", 1000), ("medium", 300_000), ("large", 12 * 1024 * 1024)]:
            payload = os.urandom(size)
            expected[name] = (put(stub, "crash", f"/{name}", payload), payload)
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(server.address, stop)) for _ in range(3)]
    for w in writers:
        w.start()
    time.sleep(1.0)  # mid-stream: 8 MiB objects are being received and committed
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for w in writers:
        w.join()

    server = start_pfsd(data_dir)
    try:
        assert list((data_dir / "tmp").iterdir()) == []  # partial uploads swept at start
        with grpc.insecure_channel(server.address) as ch:
            stub = pfs_pb2_grpc.APIStub(ch)
            for name, (commit_id, payload) in expected.items():
                assert get(stub, at("crash", commit_id), f"/{name}") == payload
                assert get(stub, head("crash"), f"/{name}") == payload
            # every visible file is complete: its bytes match its recorded size and MD5
            walk = pfs_pb2.WalkFileRequest(file=pfs_pb2.File(commit=head("crash"), path="/"))
            for info in stub.WalkFile(walk):
                if info.file_type == pfs_pb2.FILE:
                    body = get(stub, head("crash"), info.file.path)
                    assert len(body) == info.size_bytes
                    assert hashlib.md5(body).digest() == info.hash
            put(stub, "crash", "/after", b"writable")
            assert get(stub, head("crash"), "/after") == b"writable"
    finally:
        assert server.stop() == 0
