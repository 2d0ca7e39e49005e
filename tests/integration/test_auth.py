"""Access control: a gateway with credentials lets in only SigV4-signed requests.

One module-scoped gateway (its own embedded pfsd, whose auth is "not activated", so the
configured key pairs decide) serves every test here; boto3, minio, the AWS CLI, boto3's
presigned URLs and hand-signed requests (old dates, tampered bodies) are driven against it.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from botocore.exceptions import ClientError

from gateway.auth import sigv4
from tests.conftest import ROOT, Gateway, unique_repo

AK, SK = "AKIDGATEWAYTEST", "s3cr3t/KeyThatMustNeverBeLogged+xyz"
AK2, SK2 = "AKIDSECOND", "second-secret-value-never-logged"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    root = tmp_path_factory.mktemp("authgw")
    creds = root / "credentials"
    creds.write_text(f"# test pairs\n{AK2}:{SK2}\n")
    g = Gateway(root / "data", "--credentials-file", str(creds),
                env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})
    yield g
    g.stop()


def client(gw, ak=AK, sk=SK):
    import boto3
    from botocore.config import Config

    # s3v4 explicitly: botocore presigns S3 URLs with SigV2 otherwise (test_sigv2_clients.py covers those)
    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      signature_version="s3v4"))


@pytest.fixture(scope="module")
def s3a(gw):
    return client(gw)


@pytest.fixture
def abucket(s3a):
    name = f"master.{unique_repo()}"
    s3a.create_bucket(Bucket=name)
    return name


def code_of(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def error_code(resp: httpx.Response) -> str:
    import re
    m = re.search(rb"<Code>([^<]+)</Code>", resp.content)
    return m.group(1).decode() if m else ""


def test_boto3_with_both_configured_pairs(gw, s3a, abucket):
    s3a.put_object(Bucket=abucket, Key="dir/a b~c$d=e", Body=b"hello")
    assert s3a.get_object(Bucket=abucket, Key="dir/a b~c$d=e")["Body"].read() == b"hello"
    assert [o["Key"] for o in s3a.list_objects_v2(Bucket=abucket, Prefix="dir/")["Contents"]] == ["dir/a b~c$d=e"]
    other = client(gw, AK2, SK2)  # the pair from the credentials file: another user
    assert code_of(lambda: other.head_object(Bucket=abucket, Key="dir/a b~c$d=e")) == "403"
    s3a.put_bucket_ownership_controls(Bucket=abucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})  # ACLs on, then a grant to the other key
    s3a.put_object_acl(Bucket=abucket, Key="dir/a b~c$d=e",
                       GrantRead=f'id="{hashlib.sha256(AK2.encode()).hexdigest()}"')
    assert other.head_object(Bucket=abucket, Key="dir/a b~c$d=e")["ContentLength"] == 5
    s3a.delete_object(Bucket=abucket, Key="dir/a b~c$d=e")


def test_boto3_wrong_keys(gw, abucket):
    assert code_of(lambda: client(gw, AK, "wrong").list_objects(Bucket=abucket)) == "SignatureDoesNotMatch"
    assert code_of(lambda: client(gw, "NOSUCHKEY", SK).list_objects(Bucket=abucket)) == "InvalidAccessKeyId"
    assert code_of(lambda: client(gw, AK2, SK).put_object(Bucket=abucket, Key="x", Body=b"1")) == \
        "SignatureDoesNotMatch"


def test_boto3_upload_file_multipart_transfer(gw, s3a, abucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    s3a.upload_file(str(src), abucket, "big.bin")
    s3a.download_file(abucket, "big.bin", str(tmp_path / "dst.bin"))
    assert (tmp_path / "dst.bin").read_bytes() == src.read_bytes()


def test_unsigned_requests_are_denied_but_health_and_docs_are_open(gw, abucket):
    for path in ("/", f"/{abucket}", f"/{abucket}/k", f"/{abucket}?acl", "/~/nothing"):
        r = httpx.get(gw.url + path)
        assert (r.status_code, error_code(r)) == (403, "AccessDenied"), path
        assert len(r.headers.get_list("x-amz-request-id")) == 1  # it was sent twice
    r = httpx.put(f"{gw.url}/{abucket}/k", content=b"anonymous write")
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    for path in ("/~/health", "/~/ready", "/~/openapi.json"):
        assert httpx.get(gw.url + path).status_code == 200, path
    assert httpx.get(gw.url + "/~/docs/", follow_redirects=True).status_code == 200


def test_signed_unsupported_subresource_is_501_after_auth(gw, s3a, abucket):
    r = signed_request(gw, "GET", f"/{abucket}", query="website")
    assert (r.status_code, error_code(r)) == (501, "NotImplemented")


def test_sigv2_with_a_wrong_signature_is_denied(gw, abucket):
    """SigV2 is checked like SigV4 (tests/integration/test_sigv2_clients.py has the rest)."""
    from email.utils import formatdate

    r = httpx.get(f"{gw.url}/{abucket}", headers={"Authorization": f"AWS {AK}:c2lnbmF0dXJl",
                                                  "Date": formatdate(usegmt=True)})
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    r = httpx.get(f"{gw.url}/{abucket}?AWSAccessKeyId={AK}&Expires=9999999999&Signature=abc")
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    r = httpx.get(f"{gw.url}/{abucket}?AWSAccessKeyId={AK}&Expires=9999999999&Signature=abc&"
                  "X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert (r.status_code, error_code(r)) == (400, "InvalidRequest")  # one mechanism at a time


def test_minio_sdk(gw):
    from minio import Minio
    from minio.error import S3Error as MinioError

    u = urlparse(gw.url)
    mc = Minio(f"{u.hostname}:{u.port}", access_key=AK2, secret_key=SK2, secure=False, region="us-east-1")
    abucket = f"master.{unique_repo()}"  # the second key's own bucket
    mc.make_bucket(abucket)
    data = os.urandom(100_000)
    mc.put_object(abucket, "m/obj", io.BytesIO(data), len(data))
    mc.put_object(abucket, "m/stream", io.BytesIO(b"streamed"), -1, part_size=5 * 1024 * 1024)
    resp = mc.get_object(abucket, "m/obj")
    try:
        assert resp.read() == data
    finally:
        resp.close()
        resp.release_conn()
    assert [o.object_name for o in mc.list_objects(abucket, prefix="m/")] == ["m/obj", "m/stream"]
    bad = Minio(f"{u.hostname}:{u.port}", access_key=AK2, secret_key="nope", secure=False, region="us-east-1")
    with pytest.raises(MinioError) as e:
        bad.stat_object(abucket, "m/obj")
    assert e.value.code in ("SignatureDoesNotMatch", "AccessDenied")  # HEAD has no body: minio guesses
    with pytest.raises(MinioError) as e:
        bad.put_object(abucket, "m/x", io.BytesIO(b"x"), 1)
    assert e.value.code == "SignatureDoesNotMatch"


def aws(gw, *args, ak=AK, sk=SK):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ak, "AWS_SECRET_ACCESS_KEY": sk,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    cli = Path(sys.executable).parent / "aws"
    return subprocess.run([str(cli), "--endpoint-url", gw.url, *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_aws_cli(gw, abucket, tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("from the cli")
    assert aws(gw, "s3", "cp", str(f), f"s3://{abucket}/cli/one.txt").returncode == 0
    out = aws(gw, "s3", "ls", f"s3://{abucket}/cli/")
    assert out.returncode == 0 and "one.txt" in out.stdout
    bad = aws(gw, "s3", "ls", f"s3://{abucket}/cli/", sk="wrong")
    assert bad.returncode != 0 and "SignatureDoesNotMatch" in bad.stderr
    bad = aws(gw, "s3api", "list-objects", "--bucket", abucket, ak="NOPE")
    assert bad.returncode != 0 and "InvalidAccessKeyId" in bad.stderr


def test_presigned_get_and_put(gw, s3a, abucket):
    put_url = s3a.generate_presigned_url("put_object", Params={"Bucket": abucket, "Key": "p/k.txt"},
                                         ExpiresIn=300)
    assert httpx.put(put_url, content=b"presigned body").status_code == 200
    get_url = s3a.generate_presigned_url("get_object", Params={"Bucket": abucket, "Key": "p/k.txt"},
                                         ExpiresIn=300)
    r = httpx.get(get_url)
    assert (r.status_code, r.content) == (200, b"presigned body")
    # the signature covers the key: the same query on another key fails
    other = get_url.replace("/p/k.txt?", "/p/other.txt?")
    r = httpx.get(other)
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    wrong = client(gw, AK, "wrong").generate_presigned_url(
        "get_object", Params={"Bucket": abucket, "Key": "p/k.txt"}, ExpiresIn=300)
    assert error_code(httpx.get(wrong)) == "SignatureDoesNotMatch"


def test_presigned_url_expires(gw, s3a, abucket):
    s3a.put_object(Bucket=abucket, Key="exp", Body=b"x")
    url = s3a.generate_presigned_url("get_object", Params={"Bucket": abucket, "Key": "exp"}, ExpiresIn=1)
    time.sleep(2.1)
    r = httpx.get(url)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    assert b"Request has expired" in r.content


# -- hand-signed requests -------------------------------------------------------------------

def sign_headers(gw, method: str, path: str, query: str = "", headers: dict | None = None,
                 payload: str = sigv4.UNSIGNED_PAYLOAD, when: datetime | None = None,
                 ak: str = AK, sk: str = SK) -> tuple[dict, str, str]:
    """Headers with a SigV4 Authorization; also returns the signature and amz date."""
    when = when or datetime.now(UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    host = urlparse(gw.url).netloc
    all_headers = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload,
                   **{k.lower(): v for k, v in (headers or {}).items()}}
    signed_names = tuple(sorted(all_headers))
    raw = [(k.encode(), v.encode()) for k, v in all_headers.items()]
    scope_date = amz_date[:8]
    canonical = sigv4.canonical_request(method, sigv4.canonical_uri(path.encode()),
                                        sigv4.canonical_query(sigv4.query_pairs(query.encode())),
                                        raw, signed_names, payload)
    sts = sigv4.string_to_sign(amz_date, f"{scope_date}/us-east-1/s3/aws4_request", canonical)
    sig = sigv4.signature(sigv4.signing_key(sk, scope_date, "us-east-1"), sts)
    all_headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ak}/{scope_date}/us-east-1/s3/"
                                    f"aws4_request, SignedHeaders={';'.join(signed_names)}, "
                                    f"Signature={sig}")
    del all_headers["host"]
    return all_headers, sig, amz_date


def signed_request(gw, method, path, query="", body=b"", headers=None, **kw) -> httpx.Response:
    h, _, _ = sign_headers(gw, method, path, query, headers, **kw)
    url = gw.url + path + (f"?{query}" if query else "")
    return httpx.request(method, url, headers=h, content=body)


def exists(s3a, bucket, key) -> bool:
    try:
        s3a.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("404", "NoSuchKey")
        return False


def test_clock_skew(gw, abucket):
    for delta in (timedelta(minutes=-20), timedelta(minutes=20)):
        r = signed_request(gw, "GET", f"/{abucket}", when=datetime.now(UTC) + delta)
        assert (r.status_code, error_code(r)) == (403, "RequestTimeTooSkewed")
    r = signed_request(gw, "GET", f"/{abucket}", when=datetime.now(UTC) - timedelta(minutes=10))
    assert r.status_code == 200


def test_unsigned_amz_header_is_refused(gw, abucket):
    h, _, _ = sign_headers(gw, "GET", f"/{abucket}")
    r = httpx.get(f"{gw.url}/{abucket}", headers={**h, "x-amz-meta-injected": "1"})
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")


def test_signed_payload_hash_mismatch_writes_nothing(gw, s3a, abucket):
    body = b"the body that was signed"
    payload = hashlib.sha256(body).hexdigest()
    r = signed_request(gw, "PUT", f"/{abucket}/tampered", body=b"the body that was SIGNED",
                       payload=payload)
    assert (r.status_code, error_code(r)) == (400, "XAmzContentSHA256Mismatch")
    assert not exists(s3a, abucket, "tampered")
    r = signed_request(gw, "PUT", f"/{abucket}/intact", body=body, payload=payload)
    assert r.status_code == 200
    assert s3a.get_object(Bucket=abucket, Key="intact")["Body"].read() == body


def chunked_upload(gw, path: str, data: bytes, chunk: int, flip: int | None = None,
                   trailer: bool = False) -> httpx.Response:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] upload signed chunk by chunk."""
    import base64
    import zlib

    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    payload = sigv4.STREAMING_SIGNED_TRAILER if trailer else sigv4.STREAMING_SIGNED
    if trailer:
        extra["x-amz-trailer"] = "x-amz-checksum-crc32"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    headers, seed, amz_date = sign_headers(gw, "PUT", path, headers=extra, payload=payload)
    key = sigv4.signing_key(SK, amz_date[:8], "us-east-1")
    signer = sigv4.ChunkSignatureValidator(key, amz_date, f"{amz_date[:8]}/us-east-1/s3/aws4_request",
                                           seed, trailer=trailer)
    out = bytearray()
    for p in pieces:
        sig = signer.chunk_signature(hashlib.sha256(p).hexdigest())
        signer._previous = sig  # noqa: SLF001 - the signer side of the same chain
        body = bytearray(p)
        if flip is not None and 0 <= flip < len(body):
            body[flip] ^= 1
            flip = None
        elif flip is not None:
            flip -= len(p)
        out += f"{len(p):x};chunk-signature={sig}\r\n".encode() + body + (b"\r\n" if p else b"")
    if trailer:
        tsig = signer.trailer_signature([("x-amz-checksum-crc32", crc)])
        out += f"x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{tsig}\r\n".encode()
    out += b"\r\n"
    return httpx.put(gw.url + path, headers=headers, content=bytes(out))


