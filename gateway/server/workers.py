"""Serving: uvicorn's settings for the gateway, and ``--workers N`` (N processes on one port).

The gateway keeps no state, so any number of processes can serve one PFS backend: that is how
it uses more than one core. With ``--workers N`` the process started by ``python -m gateway``
binds the port, serves on it like any worker, and starts N-1 more (``python -m
gateway.server.workers``) that accept on the same listening socket, inherited. It alone owns
the embedded PFS server (one pfsd per data directory, whatever N is). Unlike uvicorn's
``--workers``, no process only supervises: a supervisor that serves nothing cost ~50 MB
(plus multiprocessing's resource tracker, ~13 MB) of the memory budget, measured.

- A worker that exits (crash, kill -9) is started again within a second; one that keeps
  dying within seconds of its start is started again at most every 5 s.
- SIGTERM/SIGINT to the first process: it passes SIGTERM to the others, every process drains its
  requests for up to ``--shutdown-grace`` seconds, then the embedded server is stopped (exit 0).
- Workers end with the first process (PR_SET_PDEATHSIG), even if it is killed with -9.
- Counters (``/~/metrics``) are per process: a scrape is answered by one of them, shows that
  process's requests and says which (``s3gw_worker_info{pid}``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time

import uvicorn

from gateway.server.config import Config
from gateway.server.protocol import GatewayProtocol

log = logging.getLogger("gateway")
RESTART_BACKOFF = (1.0, 5.0)  # seconds between restarts: normally, and after a quick death
QUICK_DEATH = 10.0  # a worker that dies sooner than this after its start is restarted slower


def uvicorn_options(config: Config) -> dict:
    """uvicorn's settings for the gateway (one process or each of N workers)."""
    return dict(host=config.host, port=config.port, loop="uvloop",
                http=GatewayProtocol, access_log=False, log_level=config.log_level,
                lifespan="on", server_header=False, date_header=True,
                # longer than clients keep idle connections (httpx: 5 s), so the
                # client, not a timer racing its next request, ends them
                timeout_keep_alive=config.keep_alive,
                # X-Forwarded-* only from proxies named: no per-request look otherwise
                proxy_headers=config.forwarded_allow_ips is not None,
                forwarded_allow_ips=config.forwarded_allow_ips,
                # under --log-json uvicorn's own lines go through our JSON handler
                **({"log_config": None} if config.log_json else {}),
                timeout_graceful_shutdown=config.shutdown_grace)


def build_app(config: Config, address: str, host=None):
    """The gateway's ASGI app, talking to PFS at ``address`` (or to ``host``, an
    gateway.server.inproc.InProcessPFS, in this process)."""
    from gateway.auth.authenticator import Authenticator, PachdAuth
    from gateway.server.app import create_app
    from gateway.server.cors import default_rules
    from gateway.server.security import HostPolicy

    # Against pfsd too: the probe finds its auth "not activated", as it would a pachd's.
    return create_app(address, Authenticator(config.credentials, PachdAuth(address)),
                      HostPolicy(config.host, config.port, config.allowed_hosts),
                      config.metrics_public, config.session_idle,
                      versioning_default=config.versioning_default, host=host,
                      cors_default=default_rules(config.cors_allow_origins, config.cors_allow_methods))


class Server(uvicorn.Server):
    """uvicorn's server, but a stop asked for by SIGTERM/SIGINT is a clean exit (status 0).

    uvicorn re-raises the captured signal once it has shut down, which would kill the process
    before the embedded PFS server is stopped in order and make the exit status 143/130.
    ``on_exit`` (the first process of N workers) passes the stop on to the other workers.
    """

    on_exit = staticmethod(lambda: None)

    async def startup(self, sockets=None) -> None:
        from gateway import lean

        await super().startup(sockets)
        lean.settle()

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()
        self.on_exit()


class Workers:
    """The other N-1 worker processes of the first one, kept running until ``stop``."""

    def __init__(self, config: Config, address: str, sock: socket.socket) -> None:
        self.count = config.workers - 1
        # The worker's settings go through a pipe (stdin), never argv or the environment:
        # they hold the secret keys.
        self.payload = pickle.dumps((config, address))
        self.sock = sock
        self.procs: list[tuple[subprocess.Popen, float]] = []
        self.stopping = threading.Event()
        self.grace = config.shutdown_grace
        self.lock = threading.Lock()

    def _spawn(self) -> tuple[subprocess.Popen, float]:
        cmd = [sys.executable, "-m", "gateway.server.workers", str(self.sock.fileno())]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, pass_fds=[self.sock.fileno()])
        assert proc.stdin is not None
        proc.stdin.write(self.payload)
        proc.stdin.close()
        return proc, time.monotonic()

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        threading.Thread(target=self._watch, name="workers", daemon=True).start()

    def _watch(self) -> None:
        """Start again any worker that exited (this thread spawns them: PDEATHSIG follows the
        thread that started a child, and this one lives as long as the process)."""
        while not self.stopping.wait(0.5):
            for i, (proc, started) in enumerate(list(self.procs)):
                if proc.poll() is None:
                    continue
                quick = time.monotonic() - started < QUICK_DEATH
                log.error("gateway worker %d exited with %s; starting another", proc.pid,
                          proc.returncode)
                if self.stopping.wait(RESTART_BACKOFF[quick]):
                    return
                with self.lock:
                    if self.stopping.is_set():
                        return
                    self.procs[i] = self._spawn()
                if self.stopping.is_set():  # a stop came while it started: pass it on
                    self.procs[i][0].send_signal(signal.SIGTERM)

    def pids(self) -> list[int]:
        return [p.pid for p, _ in self.procs]

    def signal_stop(self) -> None:
        """Ask every worker to drain and exit (SIGTERM), and start no more (called from a
        signal handler: takes no lock)."""
        self.stopping.set()
        for proc, _ in list(self.procs):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        deadline = time.monotonic() + self.grace + 5
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve(config: Config, address: str, host=None) -> None:
    """Serve on ``config.host:port`` with ``config.workers`` processes until SIGTERM/SIGINT
    (``host``: the PFS server this process runs; one worker only)."""
    uv = uvicorn.Config(build_app(config, address, host), **uvicorn_options(config))
    server = Server(uv)
    if config.workers == 1:
        server.run()
        return
    sock = uv.bind_socket()
    workers = Workers(config, address, sock)
    server.on_exit = workers.signal_stop
    # Two malloc arenas in the workers too (see gateway.lean.cap_malloc_arenas)
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    workers.start()
    try:
        server.run(sockets=[sock])
    finally:
        workers.signal_stop()
        workers.wait()
        sock.close()


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def worker_main(fd: int) -> int:
    """One of the N-1 further workers: serve the inherited listening socket ``fd``."""
    _die_with_parent()
    from gateway import lean

    lean.install()  # before connexion is imported: see gateway/lean.py
    lean.cap_malloc_arenas()
    from gateway.server import logs

    config, address = pickle.loads(sys.stdin.buffer.read())
    logs.configure(config.log_level, config.log_json, config.access_log)
    sock = socket.socket(fileno=fd)
    uv = uvicorn.Config(build_app(config, address), **uvicorn_options(config))
    Server(uv).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(int(sys.argv[1])))
