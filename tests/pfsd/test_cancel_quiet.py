"""A client that cancels a GetFile stream is normal: pfsd logs nothing about it above debug.

grpc.aio reports a write to a stream whose cancellation it has not processed yet as an ERROR
with an ExecuteBatchError traceback; the gateway cancels a GetFile each time a ranged GET has
its bytes or an HTTP client goes away, so those lines buried real errors in operators' logs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import READY, ROOT, head, repo_msg
from tests.pfsd.helpers import put

SIZE = 16 * 1024 * 1024  # 16 GetFile messages: a cancel lands while pfsd is still writing


@pytest.fixture(scope="module")
def logged_pfsd(tmp_path_factory: pytest.TempPathFactory):
    """pfsd with its whole output (stdout and stderr) in a file, read after it stops."""
    tmp = tmp_path_factory.mktemp("pfsd-cancel")
    log_path = tmp / "pfsd.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pfsd", "--listen", "127.0.0.1:0",
                                 "--data-dir", str(tmp / "data")],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        address = _wait_ready(proc, log_path)
        yield proc, address, log_path
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def _wait_ready(proc: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = READY.search(log_path.read_text(errors="replace"))
        if m:
            return m.group(1)
        assert proc.poll() is None, log_path.read_text(errors="replace")
        time.sleep(0.05)
    raise AssertionError("pfsd did not start")


async def _cancel_streams(address: str, commit: pfs_pb2.Commit, rounds: int) -> int:
    """`rounds` times, 8 parallel GetFiles of one file, each cancelled at a different point:
    before any answer, after the header, after one or a few messages. Returns bytes read."""
    got = 0
    async with grpc.aio.insecure_channel(address) as channel:
        api = pfs_pb2_grpc.APIStub(channel)
        file = pfs_pb2.File(commit=commit, path="/big")

        async def one(k: int) -> None:
            nonlocal got
            call = api.GetFile(pfs_pb2.GetFileRequest(file=file, offset=k * 4096))
            if k % 4 == 1:
                await call.initial_metadata()
            elif k % 4 >= 2:
                n = 0
                async for msg in call:
                    got += len(msg.value)
                    n += 1
                    if n >= k % 4 - 1:
                        break
            call.cancel()

        for _ in range(rounds):
            await asyncio.gather(*(one(k) for k in range(8)))
    return got


def test_cancelled_getfile_streams_log_nothing(logged_pfsd) -> None:
    proc, address, log_path = logged_pfsd
    name = "cancel"
    with grpc.insecure_channel(address) as ch:
        stub = pfs_pb2_grpc.APIStub(ch)
        stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo_msg(name)))
        put(stub, name, "/big", bytes(range(256)) * (SIZE // 256))
    got = asyncio.run(_cancel_streams(address, head(name), rounds=25))
    assert got > 0  # streams did carry data before they were cancelled
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    text = log_path.read_text(errors="replace")
    assert "pfsd stopping" in text  # the log is the whole run's
    bad = [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line
           or "ExecuteBatchError" in line]
    assert not bad, text[-3000:]
