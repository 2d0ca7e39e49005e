"""Decoding of ``aws-chunked`` request bodies (SigV4 streaming uploads).

The wire format, from the AWS S3 API reference ("Transferring Payload in Multiple Chunks" and
"Signature calculations for trailing headers")::

    <hex-size>[;chunk-signature=<hex>]\\r\\n<data>\\r\\n      repeated
    0[;chunk-signature=<hex>]\\r\\n                          the final, empty chunk
    <name>:<value>\\r\\n                                     optional trailer lines
    \\r\\n

The decoder is a push parser: :meth:`AwsChunkedDecoder.feed` takes network reads of any size
and split (a header line or a CRLF may straddle two reads) and returns the object data they
carry, so memory stays bounded by the size of one read. Chunk signatures are not verified
here: a :class:`ChunkValidator` sees every chunk's bytes and signature as they go by, which is
where the SigV4 module hooks in. Callers must not make the data visible (commit it) until the
stream has ended without error, since a later chunk or the trailer may still fail.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Protocol

from gateway.s3.errors import S3Error, incomplete_body, invalid_argument, invalid_request

MAX_LINE = 4096  # a chunk header is ~90 bytes; bounds what we buffer while looking for CRLF
MAX_TRAILER = 16 * 1024  # all trailer lines together (a checksum and a signature in practice)
TRAILER_SIGNATURE = "x-amz-trailer-signature"

_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE = re.compile(rb"[0-9a-fA-F]+")
_DECIMAL = re.compile(r"[0-9]{1,19}")

# Parser states.
_SIZE, _DATA, _DATA_CRLF, _TRAILER, _DONE = range(5)


class ChunkValidator(Protocol):
    """Receives every chunk as it is decoded, e.g. to verify SigV4 chunk signatures.

    Each data chunk produces zero or more :meth:`update` calls with its bytes, then
    :meth:`end_chunk` with the signature from its header (``None`` if it had none); the final
    empty chunk produces only :meth:`end_chunk`. After the trailer, :meth:`end_trailer` gets
    the trailer lines in order (lowercased names, ``x-amz-trailer-signature`` excluded) and
    that signature, if sent. Any method may raise :class:`S3Error` to abort the upload.
    """

    def update(self, data: bytes) -> None: ...

    def end_chunk(self, signature: str | None) -> None: ...

    def end_trailer(self, trailers: list[tuple[str, str]], signature: str | None) -> None: ...


class AwsChunkedDecoder:
    """Incremental decoder of one aws-chunked body.

    ``decoded_length`` is ``x-amz-decoded-content-length``: when given, the decoded size must
    equal it (AWS answers ``IncompleteBody`` otherwise). After the body is consumed,
    :attr:`trailers` holds the trailing headers (lowercase names) and :attr:`decoded_size`
    the number of object bytes.
    """

    def __init__(self, *, validator: ChunkValidator | None = None,
                 decoded_length: int | None = None) -> None:
        self.trailers: dict[str, str] = {}
        self.decoded_size = 0
        self._validator = validator
        self._expected = decoded_length
        self._state = _SIZE
        self._line = bytearray()
        self._remaining = 0  # bytes left in the current chunk's data
        self._crlf = 0  # bytes of the CRLF after the data seen so far
        self._signature: str | None = None
        self._trailer_lines: list[tuple[str, str]] = []
        self._trailer_signature: str | None = None
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        """True once the final chunk and the trailer section have been read."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[bytes | memoryview]:
        """Consume one network read; return the object data it completes, in order (bytes-like:
        slices of ``data`` are memoryviews of it)."""
        out: list[bytes] = []
        pos, end = 0, len(data)
        view = memoryview(data)  # data pieces are views of the read, not copies
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                piece = data if take == end else view[pos:pos + take]
                pos += take
                self._remaining -= take
                self._add_data(piece)
                out.append(piece)
                if self._remaining == 0:
                    self._state, self._crlf = _DATA_CRLF, 0
            elif state == _DATA_CRLF:
                while self._crlf < 2 and pos < end:
                    if data[pos] != b"\r\n"[self._crlf]:
                        raise invalid_request("Malformed aws-chunked body: chunk data is not "
                                              "followed by CRLF (wrong chunk size?).")
                    self._crlf += 1
                    pos += 1
                if self._crlf == 2:
                    if self._validator is not None:
                        self._validator.end_chunk(self._signature)
                    self._state = _SIZE
            elif state == _DONE:
                raise invalid_request("Malformed aws-chunked body: data after the final chunk.")
            else:  # _SIZE or _TRAILER: a CRLF-terminated line
                nl = data.find(b"\n", pos)
                if nl < 0:
                    self._line += data[pos:]
                    self._check_line_length()
                    break
                self._line += data[pos:nl]
                pos = nl + 1
                self._check_line_length()
                if not self._line.endswith(b"\r"):
                    raise invalid_request("Malformed aws-chunked body: line not ended by CRLF.")
                line = bytes(self._line[:-1])
                self._line.clear()
                if state == _SIZE:
                    self._on_size_line(line)
                else:
                    self._on_trailer_line(line)
        return out

    def close(self) -> None:
        """Signal the end of the input; raise ``IncompleteBody`` if the body was cut short."""
        if self._state == _TRAILER and not self._line:
            # Lenient: a trailer section missing only its closing blank line carries all the
            # data; a missing checksum trailer is caught by the checksum plan.
            self._finish()
        if self._state != _DONE:
            raise incomplete_body("The request body ended before the final aws-chunked chunk.")

    async def decode(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes | memoryview]:
        """Decode ``source`` (the raw request stream), yielding object data as it arrives."""
        async for raw in source:
            if raw:
                for piece in self.feed(raw):
                    yield piece
        self.close()

    def _check_line_length(self) -> None:
        if len(self._line) > MAX_LINE:
            raise invalid_request("Malformed aws-chunked body: chunk header line too long.")

    def _add_data(self, piece: bytes) -> None:
        self.decoded_size += len(piece)
        if self._expected is not None and self.decoded_size > self._expected:
            raise _length_mismatch(self._expected, self.decoded_size)
        if self._validator is not None:
            self._validator.update(piece)

    def _on_size_line(self, line: bytes) -> None:
        size_field, _, extensions = line.partition(b";")
        size_field = size_field.strip()
        if not _HEX_SIZE.fullmatch(size_field):
            raise invalid_request("Malformed aws-chunked body: invalid chunk size.")
        signature = None
        if extensions:
            for ext in extensions.split(b";"):
                name, _, value = ext.partition(b"=")
                if name.strip() == b"chunk-signature":
                    value = value.strip()
                    if not _SIGNATURE.fullmatch(value):
                        raise invalid_request("Malformed aws-chunked body: invalid chunk "
                                              "signature.")
                    signature = value.decode("ascii").lower()
        size = int(size_field, 16)
        if size == 0:
            if self._validator is not None:
                self._validator.end_chunk(signature)
            self._state = _TRAILER
        else:
            self._signature = signature
            self._remaining = size
            self._state = _DATA

    def _on_trailer_line(self, line: bytes) -> None:
        if not line:
            self._finish()
            return
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER:
            raise invalid_request("Malformed aws-chunked body: trailer too large.")
        name, colon, value = line.partition(b":")
        try:
            key = name.strip().decode("ascii").lower()
            text = value.strip().decode("ascii")
        except UnicodeDecodeError:
            key = ""
        if not colon or not key:
            raise invalid_request("Malformed aws-chunked body: invalid trailer line.")
        if key == TRAILER_SIGNATURE:
            self._trailer_signature = text
        else:
            self._trailer_lines.append((key, text))

    def _finish(self) -> None:
        if self._expected is not None and self.decoded_size != self._expected:
            raise _length_mismatch(self._expected, self.decoded_size)
        if self._validator is not None:
            self._validator.end_trailer(list(self._trailer_lines), self._trailer_signature)
        self.trailers = dict(self._trailer_lines)
        self._state = _DONE


