"""Idle keep-alive connections stay open ``--keep-alive`` seconds (default 60).

The flag once never reached uvicorn, whose own default is 5 s: the same as httpx's pool expiry.
Under load a client then reused a connection just as the gateway's idle timer closed it with
the new request unread, and the kernel answered that request with a reset (the soak's
``ReadError``s on connections idle for about 5 s, each followed by an RST in a capture).
"""

from __future__ import annotations

import socket
import time

from tests.conftest import Gateway

REQUEST = b"GET /~/health HTTP/1.1\r\nHost: gw\r\n\r\n"


def get_health(sock: socket.socket) -> bytes:
    """One request on ``sock``; the response (b"" if the gateway had closed the connection)."""
    sock.sendall(REQUEST)
    response = b""
    while not response.endswith(b"ok\n"):
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            return b""
        if not data:
            return b""
        response += data
    return response


def seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """How long the gateway leaves ``sock`` idle before closing it (``limit`` if it does not)."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        assert sock.recv(1) == b""
    except TimeoutError:
        return limit
    return time.monotonic() - started


def test_an_idle_connection_outlives_5_seconds_by_default(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        assert get_health(sock).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # past uvicorn's default of 5 s
        assert get_health(sock).startswith(b"HTTP/1.1 200")


def test_keep_alive_flag_sets_the_idle_timeout(tmp_path):
    gw = Gateway(tmp_path / "data", "--keep-alive", "1")
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            assert get_health(sock).startswith(b"HTTP/1.1 200")
            assert 0.5 < seconds_until_closed(sock, 4) < 3
    finally:
        gw.stop()
