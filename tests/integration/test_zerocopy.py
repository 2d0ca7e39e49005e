"""Big GETs sent by the kernel from pfsd's blob file (sendfile; gateway.ops.download).

With pfsd in the gateway's process (the default), a GET of an object kept as a blob (over 64
KiB) gets the blob's open descriptor from pfsd and, past 64 KiB, sends it with ASGI's
zero-copy send (gateway.server.protocol). Everything else about a GET stays as it was: these
tests read such objects through real clients (boto3 whole, ranged, download_file; presigned
URLs; raw sockets for HEAD, pipelining and a client leaving mid-body) on a gateway with
credentials, and check that no descriptor is left open afterwards. The pfsd child process and a
gRPC client keep streaming: the descriptor is only ever handed to a caller in pfsd's process.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from urllib.parse import urlsplit

import grpc
import httpx
import psutil
import pytest

from generated.pfs import pfs_pb2 as pb
from generated.pfs import pfs_pb2_grpc
from tests.conftest import Gateway, unique_repo
from tests.integration.test_auth import client

SIZE = 3 * 1024 * 1024 + 12345  # a blob, well past the zero-copy threshold
DATA = os.urandom(SIZE)


@pytest.fixture(scope="module")
def s3(signed_gateway):
    return client(signed_gateway)


@pytest.fixture(scope="module")
def big(s3) -> tuple[str, str]:
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="big.bin", Body=DATA, ChecksumAlgorithm="SHA256")
    return bucket, "big.bin"


def open_fds(gw: Gateway) -> int:
    return psutil.Process(gw.proc.pid).num_fds()


def settled_fds(gw: Gateway, expected: int) -> int:
    """The gateway's descriptor count, given a moment to close what a finished request held."""
    deadline = time.monotonic() + 10
    count = open_fds(gw)
    while count > expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = open_fds(gw)
    return count


def raw_exchange(url: str, request: bytes, expect: int) -> bytes:
    """Send ``request`` bytes to the gateway, read until ``expect`` bytes came back."""
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(request)
        got = bytearray()
        while len(got) < expect:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    return bytes(got)


