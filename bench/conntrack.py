"""Which connection a request went out on, for explaining transport errors.

A request that fails with ``ReadError`` or ``RemoteProtocolError`` leaves no response to look
at. To tell a stale pooled connection from a fresh one (and find it in a packet capture), the
client's network streams are wrapped: each counts its requests and how long it sat idle before
the current one, and the task writing on it can read that back after the failure.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx


@dataclass
class Conn:
    """One client connection, as of its latest request."""

    local_port: int
    opened: float
    requests: int = 0  # requests started on it, the latest included
    idle_before_s: float = 0.0  # from the previous response's last bytes to this request
    last_read: float | None = None
    writing: bool = False

    def describe(self) -> dict[str, Any]:
        return {"fresh": self.requests == 1, "requests_on_conn": self.requests,
                "idle_before_s": round(self.idle_before_s, 3),
                "conn_age_s": round(time.monotonic() - self.opened, 3),
                "local_port": self.local_port}


# Set by the stream a task last started a request on; a coroutine's context is its task's,
# so the caller of ``client.request`` sees what the pool's stream set.
current: ContextVar[Conn | None] = ContextVar("current", default=None)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self.inner = inner
        sock = inner.get_extra_info("socket")
        self.conn = Conn(sock.getsockname()[1] if sock else 0, time.monotonic())

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not self.conn.writing:  # the first write after a response starts a request
            c, now = self.conn, time.monotonic()
            c.writing, c.requests = True, c.requests + 1
            c.idle_before_s = now - c.last_read if c.last_read is not None else 0.0
        current.set(self.conn)
        await self.inner.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self.inner.read(max_bytes, timeout)
        self.conn.writing, self.conn.last_read = False, time.monotonic()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(self, *args: Any, **kw: Any) -> httpcore.AsyncNetworkStream:
        return await self.inner.start_tls(*args, **kw)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(self, *args: Any, **kw: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self.inner.connect_tcp(*args, **kw))

    async def connect_unix_socket(self, *args: Any, **kw: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self.inner.connect_unix_socket(*args, **kw))

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def tracked_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections report themselves through ``current``."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    # httpx takes no network backend; its pool (httpcore) does, as this attribute
    pool = transport._pool
    pool._network_backend = _Backend(pool._network_backend)
    return transport


def exception_chain(e: BaseException) -> list[str]:
    """``repr`` of the exception and of each ``__cause__``/``__context__`` behind it."""
    chain, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(repr(e))
        e = e.__cause__ or e.__context__
    return chain


# Kernel counters that tell a dropped connection's story: accept queue overflows (the listen
# backlog), and resets sent for a socket closed with unread data or closed under load.
TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPAbortOnData", "TCPAbortOnClose",
                "TCPAbortOnTimeout", "TCPBacklogDrop", "TCPReqQFullDrop")


def tcp_counters() -> dict[str, int]:
    """The machine's ``TcpExt`` counters above (Linux; empty elsewhere). Machine-wide."""
    try:
        lines = open("/proc/net/netstat").read().splitlines()
    except OSError:
        return {}
    values: dict[str, int] = {}
    for names, numbers in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            values.update(zip(names.split()[1:], map(int, numbers.split()[1:]), strict=True))
    return {k: values[k] for k in TCP_COUNTERS if k in values}
