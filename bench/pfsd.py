"""Benchmark pfsd over gRPC: throughput, small-op rates, cost at scale, and memory.

`python -m bench.pfsd [--quick] [--src DIR]` prints a summary table; `make bench` imports
`run()`. pfsd listens on a Unix socket, as the gateway's child does. Besides rates, each
`*_cpu_ms` / `*_cpu_s_GiB` figure is pfsd's own CPU time (all its threads, from the kernel's
accounting) per operation or per GiB: on a shared, noisy machine it moves far less than
wall-clock rates do. `--src` runs the pfsd of another checkout (before/after comparisons).
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
    """A pfsd process on a Unix socket, with a background peak-RSS sampler."""

    def __init__(self, data_dir: Path, src: Path = ROOT) -> None:
        listen = f"unix://{data_dir / 'pfsd.sock'}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pfsd", "--listen", listen, "--data-dir", str(data_dir / "data")],
            cwd=src,
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

    def cpu(self) -> float:
        """CPU seconds pfsd used so far (user + system, every thread)."""
        times = self.ps.cpu_times()
        return float(times.user + times.system)

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


async def _costs(
    server: Server, n: int, concurrency: int, op: Callable[[int], Awaitable[object]]
) -> tuple[float, float]:
    """(operations per second, pfsd CPU ms per operation) for `n` ops."""
    before = server.cpu()
    rate = await _rate(n, concurrency, op)
    return rate, (server.cpu() - before) * 1000 / n


def _entries(page: bytes) -> int:
    """FileInfos in a pfsd.Pages answer (`repeated FileInfo file_info = 1`)."""
    count = pos = 0
    while pos < len(page):
        pos += 1  # the field's tag
        length = shift = 0
        while True:
            byte = page[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        pos += length
        count += 1
    return count


async def _inspect(stub: pfs_pb2_grpc.APIStub, path: str) -> None:
    await stub.InspectFile(pfs_pb2.InspectFileRequest(file=pfs_pb2.File(commit=_branch(), path=path)))


async def _load(stub: pfs_pb2_grpc.APIStub, branch: str, count: int, per_stream: int = 10_000) -> None:
    """Create `count` small files in few ModifyFile streams (one commit each)."""
    for start in range(0, count, per_stream):

        async def requests(start: int = start) -> AsyncIterator[pfs_pb2.ModifyFileRequest]:
            yield pfs_pb2.ModifyFileRequest(set_commit=_branch(branch))
            for i in range(start, min(count, start + per_stream)):
                raw = wrappers_pb2.BytesValue(value=b"%08d" % i)
                yield pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=f"/d/{i:08d}", raw=raw))

        await stub.ModifyFile(requests())


async def _scale_costs(
    stub: pfs_pb2_grpc.APIStub, channel: grpc.aio.Channel, server: Server, branch: str, files: int, reps: int
) -> dict[str, float]:
    """Mean ms (and pfsd CPU ms) for put, inspect, a 1,000-entry ListFile page streamed and the
    same page through the pfsd.Pages extension, in a branch of `files` files."""
    await stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=pfs_pb2.Branch(repo=REPO, name=branch)))
    await _load(stub, branch, files + 1)  # one spare so every 1,000-entry page is full
    commit = _branch(branch)
    buf = os.urandom(4096)
    pages = channel.unary_unary("/pfsd.Pages/ListFile", request_serializer=pfs_pb2.ListFileRequest.SerializeToString)

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

    def page_request(i: int) -> pfs_pb2.ListFileRequest:
        marker = pfs_pb2.File(commit=commit, path=f"/d/{(i * 7919) % max(1, files - 1000):08d}")
        file = pfs_pb2.File(commit=commit, path="/d")
        return pfs_pb2.ListFileRequest(file=file, paginationMarker=marker, number=1000)

    async def page(i: int) -> None:
        got = [f async for f in stub.ListFile(page_request(i))]
        assert len(got) == 1000, len(got)

    async def one_message_page(i: int) -> None:
        raw = await pages(page_request(i))
        assert _entries(raw) == 1000, _entries(raw)

    out = {}
    ops = [("put", put, reps), ("inspect", inspect, reps), ("list_page", page, max(5, reps // 20)),
           ("pages_page", one_message_page, max(10, reps // 5))]
    for name, op, n in ops:
        try:
            rate, cpu = await _costs(server, n, 1, op)
        except grpc.aio.AioRpcError as e:  # an older pfsd (--src) without the Pages extension
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            continue
        out[name] = 1000 / rate
        out[f"{name}_cpu"] = cpu
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
            put, cpu = await _costs(server, n, conc, lambda i: _put(stub, f"/s/{i}", 4096, small))
            results[f"put_4k_c{conc}_ops"], results[f"put_4k_c{conc}_cpu_ms"] = put, cpu
            get, cpu = await _costs(server, n, conc, lambda i: _get(stub, f"/s/{i}"))
            results[f"get_4k_c{conc}_ops"], results[f"get_4k_c{conc}_cpu_ms"] = get, cpu
        results["inspect_c16_ops"], results["inspect_c16_cpu_ms"] = await _costs(
            server, n, 16, lambda i: _inspect(stub, f"/s/{i}"))

        m = 20 if quick else 100
        results["put_1m_MBps"] = m / (1 / await _rate(m, 1, lambda i: _put(stub, f"/m/{i}", MiB, buf)) * m) * 1.048576
        results["get_1m_MBps"] = m / (1 / await _rate(m, 1, lambda i: _get(stub, f"/m/{i}")) * m) * 1.048576

        big = (256 if quick else 1024) * MiB
        server.sample(True)
        cpu, t0 = server.cpu(), time.perf_counter()
        await _put(stub, "/big", big, buf)
        results["put_big_MBps"] = big / 1e6 / (time.perf_counter() - t0)
        results["put_big_cpu_s_GiB"] = (server.cpu() - cpu) / (big / 2**30)
        cpu, t0 = server.cpu(), time.perf_counter()
        assert await _get(stub, "/big") == big
        results["get_big_MBps"] = big / 1e6 / (time.perf_counter() - t0)
        results["get_big_cpu_s_GiB"] = (server.cpu() - cpu) / (big / 2**30)
        server.sample(False)
        results["big_MiB"] = big / MiB
        results["peak_rss_MB"] = server.peak / 1e6

        reps = 100 if quick else 300
        small_scale = await _scale_costs(stub, channel, server, "scale1k", 1_000, reps)
        large_scale = await _scale_costs(stub, channel, server, "scale100k", 20_000 if quick else 100_000, reps)
        results["scale_files_large"] = 20_000 if quick else 100_000
        for key in small_scale:
            if key not in large_scale:
                continue
            if key.endswith("_cpu"):
                results[f"{key}_ms_large"] = large_scale[key]
                continue
            results[f"{key}_ms_1k"] = small_scale[key]
            results[f"{key}_ms_large"] = large_scale[key]
            results[f"{key}_ratio"] = large_scale[key] / small_scale[key]
    return results


def run(quick: bool = False, src: Path = ROOT) -> dict:
    """Start pfsd (from checkout `src`) on a temp data dir, run every benchmark, return the figures."""
    with tempfile.TemporaryDirectory(prefix="pfsd-bench-") as tmp:
        server = Server(Path(tmp), src)
        try:
            return asyncio.run(_bench(server.address, server, quick))
        finally:
            server.stop()


def _table(results: dict) -> str:
    rows = [f"{'metric':<28} {'value':>12}", "-" * 41]
    rows += [f"{k:<28} {v:>12.2f}" for k, v in results.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (256 MiB, 20k files)")
    parser.add_argument("--src", type=Path, default=ROOT, help="checkout whose pfsd to run (default: this one)")
    args = parser.parse_args()
    print(_table(run(args.quick, args.src.resolve())))
