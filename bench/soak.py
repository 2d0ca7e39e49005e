"""``python -m bench.soak``: many concurrent S3 clients for a bounded time, then a full check.

Clients mix PUT, GET, HEAD, LIST, DELETE, CopyObject and multipart uploads on one bucket of a
gateway it starts (embedded pfsd, loopback, a temporary data dir). Every body is unique (its
SHA-256 names the write), so what a key holds tells which write put it there. Three kinds of
keys, each with a check that is exact for it:

- private keys, used by one client only: its operations are sequential, so the expected state
  (content or absent) is known after every acknowledged operation. Every GET, HEAD and LIST
  during the run is checked against it, and so is the final state.
- locked shared keys, used by all clients under a client-side per-key lock: the lock orders the
  operations, so the same exact model holds.
- free shared keys, written and deleted by all clients concurrently with no lock. Each
  acknowledged write (PUT, copy, multipart, DELETE as "absent") is recorded with its interval
  [sent, acknowledged]. A write W may be the final state only if no acknowledged write started
  after W was acknowledged (such a write is ordered after W by real time). The final state must
  be the value of one such write (or of a write left unacknowledged by an error, which may or
  may not have happened). Reads during the run must return a value some write of the key used.

Anything else (an unexpected status, a wrong body, a final state no rule allows) is counted:
errors for unexpected responses, lost updates for a final state that no rule allows. Exits 1 if
either is non-zero. Each error says when it was sent, how long it took and which connection it
used (fresh or reused, idle how long before: bench/conntrack.py); a transport error adds its
exception chain. Prints the operation counts, throughput, both processes' RSS at start and end,
and the kernel's TCP abort/overflow counters over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import conntrack
from bench.common import ROOT, free_port, wait_http

ABSENT = "absent"
PART_MIN = 5 * 1024 * 1024
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Write:
    value: str  # a body's sha256, or ABSENT
    started: float
    acked: float | None  # None: no answer (error): it may or may not have happened


@dataclass
class Stats:
    ops: Counter = field(default_factory=Counter)
    errors: list[dict] = field(default_factory=list)  # {"what": ..., and what explains it}
    lost: list[str] = field(default_factory=list)

    def error(self, what: str, **detail) -> None:
        self.errors.append({"what": what, **detail})


class Soak:
    def __init__(self, url: str, bucket: str, clients: int, shared: int, private: int,
                 seed: int) -> None:
        self.url, self.bucket = url, bucket
        self.clients = clients
        self.stats = Stats()
        self.rng = random.Random(seed)
        self.free_keys = [f"shared/free/k{i}" for i in range(shared)]
        # enough locked keys that clients seldom queue on a lock (that would only measure waiting)
        self.locked_keys = [f"shared/locked/k{i}" for i in range(max(shared, clients // 2))]
        self.locks = {k: asyncio.Lock() for k in self.locked_keys}
        self.exact: dict[str, str] = {k: ABSENT for k in self.locked_keys}  # locked + private
        self.private = {c: [f"private/c{c}/k{i}" for i in range(private)] for c in range(clients)}
        for keys in self.private.values():
            self.exact.update(dict.fromkeys(keys, ABSENT))
        self.history: dict[str, list[Write]] = {k: [] for k in self.free_keys}
        self.seen: dict[str, set[str]] = {k: {ABSENT} for k in self.free_keys}  # values written
        self.started = time.monotonic()

    # -- one request ------------------------------------------------------------------------

    async def call(self, c: httpx.AsyncClient, op: str, method: str, key: str = "", *,
                   ok: tuple[int, ...] = (200,), **kw) -> httpx.Response | None:
        path = f"/{self.bucket}/{key}" if key else f"/{self.bucket}"
        self.stats.ops[op] += 1
        conntrack.current.set(None)
        sent = time.monotonic()
        try:
            r = await c.request(method, path, **kw)
        except httpx.HTTPError as e:
            # no response to show: say how long it took, on which connection, and why
            self.stats.error(f"{op} {key}: {type(e).__name__} {e}", **self.context(sent),
                             chain=conntrack.exception_chain(e))
            return None
        if r.status_code not in ok:
            self.stats.error(f"{op} {key}: {r.status_code} {r.text[:200]}", **self.context(sent),
                             request_id=r.headers.get("x-amz-request-id"))
            return None
        return r

    def context(self, sent: float) -> dict:
        """When a request was sent and answered (or failed), and the connection it used."""
        now, conn = time.monotonic(), conntrack.current.get()
        return {"at_s": round(sent - self.started, 3), "elapsed_s": round(now - sent, 3),
                **({"conn": conn.describe()} if conn is not None else {})}

    def body(self, client: int) -> bytes:
        size = self.rng.choice((0, 100, 1000, 4096, 30_000, 70_000, 300_000))
        head = f"{client}:{time.monotonic_ns()}:".encode()
        return head + os.urandom(max(0, size - len(head)))

    # -- writes, returning the value written (None: failed) ---------------------------------

    async def put(self, c, client: int, key: str) -> str | None:
        data = self.body(client)
        r = await self.call(c, "put", "PUT", key, content=data)
        return digest(data) if r is not None else None

    async def delete(self, c, key: str) -> str | None:
        r = await self.call(c, "delete", "DELETE", key, ok=(204,))
        return ABSENT if r is not None else None

    async def copy(self, c, src: str, dst: str, src_value: str) -> str | None:
        """Copy ``src`` (whose state is ``src_value``, known exactly) onto ``dst``."""
        headers = {"x-amz-copy-source": f"/{self.bucket}/{src}"}
        if src_value == ABSENT:
            await self.call(c, "copy", "PUT", dst, ok=(404,), headers=headers)
            return "unchanged"
        r = await self.call(c, "copy", "PUT", dst, headers=headers)
        return src_value if r is not None else None

    async def multipart(self, c, client: int, key: str) -> str | None:
        r = await self.call(c, "multipart", "POST", key, params={"uploads": ""})
        if r is None:
            return None
        upload_id = ET.fromstring(r.content).findtext(f"{NS}UploadId")
        parts = [os.urandom(PART_MIN)] if self.rng.random() < 0.1 else []
        parts.append(self.body(client))
        etags = []
        for n, data in enumerate(parts, 1):
            r = await self.call(c, "upload_part", "PUT", key, content=data,
                                params={"partNumber": str(n), "uploadId": upload_id})
            if r is None:
                return None
            etags.append(r.headers["etag"])
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
            for n, e in enumerate(etags, 1)) + "</CompleteMultipartUpload>"
        r = await self.call(c, "complete", "POST", key, content=xml.encode(),
                            params={"uploadId": upload_id})
        if r is None or b"<Error>" in r.content:
            if r is not None:
                self.stats.error(f"complete {key}: {r.text[:200]}")
            return None
        return digest(b"".join(parts))

    # -- reads, checked -------------------------------------------------------------------

    async def read(self, c, key: str) -> str | None:
        """The key's state as GET sees it (None: the GET failed)."""
        r = await self.call(c, "get", "GET", key, ok=(200, 404))
        if r is None:
            return None
        return digest(r.content) if r.status_code == 200 else ABSENT

    async def check_read(self, c, key: str, expected: str | set[str], how: str = "get") -> None:
        if how == "head":
            r = await self.call(c, "head", "HEAD", key, ok=(200, 404))
            if r is None:
                return
            got_present = r.status_code == 200
            want = expected if isinstance(expected, str) else None
            if want is not None and got_present != (want != ABSENT):
                self.stats.error(f"head {key}: {r.status_code}, expected {want[:12]}")
            return
        r = await self.call(c, "get", "GET", key, ok=(200, 404))
        if r is None:
            return
        got = digest(r.content) if r.status_code == 200 else ABSENT
        if (got != expected) if isinstance(expected, str) else (got not in expected):
            self.stats.error(f"get {key}: read {got[:12]} ({len(r.content)} bytes starting "
                             f"{r.content[:24]!r}), expected {str(expected)[:60]}")

    async def check_list(self, c, client: int) -> None:
        prefix = f"private/c{client}/"
        r = await self.call(c, "list", "GET", params={"list-type": "2", "prefix": prefix})
        if r is None:
            return
        listed = {e.text for e in ET.fromstring(r.content).iter(f"{NS}Key")}
        want = {k for k in self.private[client] if self.exact[k] != ABSENT}
        if listed != want:
            self.stats.error(f"list {prefix}: {sorted(listed)} != {sorted(want)}")

    # -- the clients ------------------------------------------------------------------------

    async def exact_op(self, c, client: int, key: str, src: str) -> None:
        """One operation on a key whose state is known exactly (private, or locked shared)."""
        roll = self.rng.random()
        if roll < 0.30:
            value = await self.put(c, client, key)
        elif roll < 0.55:
            return await self.check_read(c, key, self.exact[key])
        elif roll < 0.65:
            return await self.check_read(c, key, self.exact[key], "head")
        elif roll < 0.78:
            value = await self.delete(c, key)
        elif roll < 0.90:
            if src == key or self.exact[src] == "unknown":
                return await self.check_read(c, key, self.exact[key])
            value = await self.copy(c, src, key, self.exact[src])
            if value == "unchanged":
                return
        else:
            value = await self.multipart(c, client, key)
        if value is None:
            self.exact[key] = "unknown"  # no acknowledgement: either state is possible
        else:
            self.exact[key] = value

    async def free_op(self, c, client: int, key: str) -> None:
        roll = self.rng.random()
        if roll < 0.35:
            return await self.check_read(c, key, self.seen[key])
        started = time.monotonic()
        if roll < 0.75:
            data = self.body(client)
            self.seen[key].add(digest(data))  # before sending: a concurrent read may see it
            r = await self.call(c, "put", "PUT", key, content=data)
            value, written = (digest(data) if r is not None else None), digest(data)
        else:
            value = await self.delete(c, key)
            written = ABSENT
        self.history[key].append(Write(written, started, time.monotonic() if value is not None else None))

    async def client(self, c: httpx.AsyncClient, client: int, until: float) -> None:
        mine = self.private[client]
        while time.monotonic() < until:
            roll = self.rng.random()
            if roll < 0.45:
                key = self.rng.choice(mine)
                if self.exact[key] == "unknown":
                    self.exact[key] = await self.read(c, key) or "unknown"
                    continue
                await self.exact_op(c, client, key, self.rng.choice(mine))
            elif roll < 0.50:
                await self.check_list(c, client)
            elif roll < 0.75:
                key = self.rng.choice(self.locked_keys)
                async with self.locks[key]:
                    if self.exact[key] == "unknown":
                        self.exact[key] = await self.read(c, key) or "unknown"
                        continue
                    # copies onto a locked key come from one of this client's keys
                    await self.exact_op(c, client, key, self.rng.choice(mine))
            else:
                await self.free_op(c, client, self.rng.choice(self.free_keys))

    async def verify(self, c: httpx.AsyncClient) -> None:
        for key, want in self.exact.items():
            got = await self.read(c, key)
            if got is not None and want != "unknown" and got != want:
                self.stats.lost.append(f"{key}: holds {got[:12]}, last acknowledged {want[:12]}")
        for key, writes in self.history.items():
            got = await self.read(c, key)
            if got is None:
                continue
            acked = [w.acked for w in writes if w.acked is not None]
            # W may be last unless some acknowledged write started after W was acknowledged
            allowed = {w.value for w in writes
                       if w.acked is None or not any(w2.started > w.acked for w2 in writes
                                                     if w2.acked is not None)}
            if not acked:
                allowed.add(ABSENT)
            if got not in allowed:
                self.stats.lost.append(f"{key}: holds {got[:12]}, allowed {sorted(allowed)}")

    async def run(self, duration: float) -> float:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.url, timeout=60,
                                     transport=conntrack.tracked_transport(limits)) as c:
            r = await c.put(f"/{self.bucket}")
            r.raise_for_status()
            started = self.started = time.monotonic()
            until = started + duration
            await asyncio.gather(*(self.client(c, i, until) for i in range(self.clients)))
            elapsed = time.monotonic() - started
            await self.verify(c)
        return elapsed


