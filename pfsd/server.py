"""Wiring: open the data dir, serve gRPC on TCP or a Unix socket, stop cleanly on signals."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import grpc

from pfsd.api.base import Backend
from pfsd.api.servicer import register
from pfsd.libc import tune_malloc
from pfsd.lock import DataDirInUse, acquire

log = logging.getLogger("pfsd")
MiB = 1024 * 1024
OPTIONS = [
    ("grpc.max_receive_message_length", 20 * MiB),
    ("grpc.max_send_message_length", 20 * MiB),
    ("grpc.so_reuseport", 0),
    # a larger initial stream window: a 1 MiB message need not wait for window updates
    ("grpc.http2.lookahead_bytes", 8 * MiB),
]


def grpc_address(listen: str) -> str:
    """`HOST:PORT` or `unix:///path` as a gRPC bind address."""
    return listen if listen.startswith("unix:") else listen


async def serve(listen: str, data_dir: Path, metrics_listen: str | None = None) -> None:
    """Run until SIGTERM/SIGINT; print one `pfsd ready ...` line once accepting calls."""
    # Handlers first: a signal arriving right after the ready line must still stop us cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_malloc()
    try:
        lock = acquire(data_dir)  # before anything in it is opened; held until we exit
    except DataDirInUse as e:
        raise SystemExit(f"pfsd: {e}") from None
    backend = Backend(data_dir)
    interceptors = []
    if metrics_listen:
        from pfsd import metrics  # only with --metrics-listen: no cost otherwise

        interceptors.append(metrics.MetricsInterceptor())
        mport = metrics.serve_metrics(metrics_listen, data_dir)
        print(f"pfsd metrics on http://{metrics_listen.rpartition(':')[0]}:{mport}/metrics", flush=True)
    server = grpc.aio.server(options=OPTIONS, interceptors=interceptors)
    register(server, backend)
    if listen.startswith("unix:"):
        Path(listen.removeprefix("unix://")).unlink(missing_ok=True)
    port = server.add_insecure_port(grpc_address(listen))
    if port == 0 and not listen.startswith("unix:"):
        raise SystemExit(f"pfsd: cannot listen on {listen}")
    await server.start()
    shown = listen if listen.startswith("unix:") else f"{listen.rsplit(':', 1)[0]}:{port}"
    print(f"pfsd ready on {shown} (data dir {data_dir})", flush=True)
    await stop.wait()
    log.info("pfsd stopping")
    await server.stop(grace=2)
    backend.close()
    os.close(lock)
