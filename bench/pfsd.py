"""Benchmark pfsd over gRPC: throughput, small-op rates, cost at scale, and memory.

`python -m bench.pfsd [--quick]` prints a summary table; `make bench` imports `run()`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import psutil
from google.protobuf import wrappers_pb2

from generated.pfs import pfs_pb2, pfs_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
CHUNK = MiB
REPO = pfs_pb2.Repo(name="bench", type="user", project=pfs_pb2.Project(name="default"))


def _branch(name: str = "master") -> pfs_pb2.Commit:
    return pfs_pb2.Commit(repo=REPO, branch=pfs_pb2.Branch(repo=REPO, name=name))


class Server:
    """A pfsd process on a free port, with a background peak-RSS sampler."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pfsd", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"pfsd ready on (\S+)", line)
        if not match:
            raise RuntimeError(f"pfsd failed to start: {line}")
        self.address = match.group(1)
        self.ps = psutil.Process(self.proc.pid)
        self.peak = 0
        self._sampling = False

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def sample(self, on: bool) -> None:
        """Start (reset) or stop sampling peak RSS every 20 ms."""
        if on:
            self.peak = self.rss()
            self._sampling = True
            threading.Thread(target=self._loop, daemon=True).start()
        else:
            self._sampling = False

    def _loop(self) -> None:
        while self._sampling:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def _put(stub: pfs_pb2_grpc.APIStub, path: str, size: int, buf: bytes) -> None:
    async def requests() -> AsyncIterator[pfs_pb2.ModifyFileRequest]:
        yield pfs_pb2.ModifyFileRequest(set_commit=_branch())
        yield pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))
        left = size
        while left > 0:
            n = min(left, len(buf))
            raw = wrappers_pb2.BytesValue(value=buf[:n] if n < len(buf) else buf)
            yield pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=path, raw=raw))
            left -= n

    await stub.ModifyFile(requests())


async def _get(stub: pfs_pb2_grpc.APIStub, path: str) -> int:
    req = pfs_pb2.GetFileRequest(file=pfs_pb2.File(commit=_branch(), path=path))
    total = 0
    async for msg in stub.GetFile(req):
        total += len(msg.value)
    return total


async def _rate(n: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> float:
    """Operations per second running `n` ops with `concurrency` in flight."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await op(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


async def _load(stub: pfs_pb2_grpc.APIStub, branch: str, count: int, per_stream: int = 10_000) -> None:
    """Create `count` small files in few ModifyFile streams (one commit each)."""
    for start in range(0, count, per_stream):

        async def requests(start: int = start) -> AsyncIterator[pfs_pb2.ModifyFileRequest]:
            yield pfs_pb2.ModifyFileRequest(set_commit=_branch(branch))
            for i in range(start, min(count, start + per_stream)):
                raw = wrappers_pb2.BytesValue(value=b"%08d" % i)
                yield pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=f"/d/{i:08d}", raw=raw))

        await stub.ModifyFile(requests())


async def _scale_costs(stub: pfs_pb2_grpc.APIStub, branch: str, files: int, reps: int) -> dict[str, float]:
    """Mean ms for put, inspect and a 1,000-entry ListFile page in a branch of `files` files."""
    await stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=pfs_pb2.Branch(repo=REPO, name=branch)))
    await _load(stub, branch, files + 1)  # one spare so every 1,000-entry page is full
    commit = _branch(branch)
    buf = os.urandom(4096)

    async def put(i: int) -> None:
        async def requests() -> AsyncIterator[pfs_pb2.ModifyFileRequest]:
            yield pfs_pb2.ModifyFileRequest(set_commit=commit)
            path = f"/d/{(i * 7919) % files:08d}"
            yield pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))
            raw = wrappers_pb2.BytesValue(value=buf)
            yield pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=path, raw=raw))

        await stub.ModifyFile(requests())

    async def inspect(i: int) -> None:
        path = f"/d/{(i * 7919) % files:08d}"
        await stub.InspectFile(pfs_pb2.InspectFileRequest(file=pfs_pb2.File(commit=commit, path=path)))

    async def page(i: int) -> None:
        marker = pfs_pb2.File(commit=commit, path=f"/d/{(i * 7919) % max(1, files - 1000):08d}")
        req = pfs_pb2.ListFileRequest(file=pfs_pb2.File(commit=commit, path="/d"), paginationMarker=marker, number=1000)
        got = [f async for f in stub.ListFile(req)]
        assert len(got) == 1000, len(got)

    out = {}
    for name, op, n in [("put", put, reps), ("inspect", inspect, reps), ("list_page", page, max(5, reps // 20))]:
        out[name] = 1000 / await _rate(n, 1, op)
    return out


async def _bench(address: str, server: Server, quick: bool) -> dict[str, float]:
    results: dict[str, float] = {}
    opts = [("grpc.max_receive_message_length", 20 * MiB), ("grpc.max_send_message_length", 20 * MiB)]
    async with grpc.aio.insecure_channel(address, options=opts) as channel:
        stub = pfs_pb2_grpc.APIStub(channel)
        await stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=REPO))
        buf = os.urandom(CHUNK)
        small = os.urandom(4096)

        n = 200 if quick else 1000
        for conc in (1, 16):
            results[f"put_4k_c{conc}_ops"] = await _rate(n, conc, lambda i: _put(stub, f"/s/{i}", 4096, small))
            results[f"get_4k_c{conc}_ops"] = await _rate(n, conc, lambda i: _get(stub, f"/s/{i}"))

        m = 20 if quick else 100
        results["put_1m_MBps"] = m / (1 / await _rate(m, 1, lambda i: _put(stub, f"/m/{i}", MiB, buf)) * m) * 1.048576
        results["get_1m_MBps"] = m / (1 / await _rate(m, 1, lambda i: _get(stub, f"/m/{i}")) * m) * 1.048576

        big = (256 if quick else 1024) * MiB
        server.sample(True)
        t0 = time.perf_counter()
        await _put(stub, "/big", big, buf)
        results["put_big_MBps"] = big / 1e6 / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        assert await _get(stub, "/big") == big
        results["get_big_MBps"] = big / 1e6 / (time.perf_counter() - t0)
        server.sample(False)
        results["big_MiB"] = big / MiB
        results["peak_rss_MB"] = server.peak / 1e6

        reps = 100 if quick else 300
        small_scale = await _scale_costs(stub, "scale1k", 1_000, reps)
        large_scale = await _scale_costs(stub, "scale100k", 20_000 if quick else 100_000, reps)
        results["scale_files_large"] = 20_000 if quick else 100_000
        for key in small_scale:
            results[f"{key}_ms_1k"] = small_scale[key]
            results[f"{key}_ms_large"] = large_scale[key]
            results[f"{key}_ratio"] = large_scale[key] / small_scale[key]
    return results


def run(quick: bool = False) -> dict:
    """Start pfsd on a temp data dir, run every benchmark, return the figures."""
    with tempfile.TemporaryDirectory(prefix="pfsd-bench-") as tmp:
        server = Server(Path(tmp))
        try:
            return asyncio.run(_bench(server.address, server, quick))
        finally:
            server.stop()


def _table(results: dict) -> str:
    rows = [f"{'metric':<24} {'value':>12}", "-" * 37]
    rows += [f"{k:<24} {v:>12.2f}" for k, v in results.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (256 MiB, 20k files)")
    print(_table(run(parser.parse_args().quick)))
