"""gateway.server.zerocopy: ASGI's zero-copy send on the gateway's uvicorn protocol.

A real uvicorn (uvloop, the pinned 0.54) with the gateway's protocol serves a small ASGI app that sends a temp file with
``http.response.zerocopysend``; raw sockets and httpx check the framing. These tests fail if an
uvicorn upgrade changes what the subclass relies on (see the module's docstring).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from gateway.server.protocol import GatewayProtocol
from gateway.server.zerocopy import ZEROCOPY
from tests.conftest import free_port

DATA = os.urandom(5 * 1024 * 1024 + 7)


class App:
    """``/file?offset&count`` sends that part of DATA's file (Content-Length set unless
    ``chunked``; ``lie`` adds to the Content-Length promised)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.extensions: list[dict] = []
        self.finished = 0  # zero-copy sends that returned (completed, or the client left)
        self.clients: list[tuple] = []

    async def __call__(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        self.extensions.append(scope.get("extensions", {}))
        self.clients.append(tuple(scope["client"]))
        q = dict(p.split("=") for p in scope["query_string"].decode().split("&") if p)
        offset, count = int(q.get("offset", 0)), int(q.get("count", len(DATA)))
        headers = [] if "chunked" in q else [(b"content-length", b"%d" % (count + int(q.get("lie", 0))))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with open(self.path, "rb") as f:
            if "split" in q:  # two sends of the same file, then the end
                half = count // 2
                await send({"type": ZEROCOPY, "file": f, "offset": offset, "count": half, "more_body": True})
                await send({"type": ZEROCOPY, "file": f, "offset": offset + half,
                            "count": count - half, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send({"type": ZEROCOPY, "file": f, "offset": offset, "count": count})
        self.finished += 1


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, App]]:
    path = tmp_path_factory.mktemp("zc") / "data.bin"
    path.write_bytes(DATA)
    app = App(str(path))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http=GatewayProtocol,
                            lifespan="off", log_level="critical", timeout_keep_alive=30)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(timeout=10)


def raw(url: str, request: bytes, rcvbuf: int | None = None, pace: float = 0.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.sendall(request)
        got = bytearray()
        reads = 0
        while chunk := s.recv(65536):
            got += chunk
            reads += 1
            if pace and reads % 16 == 0:
                time.sleep(pace)  # the server must wait for room, not drop or reorder
    return bytes(got)


def test_the_extension_is_advertised_and_the_file_sent(server):
    url, app = server
    r = httpx.get(url + "/file")
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["content-length"] == str(len(DATA))
    assert ZEROCOPY in app.extensions[-1]


def test_offset_count_and_several_sends(server):
    url, _ = server
    assert httpx.get(url + "/file?offset=1000&count=3000000").content == DATA[1000:3001000]
    assert httpx.get(url + "/file?offset=7&count=2000001&split=1").content == DATA[7:2000008]
    assert httpx.get(url + "/file?offset=5&count=0").content == b""


def test_keep_alive_serves_the_next_request_on_the_same_connection(server):
    url, app = server
    with httpx.Client() as c:
        for _ in range(3):
            assert c.get(url + "/file?offset=3&count=1500000").content == DATA[3:1500003]
    assert len(set(app.clients[-3:])) == 1  # one connection, three requests


def test_pipelined_requests_follow_the_file_in_order(server):
    url, _ = server
    got = raw(url, b"GET /file?count=1000000 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /file?offset=9&count=10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and rest[:1000000] == DATA[:1000000]
    head2, _, body2 = rest[1000000:].partition(b"\r\n\r\n")
    assert head2.startswith(b"HTTP/1.1 200") and body2 == DATA[9:19]


def test_head_sends_headers_only_and_keeps_the_connection(server):
    url, _ = server
    with httpx.Client() as c:
        r = c.head(url + "/file?count=4096")
        assert r.status_code == 200 and r.headers["content-length"] == "4096" and r.content == b""
        assert c.get(url + "/file?count=10").content == DATA[:10]


def test_a_chunked_response_is_framed(server):
    url, _ = server
    got = raw(url, b"GET /file?offset=2&count=2500000&chunked=1 HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert httpx.get(url + "/file?offset=2&count=2500000&chunked=1").content == DATA[2:2500002]
    assert body.endswith(b"0\r\n\r\n")


def test_a_slow_reader_gets_every_byte(server):
    url, _ = server
    # 5 MiB: more than the kernel's socket buffers hold, so the server must wait for room
    got = raw(url, b"GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
              rcvbuf=65536, pace=0.01)
    assert got.partition(b"\r\n\r\n")[2] == DATA


def test_a_client_leaving_mid_file_ends_the_send(server):
    url, app = server
    before = app.finished
    host, port = url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096)
    deadline = time.monotonic() + 10
    while app.finished < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.finished == before + 3  # each send returned: nothing waits on a gone client
    assert httpx.get(url + "/file?count=100").content == DATA[:100]


def test_a_file_shorter_than_content_length_closes_the_connection(server):
    url, _ = server
    got = raw(url, b"GET /file?offset=%d&count=100&lie=0 HTTP/1.1\r\nHost: x\r\n\r\n" % (len(DATA) - 50))
    head, _, body = got.partition(b"\r\n\r\n")
    # the header promised 100 bytes, the file had 50: the client sees a short body and the close
    assert b"content-length: 100" in head.lower() and body == DATA[-50:]


def test_more_than_content_length_is_refused(server):
    url, _ = server
    got = raw(url, b"GET /file?count=100&lie=-10 HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"content-length: 90" in head.lower() and body == b""  # closed, nothing sent
