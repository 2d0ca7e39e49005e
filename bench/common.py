"""What the benchmarks share: servers on free loopback ports, peak-RSS sampling, load drivers.

Servers: the gateway (with its embedded pfsd child), moto's S3 server, and nginx (plain files,
WebDAV PUT) as the reference for large bodies. Every server runs as our child on 127.0.0.1,
with its data in a temp directory, and is stopped by its own process id.

Clients: small-object load is raw HTTP/1.1 (``http.client``, keep-alive, one connection per
thread) from worker processes, the same code for every server; boto3 is measured alongside to
show how much of a Python client's time is the client itself.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import psutil

ROOT = Path(__file__).resolve().parents[1]
KiB = 1024
MiB = 1024 * KiB
HOST = "127.0.0.1"
IO_CHUNK = MiB
# The key pair the gateway is started with and every client signs with (SigV4): s3rver's
# built-in one, as s3rver knows no other (moto accepts any).
ACCESS_KEY = os.environ.get("BENCH_ACCESS_KEY", "S3RVER")
SECRET_KEY = os.environ.get("BENCH_SECRET_KEY", "S3RVER")
S3RVER_VERSION = "3.7.1"
NPM_CACHE = ROOT / ".cache" / "npm"  # where the bench installs s3rver (git-ignored)
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until GET `path` answers below 500 (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=1.0)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.args[:3]} not ready on port {port} after {timeout}s")


class Sampler:
    """Peak RSS (and CPU time) of a process tree, sampled every 50 ms in a thread."""

    def __init__(self, procs: Iterable[psutil.Process], interval: float = 0.05) -> None:
        self.procs = list(procs)
        self.interval = interval
        self.peaks = {p.pid: 0 for p in self.procs}
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu0: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        self._t0 = 0.0
        self.elapsed = 0.0

    def _rss(self) -> dict[int, int]:
        out = {}
        for p in self.procs:
            try:
                out[p.pid] = p.memory_info().rss
            except psutil.Error:
                out[p.pid] = 0
        return out

    def _cpu(self) -> dict[int, float]:
        out = {}
        for p in self.procs:
            try:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
            except psutil.Error:
                out[p.pid] = 0.0
        return out

    def _sample(self) -> None:
        rss = self._rss()
        for pid, v in rss.items():
            self.peaks[pid] = max(self.peaks[pid], v)
        self.peak_total = max(self.peak_total, sum(rss.values()))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Sampler:
        self._cpu0 = self._cpu()
        self._t0 = time.perf_counter()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._sample()
        self.elapsed = time.perf_counter() - self._t0
        cpu1 = self._cpu()
        self.cpu = {pid: cpu1[pid] - self._cpu0.get(pid, 0.0) for pid in cpu1}

    def cpu_pct(self, proc: psutil.Process) -> float:
        """CPU use of one process over the sampled window, in % of one core."""
        return 100.0 * self.cpu.get(proc.pid, 0.0) / max(self.elapsed, 1e-9)


class Server:
    """A child server process on a loopback port; `procs` are the processes whose RSS counts."""

    name = "server"

    def __init__(self, cmd: list[str], port: int, ready_path: str, log: Path,
                 env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.port = port
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        try:
            wait_http(port, ready_path, self.proc, timeout)
        except Exception:
            self.stop()
            raise
        self.ps = psutil.Process(self.proc.pid)

    @property
    def procs(self) -> list[psutil.Process]:
        return [self.ps]

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.procs)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class GatewayServer(Server):
    """``python -m gateway`` and, with ``workers`` > 1, its other worker processes (all found
    through psutil). By default the embedded PFS server runs inside the gateway process; with
    ``pfsd_process`` (or ``workers`` > 1) it is a child process, watched too."""

    def __init__(self, workdir: Path, access_log: bool = True, auth: bool = True,
                 workers: int = 1, pfsd_process: bool = False) -> None:
        self.name = "gateway" if workers == 1 else f"gw-{workers}w"
        if pfsd_process and workers == 1:
            self.name = "gw-child"
        port = free_port()
        cmd = [sys.executable, "-m", "gateway", "--host", HOST, "--port", str(port),
               "--data-dir", str(workdir / f"{self.name}-data"), "--workers", str(workers)]
        if not access_log:
            cmd.append("--no-access-log")
        if pfsd_process:
            cmd.append("--pfsd-process")
        child = pfsd_process or workers > 1
        # With credentials every request's SigV4 signature is verified: that cost is measured.
        env = {"S3GW_ACCESS_KEY": ACCESS_KEY, "S3GW_SECRET_KEY": SECRET_KEY} if auth else {}
        super().__init__(cmd, port, "/~/ready", workdir / f"{self.name}.log", env=env)
        deadline = time.monotonic() + 60
        while True:  # the other workers start after the first one answers
            kids = self.ps.children(recursive=True)
            pfsd = [p for p in kids if "pfsd" in " ".join(p.cmdline())]
            self.workers = [p for p in kids if "gateway.server.workers" in " ".join(p.cmdline())]
            if len(pfsd) == int(child) and len(self.workers) == workers - 1:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"expected {int(child)} pfsd and {workers - 1} more workers, "
                                   f"found {kids}")
            time.sleep(0.2)
        self.pfsd = pfsd[0] if pfsd else None
        if workers > 1:
            time.sleep(3.0)  # the other workers load the app after they appear

    @property
    def procs(self) -> list[psutil.Process]:
        return [self.ps, *self.workers, *([self.pfsd] if self.pfsd else [])]


def s3rver_script() -> Path | None:
    """s3rver's CLI, installed with npm into NPM_CACHE on first use; None without npm/node."""
    script = NPM_CACHE / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    if script.exists():
        return script
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        return None
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([npm, "install", "--prefix", str(NPM_CACHE), "--no-audit", "--no-fund",
                        f"s3rver@{S3RVER_VERSION}"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or not script.exists():
        print(f"bench: npm install s3rver failed: {r.stderr.strip()[-500:]}")
        return None
    return script


class S3rverServer(Server):
    """s3rver (node, koa): objects as files in a directory. It checks that a SigV4 request's
    access key is its own (S3RVER) but does not verify the signature itself."""

    name = "s3rver"

    def __init__(self, workdir: Path, script: Path) -> None:
        port = free_port()
        data = workdir / "s3rver-data"
        data.mkdir()
        # Its continuation tokens use a cipher OpenSSL 3 keeps in its legacy provider
        cmd = [shutil.which("node") or "node", "--openssl-legacy-provider", str(script),
               "-d", str(data), "-a", HOST,
               "-p", str(port), "--silent", "--no-vhost-buckets"]
        super().__init__(cmd, port, "/", workdir / "s3rver.log")


class MotoServer(Server):
    """moto's S3 server (werkzeug, threaded), everything in memory."""

    name = "moto"

    def __init__(self, workdir: Path) -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
        super().__init__(cmd, port, "/", workdir / "moto.log")


NGINX_CONF = """
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
{user}
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_max_body_size 0;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
        root {prefix}/www;
        location / {{
            dav_methods PUT;
            create_full_put_path on;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


class NginxServer(Server):
    """nginx with a temp config and prefix (never the system config), not daemonized.

    One worker, sendfile on; PUT through the WebDAV module (body spooled to a temp file, then
    renamed; nginx does not fsync).
    """

    name = "nginx"

    def __init__(self, workdir: Path, binary: str) -> None:
        prefix = workdir / "nginx"
        (prefix / "www").mkdir(parents=True)
        port = free_port()
        # As root, nginx's workers would switch to `nobody` and could not write our temp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, host=HOST, port=port, user=user))
        cmd = [binary, "-e", str(prefix / "error.log"), "-c", str(conf), "-p", str(prefix),
               "-g", "daemon off;"]
        self.www = prefix / "www"
        super().__init__(cmd, port, "/", workdir / "nginx.log")

    @property
    def procs(self) -> list[psutil.Process]:
        return [self.ps, *self.ps.children(recursive=True)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the workers exit with the master
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- SigV4 -----------------------------------------------------------------------------------

_keys: dict[str, bytes] = {}


def sign(method: str, path: str, port: int, headers: dict[str, str] | None = None,
         query: dict[str, str] | None = None) -> dict[str, str]:
    """Headers for a SigV4-signed request with an unsigned payload (path: plain ASCII).

    A raw client must sign: moto answers anonymous GETs of private objects with 403. This costs
    the client ~20 us a request, far less than botocore's request pipeline.
    """
    now = datetime.datetime.now(datetime.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    key = _keys.get(day)
    if key is None:
        key = ("AWS4" + SECRET_KEY).encode()
        for part in (day, REGION, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        _keys[day] = key
    host = f"{HOST}:{port}"
    qs = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                  for k, v in sorted((query or {}).items()))
    canonical = (f"{method}\n{path}\n{qs}\nhost:{host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                 f"x-amz-date:{amz_date}\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD")
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {**(headers or {}), "Host": host, "x-amz-date": amz_date,
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                             f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                             f"Signature={signature}"}


# --- raw HTTP load ---------------------------------------------------------------------------

def _worker(port: int, prefix: str, op: str, keys: int, size: int, threads: int,
            start_at: float, duration: float, max_ops: int, out: mp.Queue) -> None:
    """One client process: `threads` threads, each with one keep-alive connection."""
    body = os.urandom(size)
    counts = [0] * threads
    errors = [0] * threads
    lat_sum = [0.0] * threads
    lats: list[list[float]] = [[] for _ in range(threads)]

    def loop(t: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        ctype = {"Content-Type": "application/octet-stream"}
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + duration
        i = 0
        lat = lats[t]
        while i < max_ops:
            now = time.perf_counter()
            if time.time() >= end:
                break
            if op == "put":
                path = f"{prefix}/w{os.getpid()}-{t}-{i}"
                conn.request("PUT", path, body=body, headers=sign("PUT", path, port, ctype))
            else:
                path = f"{prefix}/{(t * 7919 + i) % keys:06d}"
                conn.request("GET", path, headers=sign("GET", path, port))
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 or (op == "get" and len(data) != size):
                errors[t] += 1
            took = time.perf_counter() - now
            lat_sum[t] += took
            if len(lat) < 20_000:
                lat.append(took)
            counts[t] += 1
            i += 1
        conn.close()

    ts = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    out.put((sum(counts), sum(errors), sum(lat_sum), [x for lat in lats for x in lat]))


def _split(concurrency: int, processes: int) -> list[int]:
    processes = max(1, min(processes, concurrency))
    return [concurrency // processes + (1 if i < concurrency % processes else 0)
            for i in range(processes)]


def raw_load(port: int, prefix: str, op: str, concurrency: int, duration: float,
             keys: int = 0, size: int = 4 * KiB, processes: int = 2,
             watch: Iterable[psutil.Process] = ()) -> dict:
    """Run `concurrency` raw-HTTP clients (spread over worker processes) for `duration` s.

    `prefix` is ``/bucket/dir``; GETs read ``prefix/000000``..``prefix/{keys-1}``, PUTs write
    new keys. Returns ops/s, errors, mean latency, and CPU% of the watched server processes
    and of the client processes.
    """
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    start_at = time.time() + 1.5  # time for the spawned workers to start
    max_ops = int(duration * 100_000)
    workers = [ctx.Process(target=_worker, args=(port, prefix, op, keys, size, n, start_at,
                                                 duration, max_ops, out))
               for n in _split(concurrency, processes)]
    for w in workers:
        w.start()
    watch = list(watch)
    clients = [psutil.Process(w.pid) for w in workers]
    time.sleep(max(0.0, start_at - time.time()))
    with Sampler([*watch, *clients]) as s:
        results = [out.get(timeout=duration + 60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    ops = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lats = sorted(x for r in results for x in r[3])
    return {
        "ops_s": ops / duration,
        "ops": ops,
        "errors": errors,
        "lat_ms": 1000 * sum(r[2] for r in results) / max(ops, 1),
        "lat_p50_ms": 1000 * lats[len(lats) // 2] if lats else 0.0,
        "cpu_pct": {p.pid: s.cpu_pct(p) for p in watch},
        # server CPU (all its processes, user + system) per request, in ms
        "cpu_ms_per_op": 1000 * sum(s.cpu.get(p.pid, 0.0) for p in watch) / max(ops, 1),
        "client_cpu_pct": sum(s.cpu_pct(p) for p in clients),
        "peak_rss": s.peak_total - sum(s.peaks[p.pid] for p in clients),
    }


def raw_put_many(port: int, prefix: str, count: int, size: int, concurrency: int = 16,
                 key_format: str = "{:06d}") -> None:
    """Create `prefix/000000`.. `count` keys of `size` bytes with `concurrency` threads."""
    body = os.urandom(size)
    it = iter(range(count))
    lock = threading.Lock()
    failures: list[str] = []

    def loop() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while True:
            with lock:
                i = next(it, None)
            if i is None or failures:
                break
            path = f"{prefix}/{key_format.format(i)}"
            conn.request("PUT", path, body=body, headers=sign("PUT", path, port))
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                failures.append(f"PUT {i}: {resp.status}")
        conn.close()

    ts = [threading.Thread(target=loop) for _ in range(concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failures:
        raise RuntimeError(failures[0])


def raw_put_file(port: int, path: str, file: Path, headers: dict[str, str] | None = None) -> int:
    """PUT a file's bytes, streamed from disk in 1 MiB blocks; returns the HTTP status."""
    size = file.stat().st_size
    conn = http.client.HTTPConnection(HOST, port, timeout=300, blocksize=IO_CHUNK)
    with open(file, "rb") as f:
        conn.request("PUT", path, body=f, headers=sign("PUT", path, port, {
            "Content-Length": str(size), "Content-Type": "application/octet-stream",
            **(headers or {})}))
        resp = conn.getresponse()
        resp.read()
    conn.close()
    return resp.status


def raw_get_discard(port: int, path: str) -> tuple[int, int]:
    """GET a body, reading it in 1 MiB blocks and dropping them; returns (status, bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=300)
    conn.request("GET", path, headers=sign("GET", path, port))
    resp = conn.getresponse()
    total = 0
    buf = bytearray(IO_CHUNK)
    view = memoryview(buf)
    while n := resp.readinto(view):
        total += n
    conn.close()
    return resp.status, total


def write_random_file(path: Path, size: int) -> str:
    """Write `size` pseudo-random bytes (a repeated 1 MiB random block, salted per block)."""
    h = hashlib.sha256()
    block = bytearray(os.urandom(IO_CHUNK))
    with open(path, "wb") as f:
        written = 0
        while written < size:
            block[:8] = written.to_bytes(8, "little")  # no two blocks alike
            n = min(IO_CHUNK, size - written)
            f.write(block[:n])
            h.update(block[:n])
            written += n
    return h.hexdigest()