def test_boto3_whole_and_ranges(signed_gateway, s3, big):
    bucket, key = big
    r = s3.get_object(Bucket=bucket, Key=key)
    assert r["ContentLength"] == SIZE
    assert r["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert r["Body"].read() == DATA
    request_id = r["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    deadline = time.monotonic() + 5  # the access log counts the bytes the kernel sent
    while f"out={SIZE} " not in signed_gateway.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(request_id in line and f"out={SIZE} " in line for line in signed_gateway.log_text().splitlines())
    tail = SIZE - 300000
    for rng, lo, hi in (("bytes=0-524287", 0, 524287), ("bytes=1000-2999999", 1000, 2999999),
                        ("bytes=-600000", SIZE - 600000, SIZE - 1), (f"bytes={tail}-", tail, SIZE - 1)):
        r = s3.get_object(Bucket=bucket, Key=key, Range=rng)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert r["ContentRange"] == f"bytes {lo}-{hi}/{SIZE}"
        assert r["Body"].read() == DATA[lo:hi + 1], rng


def test_a_small_blob_and_small_ranges(s3, big):
    bucket, key = big
    small = DATA[:100 * 1024]  # a blob (over 64 KiB), sent whole by sendfile
    s3.put_object(Bucket=bucket, Key="small.bin", Body=small)
    assert s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read() == small
    for lo, hi in ((0, 99), (SIZE - 10, SIZE - 1), (70000, 70000 + 65535)):  # read, not sent
        r = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={lo}-{hi}")
        assert r["Body"].read() == DATA[lo:hi + 1]


def test_boto3_download_file_in_ranged_parts(s3, big, tmp_path):
    from boto3.s3.transfer import TransferConfig

    bucket, key = big
    dest = tmp_path / "out.bin"
    s3.download_file(bucket, key, str(dest),
                     Config=TransferConfig(multipart_threshold=1 << 20, multipart_chunksize=1 << 20,
                                           max_concurrency=4))
    assert dest.read_bytes() == DATA


def test_checksum_overrides_and_security_headers(s3, big):
    bucket, key = big
    r = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED",
                      ResponseContentType="text/html", ResponseContentDisposition="attachment")
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert r["ChecksumSHA256"]
    assert headers["content-type"] == "text/html"
    assert headers["content-disposition"] == "attachment"
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"]
    assert r["Body"].read() == DATA


def test_conditional_get_sends_no_body_and_holds_no_descriptor(signed_gateway, s3, big):
    bucket, key = big
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    before = open_fds(signed_gateway)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    for _ in range(3):
        assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
        r = httpx.get(url, headers={"If-Match": '"0123"'})
        assert r.status_code == 412 and b"PreconditionFailed" in r.content
        r = httpx.get(url, headers={"Range": f"bytes={SIZE}-"})
        assert r.status_code == 416
    assert settled_fds(signed_gateway, before) <= before


def test_presigned_get_head_and_keep_alive(s3, big):
    bucket, key = big
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    with httpx.Client() as http:
        for _ in range(2):  # the same connection serves the next request after a sent file
            r = http.get(url)
            assert r.status_code == 200 and r.content == DATA
            assert r.headers["content-length"] == str(SIZE)
        head_url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": key})
        r = http.head(head_url)
        assert r.status_code == 200 and r.headers["content-length"] == str(SIZE) and r.content == b""
        r = http.get(url, headers={"Range": "bytes=5-400004"})
        assert r.status_code == 206 and r.content == DATA[5:400005]


def test_pipelined_requests_after_a_sent_file(signed_gateway, s3, big):
    bucket, key = big
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    u = urlsplit(url)
    target = f"{u.path}?{u.query}".encode()
    one = b"GET " + target + b" HTTP/1.1\r\nHost: " + u.netloc.encode() + b"\r\n\r\n"
    last = (b"GET " + target + b" HTTP/1.1\r\nHost: " + u.netloc.encode() +
            b"\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n")
    got = raw_exchange(signed_gateway.url, one + last, 1 << 40)  # read to the close
    head, _, rest = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"content-length: {SIZE}".encode() in head.lower()
    assert rest[:SIZE] == DATA
    head2, _, body2 = rest[SIZE:].partition(b"\r\n\r\n")
    assert head2.startswith(b"HTTP/1.1 206") and body2 == DATA[:10]


def test_a_client_leaving_mid_body_frees_everything(signed_gateway, s3, big):
    bucket, key = big
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    u = urlsplit(url)
    request = (f"GET {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n").encode()
    httpx.get(url)  # first use: whatever the gateway opens once (connections, caches) is open
    before = open_fds(signed_gateway)
    for _ in range(5):
        with socket.create_connection((u.hostname, u.port), timeout=30) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(request)
            assert s.recv(65536)  # headers and a first piece, then the client is gone
    r = httpx.get(url)  # the gateway goes on serving
    assert r.status_code == 200 and r.content == DATA
    assert settled_fds(signed_gateway, before) <= before


def test_a_slow_reader_gets_every_byte(signed_gateway, s3, big):
    bucket, key = big
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    u = urlsplit(url)
    request = f"GET {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n"
    got = bytearray()
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(request.encode())
        reads = 0
        while chunk := s.recv(65536):
            got += chunk
            reads += 1
            if reads % 16 == 0:
                time.sleep(0.01)  # the gateway must wait for room, not drop or reorder
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == DATA


def test_versioned_get_of_an_older_version(s3):
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=DATA)["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=DATA[::-1])
    r = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert r["VersionId"] == v1 and r["Body"].read() == DATA
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == DATA[::-1]


def test_part_number_of_a_multipart_object(s3):
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    part = 5 * 1024 * 1024
    body = os.urandom(part + 700000)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n + 1,
                            Body=body[n * part:(n + 1) * part])["ETag"] for n in range(2)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
    r = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert r["PartsCount"] == 2 and r["Body"].read() == body[part:]
    r = s3.get_object(Bucket=bucket, Key="mp", Range="bytes=5242000-5243000")
    assert r["Body"].read() == body[5242000:5243001]


def test_grpc_callers_never_get_a_descriptor(signed_gateway, s3, big):
    """Over pfsd's gRPC socket the in-process extension is ignored: the bytes stream."""
    bucket, key = big
    branch_name, repo = bucket.split(".", 1)
    commit = pb.Commit(branch=pb.Branch(repo=pb.Repo(name=repo, type="user",
                                                     project=pb.Project(name="default")),
                                        name=branch_name))
    req = pb.GetFileRequest(file=pb.File(commit=commit, path="/" + key))
    with grpc.insecure_channel(f"unix://{signed_gateway.data_dir / 'pfsd.sock'}") as ch:
        call = pfs_pb2_grpc.APIStub(ch).GetFile(req, metadata=(("pfs-local-fd", "1"),))
        data = b"".join(msg.value for msg in call)
        keys = [k for k, _ in call.initial_metadata()]
    assert "pfs-file-info-bin" in keys and "pfs-local-fd" not in keys
    assert data == DATA


