"""An upload's body: decoded, re-chunked for gRPC, digested and checked as it streams.

PROVISIONAL: plain bodies and Content-MD5 only, until the aws-chunked and checksum modules land.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator

from starlette.requests import Request

from gateway import errors

CHUNK = 1 << 20  # bytes per AddFile message: big enough to amortize gRPC, small enough to stay flat


class UploadBody:
    def __init__(self, req: Request) -> None:
        self.req = req
        self.md5 = hashlib.md5()
        self.expected_md5: bytes | None = None
        header = req.headers.get("content-md5")
        if header is not None:
            try:
                self.expected_md5 = base64.b64decode(header, validate=True)
            except ValueError:
                raise errors.invalid_digest() from None
            if len(self.expected_md5) != 16:
                raise errors.invalid_digest()
        self.size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        buf = bytearray()
        async for piece in self.req.stream():
            if not piece:
                continue
            self.md5.update(piece)
            self.size += len(piece)
            buf += piece
            if len(buf) >= CHUNK:
                yield bytes(buf)
                buf.clear()
        if buf:
            yield bytes(buf)

    def verify(self) -> None:
        if self.expected_md5 is not None and self.md5.digest() != self.expected_md5:
            raise errors.bad_digest()

    @property
    def md5_hex(self) -> str:
        return self.md5.hexdigest()

    def response_headers(self) -> dict[str, str]:
        return {}
