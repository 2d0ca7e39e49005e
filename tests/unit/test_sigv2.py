"""Signature Version 2: the S3 developer guide's examples, sub-resources, dates and expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import formatdate

import pytest

from gateway.auth import sigv2
from gateway.auth.authenticator import Authenticator
from gateway.auth.sigv2 import SignedV2
from gateway.s3 import errors
from gateway.s3.errors import S3Error

# The guide's example key ("Signing and Authenticating REST Requests", Authentication examples).
AK, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HEADER = SignedV2(AK, "")


def sign(method: str, path: bytes, query: bytes = b"", headers=(), signed: SignedV2 = HEADER) -> str:
    return sigv2.signature(SECRET, sigv2.string_to_sign(signed, method, path, query, list(headers)))


# (method, path-style path, query, headers, signature): the examples, bucket in the path.
EXAMPLES = [
    ("GET", b"/awsexamplebucket1/photos/puppy.jpg", b"",
     [(b"Host", b"awsexamplebucket1.us-west-1.s3.amazonaws.com"),
      (b"Date", b"Tue, 27 Mar 2007 19:36:42 +0000")], "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
    ("PUT", b"/awsexamplebucket1/photos/puppy.jpg", b"",
     [(b"Content-Type", b"image/jpeg"), (b"Content-Length", b"94328"),
      (b"Date", b"Tue, 27 Mar 2007 21:15:45 +0000")], "iqRzw+ileNPu1fhspnRs8nOjjIA="),
    ("GET", b"/awsexamplebucket1/", b"prefix=photos&max-keys=50&marker=puppy",
     [(b"User-Agent", b"Mozilla/5.0"), (b"Date", b"Tue, 27 Mar 2007 19:42:41 +0000")],
     "m0WP8eCtspQl5Ahe6L1SozdX9YA="),
    ("GET", b"/awsexamplebucket1/", b"acl", [(b"Date", b"Tue, 27 Mar 2007 19:44:46 +0000")],
     "82ZHiFIjc+WbcwFKGUVEQspPn+0="),
    ("PUT", b"/static.example.com/db-backup.dat.gz", b"",
     [(b"Date", b"Tue, 27 Mar 2007 21:06:08 +0000"), (b"x-amz-acl", b"public-read"),
      (b"content-type", b"application/x-download"), (b"Content-MD5", b"4gJE4saaMU4BqNR0kLY+lw=="),
      (b"X-Amz-Meta-ReviewedBy", b"joe@example.com"), (b"X-Amz-Meta-ReviewedBy", b"jane@example.com"),
      (b"X-Amz-Meta-FileChecksum", b"0x02661779"), (b"X-Amz-Meta-ChecksumAlgorithm", b"crc32"),
      (b"Content-Disposition", b"attachment; filename=database.dat"), (b"Content-Encoding", b"gzip")],
     "jtBQa0Aq+DkULFI8qrpwIjGEx0E="),
    ("GET", b"/", b"", [(b"Date", b"Wed, 28 Mar 2007 01:29:59 +0000")], "qGdzdERIC03wnaRNKh6OqZehG9s="),
    ("GET", b"/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", b"",
     [(b"Date", b"Wed, 28 Mar 2007 01:49:49 +0000")], "DNEZGsoieTZ92F3bUfSPQcbGmlM="),
]


@pytest.mark.parametrize("method,path,query,headers,expected", EXAMPLES)
def test_documented_examples(method, path, query, headers, expected):
    assert sign(method, path, query, headers) == expected
    sigv2.verify(SignedV2(AK, expected), SECRET, method, path, query, headers)
    with pytest.raises(S3Error) as e:
        sigv2.verify(SignedV2(AK, expected), SECRET, "HEAD", path, query, headers)
    assert e.value.code == "SignatureDoesNotMatch"
    assert e.value.extra["StringToSign"].startswith("HEAD\n")


def test_documented_upload_string_to_sign():
    _, path, query, headers, _ = EXAMPLES[4]
    assert sigv2.string_to_sign(HEADER, "PUT", path, query, headers) == (
        b"PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n"
        b"x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n"
        b"x-amz-meta-reviewedby:joe@example.com,jane@example.com\n/static.example.com/db-backup.dat.gz")


def test_x_amz_date_both_ways():
    """Clients sign an empty Date line and x-amz-date among the x-amz-* headers; the guide's
    DELETE example puts x-amz-date's value in the Date line. Both verify."""
    headers = [(b"Date", b"Tue, 27 Mar 2007 21:20:27 +0000"), (b"x-amz-date", b"Tue, 27 Mar 2007 21:20:26 +0000")]
    path = b"/johnsmith/photos/puppy.jpg"
    assert sigv2.string_to_sign(HEADER, "DELETE", path, b"", headers) == \
        b"DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n" + path
    sigv2.verify(SignedV2(AK, "lx3byBScXR6KzyMaifNkardMwNk="), SECRET, "DELETE", path, b"", headers)  # the guide's
    sigv2.verify(SignedV2(AK, sign("DELETE", path, b"", headers)), SECRET, "DELETE", path, b"", headers)


