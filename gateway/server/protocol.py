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

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

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
    """A request/response cycle whose response head waits for the first body bytes."""

    head: list[bytes] | None = None

    async def send(self, message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.response_started and not self.disconnected:
            self.head = (await self._collected(message)).data
            return
        head = self.head
        if head is None or kind != "http.response.body":
            await super().send(message)
            return
        self.head = None
        real = self.transport
        collect = await self._collected(message)
        if not self.disconnected:
            real.write(b"".join(head + collect.data))
        if collect.closed:
            real.close()

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