async def decode_aws_chunked(source: AsyncIterable[bytes], *,
                             validator: ChunkValidator | None = None,
                             decoded_length: int | None = None) -> AsyncIterator[bytes]:
    """Decode an aws-chunked stream when its trailers are not needed (see the decoder class)."""
    decoder = AwsChunkedDecoder(validator=validator, decoded_length=decoded_length)
    async for piece in decoder.decode(source):
        yield piece


def is_aws_chunked(headers: Mapping[str, str]) -> bool:
    """Whether the request body is chunk-framed (headers: lowercase or case-insensitive names).

    A ``STREAMING-*`` ``x-amz-content-sha256`` always means framing. Some clients also frame
    with ``Content-Encoding: aws-chunked`` and ``UNSIGNED-PAYLOAD``, while others label an
    unframed body ``aws-chunked``: the ``x-amz-decoded-content-length`` header tells them apart.
    """
    if (headers.get("x-amz-content-sha256") or "").startswith("STREAMING-"):
        return True
    encodings = _encodings(headers.get("content-encoding"))
    return "aws-chunked" in encodings and headers.get("x-amz-decoded-content-length") is not None


def decoded_content_length(headers: Mapping[str, str]) -> int | None:
    """Parse ``x-amz-decoded-content-length``; ``None`` if absent."""
    value = headers.get("x-amz-decoded-content-length")
    if value is None:
        return None
    if not _DECIMAL.fullmatch(value.strip()):
        raise invalid_argument("Invalid x-amz-decoded-content-length.",
                               "x-amz-decoded-content-length", value)
    return int(value)


def stored_content_encoding(value: str | None) -> str | None:
    """The Content-Encoding to store with the object: the header less ``aws-chunked``.

    AWS strips the transfer-only ``aws-chunked`` token and keeps the rest (e.g. ``gzip``).
    """
    kept = [e for e in _encodings(value, keep_case=True) if e.lower() != "aws-chunked"]
    return ", ".join(kept) or None


def _encodings(value: str | None, keep_case: bool = False) -> list[str]:
    if not value:
        return []
    items = (e.strip() for e in value.split(","))
    return [e if keep_case else e.lower() for e in items if e]


def _length_mismatch(expected: int, provided: int) -> S3Error:
    err = incomplete_body("The decoded body length does not match the "
                          "x-amz-decoded-content-length header.")
    err.extra.update(NumberBytesExpected=str(expected), NumberBytesProvided=str(provided))
    return err
