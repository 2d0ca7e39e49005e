"""The embedded PFS server as a child process, on a Unix socket in its data directory.

The child dies with the gateway (PR_SET_PDEATHSIG), so neither Ctrl-C nor kill -9 of the
gateway leaves a stray server behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from generated.pfs import pfs_pb2, pfs_pb2_grpc

READY_TIMEOUT = 30.0


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
