"""Non-ASCII ``x-amz-meta-*`` values WITH credentials, as S3 treats them.

boto3 refuses non-ASCII metadata in ``put_object(Metadata=...)`` before sending, but sends it
raw (UTF-8 bytes in the header, signed as such) when the header is set by an event hook, as
ceph's s3-tests do; other SDKs send it raw by default. S3 stores the text (RFC 2047 encoded
words in an ASCII value are decoded first) and returns non-ASCII values RFC 2047 encoded
(``=?UTF-8?B?...?=``) so that response headers stay ASCII.
"""

from __future__ import annotations

import email.header

import httpx
import pytest
from botocore.handlers import validate_ascii_metadata

from tests.conftest import unique_repo
from tests.integration.test_auth import client, error_code, sign_headers
from tests.integration.test_sigv2_clients import v2_request

TEXT = "Hello World\u00e9 \u2615 \u4e2d\u6587"


def rfc2047(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway  # tests/integration/conftest.py


@pytest.fixture(scope="module")
def s3a(gw):
    return client(gw)


@pytest.fixture(scope="module")
def mbucket(s3a):
    name = f"master.{unique_repo()}"
    s3a.create_bucket(Bucket=name)
    return name


def test_boto3_raw_utf8_metadata_signed_stored_returned(gw, s3a, mbucket):
    raw = client(gw)

    def set_unicode(params, **kwargs):
        params["headers"]["x-amz-meta-meta1"] = TEXT

    raw.meta.events.register("before-call.s3.PutObject", set_unicode)
    raw.put_object(Bucket=mbucket, Key="raw", Body=b"bar")
    got = s3a.head_object(Bucket=mbucket, Key="raw")["Metadata"]["meta1"]
    assert got.startswith("=?UTF-8?B?") and got.isascii()
    assert rfc2047(got) == TEXT
    assert rfc2047(s3a.get_object(Bucket=mbucket, Key="raw")["Metadata"]["meta1"]) == TEXT
    # the Metadata parameter, with boto3's ASCII guard lifted, takes the same path
    raw.meta.events.unregister("before-call.s3.PutObject", set_unicode)
    raw.meta.events.unregister("before-parameter-build.s3.PutObject", validate_ascii_metadata)
    raw.put_object(Bucket=mbucket, Key="param", Body=b"x", Metadata={"name": "caf\u00e9", "plain": "ascii"})
    meta = s3a.head_object(Bucket=mbucket, Key="param")["Metadata"]
    assert meta == {"name": "=?UTF-8?B?Y2Fmw6k=?=", "plain": "ascii"}


def test_rfc2047_input_is_decoded_before_storing(gw, s3a, mbucket):
    s3a.put_object(Bucket=mbucket, Key="encoded", Body=b"x",
                   Metadata={"q": "=?UTF-8?Q?caf=C3=A9?=", "b": "=?utf-8?b?4piV?=", "odd": "=?nonsense"})
    meta = s3a.head_object(Bucket=mbucket, Key="encoded")["Metadata"]
    assert meta == {"q": "=?UTF-8?B?Y2Fmw6k=?=", "b": "=?UTF-8?B?4piV?=", "odd": "=?nonsense"}


def test_multipart_and_copy_keep_unicode_metadata(gw, s3a, mbucket):
    raw = client(gw)
    raw.meta.events.unregister("before-parameter-build.s3.CreateMultipartUpload", validate_ascii_metadata)
    raw.meta.events.unregister("before-parameter-build.s3.CopyObject", validate_ascii_metadata)
    upload = raw.create_multipart_upload(Bucket=mbucket, Key="mp", Metadata={"who": TEXT})["UploadId"]
    etag = s3a.upload_part(Bucket=mbucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    s3a.complete_multipart_upload(Bucket=mbucket, Key="mp", UploadId=upload,
                                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert rfc2047(s3a.head_object(Bucket=mbucket, Key="mp")["Metadata"]["who"]) == TEXT
    s3a.copy_object(Bucket=mbucket, Key="mp-copy", CopySource={"Bucket": mbucket, "Key": "mp"})
    assert rfc2047(s3a.head_object(Bucket=mbucket, Key="mp-copy")["Metadata"]["who"]) == TEXT
    raw.copy_object(Bucket=mbucket, Key="mp-replaced", CopySource={"Bucket": mbucket, "Key": "mp"},
                    MetadataDirective="REPLACE", Metadata={"who": "\u00e9t\u00e9"})
    assert rfc2047(s3a.head_object(Bucket=mbucket, Key="mp-replaced")["Metadata"]["who"]) == "\u00e9t\u00e9"


def test_raw_http_sigv4_and_sigv2(gw, s3a, mbucket):
    """Hand-signed UTF-8 header values: the signature covers the bytes sent; a changed byte fails."""
    headers, _, _ = sign_headers(gw, "PUT", f"/{mbucket}/v4", headers={"x-amz-meta-t": TEXT})
    wire = {k: v.encode() for k, v in headers.items()}  # UTF-8 on the wire, as signed
    r = httpx.put(f"{gw.url}/{mbucket}/v4", headers=wire, content=b"v4")
    assert r.status_code == 200, r.text
    r = httpx.head(f"{gw.url}/{mbucket}/v4", headers=sign_headers(gw, "HEAD", f"/{mbucket}/v4")[0])
    assert rfc2047(r.headers["x-amz-meta-t"]) == TEXT
    wire["x-amz-meta-t"] = TEXT.encode()[:-1] + b"\x88"
    r = httpx.put(f"{gw.url}/{mbucket}/v4", headers=wire, content=b"tampered")
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    assert s3a.get_object(Bucket=mbucket, Key="v4")["Body"].read() == b"v4"

    r = v2_request(gw, "PUT", f"/{mbucket}/v2", body=b"v2", headers={"x-amz-meta-t": TEXT})
    assert r.status_code == 200, r.text
    assert rfc2047(s3a.head_object(Bucket=mbucket, Key="v2")["Metadata"]["t"]) == TEXT
