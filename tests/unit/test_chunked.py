"""aws-chunked decoding: AWS's published examples, framing errors, arbitrary re-splitting."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random

import pytest

from gateway.s3.chunked import (
    MAX_LINE,
    AwsChunkedDecoder,
    decode_aws_chunked,
    decoded_content_length,
    is_aws_chunked,
    stored_content_encoding,
)
from gateway.s3.errors import S3Error

# --- AWS's examples (S3 API reference, "Signature Calculations ... Chunked Upload" and
# "Signature calculations for trailing headers"): PUT of 66560 bytes of 'a' in a 64 KiB and a
# 1 KiB chunk, signed with the documentation's example key.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TIMESTAMP = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
STREAMING_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
STREAMING_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNK_SIGS = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
]
TRAILER_SIG = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
OBJECT = b"a" * 66560


def aws_streaming_body() -> bytes:
    return (b"10000;chunk-signature=" + STREAMING_SIGS[0].encode() + b"\r\n"
            + b"a" * 65536 + b"\r\n"
            + b"400;chunk-signature=" + STREAMING_SIGS[1].encode() + b"\r\n"
            + b"a" * 1024 + b"\r\n"
            + b"0;chunk-signature=" + STREAMING_SIGS[2].encode() + b"\r\n\r\n")


def aws_trailer_body() -> bytes:
    return (b"10000;chunk-signature=" + TRAILER_CHUNK_SIGS[0].encode() + b"\r\n"
            + b"a" * 65536 + b"\r\n"
            + b"400;chunk-signature=" + TRAILER_CHUNK_SIGS[1].encode() + b"\r\n"
            + b"a" * 1024 + b"\r\n"
            + b"0;chunk-signature=" + TRAILER_CHUNK_SIGS[2].encode() + b"\r\n"
            + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
            + b"x-amz-trailer-signature:" + TRAILER_SIG.encode() + b"\r\n\r\n")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class ReferenceSigV4Validator:
    """Test-only chunk signature check, to show the hook suffices for SigV4 streaming:
    it hashes each chunk incrementally and never holds chunk data."""

    def __init__(self, seed: str) -> None:
        key = _hmac(("AWS4" + SECRET).encode(), "20130524")
        for part in ("us-east-1", "s3", "aws4_request"):
            key = _hmac(key, part)
        self.key = key
        self.previous = seed
        self.hash = hashlib.sha256()
        self.chunks = 0

    def _sign(self, *lines: str) -> str:
        return hmac.new(self.key, "\n".join(lines).encode(), hashlib.sha256).hexdigest()

    def update(self, data: bytes) -> None:
        self.hash.update(data)

    def end_chunk(self, signature: str | None) -> None:
        expected = self._sign("AWS4-HMAC-SHA256-PAYLOAD", TIMESTAMP, SCOPE, self.previous,
                              hashlib.sha256(b"").hexdigest(), self.hash.hexdigest())
        if signature != expected:
            raise S3Error(403, "SignatureDoesNotMatch", "chunk signature")
        self.previous, self.hash = expected, hashlib.sha256()
        self.chunks += 1

    def end_trailer(self, trailers: list[tuple[str, str]], signature: str | None) -> None:
        if not trailers and signature is None:
            return
        canonical = "".join(f"{name}:{value}\n" for name, value in trailers).encode()
        expected = self._sign("AWS4-HMAC-SHA256-TRAILER", TIMESTAMP, SCOPE, self.previous,
                              hashlib.sha256(canonical).hexdigest())
        if signature != expected:
            raise S3Error(403, "SignatureDoesNotMatch", "trailer signature")


class Recorder:
    """Records validator calls: a list of (data, signature) per chunk, and the trailer."""

    def __init__(self) -> None:
        self.current = bytearray()
        self.chunks: list[tuple[bytes, str | None]] = []
        self.trailer: tuple[list[tuple[str, str]], str | None] | None = None

    def update(self, data: bytes) -> None:
        self.current += data

    def end_chunk(self, signature: str | None) -> None:
        self.chunks.append((bytes(self.current), signature))
        self.current.clear()

    def end_trailer(self, trailers: list[tuple[str, str]], signature: str | None) -> None:
        self.trailer = (trailers, signature)


def encode(chunks: list[bytes], *, signatures: list[str] | None = None,
           trailers: list[tuple[str, str]] = (), final_crlf: bool = True) -> bytes:
    """aws-chunked encoding of ``chunks`` followed by the empty final chunk."""
    out = bytearray()
    for i, data in enumerate([*chunks, b""]):
        out += f"{len(data):x}".encode()
        if signatures is not None:
            out += b";chunk-signature=" + signatures[i].encode()
        out += b"\r\n"
        if data:
            out += data + b"\r\n"
    for name, value in trailers:
        out += f"{name}:{value}\r\n".encode()
    if final_crlf:
        out += b"\r\n"
    return bytes(out)


def random_split(raw: bytes, rng: random.Random) -> list[bytes]:
    """Cut ``raw`` at random points, favouring tiny pieces so every boundary gets split."""
    pieces, pos = [], 0
    while pos < len(raw):
        size = rng.choice([1, 1, 2, 3, rng.randint(1, 100), rng.randint(1, 70000)])
        pieces.append(raw[pos:pos + size])
        pos += size
    return pieces


def feed_all(pieces: list[bytes], **kwargs) -> tuple[bytes, AwsChunkedDecoder]:
    decoder = AwsChunkedDecoder(**kwargs)
    out = bytearray()
    for piece in pieces:
        for data in decoder.feed(piece):
            assert len(data) <= len(piece)  # bounded: never more than one read at a time
            out += data
    decoder.close()
    return bytes(out), decoder


async def _agen(pieces):
    for piece in pieces:
        await asyncio.sleep(0)
        yield piece


def decode_async(pieces: list[bytes], **kwargs) -> tuple[bytes, AwsChunkedDecoder]:
    decoder = AwsChunkedDecoder(**kwargs)

    async def run() -> bytes:
        return b"".join([piece async for piece in decoder.decode(_agen(pieces))])

    return asyncio.run(run()), decoder


def expect_error(code: str, pieces: list[bytes], **kwargs) -> S3Error:
    with pytest.raises(S3Error) as info:
        feed_all(pieces, **kwargs)
    assert info.value.code == code, info.value
    assert info.value.status == 400
    return info.value


# --- AWS examples -------------------------------------------------------------------------


def test_aws_streaming_example_framing():
    body = aws_streaming_body()
    assert len(body) == 66824  # the Content-Length in AWS's example request
    data, decoder = feed_all([body], decoded_length=66560)
    assert data == OBJECT
    assert decoder.trailers == {}
    assert decoder.done


def test_aws_streaming_example_signatures_verified_through_hook():
    validator = ReferenceSigV4Validator(STREAMING_SEED)
    data, _ = decode_async([aws_streaming_body()], validator=validator, decoded_length=66560)
    assert data == OBJECT
    assert validator.chunks == 3  # two data chunks and the final empty one


@pytest.mark.parametrize("seed", range(20))
def test_aws_streaming_example_any_split(seed):
    rng = random.Random(seed)
    validator = ReferenceSigV4Validator(STREAMING_SEED)
    data, _ = feed_all(random_split(aws_streaming_body(), rng), validator=validator,
                       decoded_length=66560)
    assert data == OBJECT
    assert validator.chunks == 3


def test_aws_streaming_example_tampered_data_fails_signature():
    body = bytearray(aws_streaming_body())
    body[200] = ord("b")
    with pytest.raises(S3Error) as info:
        feed_all([bytes(body)], validator=ReferenceSigV4Validator(STREAMING_SEED))
    assert info.value.code == "SignatureDoesNotMatch"


def test_aws_trailer_example():
    validator = ReferenceSigV4Validator(TRAILER_SEED)
    pieces = random_split(aws_trailer_body(), random.Random(7))
    data, decoder = feed_all(pieces, validator=validator, decoded_length=66560)
    assert data == OBJECT
    assert decoder.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}  # signature kept apart
    assert validator.chunks == 3


def test_aws_trailer_example_tampered_trailer_fails_signature():
    body = aws_trailer_body().replace(b"sOO8/Q==", b"AAAAAA==")
    with pytest.raises(S3Error) as info:
        feed_all([body], validator=ReferenceSigV4Validator(TRAILER_SEED))
    assert info.value.code == "SignatureDoesNotMatch"


# --- Shapes clients send ----------------------------------------------------------------


def test_unsigned_payload_trailer_botocore_shape():
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
    recorder = Recorder()
    data, decoder = feed_all([body], validator=recorder, decoded_length=11)
    assert data == b"hello world"
    assert decoder.trailers == {"x-amz-checksum-crc32": "DUoRhQ=="}
    assert recorder.chunks == [(b"hello", None), (b" world", None), (b"", None)]
    assert recorder.trailer == ([("x-amz-checksum-crc32", "DUoRhQ==")], None)


def test_empty_object():
    data, decoder = feed_all([b"0\r\n\r\n"], decoded_length=0)
    assert data == b""
    assert decoder.decoded_size == 0


def test_trailer_names_lowercased_values_trimmed():
    _, decoder = feed_all([b"0\r\nX-Amz-Checksum-SHA1 : abc= \r\n\r\n"])
    assert decoder.trailers == {"x-amz-checksum-sha1": "abc="}


def test_uppercase_hex_sizes_and_other_extensions():
    body = b"A;foo=bar\r\n0123456789\r\n0;chunk-signature=ABCDEF\r\n\r\n"
    recorder = Recorder()
    data, _ = feed_all([body], validator=recorder)
    assert data == b"0123456789"
    assert recorder.chunks == [(b"0123456789", None), (b"", "abcdef")]


def test_lenient_missing_final_blank_line():
    assert feed_all([b"3\r\nabc\r\n0\r\n"])[0] == b"abc"
    _, decoder = feed_all([b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n"])
    assert decoder.trailers == {"x-amz-checksum-crc32": "NSRBwg=="}


def test_validator_called_in_order_with_signatures():
    sigs = ["a" * 64, "b" * 64, "c" * 64]
    recorder = Recorder()
    feed_all([encode([b"x" * 10, b"y" * 3], signatures=sigs)], validator=recorder)
    assert recorder.chunks == [(b"x" * 10, sigs[0]), (b"y" * 3, sigs[1]), (b"", sigs[2])]
    assert recorder.trailer == ([], None)


def test_large_chunk_streams_in_pieces():
    size = 16 * 1024 * 1024  # minio sends up to 16 MiB per chunk
    header = f"{size:x};chunk-signature={'0' * 64}\r\n".encode()
    decoder = AwsChunkedDecoder(decoded_length=size)
    assert decoder.feed(header) == []
    piece = b"z" * 65536
    for _ in range(size // len(piece)):
        out = decoder.feed(piece)
        assert out == [piece] and out[0] is piece  # passed through without a copy
    decoder.feed(b"\r\n0;chunk-signature=" + b"0" * 64 + b"\r\n\r\n")
    decoder.close()
    assert decoder.decoded_size == size


def test_decode_aws_chunked_function():
    async def run():
        source = _agen([b"3\r\nab", b"c\r\n0\r", b"\n\r\n"])
        return [p async for p in decode_aws_chunked(source, decoded_length=3)]

    assert b"".join(asyncio.run(run())) == b"abc"


def test_async_decode_skips_empty_reads_and_raises_at_eof():
    assert decode_async([b"", b"1\r\nx\r\n", b"", b"0\r\n\r\n", b""])[0] == b"x"
    with pytest.raises(S3Error) as info:
        decode_async([b"1\r\nx\r\n"])
    assert info.value.code == "IncompleteBody"


@pytest.mark.parametrize("seed", range(150))
def test_randomized_round_trip(seed):
    rng = random.Random(seed)
    chunks = [rng.randbytes(rng.choice([1, 2, 10, 100, 8192, 65536, rng.randint(1, 200000)]))
              for _ in range(rng.randint(0, 6))]
    signed = rng.random() < 0.5
    sigs = [rng.randbytes(32).hex() for _ in range(len(chunks) + 1)] if signed else None
    trailers = [("x-amz-checksum-crc32", "AAAAAA==")] if rng.random() < 0.5 else []
    raw = encode(chunks, signatures=sigs, trailers=trailers)
    recorder = Recorder()
    expected = b"".join(chunks)
    data, decoder = feed_all(random_split(raw, rng), validator=recorder,
                             decoded_length=len(expected) if rng.random() < 0.5 else None)
    assert data == expected
    assert [c for c, _ in recorder.chunks] == [*chunks, b""]
    assert [s for _, s in recorder.chunks] == (sigs or [None] * (len(chunks) + 1))
    assert decoder.trailers == dict(trailers)


# --- Errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"",
    b"5",
    b"5\r",
    b"5\r\nhel",
    b"5\r\nhello",
    b"5\r\nhello\r",
    b"5\r\nhello\r\n",
    b"5\r\nhello\r\n0",
    b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA",
])
def test_truncated_body_is_incomplete(raw):
    expect_error("IncompleteBody", [raw])


@pytest.mark.parametrize("raw", [
    b"zz\r\n",  # not hex
    b"\r\n",  # empty size
    b"0x5\r\nhello\r\n0\r\n\r\n",  # int(..., 16) would accept these
    b"+5\r\nhello\r\n0\r\n\r\n",
    b"-1\r\n",
    b"1_0\r\n",
    b"11111111111111111\r\n",  # more than 64 bits
    b"5\nhello\r\n0\r\n\r\n",  # bare LF
    b"5\r\nhelloXY0\r\n\r\n",  # data not followed by CRLF: size says 5, sent more
    b"5\r\nhell\r\n0\r\n\r\n",  # size says 5, sent 4: the CRLF lands inside the data
    b"5;chunk-signature=\r\nhello\r\n0\r\n\r\n",  # empty signature
    b"5;chunk-signature=xyz\r\nhello\r\n0\r\n\r\n",  # not hex
    b"0\r\n\r\nextra",  # data after the end
    b"0\r\nno-colon-here\r\n\r\n",  # malformed trailer line
    b"0\r\n:value\r\n\r\n",  # empty trailer name
    b"0\r\n\xff:x\r\n\r\n",  # non-ASCII trailer
])
def test_garbage_is_invalid_request(raw):
    err = expect_error("InvalidRequest", [raw])
    assert "aws-chunked" in err.message


def test_garbage_detected_whatever_the_split():
    raw = b"5\r\nhelloXY0\r\n\r\n"
    for cut in range(1, len(raw)):
        expect_error("InvalidRequest", [raw[:cut], raw[cut:]])


def test_overlong_header_line_is_rejected_without_buffering_it_all():
    decoder = AwsChunkedDecoder()
    with pytest.raises(S3Error) as info:
        for _ in range(10):
            decoder.feed(b"1" * (MAX_LINE // 4))
    assert info.value.code == "InvalidRequest"


def test_overlong_trailer_is_rejected():
    lines = b"".join(b"x-amz-meta-%d:%s\r\n" % (i, b"v" * 1000) for i in range(20))
    expect_error("InvalidRequest", [b"0\r\n" + lines + b"\r\n"])


def test_decoded_length_short():
    err = expect_error("IncompleteBody", [b"3\r\nabc\r\n0\r\n\r\n"], decoded_length=5)
    assert err.extra == {"NumberBytesExpected": "5", "NumberBytesProvided": "3"}


def test_decoded_length_exceeded_fails_before_the_end():
    decoder = AwsChunkedDecoder(decoded_length=2)
    with pytest.raises(S3Error) as info:
        decoder.feed(b"3\r\nabc")
    assert info.value.code == "IncompleteBody"


def test_validator_errors_propagate():
    class Refuse(Recorder):
        def end_chunk(self, signature):
            raise S3Error(403, "SignatureDoesNotMatch", "no")

    with pytest.raises(S3Error) as info:
        feed_all([b"1\r\nx\r\n0\r\n\r\n"], validator=Refuse())
    assert info.value.code == "SignatureDoesNotMatch"


# --- Header helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, False),
    ({"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, True),
    ({"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, True),
    ({"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-encoding": "aws-chunked"}, False),
    ({"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5"}, True),
    ({"content-encoding": "gzip, AWS-Chunked", "x-amz-decoded-content-length": "5"}, True),
    ({"content-encoding": "gzip", "x-amz-decoded-content-length": "5"}, False),
])
def test_is_aws_chunked(headers, expected):
    assert is_aws_chunked(headers) is expected


def test_decoded_content_length():
    assert decoded_content_length({}) is None
    assert decoded_content_length({"x-amz-decoded-content-length": "66560"}) == 66560
    for bad in ("", "-1", "1.5", "abc", "0x10"):
        with pytest.raises(S3Error) as info:
            decoded_content_length({"x-amz-decoded-content-length": bad})
        assert info.value.code == "InvalidArgument"


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ("aws-chunked", None),
    ("aws-chunked,gzip", "gzip"),
    ("gzip, aws-chunked", "gzip"),
    ("gzip, br", "gzip, br"),
    ("AWS-CHUNKED", None),
])
def test_stored_content_encoding(value, expected):
    assert stored_content_encoding(value) == expected
