"""BodyReaderProtocol: a real uvicorn server (loopback, with the gateway's protocol class)
receives bodies in bigger messages, whole.

It replaces one method of uvicorn 0.54's httptools protocol and relies on how uvicorn's
receive() turns ``cycle.body`` into a message: the first test fails if an upgrade changes that.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import socket
import threading
import time

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway.server.bodyreader import BODY_HIGH_WATER, BodyReaderProtocol
from gateway.server.protocol import GatewayProtocol

MiB = 1 << 20


def test_what_it_relies_on_in_uvicorn_is_still_there():
    assert uvicorn.__version__ == "0.54.0"  # pinned: re-check the lines below on an upgrade
    receive = inspect.getsource(RequestResponseCycle.receive)
    assert '"body": bytes(self.body)' in receive and "self.body = bytearray()" in receive
    assert "self.flow.resume_reading()" in receive
    assert "self.cycle.body += body" in inspect.getsource(HttpToolsProtocol.on_body)
    assert [c for c in BodyReaderProtocol.__dict__ if callable(BodyReaderProtocol.__dict__[c])] == ["on_body"]


class _Recorder:
    """An ASGI app that reads each body slowly (so bytes pile up) and answers its MD5."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.types: set[type] = set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        md5, more = hashlib.md5(), True
        while more:
            message = await receive()
            body = message.get("body", b"")
            self.types.add(type(body))
            if body:
                self.sizes.append(len(body))
                md5.update(body)
            more = message.get("more_body", False)
            await asyncio.sleep(0.002)
        answer = md5.hexdigest().encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def server():
    app = _Recorder()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop",
                                        http=GatewayProtocol, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield app, port
    srv.should_exit = True
    thread.join(10)


def _put(sock: socket.socket, body: bytes, expect: bool = False) -> bytes:
    head = f"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
    if expect:
        head += "Expect: 100-continue\r\n"
    sock.sendall(head.encode() + b"\r\n")
    if expect:
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
    sock.sendall(body)
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 32:
        chunk = sock.recv(65536)
        assert chunk, answer
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    return answer.split(b"\r\n\r\n", 1)[1]


def test_bodies_arrive_whole_in_messages_bigger_than_uvicorns(server):
    app, port = server
    body = os.urandom(8 * MiB)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert _put(sock, body) == hashlib.md5(body).hexdigest().encode()
        assert app.types == {bytes}
        # plain uvicorn stops reading at 64 KiB: one socket read (<= 256 KB here) per message
        assert max(app.sizes) > 256 * 1024 and max(app.sizes) <= BODY_HIGH_WATER + 512 * 1024
        assert len(app.sizes) < 8 * MiB / (256 * 1024)
        # the same connection goes on (keep-alive), and Expect: 100-continue still works
        app.sizes.clear()
        small = b"x" * 1000
        assert _put(sock, small, expect=True) == hashlib.md5(small).hexdigest().encode()
        assert app.sizes == [1000]
