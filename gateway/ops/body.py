"""An upload's body as it streams: decoded (aws-chunked), digested, re-chunked for gRPC, checked.

The checks settle only after the last byte, so the caller sends the chunks into a ModifyFile
stream and calls :meth:`UploadBody.verify` before completing it: a failed check cancels the
stream and PFS commits nothing. The SigV4 checks of a signed body run earlier still: chunk
signatures as each chunk is decoded, a signed ``x-amz-content-sha256`` as the last byte
arrives (see :mod:`gateway.auth.authenticator`); either failure is raised out of :meth:`UploadBody.chunks`.

The MD5 (the ETag, and a ``Content-MD5`` check) is the one hash every upload needs. When the
backend is pfsd, which hashes every byte it stores anyway and reports it (``backend_md5``),
the gateway leaves it there: pfsd answers the MD5 with the commit and refuses a stream whose
bytes do not match the Content-MD5 (:class:`gateway.pfs.client.Md5Report`), so each byte is
hashed once. Against pachd the gateway hashes, as before.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping

from starlette.requests import ClientDisconnect, Request

from gateway.auth.authenticator import CHUNK_VALIDATOR, PAYLOAD_VERIFIED
from gateway.pfs.client import MD5_EXPECT_KEY, PFS, Md5Report, Ref, add_file, delete_file
from gateway.pfs.errors import FailedPrecondition
from gateway.pfs.wire import AddFileChunk
from gateway.s3 import checksums, chunked, errors
from generated.pfs import pfs_pb2 as pb

CHUNK = 1 << 20  # bytes per AddFile message: big enough to amortize gRPC, small enough to stay flat
# Past this, a block is digested on a worker thread while the event loop sends it and reads the
# next (hashlib and zlib release the GIL); below it the hop would cost more than the hash.
THREADED_DIGEST = 128 * 1024


class UploadBody:
    """One request body, with the checks its headers ask for planned before it is read."""

    def __init__(self, req: Request | None, *, source: AsyncIterator[bytes] | None = None,
                 headers: Mapping[str, str] | None = None,
                 size_check: Callable[[int], None] | None = None,
                 final_check: Callable[[int], None] | None = None,
                 backend_md5: bool = False, algorithm: str | None = None) -> None:
        """The body of ``req``; or (a form upload's file) the bytes of ``source``, checked as
        ``headers`` ask (a form's ``x-amz-checksum-*`` fields). ``size_check(size so far)``
        runs as the bytes arrive, ``final_check(size)`` in :meth:`verify`: either raises.
        ``backend_md5``: the backend hashes the body (see above; ``PFS.hashes_uploads``).
        ``algorithm``: a checksum to compute even when the request sends none (the one a
        multipart upload was created with)."""
        self.req = req
        self.source = source
        self.size_check, self.final_check = size_check, final_check
        self.decoder: chunked.AwsChunkedDecoder | None = None
        self._echo: dict[str, str] = {}
        self.backend_md5 = backend_md5
        self.report: Md5Report | None = None
        if req is None:
            self.plan = checksums.plan_checks(headers or {})
            self.digests = self.plan.digests(md5=not backend_md5)
            return
        headers = req.headers
        state = req.scope.get("state", {})
        self.plan = checksums.plan_checks(headers)
        if state.get(PAYLOAD_VERIFIED):  # already hashed by the auth layer: once is enough
            self.plan = dataclasses.replace(self.plan, content_sha256=None)
        extra = (algorithm,) if algorithm else ()
        self.digests = self.plan.digests(*extra, md5=not backend_md5)
        validator = state.get(CHUNK_VALIDATOR)
        if chunked.is_aws_chunked(headers):
            self.decoder = chunked.AwsChunkedDecoder(
                validator=validator, decoded_length=chunked.decoded_content_length(headers))
        elif validator is not None:
            raise errors.invalid_request("A STREAMING-AWS4-HMAC-SHA256-PAYLOAD body must be "
                                         "aws-chunked.")

    async def _pieces(self) -> AsyncIterator[bytes]:
        source = self.source if self.source is not None else self.req.stream()
        if self.decoder is not None:
            source = self.decoder.decode(source)
        size = 0
        try:
            async for piece in source:
                if piece:
                    size += len(piece)
                    if self.size_check is not None:
                        self.size_check(size)
                    yield piece
        except ClientDisconnect:
            raise errors.incomplete_body() from None

    async def _blocks(self, size: int) -> AsyncIterator[list[bytes]]:
        """The decoded body as lists of pieces of about ``size`` bytes together (not digested)."""
        block: list[bytes] = []
        total = 0
        async for piece in self._pieces():
            block.append(piece)
            total += len(piece)
            if total >= size:
                yield block
                block, total = [], 0
        if block:
            yield block

    async def chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        """The decoded body in pieces of about ``size`` bytes, digested on the way."""
        async for block in self._blocks(size):
            for piece in block:
                self.digests.update(piece)
            yield bytes(block[0]) if len(block) == 1 else b"".join(block)

    async def file_ops(self, path: str) -> AsyncIterator[pb.ModifyFileRequest | AddFileChunk]:
        """ModifyFile operations that make the file at ``path`` hold this body.

        DeleteFile comes first, always: AddFile appends to an existing file, and a racing write
        may create the path after any look-up (deleting an absent path is a no-op). An empty
        body still adds the (empty) file. The caller adds its own operations, then calls
        :meth:`verify` before the stream completes.

        AddFile operations come as :class:`gateway.pfs.wire.AddFileChunk` objects of the pieces read
        (joined once into wire bytes for gRPC, handed over as they are to pfsd in this process);
        a big block is digested on a worker thread while it is sent and the next one is read.
        """
        yield delete_file(path)
        empty = True
        digesting: asyncio.Future | None = None
        loop = asyncio.get_running_loop()
        try:
            async for block in self._blocks(CHUNK):
                empty = False
                size = sum(map(len, block))
                if digesting is not None:
                    await digesting  # digests take the blocks in order
                    digesting = None
                if size >= THREADED_DIGEST and self.digests.hashing:
                    digesting = loop.run_in_executor(None, self._digest, block)
                else:
                    self._digest(block)  # small, or only counted (pfsd hashes: see above)
                yield AddFileChunk(path, block)
            if digesting is not None:
                await digesting
                digesting = None
        finally:
            if digesting is not None:  # abandoned: let the worker finish, quietly
                digesting.add_done_callback(lambda f: f.cancelled() or f.exception())
        if empty:
            yield add_file(path, b"")

    async def read_small(self, limit: int = THREADED_DIGEST) -> list[bytes] | None:
        """The whole body's pieces, digested, when its Content-Length says it is at most
        ``limit`` bytes of plain (not aws-chunked) request body; None otherwise, having read
        nothing (then stream it with :meth:`file_ops`).

        A small body is read before the ModifyFile starts, so the operations go to PFS as one
        list (:meth:`small_ops`): no chain of async generators per upload, and every check
        settles before PFS sees a message.
        """
        if self.req is None or self.decoder is not None or self.size_check is not None:
            return None
        length = self.req.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > limit:
            return None
        pieces = [piece async for piece in self._pieces()]
        self._digest(pieces)
        return pieces

    @staticmethod
    def small_ops(path: str, pieces: list[bytes]) -> list[pb.ModifyFileRequest | AddFileChunk]:
        """What :meth:`file_ops` sends for a body read whole by :meth:`read_small`."""
        return [delete_file(path), AddFileChunk(path, pieces) if pieces else add_file(path, b"")]

    def _digest(self, block: list[bytes]) -> None:
        for piece in block:
            self.digests.update(piece)

    def md5_report(self, path: str) -> Md5Report:
        """What to ask the backend about the MD5 of the file at ``path`` (pass it to
        ModifyFile): the Content-MD5 to require when the backend is the one hashing."""
        self.report = Md5Report(path, self.plan.content_md5 if self.backend_md5 else None)
        return self.report

    @staticmethod
    def md5_refused(e: FailedPrecondition) -> errors.S3Error | None:
        """S3's BadDigest when the backend refused the stream for its Content-MD5, else None."""
        return errors.bad_digest() if MD5_EXPECT_KEY in e.message else None

    async def settle_md5(self, client: PFS, ref: Ref, commit: str) -> None:
        """Once committed: the MD5 the backend hashed, or (a backend that stopped reporting it)
        the hash of the file as committed."""
        if not self.backend_md5 or (self.report is not None and self.report.md5 is not None):
            return
        assert self.report is not None, "md5_report() names the file"
        info = await client.inspect_file(dataclasses.replace(ref, commit=commit), self.report.path)
        self.report.md5 = bytes(info.hash) if len(info.hash) == 16 else bytes.fromhex(info.hash.decode())

    def require_checksum(self) -> None:
        """Refuse a body sent without Content-MD5 or an x-amz-checksum-*, as S3 does for the
        operations that require one (DeleteObjects, PutBucketCors)."""
        if self.plan.content_md5 is None and self.plan.algorithm is None:
            raise errors.invalid_request("Missing required header for this request: Content-MD5")

    def verify(self) -> None:
        """Settle every check the request asked for; raises the S3 error of the first failure."""
        trailers = self.decoder.trailers if self.decoder is not None else None
        self._echo = checksums.verify_body(self.plan, self.digests, trailers)
        if self.final_check is not None:
            self.final_check(self.digests.size)

    def checksum(self, algorithm: str | None = None) -> tuple[str, bytes] | None:
        """(algorithm, raw digest) of the body, once read: ``algorithm``'s, else the one the
        request sent (None when it sent none: a plain PUT computes nothing more than MD5)."""
        algorithm = algorithm or self.plan.algorithm
        return None if algorithm is None else (algorithm, self.digests.digest(algorithm))

    def stored_checksum(self) -> list:
        """What the object's metadata keeps of the checksum the request sent (FULL_OBJECT),
        with the size and MD5 it describes (see ObjectMeta.current_checksum)."""
        found = self.checksum()
        if found is None:
            return []
        # the MD5 only when the gateway hashed it (pfsd reports its own after the commit)
        md5 = "" if self.backend_md5 else self.digests.md5_hex()
        return [found[0], base64.b64encode(found[1]).decode("ascii"), "FULL_OBJECT", self.size, md5]

    @property
    def md5_hex(self) -> str:
        if self.backend_md5:
            assert self.report is not None and self.report.md5 is not None, "settle_md5() first"
            return self.report.md5.hex()
        return self.digests.md5_hex()

    @property
    def size(self) -> int:
        return self.digests.size

    def response_headers(self) -> dict[str, str]:
        """The checksum headers S3 echoes on success."""
        return dict(self._echo)


async def read_document(request: Request, limit: int, too_large: errors.S3Error | None = None,
                        require_checksum: bool = False) -> bytes:
    """A small request document (ACL, CORS, tagging, policy XML/JSON) read whole: aws-chunked
    bodies decoded and every check the request asked for (Content-MD5, x-amz-checksum-*)
    settled; more than ``limit`` bytes is ``too_large`` (MalformedXML unless said)."""
    body = UploadBody(request)
    if require_checksum:
        body.require_checksum()
    data = bytearray()
    async for chunk in body.chunks():
        data += chunk
        if len(data) > limit:
            raise too_large or errors.malformed_xml()
    body.verify()
    return bytes(data)
