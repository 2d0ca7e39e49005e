"""POST Object's pieces without a server: the policy document (gateway.s3.postpolicy), the
streaming form reader (gateway.s3.formdata) and the form signatures (gateway.auth.postform)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from gateway.auth import postform, sigv4
from gateway.auth.authenticator import Authenticator
from gateway.s3 import formdata, postpolicy
from gateway.s3.errors import S3Error

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def encode(doc) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def policy(*conditions, expiration="2026-12-06T13:00:00.000Z") -> postpolicy.PostPolicy:
    return postpolicy.parse(encode({"expiration": expiration, "conditions": list(conditions)}))


def refused(fn) -> S3Error:
    with pytest.raises(S3Error) as e:
        fn()
    return e.value


@pytest.mark.parametrize("raw, message", [
    ("!!", "Invalid Base64 Encoding."),
    (base64.b64encode(b"{not json").decode(), "Invalid JSON."),
    (encode({"conditions": []}), "Policy missing expiration."),
    (encode({"expiration": "2026-12-06T13:00:00Z"}), "Policy missing conditions."),
    (encode({"expiration": "tomorrow", "conditions": []}), "Invalid 'expiration' value"),
    (encode({"expiration": "2026-12-06T13:00:00Z", "conditions": [["in", "$key", "a"]]}),
     "Invalid Condition"),
    (encode({"expiration": "2026-12-06T13:00:00Z", "conditions": [["content-length-range", 9, 1]]}),
     "Invalid content-length-range"),
    (encode({"expiration": "2026-12-06T13:00:00Z", "conditions": [{"a": "1", "b": "2"}]}),
     "Simple-Conditions must have exactly one property"),
])
def test_broken_documents_are_invalid_policy_documents(raw, message):
    err = refused(lambda: postpolicy.parse(raw))
    assert (err.status, err.code) == (400, "InvalidPolicyDocument") and message in err.message


def test_conditions_expiry_and_extra_fields():
    p = policy({"bucket": "b"}, ["starts-with", "$key", "up/"], ["eq", "$X-Amz-Meta-A", "1"],
               ["starts-with", "$Content-Type", "image/"], ["content-length-range", 1, 10])
    ok = {"key": "up/x", "x-amz-meta-a": "1", "content-type": "image/png, image/gif",
          "policy": "...", "x-amz-signature": "...", "x-ignore-me": "z"}
    p.check_form(ok, "b", NOW)
    assert "Policy expired" in refused(lambda: p.check_form(ok, "b", datetime(2027, 1, 1, tzinfo=UTC))).message
    err = refused(lambda: p.check_form(ok, "other", NOW))
    assert err.code == "AccessDenied" and '["eq", "$bucket", "b"]' in err.message
    assert '"$key"' in refused(lambda: p.check_form({**ok, "key": "down/x"}, "b", NOW)).message
    # every listed content type must match a starts-with on Content-Type
    assert "content-type" in refused(lambda: p.check_form(
        {**ok, "content-type": "image/png, text/html"}, "b", NOW)).message
    err = refused(lambda: p.check_form({**ok, "acl": "public-read"}, "b", NOW))
    assert err.message == "Invalid according to Policy: Extra input fields: acl"


def test_content_length_range():
    p = policy(["content-length-range", 2, 4])
    p.check_length(4)
    p.check_final(2)
    err = refused(lambda: p.check_length(5))
    assert (err.code, err.extra["MaxSizeAllowed"], err.extra["ProposedSize"]) == ("EntityTooLarge", "4", "5")
    assert refused(lambda: p.check_final(1)).code == "EntityTooSmall"


def form_body(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> bytes:
    out = b""
    for name, filename, value in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


async def pieces(body: bytes, size: int):
    for i in range(0, len(body), size):
        yield body[i:i + size]


def read_form(body: bytes, size: int, max_fields: int = formdata.MAX_FIELDS_BYTES):
    async def run():
        form = formdata.FormStream(pieces(body, size), b"XyZ", max_fields)
        fields: dict[str, str] = {}
        part = await form.next_part(fields)
        data = b"".join([c async for c in form.file_data()]) if part else None
        await form.drain()
        return fields, part, data

    return asyncio.run(run())


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 16])
def test_form_reader_splits_fields_and_file_at_any_chunk_size(size):
    payload = bytes(range(256)) * 40 + b"\r\n--XyZ-not-a-boundary"
    body = form_body([("Key", None, b"a/${filename}"), ("x-amz-meta-n", None, "é".encode()),
                      ("file", "C:\\Users\\me\\cat.png", payload), ("after", None, b"ignored")])
    fields, part, data = read_form(body, size)
    assert fields == {"key": "a/${filename}", "x-amz-meta-n": "é"}
    assert (part.name, part.filename) == ("file", "cat.png")
    assert data == payload


def test_form_reader_limits_and_malformed_bodies():
    big = form_body([("policy", None, b"p" * 30_000), ("file", "f", b"x")])
    assert refused(lambda: read_form(big, 4096)).code == "MaxPostPreDataLengthExceeded"
    # a big file is not counted against the fields' limit
    fields, part, data = read_form(form_body([("key", None, b"k"), ("file", "f", b"y" * 100_000)]), 65536)
    assert len(data) == 100_000
    assert refused(lambda: read_form(b"--XyZ\r\nno headers end", 8)).code == "MalformedPOSTRequest"
    assert formdata.boundary_of("text/plain") is None
    assert formdata.boundary_of('multipart/form-data; boundary="a b"') == b"a b"


def test_form_signatures_v4_and_v2():
    auth = Authenticator({"AK": "SECRET"})
    doc = encode({"expiration": "2026-12-06T13:00:00Z", "conditions": []})
    key = sigv4.signing_key("SECRET", "20261206", "us-east-1")
    v4 = {"policy": doc, "x-amz-algorithm": "AWS4-HMAC-SHA256",
          "x-amz-credential": "AK/20261206/us-east-1/s3/aws4_request", "x-amz-date": "20261206T120000Z",
          "x-amz-signature": sigv4.signature(key, doc)}
    who = asyncio.run(postform.verify(auth, v4))
    assert (who.access_key, who.signature_version) == ("AK", "AWS4-HMAC-SHA256")
    bad = {**v4, "x-amz-signature": "0" * 64}
    assert refused(lambda: asyncio.run(postform.verify(auth, bad))).code == "SignatureDoesNotMatch"
    missing = {k: v for k, v in v4.items() if k != "x-amz-date"}
    assert refused(lambda: asyncio.run(postform.verify(auth, missing))).code == "InvalidArgument"
    v2 = {"policy": doc, "awsaccesskeyid": "AK",
          "signature": base64.b64encode(hmac.new(b"SECRET", doc.encode(), hashlib.sha1).digest()).decode()}
    assert asyncio.run(postform.verify(auth, v2)).signature_version == "AWS"
    assert refused(lambda: asyncio.run(postform.verify(auth, {**v2, "awsaccesskeyid": "NO"}))).code \
        == "InvalidAccessKeyId"
