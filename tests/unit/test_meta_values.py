"""x-amz-meta-* values: how S3 reads them from headers and writes them back (RFC 2047)."""

from __future__ import annotations

import pytest

from gateway.auth import sigv4
from gateway.pfs.metadata import ObjectMeta, decode_user_value, encode_user_value, from_headers
from gateway.s3.errors import S3Error


@pytest.mark.parametrize("sent,stored", [
    ("plain ascii", "plain ascii"),
    ("caf\xc3\xa9 \xe2\x98\x95", "café ☕"),  # UTF-8 bytes, as Starlette hands them (latin-1)
    ("\xe9t\xe9", "été"),  # not UTF-8: taken as latin-1
    ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
    ("=?utf-8?q?caf=C3=A9?=", "café"),
    ("x =?UTF-8?Q?=C3=A9?= y", "x é y"),
    ("a =?bad", "a =?bad"),
    ("=?UTF-8?B?!!!?=", "=?UTF-8?B?!!!?="),
])
def test_decode_user_value(sent, stored):
    assert decode_user_value(sent) == stored


def test_encode_user_value_and_round_trip():
    assert encode_user_value("ascii =?stays?=") == "ascii =?stays?="
    assert encode_user_value("café ☕") == "=?UTF-8?B?Y2Fmw6kg4piV?="
    meta = from_headers({"x-amz-meta-A": "caf\xc3\xa9", "x-amz-meta-b": "1"}, None)
    assert meta.user == {"a": "café", "b": "1"}
    assert ObjectMeta.decode(meta.encode()).response_headers() == {"x-amz-meta-a": "=?UTF-8?B?Y2Fmw6k=?=",
                                                                  "x-amz-meta-b": "1"}


def _signed(text: str) -> sigv4.Signed:
    """What a client signs for ``x-amz-meta-t: text`` (its canonical request is UTF-8)."""
    key = sigv4.signing_key("secret", "20260101", "us-east-1")
    canonical = f"PUT\n/b/k\n\nhost:h\nx-amz-meta-t:{text}\n\nhost;x-amz-meta-t\nUNSIGNED-PAYLOAD"
    sts = sigv4.string_to_sign("20260101T000000Z", "20260101/us-east-1/s3/aws4_request", canonical)
    return sigv4.Signed("AK", "20260101", "us-east-1", ("host", "x-amz-meta-t"), sigv4.signature(key, sts),
                        "20260101T000000Z", "UNSIGNED-PAYLOAD")


def test_sigv4_non_ascii_header_values():
    # UTF-8 on the wire (botocore, most SDKs) and latin-1 on the wire (http.client's default)
    sigv4.verify(_signed("é ☕"), "secret", "PUT", b"/b/k", b"", [(b"host", b"h"), (b"x-amz-meta-t", "é ☕".encode())])
    sigv4.verify(_signed("é"), "secret", "PUT", b"/b/k", b"", [(b"host", b"h"), (b"x-amz-meta-t", b"\xe9")])
    with pytest.raises(S3Error) as e:
        sigv4.verify(_signed("é ☕"), "secret", "PUT", b"/b/k", b"", [(b"host", b"h"), (b"x-amz-meta-t", b"\xe9 ?")])
    assert e.value.code == "SignatureDoesNotMatch"
