"""uvicorn's httptools protocol, each response's head and first body bytes sent in one write.

uvicorn writes a response's status line and headers to the socket as soon as the app sends
``http.response.start``, and the body with each ``http.response.body``: two ``send`` calls
(two TCP segments under ``TCP_NODELAY``, two wake-ups of the client) for every small
response, where one does. This protocol (given to uvicorn as its ``http`` class, a
documented setting) holds the head until the first body message, or the end of the
response, and writes both together; everything else is uvicorn's own code.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from gateway.server.bodyreader import BodyReaderProtocol
from gateway.server.zerocopy import ZeroCopyCycle, ZeroCopyProtocol


class _Collect:
    """Stands in for the transport while uvicorn renders one message: keeps what it writes."""

    __slots__ = ("real", "data", "closed")

    def __init__(self, real: asyncio.Transport) -> None:
        self.real = real
        self.data: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def close(self) -> None:  # after what was written is out
        self.closed = True

    def __getattr__(self, name: str):
        return getattr(self.real, name)


class CoalescingCycle(RequestResponseCycle):
    """A request/response cycle whose response head waits for the first body bytes.

    The usual response (a head with Content-Length, then its body, on a connection that is
    not held back) takes :meth:`_head` and :meth:`_body`: uvicorn's rules for exactly that
    case, with its header checks made once over all names and all values instead of two
    regular expressions per header. Anything else goes through uvicorn's own ``send``.
    """

    head: bytes | None = None

    async def send(self, message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.response_started and not self.disconnected:
            head = self._head(message)
            self.head = head if head is not None else b"".join((await self._collected(message)).data)
            return
        head = self.head
        if head is None or kind != "http.response.body":
            await super().send(message)
            return
        self.head = None
        if self._body(head, message):
            return
        real = self.transport
        collect = await self._collected(message)
        if not self.disconnected:
            real.write(b"".join((head, *collect.data)))
        if collect.closed:
            real.close()

    def _head(self, message) -> bytes | None:
        """The response head uvicorn would write for ``message``; None (nothing changed) for
        what only uvicorn's ``send`` does: a paused connection, its access log, an invalid
        header (its error says which), no Content-Length, Transfer-Encoding or Connection."""
        if self.flow.write_paused or self.access_log:
            return None
        headers = [*self.default_headers, *message.get("headers", ())]
        names = [name for name, _ in headers]
        values = [value for _, value in headers]
        every_name = b"".join(names)
        if HEADER_RE.search(every_name) or HEADER_VALUE_RE.search(b"".join(values)):
            return None
        if not every_name.islower():
            names = [name.lower() for name in names]
        if b"transfer-encoding" in names or b"connection" in names:
            return None
        try:
            length = int(values[names.index(b"content-length")].decode())  # (the first one)
        except ValueError:  # (none: chunked; or not a number: uvicorn's error)
            return None
        status = STATUS_LINE[message["status"]]
        self.response_started = True
        self.waiting_for_100_continue = False
        self.chunked_encoding = False
        self.expected_content_length = length
        lines = b"\r\n".join(map(b": ".join, zip(names, values, strict=True)))
        return b"".join((status, lines, b"\r\n" if self.keep_alive else b"\r\nconnection: close\r\n",
                         b"\r\n"))

    def _body(self, head: bytes, message) -> bool:
        """Write ``head`` and the first body message as uvicorn's ``send`` would write the
        body (one write); False, nothing done, where uvicorn's is needed (HEAD, chunked
        framing, a paused connection)."""
        if self.chunked_encoding or self.flow.write_paused or self.scope["method"] == "HEAD":
            return False
        if self.disconnected:
            return True  # (uvicorn's send drops it too)
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if len(body) > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        self.expected_content_length -= len(body)
        if not more_body and self.expected_content_length != 0:
            raise RuntimeError("Response content shorter than Content-Length")
        self.transport.write(head + body if body else head)
        if not more_body:
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()
        return True

    async def _collected(self, message) -> _Collect:
        """uvicorn's handling of ``message``, with what it writes collected, not sent."""
        real = self.transport
        collect = self.transport = _Collect(real)
        try:
            await super().send(message)
        finally:
            self.transport = real
        return collect


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`CoalescingCycle` (or ``cycle_class``, a
    subclass) for every request."""

    cycle_class: type[RequestResponseCycle] = CoalescingCycle

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous and type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = self.cycle_class


class GatewayCycle(ZeroCopyCycle, CoalescingCycle):
    """ASGI's zero-copy send (gateway.server.zerocopy), on a cycle that coalesces (above)."""


class GatewayProtocol(BodyReaderProtocol, ZeroCopyProtocol, CoalescingHttpToolsProtocol):
    """The gateway's: request bodies in big messages (gateway.server.bodyreader), each
    response's head sent with its first body bytes (above), files sent by the kernel
    (``http.response.zerocopysend``: gateway.server.zerocopy)."""

    cycle_class = GatewayCycle
