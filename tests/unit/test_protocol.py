"""gateway/server/protocol.py: a response's head goes out with its first body bytes, in one write."""

from __future__ import annotations

import asyncio
import logging

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from gateway.server.protocol import CoalescingCycle


class Transport:
    """Records what uvicorn's cycle writes (a socket stand-in: no S3 client or PFS here)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed_after: int | None = None

    def write(self, data: bytes) -> None:
        assert self.closed_after is None, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed_after = len(self.writes)

    def is_closing(self) -> bool:
        return self.closed_after is not None

    def get_extra_info(self, name, default=None):
        return default

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def _cycle(method: str = "GET", keep_alive: bool = True) -> tuple[CoalescingCycle, Transport]:
    transport = Transport()
    cycle = CoalescingCycle(
        scope={"type": "http", "method": method, "path": "/b/k", "http_version": "1.1",
               "headers": []},
        transport=transport, flow=FlowControl(transport), logger=logging.getLogger("t"),
        access_logger=logging.getLogger("t.access"), access_log=False, default_headers=[],
        message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
        on_response=lambda: None)
    return cycle, transport


def _start(length: int | None) -> dict:
    headers = [(b"etag", b'"x"')]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def test_small_response_is_one_write():
    cycle, transport = _cycle()
    asyncio.run(cycle.send(_start(5)))
    assert transport.writes == []  # the head waits for the body
    asyncio.run(cycle.send({"type": "http.response.body", "body": b"hello"}))
    [data] = transport.writes
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nhello")
    assert b"content-length: 5\r\n" in data and cycle.response_complete


def test_head_response_is_written_when_it_ends():
    cycle, transport = _cycle("HEAD")
    asyncio.run(cycle.send(_start(1000)))
    asyncio.run(cycle.send({"type": "http.response.body", "body": b""}))
    [data] = transport.writes
    assert data.endswith(b"content-length: 1000\r\n\r\n")


def test_streamed_response_sends_later_chunks_as_they_come():
    cycle, transport = _cycle()
    asyncio.run(cycle.send(_start(6)))
    asyncio.run(cycle.send({"type": "http.response.body", "body": b"abc", "more_body": True}))
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\nabc")
    asyncio.run(cycle.send({"type": "http.response.body", "body": b"def"}))
    assert transport.writes[1:] == [b"def"]


def test_chunked_response_keeps_its_framing():
    cycle, transport = _cycle()
    asyncio.run(cycle.send(_start(None)))
    asyncio.run(cycle.send({"type": "http.response.body", "body": b"abc"}))
    [data] = transport.writes
    assert b"transfer-encoding: chunked\r\n" in data and data.endswith(b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n")


@pytest.mark.parametrize("keep_alive", [False, True])
def test_connection_closes_only_after_the_response_is_written(keep_alive):
    cycle, transport = _cycle(keep_alive=keep_alive)
    asyncio.run(cycle.send(_start(2)))
    asyncio.run(cycle.send({"type": "http.response.body", "body": b"ok"}))
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"ok")
    assert transport.closed_after == (None if keep_alive else 1)
    if not keep_alive:
        assert b"connection: close\r\n" in transport.writes[0]


def _uvicorn_cycle(method: str, keep_alive: bool, default_headers: list) -> tuple[RequestResponseCycle, Transport]:
    transport = Transport()
    cycle = RequestResponseCycle(
        scope={"type": "http", "method": method, "path": "/b/k", "http_version": "1.1",
               "headers": []},
        transport=transport, flow=FlowControl(transport), logger=logging.getLogger("t"),
        access_logger=logging.getLogger("t.access"), access_log=False,
        default_headers=default_headers, message_event=asyncio.Event(),
        expect_100_continue=False, keep_alive=keep_alive, on_response=lambda: None)
    return cycle, transport


async def _run(cycle, messages) -> str | None:
    try:
        for message in messages:
            await cycle.send(message)
    except (RuntimeError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("headers,bodies", [
    ([(b"content-length", b"5"), (b"etag", b'"x"')], [b"hello"]),
    ([(b"Content-Length", b"5"), (b"X-Mixed", b"Case")], [b"he", b"llo"]),  # names lower-cased
    ([(b"content-length", b"3"), (b"content-length", b"9")], [b"abc"]),  # the first one counts
    ([(b"content-length", b"5"), (b"connection", b"close")], [b"hello"]),
    ([(b"content-length", b"5"), (b"transfer-encoding", b"chunked")], [b"hello"]),
    ([(b"etag", b'"x"')], [b"chunk"]),  # no length: chunked
    ([(b"content-length", b"0")], [b""]),
    ([(b"content-length", b"4")], [b"hello"]),  # longer than said
    ([(b"content-length", b"9")], [b"hello"]),  # shorter than said
    ([(b"content-length", b"5"), (b"bad name", b"v")], [b"hello"]),
    ([(b"content-length", b"5"), (b"x-v", b"a\nb")], [b"hello"]),
    ([(b"content-length", b"x")], [b"hello"]),
])
def test_head_and_body_are_written_as_uvicorn_writes_them(method, keep_alive, headers, bodies):
    """The coalescing cycle's own rendering of the usual response gives uvicorn's bytes (all
    in one write), and its errors for what uvicorn refuses."""
    default = [(b"date", b"Sun, 06 Dec 2026 18:00:00 GMT"), (b"server", b"uvicorn")]
    messages = [{"type": "http.response.start", "status": 200, "headers": headers}]
    messages += [{"type": "http.response.body", "body": b, "more_body": i < len(bodies) - 1}
                 for i, b in enumerate(bodies)]
    ours, ours_out = _uvicorn_cycle(method, keep_alive, default)
    ours.__class__ = CoalescingCycle
    theirs, theirs_out = _uvicorn_cycle(method, keep_alive, default)
    ours_error = asyncio.run(_run(ours, messages))
    theirs_error = asyncio.run(_run(theirs, messages))
    assert ours_error == theirs_error
    if theirs_error is None:
        assert b"".join(ours_out.writes) == b"".join(theirs_out.writes)
        assert len(ours_out.writes) <= 1 + max(0, len(bodies) - 1)
        assert (ours_out.closed_after is None) == (theirs_out.closed_after is None)
        assert (ours.keep_alive, ours.response_complete) == (theirs.keep_alive, theirs.response_complete)
