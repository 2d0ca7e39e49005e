"""Streaming uploads with trailing checksums, WITH credentials: pyarrow and hand-built bodies.

``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (signed headers, unsigned aws-chunked body, a trailing
``x-amz-checksum-*``) is what the AWS SDK for C++ (pyarrow), Java v2, Go v2 and JS v3 send by
default; ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`` also signs every chunk and the trailer.
Each failure case asserts that the bucket still holds what it held before. SigV4a is refused
with a clear 501.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import crc32c
import httpx
import pytest
from botocore.exceptions import ClientError

from gateway.auth import sigv4
from tests.conftest import unique_repo
from tests.integration.test_auth import AK, SK, client, error_code, sign_headers


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway  # tests/integration/conftest.py


@pytest.fixture(scope="module")
def s3a(gw):
    return client(gw)


@pytest.fixture(scope="module")
def tbucket(s3a):
    name = f"master.{unique_repo()}"
    s3a.create_bucket(Bucket=name)
    return name


def _crc64nvme(data: bytes) -> bytes:
    from awscrt import checksums

    return checksums.crc64nvme(data).to_bytes(8, "big")


CHECKSUMS = {
    "crc32": lambda d: zlib.crc32(d).to_bytes(4, "big"),
    "crc32c": lambda d: crc32c.crc32c(d).to_bytes(4, "big"),
    "crc64nvme": _crc64nvme,
    "sha1": lambda d: hashlib.sha1(d).digest(),
    "sha256": lambda d: hashlib.sha256(d).digest(),
}


def checksum(algorithm: str, data: bytes) -> str:
    return base64.b64encode(CHECKSUMS[algorithm](data)).decode()


def trailer_upload(gw, path: str, data: bytes, algorithm: str = "crc64nvme", *, signed: bool = False,
                   query: str = "", chunk: int = 64 * 1024, value: str | None = None,
                   bad_trailer_signature: bool = False, cut: int = 0) -> httpx.Response:
    """A PUT of ``data`` as an aws-chunked body with an ``x-amz-checksum-<algorithm>`` trailer.

    ``value`` replaces the trailer's checksum; ``cut`` drops that many bytes off the body's end.
    """
    name = f"x-amz-checksum-{algorithm}"
    value = checksum(algorithm, data) if value is None else value
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
             "x-amz-trailer": name}
    payload = sigv4.STREAMING_SIGNED_TRAILER if signed else sigv4.STREAMING_UNSIGNED_TRAILER
    headers, seed, amz_date = sign_headers(gw, "PUT", path, query, headers=extra, payload=payload)
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    out = bytearray()
    if signed:
        key = sigv4.signing_key(SK, amz_date[:8], "us-east-1")
        signer = sigv4.ChunkSignatureValidator(key, amz_date, f"{amz_date[:8]}/us-east-1/s3/aws4_request",
                                               seed, trailer=True)
        for p in pieces:
            sig = signer.chunk_signature(hashlib.sha256(p).hexdigest())
            signer._previous = sig  # noqa: SLF001 - the signer side of the same chain
            out += f"{len(p):x};chunk-signature={sig}\r\n".encode() + p + (b"\r\n" if p else b"")
        tsig = signer.trailer_signature([(name, value)])
        if bad_trailer_signature:
            tsig = tsig[:-1] + ("0" if tsig[-1] != "0" else "1")
        out += f"{name}:{value}\r\nx-amz-trailer-signature:{tsig}\r\n\r\n".encode()
    else:
        for p in pieces:
            out += f"{len(p):x}\r\n".encode() + p + (b"\r\n" if p else b"")
        out += f"{name}:{value}\r\n\r\n".encode()
    body = bytes(out[:len(out) - cut])
    url = gw.url + path + (f"?{query}" if query else "")
    return httpx.put(url, headers=headers, content=body)


def body_of(s3a, bucket: str, key: str) -> bytes | None:
    try:
        return s3a.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchKey"
        return None


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize("algorithm", sorted(CHECKSUMS))
def test_trailer_upload_verified_and_stored(gw, s3a, tbucket, algorithm, signed):
    data = os.urandom(150_000)
    key = f"ok/{algorithm}-{signed}"
    r = trailer_upload(gw, f"/{tbucket}/{key}", data, algorithm, signed=signed)
    assert r.status_code == 200, r.text
    assert r.headers[f"x-amz-checksum-{algorithm}"] == checksum(algorithm, data)
    assert body_of(s3a, tbucket, key) == data


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_trailer_failures_write_nothing(gw, s3a, tbucket, signed):
    key = f"kept-{signed}"
    s3a.put_object(Bucket=tbucket, Key=key, Body=b"previous")
    data = os.urandom(100_000)
    path = f"/{tbucket}/{key}"
    wrong = checksum("crc64nvme", data + b"x")
    r = trailer_upload(gw, path, data, signed=signed, value=wrong)
    assert (r.status_code, error_code(r)) == (400, "BadDigest")
    for cut in (3, 40, 1000):  # the trailer's end, inside the trailer, back into the data
        r = trailer_upload(gw, path, data, signed=signed, cut=cut)
        assert (r.status_code, error_code(r)) == (400, "IncompleteBody"), cut
    if signed:
        r = trailer_upload(gw, path, data, signed=True, bad_trailer_signature=True)
        assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    assert body_of(s3a, tbucket, key) == b"previous"
    r = trailer_upload(gw, f"/{tbucket}/fresh-{signed}", data, signed=signed, value=wrong)
    assert error_code(r) == "BadDigest"
    assert body_of(s3a, tbucket, f"fresh-{signed}") is None


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_upload_part_with_trailer(gw, s3a, tbucket, signed):
    key = f"mp-{signed}"
    upload = s3a.create_multipart_upload(Bucket=tbucket, Key=key)["UploadId"]
    part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(1000)
    path = f"/{tbucket}/{key}"
    bad = trailer_upload(gw, path, part1, "crc32c", signed=signed, query=f"partNumber=1&uploadId={upload}",
                         value=checksum("crc32c", b"other"))
    assert (bad.status_code, error_code(bad)) == (400, "BadDigest")
    assert s3a.list_parts(Bucket=tbucket, Key=key, UploadId=upload).get("Parts", []) == []
    etags = []
    for number, data in ((1, part1), (2, part2)):
        r = trailer_upload(gw, path, data, "crc32c", signed=signed, chunk=1 << 20,
                           query=f"partNumber={number}&uploadId={upload}")
        assert r.status_code == 200, r.text
        etags.append(r.headers["etag"])
    s3a.complete_multipart_upload(Bucket=tbucket, Key=key, UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]})
    assert body_of(s3a, tbucket, key) == part1 + part2


def test_pyarrow_uploads_with_credentials(gw, s3a, tbucket):
    """The AWS SDK for C++ sends STREAMING-UNSIGNED-PAYLOAD-TRAILER + CRC64NVME on every PUT
    and UploadPart (pyarrow opens a multipart upload past its first part)."""
    pafs = pytest.importorskip("pyarrow.fs")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    fs = pafs.S3FileSystem(access_key=AK, secret_key=SK, endpoint_override=gw.url.removeprefix("http://"),
                           scheme="http", region="us-east-1")
    table = pa.table({"n": list(range(1000)), "s": [f"row {i}" for i in range(1000)]})
    pq.write_table(table, f"{tbucket}/pa/table.parquet", filesystem=fs)
    assert pq.read_table(f"{tbucket}/pa/table.parquet", filesystem=fs).equals(table)
    big = os.urandom(12 * 1024 * 1024)  # several parts
    with fs.open_output_stream(f"{tbucket}/pa/big.bin") as out:
        for i in range(0, len(big), 1 << 20):
            out.write(big[i:i + (1 << 20)])
    assert body_of(s3a, tbucket, "pa/big.bin") == big
    with fs.open_input_stream(f"{tbucket}/pa/big.bin") as f:
        assert f.read() == big
    log = gw.log_text()
    assert "UploadPart" in log and "PutObject" in log
    bad = pafs.S3FileSystem(access_key=AK, secret_key="wrong", endpoint_override=gw.url.removeprefix("http://"),
                            scheme="http", region="us-east-1")
    with pytest.raises(OSError):
        pq.write_table(table, f"{tbucket}/pa/denied.parquet", filesystem=bad)
    assert body_of(s3a, tbucket, "pa/denied.parquet") is None


def test_sigv4a_is_not_implemented(gw, tbucket):
    r = httpx.get(f"{gw.url}/{tbucket}", headers={
        "Authorization": f"AWS4-ECDSA-P256-SHA256 Credential={AK}/20260101/s3/aws4_request, "
                         "SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045",
        "x-amz-date": "20260101T000000Z", "x-amz-region-set": "*"})
    assert (r.status_code, error_code(r)) == (501, "NotImplemented")
    assert b"AWS4-HMAC-SHA256" in r.content
    r = httpx.get(f"{gw.url}/{tbucket}?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Signature=30")
    assert (r.status_code, error_code(r)) == (501, "NotImplemented")
    for payload in ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"):
        headers, _, _ = sign_headers(gw, "PUT", f"/{tbucket}/v4a", payload=payload)
        r = httpx.put(f"{gw.url}/{tbucket}/v4a", headers=headers, content=b"0\r\n\r\n")
        assert (r.status_code, error_code(r)) == (501, "NotImplemented")
