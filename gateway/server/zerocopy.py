"""ASGI's zero-copy send (``http.response.zerocopysend``) for uvicorn's httptools protocol.

An application that finds ``"http.response.zerocopysend"`` in ``scope["extensions"]`` may
send, after ``http.response.start``, ``{"type": "http.response.zerocopysend", "file": f,
"offset": n, "count": n, "more_body": bool}`` (the ASGI extension; ``f`` has ``fileno()``):
the bytes go from the file to the socket with ``os.sendfile``, never through Python. The
gateway sends an object's blob file this way when pfsd runs in its process (see
gateway.ops.download); nginx serves files the same way. gateway.server.protocol combines
:class:`ZeroCopyCycle` and :class:`ZeroCopyProtocol` with the gateway's other protocol pieces.

How the bytes are sent, on the event loop, never blocking it:

- the response's head goes out first: an empty ``http.response.body`` with ``more_body``
  through the rest of the cycle (uvicorn's, or one that holds the head back for the first
  body bytes) writes it, then the transport's buffer is flushed, by lowering its write limits
  to 0 and waiting for uvicorn's flow control to resume;
- the socket is non-blocking: each ``sendfile`` sends what the socket buffer takes, then the
  loop waits for writability (a reader that stops reading holds no memory here, only the
  kernel's socket buffer: backpressure comes free);
- on a duplicate of the socket's descriptor: a client that disconnects makes uvicorn close
  the transport's descriptor, and its number may at once name another connection's socket;
  the duplicate still names this one (a send then fails with EPIPE/ECONNRESET and stops);
- framing stays uvicorn's: the count is checked against Content-Length, the response is
  completed by uvicorn's own ``send`` of an empty last body (keep-alive, ``Connection:
  close``, the next pipelined request), a HEAD sends nothing, a chunked response (no
  Content-Length) is read and sent as ordinary body messages.

What it relies on in uvicorn 0.54 (pinned; tests/unit/test_zerocopy_protocol.py fails if an
upgrade breaks any of it): ``HttpToolsProtocol.on_message_begin`` builds ``self.scope``;
``connection_lost`` marks the cycle ``disconnected``; the cycle's ``transport``, ``flow``,
``scope``, ``disconnected``, ``response_started``, ``response_complete``,
``chunked_encoding`` and ``expected_content_length``.
"""

from __future__ import annotations

import asyncio
import errno
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

ZEROCOPY = "http.response.zerocopysend"
COPY_CHUNK = 1 << 20  # bytes per body message when a file must be read instead (chunked)
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN)


class ZeroCopyCycle(RequestResponseCycle):
    """A request/response cycle that also takes the extension's messages (a mixin: put it
    before the other cycle classes; every other message goes on to them)."""

    _waiter: asyncio.Future | None = None  # a wait for writability, woken by a disconnect too

    async def send(self, message: Any) -> None:
        if message["type"] != ZEROCOPY or not self.response_started or self.response_complete:
            await super().send(message)  # uvicorn's rules, and its errors for misplaced messages
            return
        await self._send_file(message)

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _send_file(self, message: Any) -> None:
        fd = message["file"].fileno()
        offset = message.get("offset")
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        count = message.get("count")
        if count is None:
            count = os.fstat(fd).st_size - offset
        more_body = message.get("more_body", False)
        if self.disconnected:
            return
        # the head (held back by a coalescing cycle) goes out before the file's bytes
        await super().send({"type": "http.response.body", "body": b"", "more_body": True})
        if self.disconnected:
            return
        if self.scope["method"] == "HEAD" or count == 0:
            pass
        elif self.chunked_encoding:
            await self._copy(fd, offset, count)
        else:
            if count > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            await self._flushed()
            if not await self._sendfile(fd, offset, count):
                return  # the client left: uvicorn's send would drop the rest silently too
            self.expected_content_length -= count
        if not more_body:
            await super().send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _copy(self, fd: int, offset: int, count: int) -> None:
        """The file through ordinary body messages (a chunked response needs chunk framing)."""
        end = offset + count
        while offset < end and not self.disconnected:
            data = await asyncio.to_thread(os.pread, fd, min(COPY_CHUNK, end - offset), offset)
            if not data:
                raise RuntimeError("Response content shorter than the count sent: the file ended")
            offset += len(data)
            await super().send({"type": "http.response.body", "body": data, "more_body": True})

    async def _flushed(self) -> None:
        """Wait until the transport has written everything it holds (the headers, usually
        written at once) so the file's bytes follow them on the socket."""
        transport = self.transport
        if not transport.get_write_buffer_size():
            return
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0, low=0)  # paused until its buffer is empty
        try:
            await self.flow.drain()
        finally:
            if not transport.is_closing():
                transport.set_write_buffer_limits(high=high, low=low)

    async def _sendfile(self, fd: int, offset: int, count: int) -> bool:
        """``count`` bytes of ``fd`` from ``offset`` to the client; False if it disconnected."""
        if self.disconnected:
            return False
        loop = asyncio.get_running_loop()
        sock = os.dup(self.transport.get_extra_info("socket").fileno())
        try:
            end = offset + count
            while offset < end:
                if self.disconnected:
                    return False
                try:
                    sent = os.sendfile(sock, fd, offset, end - offset)
                except BlockingIOError:
                    await self._writable(loop, sock)
                    continue
                except OSError as e:
                    if e.errno in _GONE:
                        return False
                    raise
                if sent == 0:  # the file is shorter than promised: the framing cannot be kept
                    raise RuntimeError("Response content shorter than Content-Length: the file ended")
                offset += sent
            return True
        finally:
            os.close(sock)

    async def _writable(self, loop: asyncio.AbstractEventLoop, sock: int) -> None:
        self._waiter = loop.create_future()
        loop.add_writer(sock, self.wake)
        try:
            await self._waiter
        finally:
            loop.remove_writer(sock)
            self._waiter = None


class ZeroCopyProtocol(HttpToolsProtocol):
    """Advertises ``http.response.zerocopysend`` (plain TCP only: through TLS the kernel cannot
    send a file's bytes itself) and wakes a send waiting for room when the client leaves. Its
    cycles must be :class:`ZeroCopyCycle` (gateway.server.protocol sets the class)."""

    _zerocopy = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._zerocopy = (transport.get_extra_info("sslcontext") is None
                          and transport.get_extra_info("socket") is not None)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._zerocopy:
            self.scope["extensions"] = {ZEROCOPY: {}}  # type: ignore[typeddict-unknown-key]

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        if isinstance(cycle, ZeroCopyCycle):
            cycle.wake()
