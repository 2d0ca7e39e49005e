"""Prometheus metrics of the gateway, served at ``/~/metrics`` by the outermost middleware.

Per request the middleware does one dictionary lookup for the operation's pre-bound series
and one for the (operation, status) counter: no label parsing, no locks of ours. The default
registry also carries prometheus_client's process collector (RSS, CPU, open files).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

disable_created_metrics()  # no *_created series: a timestamp per child doubles the output

NO_OPERATION = "-"  # requests no S3 operation was chosen for (routing errors, /~/ paths)

REQUESTS = Counter("s3gw_requests", "HTTP requests answered, by S3 operation and status",
                   ["operation", "status"])
LATENCY = Histogram("s3gw_request_duration_seconds",
                    "Time from a request's arrival to its last response byte, by S3 operation",
                    ["operation"],
                    buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
BYTES_IN = Counter("s3gw_request_body_bytes", "Request body bytes received, by S3 operation",
                   ["operation"])
BYTES_OUT = Counter("s3gw_response_body_bytes", "Response body bytes sent, by S3 operation",
                    ["operation"])
IN_FLIGHT = Gauge("s3gw_requests_in_flight", "Requests being served")
PFS_ERRORS = Counter("s3gw_pfs_errors", "Failed PFS gRPC calls, by gRPC status code", ["code"])


class _OperationSeries:
    """The label children of one operation, bound once."""

    __slots__ = ("name", "latency", "bytes_in", "bytes_out", "by_status")

    def __init__(self, name: str) -> None:
        self.name = name
        self.latency = LATENCY.labels(name)
        self.bytes_in = BYTES_IN.labels(name)
        self.bytes_out = BYTES_OUT.labels(name)
        self.by_status: dict[int, Counter] = {}

    def observe(self, status: int, seconds: float, received: int, sent: int) -> None:
        counter = self.by_status.get(status)
        if counter is None:
            counter = self.by_status[status] = REQUESTS.labels(self.name, str(status))
        counter.inc()
        self.latency.observe(seconds)
        if received:
            self.bytes_in.inc(received)
        if sent:
            self.bytes_out.inc(sent)


_series: dict[str, _OperationSeries] = {}


def series(operation: str) -> _OperationSeries:
    """The pre-bound series of ``operation`` (bound on first use if not at import)."""
    s = _series.get(operation)
    if s is None:
        s = _series[operation] = _OperationSeries(operation)
    return s


def bind_operations(names: list[str] | tuple[str, ...]) -> None:
    """Bind every known operation up front, so each shows (at 0) before its first request."""
    for name in (*names, NO_OPERATION):
        series(name)


def count_pfs_error(code: str) -> None:
    PFS_ERRORS.labels(code).inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
