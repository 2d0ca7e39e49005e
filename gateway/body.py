"""An upload's body as it streams: decoded (aws-chunked), digested, re-chunked for gRPC, checked.

The checks settle only after the last byte, so the caller sends the chunks into a ModifyFile
stream and calls :meth:`UploadBody.verify` before completing it: a failed check cancels the
stream and PFS commits nothing. The SigV4 checks of a signed body run earlier still: chunk
signatures as each chunk is decoded, a signed ``x-amz-content-sha256`` as the last byte
arrives (see :mod:`gateway.auth`); either failure is raised out of :meth:`UploadBody.chunks`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from gateway import checksums, chunked, errors
from gateway.auth import CHUNK_VALIDATOR, PAYLOAD_VERIFIED
from gateway.pfs import add_file, delete_file
from generated.pfs import pfs_pb2 as pb

CHUNK = 1 << 20  # bytes per AddFile message: big enough to amortize gRPC, small enough to stay flat


class UploadBody:
    """One request body, with the checks its headers ask for planned before it is read."""

    def __init__(self, req: Request) -> None:
        self.req = req
        headers = req.headers
        state = req.scope.get("state", {})
        self.plan = checksums.plan_checks(headers)
        if state.get(PAYLOAD_VERIFIED):  # already hashed by the auth layer: once is enough
            self.plan = dataclasses.replace(self.plan, content_sha256=None)
        self.digests = self.plan.digests()
        self.decoder: chunked.AwsChunkedDecoder | None = None
        validator = state.get(CHUNK_VALIDATOR)
        if chunked.is_aws_chunked(headers):
            self.decoder = chunked.AwsChunkedDecoder(
                validator=validator, decoded_length=chunked.decoded_content_length(headers))
        elif validator is not None:
            raise errors.invalid_request("A STREAMING-AWS4-HMAC-SHA256-PAYLOAD body must be "
                                         "aws-chunked.")
        self._echo: dict[str, str] = {}

    async def _pieces(self) -> AsyncIterator[bytes]:
        source = self.req.stream()
        if self.decoder is not None:
            source = self.decoder.decode(source)
        try:
            async for piece in source:
                if piece:
                    yield piece
        except ClientDisconnect:
            raise errors.incomplete_body() from None

    async def chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        """The decoded body in pieces of about ``size`` bytes, digested on the way."""
        buf = bytearray()
        async for piece in self._pieces():
            self.digests.update(piece)
            if not buf and len(piece) >= size:
                yield piece  # big reads pass through without a copy
                continue
            buf += piece
            if len(buf) >= size:
                yield bytes(buf)
                buf.clear()
        if buf:
            yield bytes(buf)

    async def file_ops(self, path: str) -> AsyncIterator[pb.ModifyFileRequest]:
        """ModifyFile operations that make the file at ``path`` hold this body.

        DeleteFile comes first, always: AddFile appends to an existing file, and a racing write
        may create the path after any look-up (deleting an absent path is a no-op). An empty
        body still adds the (empty) file. The caller adds its own operations, then calls
        :meth:`verify` before the stream completes.
        """
        yield delete_file(path)
        empty = True
        async for chunk in self.chunks():
            empty = False
            yield add_file(path, chunk)
        if empty:
            yield add_file(path, b"")

    def verify(self) -> None:
        """Settle every check the request asked for; raises the S3 error of the first failure."""
        trailers = self.decoder.trailers if self.decoder is not None else None
        self._echo = checksums.verify_body(self.plan, self.digests, trailers)

    @property
    def md5_hex(self) -> str:
        return self.digests.md5_hex()

    @property
    def size(self) -> int:
        return self.digests.size

    def response_headers(self) -> dict[str, str]:
        """The checksum headers S3 echoes on success."""
        return dict(self._echo)