def test_documented_presigned_url():
    query = b"AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"
    signed = sigv2.parse_presigned({"AWSAccessKeyId": AK, "Signature": "NpgCjnDzrM+WFzoENXmpNDUsSn8=",
                                    "Expires": "1175139620"})
    assert (signed.presigned, signed.expires) == (True, 1175139620)
    assert sigv2.string_to_sign(signed, "GET", b"/johnsmith/photos/puppy.jpg", query, []) == \
        b"GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg"
    sigv2.verify(signed, SECRET, "GET", b"/johnsmith/photos/puppy.jpg", query, [])
    # an unencoded '+' reaches us as a space
    spaced = sigv2.parse_presigned({"AWSAccessKeyId": AK, "Signature": "NpgCjnDzrM WFzoENXmpNDUsSn8=",
                                    "Expires": "1175139620"})
    sigv2.verify(spaced, SECRET, "GET", b"/johnsmith/photos/puppy.jpg", query, [])


def test_subresources_sorted_decoded_and_others_ignored():
    query = (b"uploadId=a%2Bb&x-id=UploadPart&partNumber=3&prefix=p&response-content-type=text%2Fplain"
             b"&versioning&uploads=")
    assert sigv2.canonical_resource(b"/b/k", query) == \
        b"/b/k?partNumber=3&response-content-type=text/plain&uploadId=a+b&uploads&versioning"
    assert sigv2.canonical_resource(b"", b"prefix=a&delimiter=%2F") == b"/"


def test_amz_headers_canonical_form():
    headers = [(b"X-Amz-Meta-B", b"  two  spaces  "), (b"x-amz-meta-a", b"1"), (b"X-AMZ-META-A", b"2"),
               (b"Content-Type", b"text/plain"), (b"x-amz-meta-c", "é".encode())]
    assert sigv2.canonical_amz_headers(headers) == \
        b"x-amz-meta-a:1,2\nx-amz-meta-b:two  spaces\nx-amz-meta-c:\xc3\xa9\n"


def test_presigned_carries_signed_headers_in_the_query():
    """botocore moves the headers it signed (x-amz-*, Content-Type) into a SigV2 URL's query."""
    signed = SignedV2(AK, "", presigned=True, expires=100)
    query = b"AWSAccessKeyId=a&Expires=100&Signature=s&content-type=text%2Fplain&x-amz-meta-k=v+w"
    assert sigv2.string_to_sign(signed, "PUT", b"/b/k", query, []) == \
        b"PUT\n\ntext/plain\n100\nx-amz-meta-k:v w\n/b/k"
    # a header sent wins over the query's copy
    assert sigv2.string_to_sign(signed, "PUT", b"/b/k", query, [(b"content-type", b"a/b")]) == \
        b"PUT\n\na/b\n100\nx-amz-meta-k:v w\n/b/k"


def test_parse_authorization():
    assert sigv2.parse_authorization("AWS AKID:c2ln/+=") == SignedV2("AKID", "c2ln/+=")
    for bad in ("AWS ", "AWS nokey", "AWS :sig", "AWS key:"):
        with pytest.raises(S3Error) as e:
            sigv2.parse_authorization(bad)
        assert (e.value.status, e.value.code) == (400, "InvalidArgument")
    assert sigv2.is_sigv2("AWS a:b", {})
    assert not sigv2.is_sigv2("AWS4-HMAC-SHA256 Credential=..", {})
    assert sigv2.is_sigv2(None, {"AWSAccessKeyId": "a", "Signature": "s", "Expires": "1"})
    assert not sigv2.is_sigv2(None, {"X-Amz-Signature": "s"})


@pytest.mark.parametrize("query", [{"AWSAccessKeyId": "a", "Signature": "s"},
                                   {"AWSAccessKeyId": "a", "Expires": "1"},
                                   {"AWSAccessKeyId": "a", "Signature": "s", "Expires": "soon"},
                                   {"AWSAccessKeyId": "a", "Signature": "s", "Expires": "-5"}])
def test_parse_presigned_refuses(query):
    with pytest.raises(S3Error) as e:
        sigv2.parse_presigned(query)
    assert (e.value.status, e.value.code) == (403, "AccessDenied")


NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def test_header_time_skew_and_formats():
    for value in (b"Sun, 06 Dec 2026 12:14:00 GMT", b"Sun, 06 Dec 2026 11:46:00 +0000", b"20261206T120500Z"):
        sigv2.check_time(HEADER, [(b"date", value)], NOW)
    # x-amz-date wins over Date
    sigv2.check_time(HEADER, [(b"date", b"Sun, 01 Jan 2006 00:00:00 GMT"),
                              (b"x-amz-date", b"Sun, 06 Dec 2026 12:00:00 GMT")], NOW)
    with pytest.raises(S3Error) as e:
        sigv2.check_time(HEADER, [(b"date", b"Sun, 06 Dec 2026 12:16:00 GMT")], NOW)
    assert (e.value.status, e.value.code) == (403, "RequestTimeTooSkewed")
    for headers in ([], [(b"date", b"yesterday")]):
        with pytest.raises(S3Error) as e:
            sigv2.check_time(HEADER, headers, NOW)
        assert (e.value.status, e.value.code) == (403, "AccessDenied")


