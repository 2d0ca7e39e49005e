"""uvicorn's httptools protocol, receiving a request body in fewer, bigger, less copied messages.

uvicorn (0.54) appends each buffer the parser hands it to a ``bytearray`` (a copy), stops
reading from the socket once 64 KiB are waiting, and gives the application ``bytes()`` of it
(a second copy): a 256 MiB upload reaches the app as ~1,000 messages of one socket read each,
every one passing through all of the app's ASGI layers and copied twice on the way.

Here the buffers are kept as they came (:class:`Pieces`, standing in for the ``bytearray``),
reading goes on until :data:`BODY_HIGH_WATER` bytes wait, and a message's body is the one
buffer received or the buffers joined once: one copy fewer per byte, a quarter of the
messages. Memory per connection stays bounded by that high-water mark plus one socket read.

What it relies on in uvicorn 0.54 (pinned; tests/unit/test_bodyreader.py fails if an upgrade
breaks it): ``on_body`` is the only writer of ``cycle.body``; ``RequestResponseCycle.receive``
resumes reading, waits for ``message_event``, and answers ``bytes(self.body)`` before setting
``self.body = bytearray()`` again (so ``bytes()`` calls :meth:`Pieces.__bytes__`, and the next
``on_body`` replaces the empty ``bytearray``); ``self.flow.pause_reading()`` pauses the socket.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BODY_HIGH_WATER = 1 << 20  # bytes received ahead of the app before the socket is paused


class Pieces:
    """A request body's buffers as received, standing in for uvicorn's ``bytearray``."""

    __slots__ = ("items", "size")

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        # bytes() returns what __bytes__ returns: one buffer goes to the app uncopied
        items = self.items
        return items[0] if len(items) == 1 else b"".join(items)


class BodyReaderProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose request bodies arrive as :class:`Pieces`."""

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        pieces = cycle.body
        if type(pieces) is not Pieces:  # uvicorn's fresh bytearray, after each receive()
            pieces = cycle.body = Pieces()
        pieces.items.append(body)
        pieces.size += len(body)
        if pieces.size > BODY_HIGH_WATER:
            self.flow.pause_reading()
        cycle.message_event.set()