def server_latency_ms(metrics_url: str) -> dict[str, float]:
    """Mean time per S3 operation as the gateway measured it (its /~/metrics)."""
    sums, counts = {}, {}
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        for suffix, into in (("_sum", sums), ("_count", counts)):
            prefix = f"s3gw_request_duration_seconds{suffix}{{operation=\""
            if line.startswith(prefix):
                op = line[len(prefix):].split('"', 1)[0]
                into[op] = float(line.rsplit(" ", 1)[1])
    return {op: round(sums[op] / n * 1000, 1) for op, n in sorted(counts.items()) if n}


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    import psutil

    return {name: round(psutil.Process(pid).memory_info().rss / 1e6, 1) for name, pid in pids.items()}


def process_pids(gateway_pid: int) -> dict[str, int]:
    import psutil

    pids = {"gateway": gateway_pid}
    for p in psutil.Process(gateway_pid).children():
        if "pfsd" in " ".join(p.cmdline()):
            pids["pfsd"] = p.pid
    return pids


def soak(clients: int = 64, duration: float = 60.0, shared: int = 8, private: int = 4,
         seed: int | None = None, data_dir: Path | None = None) -> dict:
    """Start a gateway, soak it, check every key, stop it; returns the figures."""
    import subprocess

    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        data = data_dir or Path(tmp) / "data"
        port = free_port()
        log = open(Path(tmp) / "gateway.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "--port", str(port),
                                 "--data-dir", str(data), "--no-access-log"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(port, "/~/ready", proc)
            pids = process_pids(proc.pid)
            rss_start = rss_mb(pids)
            s = Soak(f"http://127.0.0.1:{port}", f"master.soak{seed % 100000}", clients, shared,
                     private, seed)
            tcp_before = conntrack.tcp_counters()
            elapsed = asyncio.run(s.run(duration))
            tcp_after = conntrack.tcp_counters()
            rss_end = rss_mb(pids)
            latency = server_latency_ms(f"http://127.0.0.1:{port}/~/metrics")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
            gateway_log = (Path(tmp) / "gateway.log").read_text(errors="replace")
            if s.stats.errors or s.stats.lost:
                kept = Path(tempfile.gettempdir()) / f"soak-{seed}-gateway.log"
                kept.write_text(gateway_log)
                print(f"gateway log kept in {kept}", file=sys.stderr)
    total = sum(s.stats.ops.values())
    return {
        "clients": clients, "duration_s": round(elapsed, 1), "seed": seed,
        "ops": total, "ops_per_s": round(total / elapsed, 1), "by_op": dict(sorted(s.stats.ops.items())),
        "errors": len(s.stats.errors), "error_samples": s.stats.errors[:10],
        "lost_updates": len(s.stats.lost), "lost_samples": s.stats.lost[:10],
        "rss_mb_start": rss_start, "rss_mb_end": rss_end,
        "server_mean_latency_ms": latency,
        "gateway_errors_logged": gateway_log.count(" ERROR "),
        # machine-wide (other processes count too), nonzero ones only
        "tcp_counters_delta": {k: n - tcp_before[k] for k, n in tcp_after.items()
                               if n != tcp_before[k]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    ap.add_argument("--shared-keys", type=int, default=8,
                    help="free shared keys (locked shared keys: this many, or clients/2 if more)")
    ap.add_argument("--private-keys", type=int, default=4, help="per client")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args(argv)
    result = soak(a.clients, a.duration, a.shared_keys, a.private_keys, a.seed)
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and result["lost_updates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