def test_presigned_expiry():
    ts = int(NOW.timestamp())
    sigv2.check_time(SignedV2(AK, "", presigned=True, expires=ts), [], NOW)
    sigv2.check_time(SignedV2(AK, "", presigned=True, expires=ts + 10 * 365 * 86400), [], NOW)
    with pytest.raises(S3Error) as e:
        sigv2.check_time(SignedV2(AK, "", presigned=True, expires=ts - 1), [], NOW + timedelta(0))
    assert (e.value.status, e.value.code, e.value.message) == (403, "AccessDenied", "Request has expired")
    assert e.value.extra["Expires"] == "2026-12-06T11:59:59Z"


def test_mismatch_explains_unless_told_not_to():
    headers = [(b"Date", b"Tue, 27 Mar 2007 19:36:42 +0000")]
    with pytest.raises(S3Error) as e:
        sigv2.verify(SignedV2(AK, "AAAA"), SECRET, "GET", b"/b/k", b"", headers)
    assert e.value.extra["StringToSign"] == "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/b/k"
    assert e.value.extra["StringToSignBytes"].startswith("47 45 54 0a")
    with pytest.raises(S3Error) as e:
        sigv2.verify(SignedV2(AK, "not base64!"), SECRET, "GET", b"/b/k", b"", headers, explain=False)
    assert e.value.code == "SignatureDoesNotMatch" and "StringToSign" not in e.value.extra


# -- the authenticator's SigV2 path, with Pachyderm's token convention -----------------------

class TokenPachd:
    """Stands in for pachd's auth_v2 answers (auth active; one known token)."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def active(self) -> bool:
        return True

    async def check_token(self, token: str) -> None:
        self.checked.append(token)
        if token != "pachyderm-token":
            raise errors.invalid_access_key_id()


def v2_scope(access: str, secret: str, path: bytes = b"/master.repo/k", query: bytes = b"") -> dict:
    headers = [(b"host", b"127.0.0.1"), (b"date", formatdate(usegmt=True).encode())]
    sts = sigv2.string_to_sign(SignedV2(access, ""), "GET", path, query, headers)
    auth = f"AWS {access}:{sigv2.signature(secret, sts)}".encode()
    return {"type": "http", "method": "GET", "raw_path": path, "query_string": query,
            "headers": [*headers, (b"authorization", auth)]}


def test_authenticator_sigv2_with_configured_keys_and_pachyderm_tokens():
    keys = Authenticator({AK: SECRET})
    identity = asyncio.run(keys.authenticate(v2_scope(AK, SECRET)))
    assert (identity.access_key, identity.token) == (AK, None)
    with pytest.raises(S3Error) as e:
        asyncio.run(keys.authenticate(v2_scope(AK, "wrong")))
    assert e.value.code == "SignatureDoesNotMatch" and "StringToSign" in e.value.extra

    pachd = TokenPachd()
    tokens = Authenticator({AK: SECRET}, pachd=pachd)  # with pachd auth on, keys are tokens
    identity = asyncio.run(tokens.authenticate(v2_scope("pachyderm-token", "pachyderm-token")))
    assert (identity.access_key, identity.token) == ("pachyderm-token", "pachyderm-token")
    with pytest.raises(S3Error) as e:
        asyncio.run(tokens.authenticate(v2_scope("unknown-token", "unknown-token")))
    assert e.value.code == "InvalidAccessKeyId"
    with pytest.raises(S3Error) as e:  # the secret must be the token itself
        asyncio.run(tokens.authenticate(v2_scope("pachyderm-token", SECRET)))
    assert e.value.code == "SignatureDoesNotMatch"
    assert "StringToSign" not in e.value.extra and "AWSAccessKeyId" not in e.value.extra  # no token shown
    assert pachd.checked == ["pachyderm-token", "unknown-token"]


def test_one_auth_mechanism_at_a_time():
    keys = Authenticator({AK: SECRET})
    v4 = dict(v2_scope(AK, SECRET), query_string=b"AWSAccessKeyId=a&Expires=1&Signature=s")
    v4["headers"] = [(b"authorization", b"AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/s3/aws4_request, "
                                        b"SignedHeaders=host, Signature=00")]
    for scope in (v4, dict(v2_scope(AK, SECRET), query_string=b"AWSAccessKeyId=a&Expires=1&Signature=s"),
                  dict(v2_scope(AK, SECRET), query_string=b"X-Amz-Algorithm=AWS4-HMAC-SHA256")):
        with pytest.raises(S3Error) as e:
            asyncio.run(keys.authenticate(scope))
        assert (e.value.status, e.value.code) == (400, "InvalidRequest")
