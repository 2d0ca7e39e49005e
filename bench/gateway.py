"""Benchmark the S3 gateway (with its embedded pfsd) side by side with moto, and nginx for big bodies.

`python -m bench.gateway [--quick]` prints the table; `python -m bench` imports `run()` and
`table()`. Every server is started fresh in this run on a free loopback port and measured with
the same client code, alternating between servers; figures are quoted as ratios to moto (and to
nginx for big bodies) because the machine is shared and noisy.

Clients: small-object load is raw HTTP/1.1 with SigV4 headers (``bench.common.raw_load``),
driven from 2 worker processes with one keep-alive connection per thread, so that the client is
not what is measured; boto3 (threads sharing one client) is measured alongside for reference.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import http.client
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from bench.common import (
    ACCESS_KEY,
    HOST,
    SECRET_KEY,
    GatewayServer,
    KiB,
    MiB,
    MotoServer,
    NginxServer,
    S3rverServer,
    Sampler,
    Server,
    nginx_binary,
    raw_get_discard,
    raw_load,
    raw_put_file,
    raw_put_many,
    s3rver_script,
    sign,
    write_random_file,
)

BUCKET = "master.bench"
MB = 1e6
PEERS = ("moto", "s3rver")
# Gateway rows besides the default single process: --workers N (BENCH_WORKERS=1,2,4 for more)
WORKERS = tuple(int(n) for n in os.environ.get("BENCH_WORKERS", "1,2").split(",") if n.strip())
# A row for the gateway with pfsd as a child process (--pfsd-process): the in-process default's
# before/after, side by side in the same run (BENCH_CHILD=0 leaves it out)
CHILD = os.environ.get("BENCH_CHILD", "1") != "0"


def _ahead_and_near_nginx(f: dict, g: float) -> bool:
    """Faster than every peer S3 server measured, and at least 90% of nginx."""
    return g > max(f[p] for p in PEERS if p in f) and g >= 0.9 * f["nginx"]


# metric -> (target text, check(figures of the servers, one gateway's figure) -> bool)
TARGETS = {
    "put_4k_c16_ops": ("ahead of s3rver", lambda f, g: g > f["s3rver"]),
    "get_4k_c16_ops": ("ahead of s3rver", lambda f, g: g > f["s3rver"]),
    "put_big_MBps": ("ahead of every peer, >= 90% nginx", _ahead_and_near_nginx),
    "get_big_MBps": ("ahead of every peer, >= 90% nginx", _ahead_and_near_nginx),
    "list_s": ("gateway >= 20x faster than moto", lambda f, g: 20 * g <= f["moto"]),
    "rss_idle_MB": ("<= 100 MB", lambda f, g: g <= 100),
    "rss_small_MB": ("<= 150 MB", lambda f, g: g <= 150),
    "rss_big_MB": ("<= 150 MB", lambda f, g: g <= 150),
}
LOWER_IS_BETTER = {"list_s", "list_boto3_s", "rss_idle_MB", "rss_small_MB", "rss_big_MB",
                   "put_4k_c16_cpu_ms", "get_4k_c16_cpu_ms", "put_4k_c1_p50_ms",
                   "get_4k_c1_p50_ms", "put_big_cpu_ms_MB", "get_big_cpu_ms_MB"}
ORDER = ["put_4k_c1_ops", "put_4k_c16_ops", "get_4k_c1_ops", "get_4k_c16_ops",
         "put_4k_c1_p50_ms", "get_4k_c1_p50_ms", "put_4k_c16_cpu_ms", "get_4k_c16_cpu_ms",
         "put_4k_c1_boto3_ops", "put_4k_c16_boto3_ops", "get_4k_c1_boto3_ops",
         "get_4k_c16_boto3_ops", "put_big_MBps", "get_big_MBps", "put_big_cpu_ms_MB",
         "get_big_cpu_ms_MB", "list_create_ops", "list_s",
         "list_boto3_s", "rss_idle_MB", "rss_small_MB", "rss_big_MB"]


def boto3_client(port: int, pool: int = 16):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=f"http://{HOST}:{port}", region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      max_pool_connections=pool, connect_timeout=30,
                                      read_timeout=300))


def create_bucket(port: int, bucket: str = BUCKET) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("PUT", f"/{bucket}", headers=sign("PUT", f"/{bucket}", port))
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"CreateBucket {bucket}: {resp.status}")


def list_all(port: int, prefix: str, page: int = 1000) -> int:
    """A full ListObjectsV2 listing of `prefix`, `page` keys a page, raw HTTP; returns the count."""
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    token = None
    keys = 0
    for _ in range(10_000):  # bounded: 10 M keys at most
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(page)}
        if token:
            query["continuation-token"] = token
        qs = "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in query.items())
        conn.request("GET", f"/{BUCKET}?{qs}", headers=sign("GET", f"/{BUCKET}", port, query=query))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"ListObjectsV2: {resp.status} {body[:200]!r}")
        keys += body.count(b"<Key>")
        m = re.search(rb"<NextContinuationToken>(.*?)</NextContinuationToken>", body)
        if b"<IsTruncated>true</IsTruncated>" not in body or not m:
            break
        token = html.unescape(m.group(1).decode())
    conn.close()
    return keys


def list_all_boto3(port: int, prefix: str) -> int:
    pages = boto3_client(port).get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=prefix, PaginationConfig={"PageSize": 1000})
    return sum(p.get("KeyCount", 0) for p in pages)


def boto3_load(port: int, op: str, concurrency: int, duration: float, keys: int) -> float:
    """Ops/s of 4 KiB PutObject/GetObject from `concurrency` threads sharing one boto3 client."""
    client = boto3_client(port, pool=max(concurrency, 10))
    body = b"b" * (4 * KiB)
    counts = [0] * concurrency
    end = time.perf_counter() + duration

    def loop(t: int) -> None:
        i = 0
        while time.perf_counter() < end and i < 1_000_000:
            if op == "put":
                client.put_object(Bucket=BUCKET, Key=f"b/{t}-{i}", Body=body)
            else:
                client.get_object(Bucket=BUCKET, Key=f"g/{(t * 7919 + i) % keys:06d}")["Body"].read()
            i += 1
        counts[t] = i

    threads = [threading.Thread(target=loop, args=(t,)) for t in range(concurrency)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts) / (time.perf_counter() - t0)


def _fig(out: dict, metric: str, server: str, value: float, better=max) -> None:
    """Keep the best of repeated measurements of `metric` for `server`."""
    figs = out.setdefault("figures", {}).setdefault(metric, {})
    figs[server] = better(figs[server], value) if server in figs else value
    out.setdefault("runs", {}).setdefault(metric, {}).setdefault(server, []).append(value)


def bench_small(out: dict, servers: list[Server], quick: bool) -> None:
    """4 KiB PUT/GET ops/s at 1 and 16 clients, alternating servers; peak RSS under that load."""
    duration, reps, keys = (1.0, 1, 200) if quick else (5.0, 2, 1000)
    for s in servers:
        raw_put_many(s.port, f"/{BUCKET}/g", keys, 4 * KiB)
    details = out.setdefault("small_details", {})
    for op in ("put", "get"):
        for conc in (1, 16):
            metric = f"{op}_4k_c{conc}_ops"
            for rep in range(reps):
                for s in (servers if rep % 2 == 0 else servers[::-1]):
                    prefix = f"/{BUCKET}/g" if op == "get" else f"/{BUCKET}/p{rep}"
                    r = raw_load(s.port, prefix, op, conc, duration, keys=keys, watch=s.procs)
                    if r["errors"]:
                        raise RuntimeError(f"{s.name} {metric}: {r['errors']} failed requests")
                    _fig(out, metric, s.name, r["ops_s"])
                    _fig(out, "rss_small_MB", s.name, r["peak_rss"] / MB)
                    if conc == 1:
                        _fig(out, f"{op}_4k_c1_p50_ms", s.name, r["lat_p50_ms"], better=min)
                    else:
                        _fig(out, f"{op}_4k_c16_cpu_ms", s.name, r["cpu_ms_per_op"], better=min)
                    details.setdefault(f"{metric}/{s.name}", []).append({
                        "ops_s": round(r["ops_s"], 1), "lat_ms": round(r["lat_ms"], 2),
                        "lat_p50_ms": round(r["lat_p50_ms"], 2),
                        "cpu_ms_per_op": round(r["cpu_ms_per_op"], 3),
                        "server_cpu_pct": [round(r["cpu_pct"][p.pid]) for p in s.procs],
                        "client_cpu_pct": round(r["client_cpu_pct"])})
    if not quick:
        for op in ("put", "get"):
            for conc in (1, 16):
                for s in servers:
                    if s.name.startswith("gw-"):
                        continue  # boto3 rows: the default gateway and the peers
                    _fig(out, f"{op}_4k_c{conc}_boto3_ops", s.name,
                         boto3_load(s.port, op, conc, 3.0, keys))


def bench_listing(out: dict, servers: list[Server], quick: bool) -> None:
    """Create N keys with 16 concurrent PUTs, then time full ListObjectsV2 listings."""
    n, reps = (2_000, 2) if quick else (10_000, 3)
    out.setdefault("config", {})["list_keys"] = n
    for s in servers:
        t0 = time.perf_counter()
        raw_put_many(s.port, f"/{BUCKET}/l", n, 16)
        _fig(out, "list_create_ops", s.name, n / (time.perf_counter() - t0))
    for rep in range(reps):
        for s in (servers if rep % 2 == 0 else servers[::-1]):
            t0 = time.perf_counter()
            got = list_all(s.port, "l/")
            _fig(out, "list_s", s.name, time.perf_counter() - t0, better=min)
            if got != n:
                raise RuntimeError(f"{s.name}: listed {got} keys, expected {n}")
    if not quick:
        for s in servers:
            t0 = time.perf_counter()
            got = list_all_boto3(s.port, "l/")
            _fig(out, "list_boto3_s", s.name, time.perf_counter() - t0, better=min)
            assert got == n, (s.name, got)


def bench_big(out: dict, servers: list[Server], workdir: Path, quick: bool) -> None:
    """One big PUT and GET per server (plain PutObject), streamed from a file / discarded."""
    size = (64 if quick else 256) * MiB
    reps = 1 if quick else 2
    out.setdefault("config", {})["big_MiB"] = size // MiB
    src = workdir / "big.bin"
    write_random_file(src, size)
    cpu = out.setdefault("big_cpu_pct", {})
    for rep in range(reps):
        for s in (servers if rep % 2 == 0 else servers[::-1]):
            path = "/big.bin" if s.name == "nginx" else f"/{BUCKET}/big.bin"
            with Sampler(s.procs) as sm:
                t0 = time.perf_counter()
                status = raw_put_file(s.port, path, src)
                dt = time.perf_counter() - t0
            if status not in (200, 201, 204):
                raise RuntimeError(f"{s.name} big PUT: {status}")
            _fig(out, "put_big_MBps", s.name, size / MB / dt)
            _fig(out, "put_big_cpu_ms_MB", s.name, 1000 * sum(sm.cpu.values()) / (size / MB), better=min)
            _fig(out, "rss_big_MB", s.name, sm.peak_total / MB)
            cpu.setdefault(f"put/{s.name}", []).append([round(sm.cpu_pct(p)) for p in s.procs])
            with Sampler(s.procs) as sm:
                t0 = time.perf_counter()
                status, got = raw_get_discard(s.port, path)
                dt = time.perf_counter() - t0
            if status != 200 or got != size:
                raise RuntimeError(f"{s.name} big GET: {status}, {got} bytes")
            _fig(out, "get_big_MBps", s.name, size / MB / dt)
            _fig(out, "get_big_cpu_ms_MB", s.name, 1000 * sum(sm.cpu.values()) / (size / MB), better=min)
            _fig(out, "rss_big_MB", s.name, sm.peak_total / MB)
            cpu.setdefault(f"get/{s.name}", []).append([round(sm.cpu_pct(p)) for p in s.procs])
    src.unlink()


def bench_roundtrip(out: dict, gw: GatewayServer, workdir: Path, size: int = 2048 * MiB) -> None:
    """A 2 GiB object through boto3 put_object/get_object (no multipart), sha256-compared."""
    src, dst = workdir / "rt.bin", workdir / "rt.out"
    want = write_random_file(src, size)
    client = boto3_client(gw.port)
    r: dict = {"MiB": size // MiB}
    with Sampler(gw.procs) as sm, open(src, "rb") as f:
        t0 = time.perf_counter()
        client.put_object(Bucket=BUCKET, Key="rt.bin", Body=f, ContentLength=size)
        r["put_MBps"] = size / MB / (time.perf_counter() - t0)
    pfsd_pid = gw.pfsd.pid if gw.pfsd else None  # None: pfsd runs in the gateway process
    peaks = [sm.peaks[gw.ps.pid], sm.peaks.get(pfsd_pid, 0)]
    src.unlink()
    h = hashlib.sha256()
    with Sampler(gw.procs) as sm, open(dst, "wb") as f:
        t0 = time.perf_counter()
        body = client.get_object(Bucket=BUCKET, Key="rt.bin")["Body"]
        for chunk in body.iter_chunks(MiB):
            h.update(chunk)
            f.write(chunk)
        r["get_MBps"] = size / MB / (time.perf_counter() - t0)
    dst.unlink()
    r["identical"] = h.hexdigest() == want
    r["gateway_peak_MB"] = max(peaks[0], sm.peaks[gw.ps.pid]) / MB
    r["pfsd_peak_MB"] = max(peaks[1], sm.peaks.get(pfsd_pid, 0)) / MB
    r["ok"] = r["identical"] and r["gateway_peak_MB"] < 200 and r["pfsd_peak_MB"] < 200
    out["roundtrip_2g"] = r


SECTIONS = ("small", "list", "big", "roundtrip")


def run(quick: bool = False, only: tuple[str, ...] = SECTIONS) -> dict:
    """Start the gateway (1 and N workers), moto, s3rver and nginx (those installed), run the
    benchmarks named in ``only`` (every one by default), return the figures."""
    out: dict = {"config": {"quick": quick, "client": "raw HTTP/1.1 + SigV4, 2 worker processes",
                            "workers": list(WORKERS), "child_row": CHILD,
                            "sections": list(only)}}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        workdir = Path(tmp)
        servers: list[Server] = []
        try:
            for n in WORKERS:
                servers.append(GatewayServer(workdir, workers=n))
            if CHILD:
                servers.append(GatewayServer(workdir, pfsd_process=True))
            gw = servers[0]
            servers.append(MotoServer(workdir))
            script = s3rver_script()
            if script:
                servers.append(S3rverServer(workdir, script))
            else:
                out["config"]["s3rver"] = "npm/node not found: s3rver skipped"
                print("bench.gateway: npm or node not found, skipping s3rver")
            time.sleep(1.0)
            for s in servers:
                _fig(out, "rss_idle_MB", s.name, s.rss() / MB)
                create_bucket(s.port)
            if "small" in only:
                bench_small(out, servers, quick)
            if "list" in only:
                bench_listing(out, [s for s in servers if not s.name.startswith("gw-")], quick)
            if "big" in only:
                binary = nginx_binary()
                if binary:
                    servers.append(NginxServer(workdir, binary))
                else:
                    out["config"]["nginx"] = "not installed: big-body reference skipped"
                    print("bench.gateway: nginx not found, skipping the nginx reference")
                bench_big(out, servers, workdir, quick)
            for s in servers:
                if s is not gw:
                    s.stop()  # frees moto's in-memory objects (and the rest) before 2 GiB
            if not quick and "roundtrip" in only:
                bench_roundtrip(out, gw, workdir)
            out["config"]["gateway_pfsd_rss_end_MB"] = gw.rss() / MB
        finally:
            for s in servers:
                s.stop()
    return out


def _ratio(gw: float | None, other: float | None, higher_is_better: bool) -> str:
    if not gw or not other:
        return ""
    return f"{(gw / other if higher_is_better else other / gw):.2f}x"


def table(results: dict) -> str:
    """The figures side by side; under each metric, each gateway's ratios and targets."""
    figs = results.get("figures", {})
    cfg = results.get("config", {})
    names = sorted({n for f in figs.values() for n in f},
                   key=lambda n: (not n.startswith(("gateway", "gw-")), n != "gateway", n))
    gateways = [n for n in names if n == "gateway" or n.startswith("gw-")]
    others = [n for n in names if n not in gateways]
    rows = [f"{'metric':<22}" + "".join(f"{n:>10}" for n in names)]
    rows.append("-" * len(rows[0]))
    for metric in sorted(figs, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER)):
        f = figs[metric]
        up = metric not in LOWER_IS_BETTER
        label = metric.replace("big", f"{cfg.get('big_MiB', '?')}m").replace(
            "list_", f"list{cfg.get('list_keys', '?')}_")
        fmt = (lambda v: f"{v:.3f}") if metric.endswith(("_s", "_ms", "_ms_MB")) else (
            lambda v: f"{v:.1f}")
        rows.append(f"{label:<22}" + "".join(f"{fmt(f[n]) if n in f else '':>10}" for n in names))
        for g in gateways:
            if g not in f:
                continue
            ratios = [f"{g}/{o} {_ratio(f[g], f.get(o), up)}" for o in others
                      if o in f and (o != "nginx" or metric.endswith(("MBps", "cpu_ms_MB")))]
            target = ""
            if metric in TARGETS:
                text, check = TARGETS[metric]
                try:
                    target = f"  target {text}: {'PASS' if check(f, f[g]) else 'FAIL'}"
                except (KeyError, TypeError, ValueError):
                    target = f"  target {text}: n/a"
            if ratios or target:
                rows.append(f"{'':<4}{'  '.join(ratios)}{target}")
    rt = results.get("roundtrip_2g")
    if rt:
        rows.append(f"2 GiB boto3 round trip: identical={rt['identical']}, put {rt['put_MBps']:.0f} "
                    f"MB/s, get {rt['get_MBps']:.0f} MB/s, peak RSS gateway "
                    f"{rt['gateway_peak_MB']:.0f} MB, pfsd {rt['pfsd_peak_MB']:.0f} MB "
                    f"(target < 200 MB each): {'PASS' if rt['ok'] else 'FAIL'}")
    rows.append("ratios: gateway/other for rates, other/gateway for times, CPU and RSS (so above "
                "1 the gateway is better); *_cpu_ms: server CPU (all its processes) per request; "
                "MB = 10^6 bytes; gw-Nw: --workers N (pfsd a child process); gw-child: "
                "--pfsd-process (pfsd a child process, one worker)")
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs for smoke use")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})")
    args = parser.parse_args()
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    print(table(run(args.quick, only)))
