"""Object operations over real processes: PutObject, GetObject, HeadObject, DeleteObject."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def bucket(versioned_bucket):
    """Versioned: these tests use version IDs (the commits of their writes)."""
    return versioned_bucket


def code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def test_put_get_head_delete_roundtrip(s3, bucket):
    data = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="dir/file.bin", Body=data)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert len(put["VersionId"]) == 32
    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"] and got["ContentLength"] == len(data)
    assert got["VersionId"] == put["VersionId"]
    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]
    assert abs(head["LastModified"] - datetime.now(UTC)) < timedelta(minutes=5)
    s3.delete_object(Bucket=bucket, Key="dir/file.bin")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert code(e) == "NoSuchKey"


def test_overwrite_replaces_content(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version, longer")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_each_write_is_a_commit(s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"]
    assert v1 != v2
    # the first commit is still readable through a commit-pinned bucket
    assert s3.get_object(Bucket=f"{v1}.{bucket}", Key="k")["Body"].read() == b"1"


@pytest.mark.parametrize("key", ["with space/and-dash", "pct%41%2Fliteral", "a/b/c/d/e/f",
                                 "semi;colon,comma=eq&amp", "tilde~under_score", "quote'dq\"<lt>#hash",
                                 "a.b/.hidden/x..y"])
def test_special_keys_arrive_intact(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    keys = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert key in keys


def test_any_content_type_passes_through_untouched(endpoint, bucket):
    cases = [("application/json", b'{"not": valid json'), ("application/x-www-form-urlencoded", b"a=b&c"),
             ("multipart/form-data; boundary=x", b"--x\r\nbroken"), ("text/plain", b"hello"), (None, b"\x00\x01")]
    for i, (ctype, body) in enumerate(cases):
        headers = {"Content-Type": ctype} if ctype else {}
        r = httpx.put(f"{endpoint}/{bucket}/obj{i}", content=body, headers=headers)
        assert r.status_code == 200, (ctype, r.text)
        assert httpx.get(f"{endpoint}/{bucket}/obj{i}").content == body


def test_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0
    assert got["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


def test_content_md5(endpoint, s3, bucket):
    body = b"payload"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="ok", Body=body, ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    r = httpx.put(f"{endpoint}/{bucket}/bad", content=body, headers={"Content-MD5": wrong})
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content
    r = httpx.put(f"{endpoint}/{bucket}/bad", content=body, headers={"Content-MD5": "not-base64!"})
    assert r.status_code == 400 and b"<Code>InvalidDigest</Code>" in r.content
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404  # nothing written


def test_bad_digest_leaves_previous_version(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    wrong = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    r = httpx.put(f"{endpoint}/{bucket}/k", content=b"new" * 1000, headers={"Content-MD5": wrong})
    assert r.status_code == 400
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_flexible_checksums(s3, bucket, algorithm):
    put = s3.put_object(Bucket=bucket, Key=f"c-{algorithm}", Body=b"checked body", ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"]
    assert s3.get_object(Bucket=bucket, Key=f"c-{algorithm}")["Body"].read() == b"checked body"


def test_wrong_checksum_is_bad_digest(endpoint, s3, bucket):
    r = httpx.put(f"{endpoint}/{bucket}/k", content=b"abc", headers={"x-amz-checksum-crc32": "AAAAAA=="})
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_wrong_content_sha256_is_rejected(endpoint, s3, bucket):
    r = httpx.put(f"{endpoint}/{bucket}/k", content=b"abc",
                  headers={"x-amz-content-sha256": hashlib.sha256(b"xyz").hexdigest()})
    assert r.status_code == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in r.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_expect_100_continue(endpoint, bucket):
    import http.client
    from urllib.parse import urlparse

    u = urlparse(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("PUT", f"/{bucket}/continued")
    conn.putheader("Content-Length", "5")
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    conn.send(b"hello")
    assert conn.getresponse().status == 200
    assert httpx.get(f"{endpoint}/{bucket}/continued").content == b"hello"


def test_ranges(endpoint, s3, bucket):
    data = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    for header, (start, end) in {"bytes=0-9": (0, 9), "bytes=100-": (100, len(data) - 1),
                                 "bytes=-7": (len(data) - 7, len(data) - 1),
                                 "bytes=10000-99999": (10000, len(data) - 1)}.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["Body"].read() == data[start:end + 1]
        assert got["ContentRange"] == f"bytes {start}-{end}/{len(data)}"
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    r = httpx.get(f"{endpoint}/{bucket}/r", headers={"Range": "bytes=20000-"})
    assert r.status_code == 416 and b"<Code>InvalidRange</Code>" in r.content
    r = httpx.get(f"{endpoint}/{bucket}/r", headers={"Range": "bytes=garbage"})
    assert r.status_code == 200 and r.content == data  # ignored, as AWS does


def test_conditional_requests(endpoint, s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"v")
    etag = put["ETag"]
    url = f"{endpoint}/{bucket}/c"
    assert httpx.get(url, headers={"If-Match": etag}).status_code == 200
    r = httpx.get(url, headers={"If-Match": '"nope"'})
    assert r.status_code == 412 and b"<Code>PreconditionFailed</Code>" in r.content
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    future = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert httpx.get(url, headers={"If-Modified-Since": future}).status_code == 304
    assert httpx.get(url, headers={"If-Modified-Since": past}).status_code == 200
    assert httpx.get(url, headers={"If-Unmodified-Since": past}).status_code == 412
    # S3's precedence: If-Match true wins over If-Unmodified-Since false
    assert httpx.get(url, headers={"If-Match": etag, "If-Unmodified-Since": past}).status_code == 200
    # If-None-Match false and If-Modified-Since true: 304
    assert httpx.get(url, headers={"If-None-Match": etag, "If-Modified-Since": past}).status_code == 304
    assert httpx.head(url, headers={"If-None-Match": etag}).status_code == 304


def test_missing_key_and_directory_are_no_such_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d/inner", Body=b"x")
    for key in ("nope", "d"):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key=key)
        assert code(e) == "NoSuchKey"
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key=key)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_delete_is_idempotent(s3, bucket):
    r = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204


@pytest.mark.parametrize("key", ["a/../b", "./x", "glob*star", "q?mark", "br[ack]et", "trailing/", "nul\x00byte",
                                 "ctl\x01char", "unicodé", "plus+sign", "a//b"])
def test_pfs_path_rules_are_400(endpoint, bucket, key):
    from urllib.parse import quote

    r = httpx.put(f"{endpoint}/{bucket}/{quote(key, safe='')}", content=b"x")
    assert r.status_code == 400, (key, r.text)
    assert b"<Code>" in r.content


def test_file_directory_conflict_is_400(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="f", Body=b"file")
    r = httpx.put(f"{endpoint}/{bucket}/f/child", content=b"x")
    assert r.status_code == 400, r.text
    assert s3.get_object(Bucket=bucket, Key="f")["Body"].read() == b"file"


def test_key_too_long(endpoint, bucket):
    r = httpx.put(f"{endpoint}/{bucket}/{'k' * 1025}", content=b"x")
    assert r.status_code == 400 and b"<Code>KeyTooLongError</Code>" in r.content


def test_pinned_bucket_is_read_only(endpoint, s3, bucket):
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    r = httpx.put(f"{endpoint}/{v}.{bucket}/k", content=b"2")
    assert r.status_code == 400 and b"read-only" in r.content
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"1"


def test_content_type_from_extension(s3, bucket):
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<p>")
    assert s3.head_object(Bucket=bucket, Key="page.html")["ContentType"] == "text/html"
