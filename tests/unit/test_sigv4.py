"""SigV4 against the worked examples of the AWS S3 API reference, and chunk signatures.

Vectors: "Signature Calculations for the Authorization Header: Transferring Payload in a Single
Chunk" (GET Object, PUT Object, GET Bucket Lifecycle, GET Bucket), "Authenticating Requests:
Using Query Parameters" (presigned GET), "Transferring Payload in Multiple Chunks" and
"Signature calculations for trailing headers" (seed, chunk and trailer signatures). All use
AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524, us-east-1.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_to_bytes

import pytest

from gateway.auth import sigv4
from gateway.s3 import chunked
from gateway.s3.errors import S3Error

AK = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = "20130524T000000Z"
NOW = datetime(2013, 5, 24, tzinfo=UTC)
HOST = "examplebucket.s3.amazonaws.com"
EMPTY = sigv4.EMPTY_SHA256


def hdrs(**kv: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in kv.items()]


def authorization(signed_headers: str, signature: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,"
            f"SignedHeaders={signed_headers},Signature={signature}")


def check(method: str, path: bytes, query: bytes, headers, signed_headers: str, expected: str):
    """The expected signature verifies, and one flipped hex digit does not."""
    as_dict = {k.decode().lower(): v.decode() for k, v in headers}
    signed = sigv4.parse_authorization(authorization(signed_headers, expected), as_dict)
    got, _, _ = sigv4.request_signature(signed, SECRET, method, path, query, headers)
    assert got == expected
    sigv4.verify(signed, SECRET, method, path, query, headers)
    bad = sigv4.parse_authorization(authorization(signed_headers, "0" + expected[1:]), as_dict)
    with pytest.raises(S3Error) as e:
        sigv4.verify(bad, SECRET, method, path, query, headers)
    assert e.value.code == "SignatureDoesNotMatch"


def test_get_object_with_range():
    headers = hdrs(Host=HOST, Range="bytes=0-9", x_amz_content_sha256=EMPTY, x_amz_date=WHEN)
    check("GET", b"/test.txt", b"", headers, "host;range;x-amz-content-sha256;x-amz-date",
          "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_put_object():
    body = b"Welcome to Amazon S3."
    digest = hashlib.sha256(body).hexdigest()
    assert digest == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    headers = hdrs(Host=HOST, Date="Fri, 24 May 2013 00:00:00 GMT", x_amz_date=WHEN,
                   x_amz_storage_class="REDUCED_REDUNDANCY", x_amz_content_sha256=digest)
    expected = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    signed_headers = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"
    check("PUT", b"/test%24file.text", b"", headers, signed_headers, expected)
    # the same key sent with the "$" unencoded canonicalizes to the same request
    check("PUT", b"/test$file.text", b"", headers, signed_headers, expected)


def test_get_bucket_lifecycle():
    headers = hdrs(Host=HOST, x_amz_date=WHEN, x_amz_content_sha256=EMPTY)
    check("GET", b"/", b"lifecycle", headers, "host;x-amz-content-sha256;x-amz-date",
          "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")


def test_get_bucket_list_objects_query_is_sorted():
    headers = hdrs(Host=HOST, x_amz_date=WHEN, x_amz_content_sha256=EMPTY)
    for query in (b"max-keys=2&prefix=J", b"prefix=J&max-keys=2"):
        check("GET", b"/", query, headers, "host;x-amz-content-sha256;x-amz-date",
              "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


PRESIGNED_QUERY = (b"X-Amz-Algorithm=AWS4-HMAC-SHA256"
                   b"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                   b"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                   b"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")


def presigned(query: bytes = PRESIGNED_QUERY) -> sigv4.Signed:
    from urllib.parse import parse_qsl
    return sigv4.parse_presigned(dict(parse_qsl(query.decode())))


def test_presigned_get_object():
    signed = presigned()
    assert signed.presigned and signed.expires == 86400 and signed.payload_hash == "UNSIGNED-PAYLOAD"
    headers = hdrs(Host=HOST)
    got, canonical, _ = sigv4.request_signature(signed, SECRET, "GET", b"/test.txt", PRESIGNED_QUERY,
                                                headers)
    assert got == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    assert "X-Amz-Signature" not in canonical
    sigv4.verify(signed, SECRET, "GET", b"/test.txt", PRESIGNED_QUERY, headers)
    with pytest.raises(S3Error):
        sigv4.verify(signed, SECRET, "GET", b"/test2.txt", PRESIGNED_QUERY, headers)


def test_presigned_expiry_and_not_yet_valid():
    signed = presigned()
    sigv4.check_time(signed, NOW + timedelta(seconds=86400))
    with pytest.raises(S3Error) as e:
        sigv4.check_time(signed, NOW + timedelta(seconds=86401))
    assert (e.value.code, e.value.message) == ("AccessDenied", "Request has expired")
    with pytest.raises(S3Error) as e:
        sigv4.check_time(signed, NOW - timedelta(minutes=16))
    assert e.value.code == "AccessDenied"


def test_header_signature_clock_skew():
    headers = {"x-amz-date": WHEN, "x-amz-content-sha256": EMPTY}
    signed = sigv4.parse_authorization(authorization("host;x-amz-date", "00" * 32), headers)
    sigv4.check_time(signed, NOW + timedelta(minutes=15))
    sigv4.check_time(signed, NOW - timedelta(minutes=15))
    for delta in (timedelta(minutes=15, seconds=1), -timedelta(minutes=16)):
        with pytest.raises(S3Error) as e:
            sigv4.check_time(signed, NOW + delta)
        assert (e.value.status, e.value.code) == (403, "RequestTimeTooSkewed")


CHUNK_HEADERS = hdrs(Host="s3.amazonaws.com", x_amz_date=WHEN,
                     x_amz_storage_class="REDUCED_REDUNDANCY",
                     x_amz_content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                     Content_Encoding="aws-chunked", x_amz_decoded_content_length="66560",
                     Content_Length="66824")
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = ("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")


def test_streaming_seed_signature():
    signed_headers = ("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                      "x-amz-decoded-content-length;x-amz-storage-class")
    check("PUT", b"/examplebucket/chunkObject.txt", b"", CHUNK_HEADERS, signed_headers, SEED)


def chunk_body(signatures, trailer: bytes = b"", flip: int | None = None) -> bytes:
    data = bytearray(b"a" * 66560)
    if flip is not None:
        data[flip] ^= 1
    return (b"10000;chunk-signature=%s\r\n%s\r\n400;chunk-signature=%s\r\n%s\r\n"
            b"0;chunk-signature=%s\r\n%s\r\n" % (signatures[0].encode(), data[:65536],
                                                signatures[1].encode(), data[65536:],
                                                signatures[2].encode(), trailer))


def validator(seed: str = SEED, trailer: bool = False) -> sigv4.ChunkSignatureValidator:
    key = sigv4.signing_key(SECRET, "20130524", "us-east-1")
    return sigv4.ChunkSignatureValidator(key, WHEN, "20130524/us-east-1/s3/aws4_request", seed,
                                         trailer=trailer)


def decode(body: bytes, v, read: int = 1000) -> bytes:
    dec = chunked.AwsChunkedDecoder(validator=v, decoded_length=66560)
    out = b"".join(b"".join(dec.feed(body[i:i + read])) for i in range(0, len(body), read))
    dec.close()
    return out


def test_chunk_signatures_chain_from_the_seed():
    v = validator()
    assert decode(chunk_body(CHUNK_SIGNATURES), v) == b"a" * 66560
    assert v.final_seen


@pytest.mark.parametrize("flip", [0, 65535, 65536, 66559])
def test_a_flipped_byte_fails_its_chunk(flip):
    with pytest.raises(S3Error) as e:
        decode(chunk_body(CHUNK_SIGNATURES, flip=flip), validator())
    assert e.value.code == "SignatureDoesNotMatch"


def test_wrong_seed_missing_or_reordered_signatures_fail():
    for v, sigs in ((validator(seed="0" * 64), CHUNK_SIGNATURES),
                    (validator(), (CHUNK_SIGNATURES[1], CHUNK_SIGNATURES[0], CHUNK_SIGNATURES[2]))):
        with pytest.raises(S3Error):
            decode(chunk_body(sigs), v)
    body = chunk_body(CHUNK_SIGNATURES).replace(b";chunk-signature=" + CHUNK_SIGNATURES[2].encode(), b"")
    with pytest.raises(S3Error):
        decode(body, validator())


TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNKS = ("b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                  "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                  "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992")
TRAILER = (b"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:"
           b"d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n")


def test_trailer_signature():
    v = validator(TRAILER_SEED, trailer=True)
    assert decode(chunk_body(TRAILER_CHUNKS, TRAILER), v) == b"a" * 66560
    with pytest.raises(S3Error):
        decode(chunk_body(TRAILER_CHUNKS, TRAILER.replace(b"sOO8", b"sOO9")),
               validator(TRAILER_SEED, trailer=True))
    with pytest.raises(S3Error):  # the trailer signature is required
        decode(chunk_body(TRAILER_CHUNKS, TRAILER.split(b"\r\n")[0] + b"\r\n"),
               validator(TRAILER_SEED, trailer=True))


def test_canonical_uri_encodes_once_per_segment():
    assert sigv4.canonical_uri(b"") == "/"
    assert sigv4.canonical_uri(b"/b/a%20b/c~d/%7E") == "/b/a%20b/c~d/~"
    assert sigv4.canonical_uri(b"/b/x%2Fy/z+w") == "/b/x%2Fy/z%2Bw"
    assert sigv4.canonical_uri("/b/é".encode()) == "/b/%C3%A9"


def test_canonical_query_and_headers():
    assert sigv4.canonical_query(sigv4.query_pairs(b"b=2&a=&a=1&uploads")) == "a=&a=1&b=2&uploads="
    assert sigv4.canonical_headers([(b"X-Amz-Meta-A", b"  x   y "), (b"x-amz-meta-a", b"z")],
                                   ("x-amz-meta-a",)) == "x-amz-meta-a:x y,z\n"


def test_malformed():
    headers = {"x-amz-date": WHEN, "x-amz-content-sha256": EMPTY}
    for value in (f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request",
                  f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/ec2/aws4_request, "
                  "SignedHeaders=host, Signature=00"):
        with pytest.raises(S3Error) as e:
            sigv4.parse_authorization(value, headers)
        assert e.value.code == "AuthorizationHeaderMalformed"
    with pytest.raises(S3Error) as e:
        sigv4.parse_authorization("AWS4-ECDSA-P256-SHA256 Credential=x", headers)
    assert e.value.code == "InvalidRequest"
    with pytest.raises(S3Error) as e:
        sigv4.parse_presigned({"X-Amz-Algorithm": "AWS4-HMAC-SHA256"})
    assert e.value.code == "AuthorizationQueryParametersError"


def test_signing_keys_are_cached():
    sigv4.signing_key.cache_clear()
    for _ in range(3):
        sigv4.signing_key(SECRET, "20130524", "us-east-1")
    assert sigv4.signing_key.cache_info().hits == 2


@pytest.mark.parametrize("path", [b"/b/plain-key_1.txt", b"/b/a~b/c.d", b"/", b"/b/k%7E", b"/b/sp ace",
                                  b"/b/%24x", b"/b/a%2Fb", b"/b/\xc3\xa9"])
def test_canonical_uri_shortcut_agrees_with_the_rule(path):
    by_rule = "/".join(sigv4.uri_encode(unquote_to_bytes(seg)) for seg in path.split(b"/"))
    assert sigv4.canonical_uri(path) == by_rule


def test_header_names_match_whatever_their_case_or_bytes():
    headers = [(b"HOST", b"h"), (b"X-AMZ-Date", b"d"), (b"x-\xc9tag", b"e"), (b"X-AMZ-META-\xc9", b"m")]
    signed = ("host", "x-amz-date", "x-\xe9tag")
    assert sigv4.canonical_headers(headers, signed) == "host:h\nx-amz-date:d\nx-\xe9tag:e\n"
    assert sigv4.unsigned_headers(headers, signed) == ["x-amz-meta-\xe9"]
