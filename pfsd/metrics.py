"""Prometheus metrics of pfsd, on their own HTTP port (``--metrics-listen HOST:PORT``).

A server interceptor times every RPC and counts it by method and status code; commits are
counted as successful ModifyFile/FinishCommit calls; bytes stored are read from the data dir
when scraped (a walk of the blob directories plus the database files: its cost grows with the
number of blobs, paid per scrape, never per request).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics, start_http_server
from prometheus_client.core import GaugeMetricFamily

disable_created_metrics()

RPCS = Counter("pfsd_rpcs", "RPCs handled, by method and gRPC status code", ["method", "code"])
LATENCY = Histogram("pfsd_rpc_duration_seconds", "RPC handling time, by method", ["method"],
                    buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60))
COMMITS = Counter("pfsd_commits", "Commits made (ModifyFile and FinishCommit calls that succeeded)")
COMMIT_METHODS = frozenset({"ModifyFile", "FinishCommit"})


def _code(context: grpc.aio.ServicerContext, failed: bool) -> str:
    try:
        code = context.code()
    except Exception:  # older grpc: no code() on the aio context
        code = None
    if code is None:
        return "UNKNOWN" if failed else "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


def _record(method: str, started: float, context: grpc.aio.ServicerContext, failed: bool) -> None:
    LATENCY.labels(method).observe(time.perf_counter() - started)
    code = _code(context, failed)
    RPCS.labels(method, code).inc()
    if code == "OK" and method in COMMIT_METHODS:
        COMMITS.inc()


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Wrap each handler so its duration and outcome are recorded."""

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method.rsplit("/", 1)[-1]
        if handler.unary_unary or handler.stream_unary:
            behavior = handler.unary_unary or handler.stream_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started, failed = time.perf_counter(), True
                try:
                    result = await behavior(request, context)
                    failed = False
                    return result
                finally:
                    _record(method, started, context, failed)

            make = (grpc.unary_unary_rpc_method_handler if handler.unary_unary
                    else grpc.stream_unary_rpc_method_handler)
        else:
            behavior = handler.unary_stream or handler.stream_stream

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started, failed = time.perf_counter(), True
                try:
                    async for item in behavior(request, context):
                        yield item
                    failed = False
                finally:
                    _record(method, started, context, failed)

            make = (grpc.unary_stream_rpc_method_handler if handler.unary_stream
                    else grpc.stream_stream_rpc_method_handler)
        return make(unary, request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)


class StoredBytes:
    """``pfsd_stored_bytes``: bytes on disk under the data dir (blobs, database), at scrape time."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def collect(self):
        blobs = 0
        for sub in os.scandir(self.data_dir / "blobs"):
            if sub.is_dir():
                blobs += sum(e.stat().st_size for e in os.scandir(sub.path) if e.is_file())
        db = sum(p.stat().st_size for p in self.data_dir.glob("meta.db*") if p.is_file())
        g = GaugeMetricFamily("pfsd_stored_bytes", "Bytes stored in the data dir, by kind",
                              labels=["kind"])
        g.add_metric(["blobs"], blobs)
        g.add_metric(["database"], db)
        yield g


def serve_metrics(listen: str, data_dir: Path) -> int:
    """Start the metrics HTTP server on ``HOST:PORT`` (a thread); returns the port."""
    host, _, port = listen.rpartition(":")
    REGISTRY.register(StoredBytes(data_dir))
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1")
    return server.server_port