def test_pfsd_child_process_keeps_streaming(tmp_path):
    from tests.integration.test_auth import AK, SK

    gw = Gateway(tmp_path / "data", "--pfsd-process", env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})
    try:
        c = client(gw)
        c.create_bucket(Bucket="master.child")
        c.put_object(Bucket="master.child", Key="big", Body=DATA)
        assert c.get_object(Bucket="master.child", Key="big")["Body"].read() == DATA
        r = c.get_object(Bucket="master.child", Key="big", Range="bytes=300000-")
        assert r["Body"].read() == DATA[300000:]
    finally:
        gw.stop()


def test_the_descriptor_comes_only_to_an_in_process_caller_with_extensions_on(tmp_path):
    """pfsd hands a blob's descriptor to the gateway's own client in its process; the client
    with extensions off (as against pachd) and a file kept inline get the bytes streamed."""
    import asyncio

    from gateway.pfs.client import PFS, Ref, add_file, delete_file
    from gateway.server.inproc import InProcessPFS

    async def main() -> None:
        host = InProcessPFS(tmp_path / "data")
        channel = await host.start()
        try:
            on = PFS(host.address, channel=channel)
            off = PFS(host.address, extensions=False, channel=channel)
            ref = Ref("default", "r", "master")
            await on.create_repo(ref)
            await on.modify_file(ref, [delete_file("/big"), add_file("/big", DATA[:200000]),
                                       add_file("/small", b"x" * 100)], "test")
            reader = on.open_file(ref, "/big", local=True)
            assert (await reader.info()).size_bytes == 200000
            assert reader.local is not None
            reader.offset = 10
            assert await reader.read(100) == DATA[10:110]
            assert reader.local.closed  # read to the end: the descriptor is closed
            for client, path in ((off, "/big"), (on, "/small")):
                reader = client.open_file(ref, path, local=True)
                await reader.info()
                assert reader.local is None
                want = DATA[:200000] if path == "/big" else b"x" * 100
                assert await reader.read(len(want)) == want
            reader = on.open_file(ref, "/big")  # not asked for: streamed
            await reader.info()
            assert reader.local is None and await reader.read(5) == DATA[:5]
        finally:
            await host.stop()
            host.release()

    asyncio.run(main())


def test_cors_headers_and_a_sigv2_presigned_url(signed_gateway, s3, big):
    import boto3
    from botocore.config import Config

    from tests.integration.test_auth import AK, SK

    bucket, key = big
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    r = httpx.get(url, headers={"Origin": "https://app.example"})
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    v2 = boto3.client("s3", endpoint_url=signed_gateway.url, region_name="us-east-1",
                      aws_access_key_id=AK, aws_secret_access_key=SK,
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3"))
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    assert "Signature=" in url and "X-Amz-Signature" not in url
    r = httpx.get(url, headers={"Range": "bytes=100-1999999"})
    assert r.status_code == 206 and r.content == DATA[100:2000000]


def test_a_blob_collected_during_the_send_still_sends_its_bytes(signed_gateway, s3):
    """The bucket is deleted (its blob unlinked by pfsd's GC) while a slow client is still
    reading: the descriptor opened before the headers keeps sending the object's own bytes."""
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(16 * 1024 * 1024)  # far more than the socket buffers hold
    md5 = hashlib.md5(data).hexdigest()
    s3.put_object(Bucket=bucket, Key="gone", Body=data)
    blob = signed_gateway.data_dir / "blobs" / md5[:2] / md5
    assert blob.exists()
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "gone"})
    u = urlsplit(url)
    got = bytearray()
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(f"GET {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
        got += s.recv(65536)
        s3.delete_object(Bucket=bucket, Key="gone")
        s3.delete_bucket(Bucket=bucket)
        deadline = time.monotonic() + 10
        while blob.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not blob.exists()  # collected while the response is still being sent
        while chunk := s.recv(1 << 20):
            got += chunk
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == data