def test_signed_streaming_upload(gw, s3a, abucket):
    data = os.urandom(200_000)
    r = chunked_upload(gw, f"/{abucket}/chunked", data, 64 * 1024)
    assert r.status_code == 200, r.text
    assert s3a.get_object(Bucket=abucket, Key="chunked")["Body"].read() == data
    r = chunked_upload(gw, f"/{abucket}/chunked-trailer", data, 64 * 1024, trailer=True)
    assert r.status_code == 200, r.text
    assert s3a.get_object(Bucket=abucket, Key="chunked-trailer")["Body"].read() == data


@pytest.mark.parametrize("flip", [0, 100_000, 199_999])
def test_tampered_chunk_writes_nothing(gw, s3a, abucket, flip):
    r = chunked_upload(gw, f"/{abucket}/bad-{flip}", os.urandom(200_000), 64 * 1024, flip=flip)
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    assert not exists(s3a, abucket, f"bad-{flip}")


def test_secrets_never_logged(gw):
    text = gw.log_text()
    assert SK not in text and SK2 not in text


def test_anonymous_on_a_public_address_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gateway", "--host", "0.0.0.0", "--data-dir",
                           str(tmp_path / "d")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if not k.startswith("S3GW_")})
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0 without credentials" in proc.stderr
    assert not (tmp_path / "d").exists()


