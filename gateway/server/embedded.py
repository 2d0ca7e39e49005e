"""The embedded PFS server as a child process, on a Unix socket in its data directory.

The child dies with the gateway (PR_SET_PDEATHSIG), so neither Ctrl-C nor kill -9 of the
gateway leaves a stray server behind. pfsd owns its data directory through an exclusive flock
on ``pfsd.lock`` (see docs/pfsd.md); the gateway looks at that lock before it starts one, so a
second gateway on a directory in use stops at once with the owner's PID instead of serving.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from generated.pfs import pfs_pb2, pfs_pb2_grpc

READY_TIMEOUT = 30.0
LOCK_NAME = "pfsd.lock"  # pfsd's own name for it (pfsd.lock): the two must agree


def data_dir_owner(data_dir: Path) -> str | None:
    """The PID of the live process that owns ``data_dir``, or None if no one does.

    A shared lock is only refused while pfsd holds its exclusive one; it is dropped at once.
    """
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    finally:
        os.close(fd)
    return None


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class EmbeddedPFS:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.data_dir / 'pfsd.sock'}"

    def start(self) -> str:
        """Start pfsd and wait until it answers; returns its gRPC address."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        owner = data_dir_owner(self.data_dir)
        if owner is not None:
            raise SystemExit(f"the data directory {self.data_dir} is in use by another PFS server "
                             f"(PID {owner}); two servers must never write one data directory: "
                             "stop it, or point this gateway at it with --pachd-address")
        cmd = [sys.executable, "-m", "pfsd", "--listen", self.address, "--data-dir", str(self.data_dir)]
        # Its own process group: a Ctrl-C in the terminal reaches only the gateway, which
        # drains its requests and then stops the server (see stop).
        # Two malloc arenas, as the gateway has (see gateway.lean.cap_malloc_arenas)
        env = {"MALLOC_ARENA_MAX": "2", **os.environ}
        self.proc = subprocess.Popen(cmd, preexec_fn=_die_with_parent, process_group=0, env=env)
        self._wait_ready()
        return self.address

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with grpc.insecure_channel(self.address) as ch:
            stub = pfs_pb2_grpc.APIStub(ch)
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit(f"the embedded PFS server exited with {self.proc.returncode}")
                try:
                    stub.InspectProject(pfs_pb2.InspectProjectRequest(
                        project=pfs_pb2.Project(name="default")), timeout=1.0)
                    return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise SystemExit("the embedded PFS server did not become ready") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.exists(self.address.removeprefix("unix://")):
            os.unlink(self.address.removeprefix("unix://"))
