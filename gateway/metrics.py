"""Prometheus metrics of the gateway, served at ``/~/metrics`` by the outermost middleware.

Per request the middleware adds to plain integers of the operation's pre-bound series: no
locks (everything runs on the event loop thread, the scrape too), no label lookups but one
dictionary get. The numbers become Prometheus families only when scraped. prometheus_client's
lock-per-value metrics cost about ten times as much per request, measured.

Families: ``s3gw_requests_total{operation,status}``, ``s3gw_request_duration_seconds
{operation}`` (histogram), ``s3gw_request_body_bytes_total`` and ``s3gw_response_body_bytes_total
{operation}``, ``s3gw_requests_in_flight``, ``s3gw_pfs_errors_total{code}``,
``s3gw_worker_info{pid}`` (which process answered: with ``--workers N`` each counts its own
requests), and the default
registry's process metrics (RSS, CPU, open files). prometheus_client itself is imported at the
first scrape: a gateway nobody scrapes never loads it.
"""

from __future__ import annotations

import functools
import os
from bisect import bisect_left

NO_OPERATION = "-"  # requests no S3 operation was chosen for (routing errors, /~/ paths)
BOUNDS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60)


class _OperationSeries:
    """The numbers of one operation."""

    __slots__ = ("name", "by_status", "buckets", "seconds", "bytes_in", "bytes_out")

    def __init__(self, name: str) -> None:
        self.name = name
        self.by_status: dict[int, int] = {}
        self.buckets = [0] * (len(BOUNDS) + 1)  # the last one: past every bound (+Inf)
        self.seconds = 0.0
        self.bytes_in = 0
        self.bytes_out = 0

    def observe(self, status: int, seconds: float, received: int, sent: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.buckets[bisect_left(BOUNDS, seconds)] += 1
        self.seconds += seconds
        self.bytes_in += received
        self.bytes_out += sent


class _State:
    in_flight = 0


state = _State()
_series: dict[str, _OperationSeries] = {}
_pfs_errors: dict[str, int] = {}


def series(operation: str) -> _OperationSeries:
    """The series of ``operation`` (created on first use if not bound up front)."""
    s = _series.get(operation)
    if s is None:
        s = _series[operation] = _OperationSeries(operation)
    return s


def bind_operations(names: list[str] | tuple[str, ...]) -> None:
    """Bind every known operation up front, so each shows (at 0) before its first request."""
    for name in (*names, NO_OPERATION):
        series(name)


def count_pfs_error(code: str) -> None:
    _pfs_errors[code] = _pfs_errors.get(code, 0) + 1


class _Collector:
    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        requests = CounterMetricFamily("s3gw_requests", "HTTP requests answered, by S3 operation and status",
                                       labels=["operation", "status"])
        latency = HistogramMetricFamily("s3gw_request_duration_seconds",
                                        "Time from a request's arrival to its last response byte, by S3 operation",
                                        labels=["operation"])
        bytes_in = CounterMetricFamily("s3gw_request_body_bytes", "Request body bytes received, by S3 operation",
                                       labels=["operation"])
        bytes_out = CounterMetricFamily("s3gw_response_body_bytes", "Response body bytes sent, by S3 operation",
                                        labels=["operation"])
        for name, s in list(_series.items()):
            for status, n in sorted(s.by_status.items()):
                requests.add_metric([name, str(status)], n)
            cumulative, total = [], 0
            for bound, n in zip((*BOUNDS, float("inf")), s.buckets, strict=True):
                total += n
                cumulative.append(("+Inf" if bound == float("inf") else str(bound), total))
            latency.add_metric([name], cumulative, s.seconds)
            bytes_in.add_metric([name], s.bytes_in)
            bytes_out.add_metric([name], s.bytes_out)
        yield from (requests, latency, bytes_in, bytes_out)
        yield GaugeMetricFamily("s3gw_requests_in_flight", "Requests being served", value=state.in_flight)
        errors = CounterMetricFamily("s3gw_pfs_errors", "Failed PFS gRPC calls, by gRPC status code",
                                     labels=["code"])
        for code, n in sorted(_pfs_errors.items()):
            errors.add_metric([code], n)
        yield errors
        # With --workers N each process counts its own requests: which one answered this scrape
        worker = GaugeMetricFamily("s3gw_worker_info", "The gateway process whose counters these are",
                                   labels=["pid"])
        worker.add_metric([str(os.getpid())], 1)
        yield worker


@functools.cache
def _registry():
    import prometheus_client

    prometheus_client.disable_created_metrics()  # no *_created series: a timestamp per child doubles the output
    prometheus_client.REGISTRY.register(_Collector())
    return prometheus_client


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    prom = _registry()
    return prom.generate_latest(prom.REGISTRY), prom.CONTENT_TYPE_LATEST