# -- plumbing, without a gateway ------------------------------------------------------------

def test_pachd_token_rides_on_every_pfs_call():
    from gateway.pfs.client import _TokenStub, request_token

    calls = []

    class FakeStub:
        def InspectFile(self, req, **kwargs):  # noqa: N802 - the generated stub's naming
            calls.append(kwargs)

    stub = _TokenStub(FakeStub())
    stub.InspectFile("req", timeout=1)
    reset = request_token.set("pachyderm-token")
    try:
        stub.InspectFile("req", timeout=1, metadata=(("x", "1"),))
    finally:
        request_token.reset(reset)
    stub.InspectFile("req")
    assert calls == [{"timeout": 1},
                     {"timeout": 1, "metadata": (("x", "1"), ("authn-token", "pachyderm-token"))},
                     {}]


def test_auth_not_activated_means_configured_keys_decide(tmp_path):
    """pfsd answers WhoAmI like a pachd without auth: UNIMPLEMENTED, not activated."""
    import asyncio

    from gateway.auth.authenticator import PachdAuth
    from gateway.server.embedded import EmbeddedPFS

    pfsd = EmbeddedPFS(tmp_path / "pfsd")
    address = pfsd.start()
    try:
        async def probe():
            auth = PachdAuth(address)
            try:
                return await auth.active(), await auth.active()
            finally:
                await auth.close()

        assert asyncio.run(probe()) == (False, False)
    finally:
        pfsd.stop()


