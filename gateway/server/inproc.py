"""The embedded PFS server inside the gateway process (the default for one worker).

pfsd's ``pfs_v2`` servicers run on the gateway's event loop over the data directory, and are
reached two ways at once:

- by this gateway, through a :class:`gateway.pfs.local.LocalChannel`: the servicer methods are
  called directly, with no serialization, no HTTP/2 and no second process (measured in
  docs/benchmarks.md, "Issue 17");
- by everyone else (the Pachyderm SDK, pachctl-style tools, other gateway copies started with
  ``--pachd-address unix://<data dir>/pfsd.sock``), over gRPC on the same Unix socket the child
  process served (``<data dir>/pfsd.sock``).

Everything pfsd guarantees holds because it is pfsd's own code: writes go through its single
writer (group commit, fsync before the call returns), blob I/O and hashing run in
threads, reads are SQLite seeks on the loop. The data directory's flock (pfsd.lock) is held by
the gateway process from before anything in it is opened until the process ends, however it
ends: a second gateway or pfsd on the directory is refused, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from gateway.pfs.local import Handlers, LocalChannel
from pfsd.api.base import Backend
from pfsd.api.servicer import register
from pfsd.libc import tune_malloc
from pfsd.lock import DataDirInUse, acquire
from pfsd.server import OPTIONS, quiet_cancelled_streams


class InProcessPFS:
    """pfsd's servicers in this process: :meth:`lock` first, then :meth:`start` on the loop."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.lock_fd: int | None = None
        self.backend: Backend | None = None
        self.server: grpc.aio.Server | None = None

    @property
    def socket_path(self) -> str:
        return str(self.data_dir / "pfsd.sock")

    @property
    def address(self) -> str:
        return f"unix://{self.socket_path}"

    def lock(self) -> None:
        """Own the data directory for the rest of this process's life (or exit, naming the owner)."""
        try:
            self.lock_fd = acquire(self.data_dir)
        except DataDirInUse as e:
            raise SystemExit(f"{e}: stop it, or point this gateway at it with --pachd-address "
                             f"{self.address}") from None

    async def start(self) -> LocalChannel:
        """Open the data directory, serve gRPC on its socket; the gateway's own channel to it."""
        if self.lock_fd is None:
            self.lock()
        quiet_cancelled_streams()
        # As pfsd's own process does: 1 MiB body buffers stay on the heap between messages
        # rather than being returned to the kernel and faulted back in for the next one.
        tune_malloc()
        self.backend = Backend(self.data_dir)
        handlers = Handlers()
        register(handlers, self.backend)
        self.server = grpc.aio.server(options=OPTIONS)
        register(self.server, self.backend)
        Path(self.socket_path).unlink(missing_ok=True)
        self.server.add_insecure_port(self.address)
        await self.server.start()
        return LocalChannel(handlers)

    async def stop(self) -> None:
        """Stop serving gRPC (its calls get 2 s), then close the data directory."""
        if self.server is not None:
            await self.server.stop(grace=2)
            self.server = None
        if self.backend is not None:
            self.backend.close()
            self.backend = None
        Path(self.socket_path).unlink(missing_ok=True)

    def release(self) -> None:
        """Give up the data directory's lock (the process exiting does the same)."""
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None
