"""Signature Version 2 WITH credentials: boto3's and the AWS CLI's default presigned URLs,
s3cmd with ``--signature-v2`` and ``signurl``, and hand-signed requests (expiry, tampering,
wrong keys, sub-resources). Every refused write is checked to have left the bucket as it was.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from gateway.auth import sigv2
from tests.conftest import unique_repo
from tests.integration.test_auth import AK, AK2, SK, SK2, aws, client, error_code, exists


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway  # tests/integration/conftest.py


@pytest.fixture(scope="module")
def s3a(gw):
    return client(gw)


@pytest.fixture(scope="module")
def v2bucket(s3a):
    name = f"master.{unique_repo()}"
    s3a.create_bucket(Bucket=name)
    return name


def default_boto3(gw, ak=AK, sk=SK):
    """A client as a user writes it: no Config at all (its presigned URLs are SigV2)."""
    import boto3

    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk)


def v2_headers(method: str, path: str, query: str = "", headers: dict | None = None, *, sk: str = SK,
               ak: str = AK, date: str | None = None) -> dict:
    """Headers with an ``Authorization: AWS`` signature over the request."""
    headers = {"date": date or formatdate(usegmt=True), **(headers or {})}
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    sts = sigv2.string_to_sign(sigv2.SignedV2(ak, ""), method, path.encode(), query.encode(), raw)
    return {**headers, "authorization": f"AWS {ak}:{sigv2.signature(sk, sts)}"}


def v2_request(gw, method, path, query="", body=b"", headers=None, **kw) -> httpx.Response:
    h = {k: v.encode() for k, v in v2_headers(method, path, query, headers, **kw).items()}  # as signed
    return httpx.request(method, gw.url + path + (f"?{query}" if query else ""), headers=h, content=body)


def test_boto3_default_presigned_get_and_put(gw, s3a, v2bucket):
    plain = default_boto3(gw)
    put_url = plain.generate_presigned_url("put_object", Params={"Bucket": v2bucket, "Key": "pre/put.txt"},
                                           ExpiresIn=300)
    assert "AWSAccessKeyId=" in put_url and "X-Amz-" not in put_url  # really SigV2
    assert httpx.put(put_url, content=b"via sigv2 url").status_code == 200
    get_url = plain.generate_presigned_url("get_object", Params={"Bucket": v2bucket, "Key": "pre/put.txt"},
                                           ExpiresIn=300)
    r = httpx.get(get_url)
    assert (r.status_code, r.content) == (200, b"via sigv2 url")
    # response-* overrides are sub-resources: signed (a changed value no longer passes)
    url = plain.generate_presigned_url("get_object", Params={
        "Bucket": v2bucket, "Key": "pre/put.txt", "ResponseContentType": "text/x-test"}, ExpiresIn=300)
    assert "response-content-type=text%2Fx-test" in url
    r = httpx.get(url)
    assert (r.status_code, r.content) == (200, b"via sigv2 url")
    r = httpx.get(url.replace("text%2Fx-test", "text%2Fhtml"))
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    # the second configured pair: its signature passes, and it is another S3 user, so the first
    # key's object is AccessDenied (not SignatureDoesNotMatch) until the bucket policy grants it
    other = default_boto3(gw, AK2, SK2).generate_presigned_url(
        "get_object", Params={"Bucket": v2bucket, "Key": "pre/put.txt"}, ExpiresIn=300)
    r = httpx.get(other)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    s3a.put_bucket_policy(Bucket=v2bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": AK2}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{v2bucket}/pre/*"}]}))
    assert httpx.get(other).content == b"via sigv2 url"
    # and a wrong secret
    wrong = default_boto3(gw, AK, "wrong").generate_presigned_url(
        "put_object", Params={"Bucket": v2bucket, "Key": "pre/wrong.txt"}, ExpiresIn=300)
    r = httpx.put(wrong, content=b"must not land")
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    assert b"<StringToSign>PUT\n" in r.content
    assert not exists(s3a, v2bucket, "pre/wrong.txt")


def test_presigned_tampering_and_expiry(gw, s3a, v2bucket):
    s3a.put_object(Bucket=v2bucket, Key="t/a", Body=b"a")
    plain = default_boto3(gw)
    url = plain.generate_presigned_url("get_object", Params={"Bucket": v2bucket, "Key": "t/a"}, ExpiresIn=300)
    assert httpx.get(url).status_code == 200
    q = parse_qs(urlparse(url).query)
    later = str(int(q["Expires"][0]) + 1000)
    for tampered in (url.replace("/t/a?", "/t/b?"), url.replace(f"Expires={q['Expires'][0]}", f"Expires={later}"),
                     url.replace(f"AWSAccessKeyId={AK}", f"AWSAccessKeyId={AK2}")):
        r = httpx.get(tampered)
        assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch"), tampered
    r = httpx.get(url.replace(f"AWSAccessKeyId={AK}", "AWSAccessKeyId=NOSUCHKEY"))
    assert (r.status_code, error_code(r)) == (403, "InvalidAccessKeyId")
    expired = plain.generate_presigned_url("get_object", Params={"Bucket": v2bucket, "Key": "t/a"}, ExpiresIn=-5)
    r = httpx.get(expired)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    assert b"Request has expired" in r.content
    put = plain.generate_presigned_url("put_object", Params={"Bucket": v2bucket, "Key": "t/late"}, ExpiresIn=-5)
    assert error_code(httpx.put(put, content=b"late")) == "AccessDenied"
    assert not exists(s3a, v2bucket, "t/late")
    r = httpx.get(f"{gw.url}/{v2bucket}/t/a?AWSAccessKeyId={AK}&Signature=abc")
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")  # no Expires


def test_aws_cli_presign(gw, s3a, v2bucket):
    s3a.put_object(Bucket=v2bucket, Key="cli/file.txt", Body=b"presigned by the cli")
    out = aws(gw, "s3", "presign", f"s3://{v2bucket}/cli/file.txt", "--expires-in", "120")
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    assert "AWSAccessKeyId=" in url
    r = httpx.get(url)
    assert (r.status_code, r.content) == (200, b"presigned by the cli")


@pytest.fixture(scope="module")
def s3cmd(gw, tmp_path_factory):
    exe = Path(sys.executable).parent / "s3cmd"
    if not exe.exists():
        pytest.skip("s3cmd is not installed (pip install -e '.[test]')")
    cfg = tmp_path_factory.mktemp("s3cmd") / "s3cfg"
    host = urlparse(gw.url).netloc
    cfg.write_text(f"[default]\naccess_key = {AK}\nsecret_key = {SK}\nhost_base = {host}\n"
                   f"host_bucket = {host}\nuse_https = False\nsignature_v2 = True\n"
                   "check_ssl_certificate = False\nguess_mime_type = False\n")

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return subprocess.run([str(exe), "-c", str(cfg), "--signature-v2", *args], capture_output=True,
                              text=True, timeout=120, env=env)

    return run


def test_s3cmd_signature_v2(s3cmd, gw, s3a, v2bucket, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"s3cmd with signature v2\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024 + 3))
    for src, key in ((small, "s3cmd/small.txt"), (big, "s3cmd/big.bin")):
        out = s3cmd("put", "--multipart-chunk-size-mb=5", str(src), f"s3://{v2bucket}/{key}")
        assert out.returncode == 0, out.stderr
    assert s3a.get_object(Bucket=v2bucket, Key="s3cmd/big.bin")["Body"].read() == big.read_bytes()
    out = s3cmd("ls", f"s3://{v2bucket}/s3cmd/")
    assert out.returncode == 0 and "s3cmd/small.txt" in out.stdout and "s3cmd/big.bin" in out.stdout, out
    got = tmp_path / "got.txt"
    assert s3cmd("get", f"s3://{v2bucket}/s3cmd/small.txt", str(got)).returncode == 0
    assert got.read_bytes() == small.read_bytes()
    out = s3cmd("signurl", f"s3://{v2bucket}/s3cmd/small.txt", "+120")
    assert out.returncode == 0, out.stderr
    r = httpx.get(out.stdout.strip())
    assert (r.status_code, r.content) == (200, small.read_bytes())
    assert s3cmd("del", f"s3://{v2bucket}/s3cmd/small.txt").returncode == 0
    assert not exists(s3a, v2bucket, "s3cmd/small.txt")


def test_header_auth_put_get_and_failures(gw, s3a, v2bucket):
    path = f"/{v2bucket}/h/obj"
    body = b"header signed v2"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = v2_request(gw, "PUT", path, body=body, headers={"content-md5": md5, "content-type": "text/plain",
                                                        "x-amz-meta-who": "v2"})
    assert r.status_code == 200, r.text
    head = s3a.head_object(Bucket=v2bucket, Key="h/obj")
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"who": "v2"})
    assert v2_request(gw, "GET", path).content == body
    # x-amz-date instead of Date (empty Date line, as s3cmd signs)
    r = v2_request(gw, "GET", path, headers={"x-amz-date": formatdate(usegmt=True)}, date="")
    assert r.status_code == 200, r.text
    # a body that is not the signed Content-MD5's; a header added after signing; a wrong secret
    r = v2_request(gw, "PUT", path, body=b"something else", headers={"content-md5": md5})
    assert (r.status_code, error_code(r)) == (400, "BadDigest")
    h = v2_headers("PUT", path)
    r = httpx.put(gw.url + path, headers={**h, "x-amz-meta-injected": "1"}, content=b"injected")
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    r = v2_request(gw, "PUT", path, body=b"wrong key", sk="nope")
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    r = v2_request(gw, "PUT", path, body=b"no such key", ak="NOSUCHKEY")
    assert (r.status_code, error_code(r)) == (403, "InvalidAccessKeyId")
    assert s3a.get_object(Bucket=v2bucket, Key="h/obj")["Body"].read() == body
    # clock skew: 15 minutes either way
    old = formatdate(time.time() - 20 * 60, usegmt=True)
    r = v2_request(gw, "GET", path, date=old)
    assert (r.status_code, error_code(r)) == (403, "RequestTimeTooSkewed")
    r = v2_request(gw, "GET", path, date=formatdate(time.time() - 10 * 60, usegmt=True))
    assert r.status_code == 200
    r = httpx.get(gw.url + path, headers={"authorization": f"AWS {AK}:AAAA"})
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")  # no date at all


def test_header_auth_sub_resources(gw, s3a, v2bucket):
    """Multipart over SigV2: ?uploads, ?partNumber&uploadId, ?uploadId are signed sub-resources."""
    path = f"/{v2bucket}/mp/obj"
    r = v2_request(gw, "POST", path, "uploads")
    assert r.status_code == 200, r.text
    upload = r.text.split("<UploadId>")[1].split("</UploadId>")[0]
    # signed without its sub-resources, the same request does not pass
    h = v2_headers("PUT", path)
    r = httpx.put(f"{gw.url}{path}?partNumber=1&uploadId={upload}", headers=h, content=b"part")
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    assert s3a.list_parts(Bucket=v2bucket, Key="mp/obj", UploadId=upload).get("Parts", []) == []
    r = v2_request(gw, "PUT", path, f"partNumber=1&uploadId={upload}", body=b"part one")
    assert r.status_code == 200, r.text
    etag = r.headers["etag"]
    xml = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
           "</CompleteMultipartUpload>").encode()
    r = v2_request(gw, "POST", path, f"uploadId={upload}", body=xml)
    assert r.status_code == 200, r.text
    assert s3a.get_object(Bucket=v2bucket, Key="mp/obj")["Body"].read() == b"part one"
    # a listing's own parameters are not sub-resources: signed or not, they pass
    r = v2_request(gw, "GET", f"/{v2bucket}", "prefix=mp%2F&max-keys=5")
    assert r.status_code == 200 and b"<Key>mp/obj</Key>" in r.content


def test_sigv2_cannot_carry_a_signed_chunked_body(gw, s3a, v2bucket):
    r = v2_request(gw, "PUT", f"/{v2bucket}/chunky", body=b"0\r\n\r\n",
                   headers={"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
    assert (r.status_code, error_code(r)) == (400, "InvalidRequest")
    assert not exists(s3a, v2bucket, "chunky")