def test_credentials_file_and_flags(tmp_path, monkeypatch):
    from gateway.server.config import parse_args

    f = tmp_path / "creds"
    f.write_text("# comment\n\nAK1:secret:with:colons\n  AK2 : s2 \n")
    for name in ("S3GW_ACCESS_KEY", "S3GW_SECRET_KEY", "S3GW_CREDENTIALS_FILE", "S3GW_ALLOW_ANONYMOUS"):
        monkeypatch.delenv(name, raising=False)
    cfg = parse_args(["--credentials-file", str(f), "--access-key", "AK3", "--secret-key", "s3"])
    assert cfg.credentials == {"AK1": "secret:with:colons", "AK2": "s2", "AK3": "s3"}
    assert "secret" not in repr(cfg)
    assert parse_args(["--host", "0.0.0.0"]).exposure_error()
    assert parse_args(["--host", "0.0.0.0", "--allow-anonymous"]).exposure_error() is None
    assert parse_args(["--host", "::1"]).exposure_error() is None
    monkeypatch.setenv("S3GW_ACCESS_KEY", "AK")
    monkeypatch.setenv("S3GW_SECRET_KEY", "SK")
    assert parse_args(["--host", "0.0.0.0"]).credentials == {"AK": "SK"}
    f.write_text("no colon here\n")
    with pytest.raises(SystemExit):
        parse_args(["--credentials-file", str(f)])
