"""ASGI's zero-copy send (``http.response.zerocopysend``) for uvicorn's httptools protocol.

An application that finds ``"http.response.zerocopysend"`` in ``scope["extensions"]`` may
send, after ``http.response.start``, ``{"type": "http.response.zerocopysend", "file": f,
"offset": n, "count": n, "more_body": bool}`` (the ASGI extension; ``f`` has ``fileno()``):
the bytes go from the file to the socket with ``os.sendfile``, never through Python. The
gateway sends an object's blob file this way when pfsd runs in its process (see
gateway.ops.download); nginx serves files the same way. gateway.server.protocol combines
:class:`ZeroCopyCycle` and :class:`ZeroCopyProtocol` with the gateway's other protocol pieces.

How the bytes are sent, never blocking the event loop:

- the response's head goes out first: an empty ``http.response.body`` with ``more_body``
  through the rest of the cycle (uvicorn's, or one that holds the head back for the first
  body bytes) writes it, then the transport's buffer is flushed, by lowering its write limits
  to 0 and waiting for uvicorn's flow control to resume;
- the socket is non-blocking: one ``sendfile`` on the loop sends what the socket buffer
  takes (often all of a small body); the rest goes on in a thread of its own, ``sendfile``
  while the socket takes bytes, ``poll`` for room when it does not (a reader that stops
  reading holds no memory here, only the kernel's socket buffer: backpressure comes free;
  both calls release the GIL);
- on duplicates of the socket's and the file's descriptors: a client that disconnects makes
  uvicorn close the transport's descriptor, and its number may at once name another
  connection's socket; the duplicate still names this one (a send then fails with
  EPIPE/ECONNRESET and stops). A disconnect or a cancelled request also stops the thread
  (at its next wake-up, at most POLL_MS later), which then closes its duplicates;
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
import select
import threading
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

ZEROCOPY = "http.response.zerocopysend"
COPY_CHUNK = 1 << 20  # bytes per body message when a file must be read instead (chunked)
POLL_MS = 500  # a sending thread's longest wait before it looks at its stop flag again
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN)


class ZeroCopyCycle(RequestResponseCycle):
    """A request/response cycle that also takes the extension's messages (a mixin: put it
    before the other cycle classes; every other message goes on to them)."""

    _stop: threading.Event | None = None  # ends the thread sending a file (the client left)

    async def send(self, message: Any) -> None:
        if message["type"] != ZEROCOPY or not self.response_started or self.response_complete:
            await super().send(message)  # uvicorn's rules, and its errors for misplaced messages
            return
        await self._send_file(message)

    def wake(self) -> None:
        if self._stop is not None:
            self._stop.set()

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
        """``count`` bytes of ``fd`` from ``offset`` to the client; False if it disconnected.

        The first ``sendfile`` runs here (a body the socket buffer takes whole, the usual
        small one, costs no more); what remains goes on in a thread of its own that waits
        for room with ``poll``: measured, a wait on the event loop (a future, a writer
        registered and removed, a task step) cost ~100 us of CPU per wake-up, ~130 of them
        per 256 MiB, more than the kernel's own work for the bytes.
        """
        if self.disconnected:
            return False
        sock = os.dup(self.transport.get_extra_info("socket").fileno())
        try:
            sent = _send(sock, fd, offset, count)
            # the thread owns duplicates: a cancelled request closes its own descriptors
            # while the thread may still be between two calls
            src = os.dup(fd) if sent is not None and sent < count else None
        except BaseException:
            os.close(sock)
            raise
        if src is None:  # all sent, or the client is gone
            os.close(sock)
            return sent is not None
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        stop = self._stop = threading.Event()
        threading.Thread(target=_sender, args=(loop, done, stop, sock, src, offset + sent, count - sent),
                         name="sendfile", daemon=True).start()
        try:
            return await done
        finally:
            stop.set()  # (cancelled: the thread ends at its next wake-up, closing its descriptors)
            self._stop = None


def _send(sock: int, fd: int, offset: int, count: int) -> int | None:
    """One non-blocking ``sendfile``: the bytes sent (0: no room), None if the client is gone."""
    try:
        sent = os.sendfile(sock, fd, offset, count)
    except BlockingIOError:
        return 0
    except OSError as e:
        if e.errno in _GONE:
            return None
        raise
    if sent == 0:  # the file is shorter than promised: the framing cannot be kept
        raise RuntimeError("Response content shorter than Content-Length: the file ended")
    return sent


def _sender(loop: asyncio.AbstractEventLoop, done: asyncio.Future, stop: threading.Event,
            sock: int, fd: int, offset: int, count: int) -> None:
    """The rest of a file, in a thread: ``sendfile`` while the socket takes bytes, ``poll``
    for room when it does not; ends early on ``stop`` (checked at least every POLL_MS)."""
    result: bool | BaseException = False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        end = offset + count
        while offset < end and not stop.is_set():
            sent = _send(sock, fd, offset, end - offset)
            if sent is None:
                break
            if sent == 0:
                poller.poll(POLL_MS)
            offset += sent
        result = offset == end
    except BaseException as e:  # noqa: BLE001 - handed to the request's task
        result = e
    finally:
        os.close(sock)
        os.close(fd)
    try:
        loop.call_soon_threadsafe(_settle, done, result)
    except RuntimeError:  # the loop has closed: nobody waits
        pass


def _settle(done: asyncio.Future, result: bool | BaseException) -> None:
    if done.done():
        return
    if isinstance(result, BaseException):
        done.set_exception(result)
    else:
        done.set_result(result)


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
