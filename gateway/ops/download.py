"""An object's bytes as the response body: streamed from GetFile, or the blob file itself.

When pfsd runs in the gateway's process it hands a GET the blob's open descriptor
(gateway.pfs.client.FileReader.local). A big body is then sent with ASGI's zero-copy send
extension (``http.response.zerocopysend``, served by gateway.server.protocol): the kernel
copies the bytes from the page cache to the socket, as nginx does, and no byte passes through
Python. A server without the extension gets the file read in 1 MiB pieces on a worker thread.
"""

from __future__ import annotations

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.pfs.client import FileReader

ZEROCOPY = "http.response.zerocopysend"


class LocalFileResponse(Response):
    """``length`` bytes of ``reader``'s local file from ``reader.offset`` (the headers,
    Content-Length included, are the caller's); the reader is closed once sent."""

    def __init__(self, reader: FileReader, length: int, status_code: int,
                 headers: dict[str, str]) -> None:
        assert reader.local is not None
        super().__init__(None, status_code=status_code, headers=headers, media_type=None)
        self.reader, self.length = reader, length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reader = self.reader
        try:
            if ZEROCOPY not in scope.get("extensions", {}):
                streamed = StreamingResponse(reader.chunks(self.length), self.status_code,
                                             media_type=None)
                streamed.raw_headers = self.raw_headers
                await streamed(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            await send({"type": ZEROCOPY, "file": reader.local, "offset": reader.offset,
                        "count": self.length, "more_body": False})
        finally:
            reader.cancel()
