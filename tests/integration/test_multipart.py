"""Multipart uploads over real processes: every operation, every error, and real clients."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Gateway, boto3_client, unique_repo


@pytest.fixture
def bucket(versioned_bucket):
    """Versioned: these tests use version IDs (the commits of their writes)."""
    return versioned_bucket


MiB = 1024 * 1024
PART = 5 * MiB


def code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(*parts: bytes) -> str:
    return '"' + hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f'-{len(parts)}"'


def start(s3, bucket: str, key: str, **kw) -> str:
    return s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)["UploadId"]


def put_parts(s3, bucket: str, key: str, upload_id: str, *parts: bytes) -> list[dict]:
    done = []
    for n, data in enumerate(parts, 1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data)["ETag"]
        assert etag == f'"{md5(data)}"'
        done.append({"PartNumber": n, "ETag": etag})
    return done


def complete(s3, bucket: str, key: str, upload_id: str, parts: list[dict]) -> dict:
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})


def test_create_upload_complete_roundtrip(s3, bucket):
    a, b, c = os.urandom(PART), os.urandom(PART + 1), b"tail"
    uid = start(s3, bucket, "dir/big.bin", ContentType="application/x-test", Metadata={"color": "blue"})
    assert len(uid) >= 32
    parts = put_parts(s3, bucket, "dir/big.bin", uid, a, b, c)
    # nothing is visible before completion
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    done = complete(s3, bucket, "dir/big.bin", uid, parts)
    assert done["ETag"] == multipart_etag(a, b, c)
    assert done["Key"] == "dir/big.bin" and done["Bucket"] == bucket
    assert len(done["VersionId"]) == 32
    got = s3.get_object(Bucket=bucket, Key="dir/big.bin")
    assert got["Body"].read() == a + b + c
    assert got["ETag"] == done["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/big.bin")
    assert head["ContentLength"] == len(a + b + c) and head["ETag"] == done["ETag"]
    assert head["ContentType"] == "application/x-test" and head["Metadata"] == {"color": "blue"}
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("dir/big.bin", len(a + b + c), done["ETag"])]
    # the upload is gone once completed
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="dir/big.bin", UploadId=uid)
    assert code(e) == "NoSuchUpload"


def test_complete_is_one_commit_and_replaces_an_existing_object(s3, bucket):
    v0 = s3.put_object(Bucket=bucket, Key="k", Body=b"old content that is longer")["VersionId"]
    uid = start(s3, bucket, "k")
    parts = put_parts(s3, bucket, "k", uid, os.urandom(PART), b"new")
    v1 = complete(s3, bucket, "k", uid, parts)["VersionId"]
    body = s3.get_object(Bucket=bucket, Key="k")["Body"].read()
    assert body.endswith(b"new") and len(body) == PART + 3
    # one commit on the branch: the previous one still holds the old object
    assert s3.get_object(Bucket=f"{v0}.{bucket}", Key="k")["Body"].read() == b"old content that is longer"
    assert s3.head_object(Bucket=f"{v1}.{bucket}", Key="k")["ContentLength"] == PART + 3


def test_single_small_part_and_reuploaded_part(s3, bucket):
    uid = start(s3, bucket, "one")
    s3.upload_part(Bucket=bucket, Key="one", UploadId=uid, PartNumber=1, Body=b"first try")
    etag = s3.upload_part(Bucket=bucket, Key="one", UploadId=uid, PartNumber=1, Body=b"second")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="one", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 6, etag)]
    done = complete(s3, bucket, "one", uid, [{"PartNumber": 1, "ETag": etag}])
    assert done["ETag"] == multipart_etag(b"second")
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"second"


def test_parts_may_be_skipped_and_uploaded_out_of_order(s3, bucket):
    uid = start(s3, bucket, "gaps")
    p3 = s3.upload_part(Bucket=bucket, Key="gaps", UploadId=uid, PartNumber=3, Body=b"three")["ETag"]
    big = os.urandom(PART)
    p1 = s3.upload_part(Bucket=bucket, Key="gaps", UploadId=uid, PartNumber=1, Body=big)["ETag"]
    s3.upload_part(Bucket=bucket, Key="gaps", UploadId=uid, PartNumber=2, Body=b"unused")
    complete(s3, bucket, "gaps", uid, [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 3, "ETag": p3}])
    assert s3.get_object(Bucket=bucket, Key="gaps")["Body"].read() == big + b"three"


def test_complete_errors(s3, bucket):
    uid = start(s3, bucket, "e")
    small, big = b"x" * 100, os.urandom(PART)
    e1 = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=1, Body=small)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=2, Body=big)["ETag"]
    cases = [
        ([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}], "InvalidPartOrder"),
        ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 1, "ETag": e1}], "InvalidPartOrder"),
        ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e2}], "InvalidPart"),
        ([{"PartNumber": 1, "ETag": e2}], "InvalidPart"),
        ([{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}], "InvalidPart"),
        ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}], "EntityTooSmall"),
    ]
    for parts, expected in cases:
        with pytest.raises(ClientError) as e:
            complete(s3, bucket, "e", uid, parts)
        assert code(e) == expected, parts
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # nothing was committed, and the upload is still usable
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    done = complete(s3, bucket, "e", uid, [{"PartNumber": 2, "ETag": e2.strip('"')}])
    assert done["ETag"] == multipart_etag(big)


def test_complete_malformed_xml(endpoint, s3, bucket):
    uid = start(s3, bucket, "m")
    s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"x")
    for body in (b"not xml", b"<Wrong/>", b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                 b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part>"
                 b"</CompleteMultipartUpload>", b""):
        r = httpx.post(f"{endpoint}/{bucket}/m?uploadId={uid}", content=body)
        assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text, (body, r.text)


def test_no_such_upload_everywhere(endpoint, s3, bucket):
    bogus = "0" * 46
    calls = [
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=bogus, PartNumber=1, Body=b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId=bogus),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=bogus),
        lambda: complete(s3, bucket, "k", bogus, [{"PartNumber": 1, "ETag": '"x"'}]),
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId="../../etc", PartNumber=1, Body=b"x"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NoSuchUpload"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # an upload ID is bound to its key
    uid = start(s3, bucket, "mine")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=uid, PartNumber=1, Body=b"x")
    assert code(e) == "NoSuchUpload"


def test_part_number_limits(endpoint, s3, bucket):
    uid = start(s3, bucket, "n")
    for n in (0, 10001):
        r = httpx.put(f"{endpoint}/{bucket}/n?partNumber={n}&uploadId={uid}", content=b"x")
        assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    r = httpx.put(f"{endpoint}/{bucket}/n?partNumber=abc&uploadId={uid}", content=b"x")
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    assert s3.upload_part(Bucket=bucket, Key="n", UploadId=uid, PartNumber=10000, Body=b"x")["ETag"]


def test_create_on_missing_bucket_and_pinned_bucket(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=f"master.{unique_repo()}", Key="k")
    assert code(e) == "NoSuchBucket"
    v = s3.put_object(Bucket=bucket, Key="x", Body=b"x")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=f"{v}.{bucket}", Key="k")
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key=".s3g/uploads/x")
    assert code(e) == "InvalidArgument"


def test_upload_part_checks_like_put_object(endpoint, s3, bucket):
    uid = start(s3, bucket, "c")
    body = b"part body"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    url = f"{endpoint}/{bucket}/c?partNumber=1&uploadId={uid}"
    assert httpx.put(url, content=body, headers={"Content-MD5": good}).status_code == 200
    r = httpx.put(url, content=b"changed", headers={"Content-MD5": bad})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    # the failed upload committed nothing: part 1 is still the first body
    parts = s3.list_parts(Bucket=bucket, Key="c", UploadId=uid)["Parts"]
    assert [(p["Size"], p["ETag"]) for p in parts] == [(len(body), f'"{md5(body)}"')]
    # boto3 with checksums (aws-chunked with a trailer on this botocore)
    r = s3.upload_part(Bucket=bucket, Key="c", UploadId=uid, PartNumber=2, Body=b"crc body",
                       ChecksumAlgorithm="CRC32")
    assert r["ETag"] == f'"{md5(b"crc body")}"'


def test_abort_removes_everything(s3, bucket):
    uid = start(s3, bucket, "a/b")
    put_parts(s3, bucket, "a/b", uid, b"one", b"two")
    r = s3.abort_multipart_upload(Bucket=bucket, Key="a/b", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="a/b", UploadId=uid)
    assert code(e) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="a/b", UploadId=uid, PartNumber=1, Body=b"x")
    assert code(e) == "NoSuchUpload"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="a/b", UploadId=uid)
    assert code(e) == "NoSuchUpload"


def test_list_parts_pagination(s3, bucket):
    uid = start(s3, bucket, "p")
    for n in (1, 2, 3, 9, 10, 11, 100):
        s3.upload_part(Bucket=bucket, Key="p", UploadId=uid, PartNumber=n, Body=b"x" * n)
    first = s3.list_parts(Bucket=bucket, Key="p", UploadId=uid, MaxParts=3)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2, 3]
    assert first["IsTruncated"] and first["NextPartNumberMarker"] == 3 and first["MaxParts"] == 3
    assert first["Parts"][2]["Size"] == 3 and first["Parts"][2]["ETag"] == f'"{md5(b"xxx")}"'
    assert abs(time.time() - first["Parts"][0]["LastModified"].timestamp()) < 300
    rest = s3.list_parts(Bucket=bucket, Key="p", UploadId=uid, PartNumberMarker=3)
    assert [p["PartNumber"] for p in rest["Parts"]] == [9, 10, 11, 100] and not rest["IsTruncated"]
    every = [p["PartNumber"] for page in s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="p", UploadId=uid, PaginationConfig={"PageSize": 2}) for p in page["Parts"]]
    assert every == [1, 2, 3, 9, 10, 11, 100]


def test_list_multipart_uploads(s3, bucket):
    keys = ["a", "a/b/c", "a/b/d", "a/x", "ab", "b", "dir with space/k"]
    ids = {k: start(s3, bucket, k) for k in keys}
    second_a = start(s3, bucket, "a")
    got = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in got["Uploads"]] == (
        [("a", ids["a"]), ("a", second_a)] + [(k, ids[k]) for k in keys[1:]])
    assert all(abs(time.time() - u["Initiated"].timestamp()) < 300 for u in got["Uploads"])
    assert not got["IsTruncated"]
    # prefix and delimiter
    got = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [u["Key"] for u in got["Uploads"]] == ["a/x"]
    assert [p["Prefix"] for p in got["CommonPrefixes"]] == ["a/b/"]
    got = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir with", EncodingType="url")
    assert [u["Key"] for u in got["Uploads"]] == ["dir%20with%20space/k"]  # botocore leaves these encoded
    got = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in got["Uploads"]] == ["a", "a", "ab", "b"]
    assert [p["Prefix"] for p in got["CommonPrefixes"]] == ["a/", "dir with space/"]
    # markers
    got = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a")
    assert got["Uploads"][0]["Key"] == "a/b/c"
    got = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a", UploadIdMarker=ids["a"])
    assert [(u["Key"], u["UploadId"]) for u in got["Uploads"][:2]] == [("a", second_a), ("a/b/c", ids["a/b/c"])]
    # pages
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=3)
    assert page["IsTruncated"] and len(page["Uploads"]) == 3
    assert (page["NextKeyMarker"], page["NextUploadIdMarker"]) == ("a/b/c", ids["a/b/c"])
    every = [(u["Key"], u["UploadId"]) for p in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for u in p.get("Uploads", [])]
    assert len(every) == len(keys) + 1 and every[-1] == ("dir with space/k", ids["dir with space/k"])
    grouped = [x for p in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1})
        for x in [u["Key"] for u in p.get("Uploads", [])] + [c["Prefix"] for c in p.get("CommonPrefixes", [])]]
    assert grouped == ["a", "a", "a/", "ab", "b", "dir with space/"]
    # uploads never show as objects, and another bucket's uploads are not listed
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    other = f"other.{bucket.split('.', 1)[1]}"
    s3.create_bucket(Bucket=other)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=other)
    with pytest.raises(ClientError) as e:
        s3.list_multipart_uploads(Bucket=f"master.{unique_repo()}")
    assert code(e) == "NoSuchBucket"


def test_upload_part_copy(s3, bucket):
    src = os.urandom(PART + 1000)
    v = s3.put_object(Bucket=bucket, Key="src/obj", Body=src)["VersionId"]
    s3.put_object(Bucket=bucket, Key="src/obj", Body=b"newer")  # versionId still reads the old one
    uid = start(s3, bucket, "dst")
    whole = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src/obj", "VersionId": v})
    assert whole["CopyPartResult"]["ETag"] == f'"{md5(src)}"'
    assert whole["CopySourceVersionId"] == v
    ranged = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                                 CopySource=f"/{bucket}/src/obj?versionId={v}",
                                 CopySourceRange=f"bytes=10-{PART + 9}")
    assert ranged["CopyPartResult"]["ETag"] == f'"{md5(src[10:PART + 10])}"'
    plain = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=3,
                                CopySource=f"{bucket}/src/obj")
    parts = [{"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]} for n, r in
             ((1, whole), (2, ranged), (3, plain))]
    complete(s3, bucket, "dst", uid, parts)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == src + src[10:PART + 10] + b"newer"


def test_upload_part_copy_of_a_multipart_object_has_the_md5_etag(s3, bucket):
    data = os.urandom(PART)
    uid = start(s3, bucket, "mp")
    complete(s3, bucket, "mp", uid, put_parts(s3, bucket, "mp", uid, data, b"z"))
    uid = start(s3, bucket, "copy")
    r = s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "mp"})
    assert r["CopyPartResult"]["ETag"] == f'"{md5(data + b"z")}"'
    # the copy-source preconditions see the object's own (multipart) ETag
    s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=uid, PartNumber=2,
                        CopySource={"Bucket": bucket, "Key": "mp"}, CopySourceIfMatch=multipart_etag(data, b"z"))


def test_upload_part_copy_source_is_url_encoded(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="with space/a=b;c.txt", Body=b"payload")
    uid = start(s3, bucket, "d")
    r = httpx.put(f"{endpoint}/{bucket}/d?partNumber=1&uploadId={uid}",
                  headers={"x-amz-copy-source": f"{bucket}/with%20space%2Fa%3Db%3Bc.txt"})
    assert r.status_code == 200 and md5(b'payload') in r.text, r.text


def test_upload_part_copy_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="s", Body=b"0123456789")
    uid = start(s3, bucket, "d")
    cases = [
        ({"CopySource": {"Bucket": bucket, "Key": "missing"}}, "NoSuchKey"),
        ({"CopySource": {"Bucket": f"master.{unique_repo()}", "Key": "s"}}, "NoSuchBucket"),
        ({"CopySource": {"Bucket": bucket, "Key": "s", "VersionId": "f" * 32}}, "NoSuchVersion"),
        ({"CopySource": {"Bucket": bucket, "Key": "s"}, "CopySourceRange": "bytes=5-10"}, "InvalidArgument"),
        ({"CopySource": {"Bucket": bucket, "Key": "s"}, "CopySourceRange": "bytes=5-"}, "InvalidArgument"),
        ({"CopySource": {"Bucket": bucket, "Key": "s"}, "CopySourceIfMatch": '"nope"'}, "PreconditionFailed"),
    ]
    for kw, expected in cases:
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="d", UploadId=uid, PartNumber=1, **kw)
        assert code(e) == expected, kw
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="d", UploadId="0" * 46, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "s"})
    assert code(e) == "NoSuchUpload"
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="d", UploadId=uid)


def test_complete_onto_a_directory_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d/child", Body=b"x")
    uid = start(s3, bucket, "d")
    parts = put_parts(s3, bucket, "d", uid, b"x")
    with pytest.raises(ClientError) as e:
        complete(s3, bucket, "d", uid, parts)
    assert code(e) == "InvalidArgument"


def test_any_gateway_continues_an_upload(gateway, s3, bucket, tmp_path):
    """No state in the gateway: a second gateway on the same PFS serves the same upload."""
    (tmp_path / "gw2").mkdir()
    other = Gateway(tmp_path / "gw2" / "data", "--pachd-address", f"unix://{gateway.data_dir / 'pfsd.sock'}")
    try:
        s3b = boto3_client(other.url)
        first = os.urandom(PART)
        uid = start(s3, bucket, "k")
        p1 = s3b.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=first)["ETag"]
        p2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=2, Body=b"end")["ETag"]
        assert [p["ETag"] for p in s3b.list_parts(Bucket=bucket, Key="k", UploadId=uid)["Parts"]] == [p1, p2]
        assert [u["UploadId"] for u in s3b.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
        complete(s3b, bucket, "k", uid, [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}])
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == first + b"end"
    finally:
        other.stop()


def test_slow_completion_keeps_the_connection_alive(gateway, tmp_path):
    """A completion past the keep-alive delay answers 200 at once, then the result document."""
    (tmp_path / "gw").mkdir()
    gw = Gateway(tmp_path / "gw" / "data", "--pachd-address", f"unix://{gateway.data_dir / 'pfsd.sock'}",
                 env={"S3GW_COMPLETE_KEEPALIVE_AFTER": "0"})
    try:
        s3 = boto3_client(gw.url)
        name = f"master.{unique_repo()}"
        s3.create_bucket(Bucket=name)
        uid = start(s3, name, "k")
        parts = put_parts(s3, name, "k", uid, os.urandom(PART), b"end")
        xml = "".join(f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag></Part>"
                      for p in parts)
        r = httpx.post(f"{gw.url}/{name}/k?uploadId={uid}",
                       content=f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>")
        assert r.status_code == 200 and r.text.startswith("<?xml")
        assert "<CompleteMultipartUploadResult" in r.text and "-2&quot;" not in r.text and '-2"' in r.text
        assert len(s3.get_object(Bucket=name, Key="k")["Body"].read()) == PART + 3
    finally:
        gw.stop()


def test_keep_alive_body_carries_a_late_error(monkeypatch):
    import asyncio

    from gateway.ops import multipart as mp
    from gateway.s3 import errors

    monkeypatch.setattr(mp, "KEEPALIVE_AFTER", 0.0)
    monkeypatch.setattr(mp, "KEEPALIVE_EVERY", 0.01)

    async def fails() -> str:
        await asyncio.sleep(0.05)
        raise errors.internal_error()

    async def collect() -> bytes:
        version, body = await mp.finish_or_keep_alive(
            fails(), lambda v: b"never", lambda e: mp.error_body(e, "b", "k", "/b/k", "RID"))
        assert version is None
        return b"".join([chunk async for chunk in body])

    out = asyncio.run(collect()).decode()
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n ')
    assert out.count("<?xml") == 1 and "<Code>InternalError</Code>" in out and "<RequestId>RID" in out


def test_staging_branch_is_never_a_bucket(s3):
    repo = unique_repo()
    name = f"master.{repo}"
    s3.create_bucket(Bucket=name)
    uid = start(s3, name, "k")
    complete(s3, name, "k", uid, put_parts(s3, name, "k", uid, b"x"))
    start(s3, name, "pending")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"] if repo in b["Name"]] == [name]
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    assert not [b["Name"] for b in s3.list_buckets()["Buckets"] if repo in b["Name"]]


# -- real clients --------------------------------------------------------------------------


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=8)


def _big_file(path: Path, size: int) -> Path:
    block = os.urandom(MiB)
    with path.open("wb") as f:
        for i in range(size // MiB):
            f.write(i.to_bytes(8, "big") + block[8:])
        f.write(os.urandom(size % MiB))
    return path


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(8 * MiB), fb.read(8 * MiB)
            if x != y:
                return False
            if not x:
                return True


@pytest.mark.parametrize("size", [64 * MiB + 123])
def test_boto3_upload_download_file_multipart(s3, bucket, tmp_path, size):
    src = _big_file(tmp_path / "src.bin", size)
    s3.upload_file(str(src), bucket, "big/file.bin", Config=_transfer_config())
    head = s3.head_object(Bucket=bucket, Key="big/file.bin")
    assert head["ContentLength"] == size and head["ETag"].endswith(f'-{-(-size // PART)}"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "big/file.bin", str(dst), Config=_transfer_config())
    assert _same_file(src, dst)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_boto3_one_gib_roundtrip(s3, bucket, tmp_path):
    size = 1024 * MiB
    src = _big_file(tmp_path / "src.bin", size)
    s3.upload_file(str(src), bucket, "gib.bin", Config=_transfer_config())
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "gib.bin", str(dst), Config=_transfer_config())
    assert _same_file(src, dst)
    src.unlink()
    dst.unlink()


def _aws(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "anonymous", "AWS_SECRET_ACCESS_KEY": "anonymous",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    cli = Path(sys.executable).parent / "aws"
    return subprocess.run([str(cli), "--endpoint-url", endpoint, *args], env=env, capture_output=True,
                          text=True, check=True, timeout=300)


def test_aws_cli_cp_multipart(endpoint, s3, bucket, tmp_path):
    src = _big_file(tmp_path / "cli.bin", 20 * MiB + 7)  # the CLI's threshold is 8 MiB
    _aws(endpoint, "s3", "cp", str(src), f"s3://{bucket}/cli/cli.bin")
    assert s3.head_object(Bucket=bucket, Key="cli/cli.bin")["ETag"].endswith('-3"')
    _aws(endpoint, "s3", "cp", f"s3://{bucket}/cli/cli.bin", str(tmp_path / "back.bin"))
    assert _same_file(src, tmp_path / "back.bin")


def test_minio_fput_object_multipart(endpoint, s3, bucket, tmp_path):
    from minio import Minio

    u = urlparse(endpoint)
    mc = Minio(f"{u.hostname}:{u.port}", access_key="anonymous", secret_key="anonymous", secure=False,
               region="us-east-1")
    src = _big_file(tmp_path / "m.bin", 20 * MiB + 5)
    mc.fput_object(bucket, "minio/m.bin", str(src), part_size=PART, content_type="application/x-minio",
                   metadata={"x-amz-meta-origin": "minio"})
    stat = mc.stat_object(bucket, "minio/m.bin")
    assert stat.size == src.stat().st_size and stat.etag.endswith("-5")
    assert stat.content_type == "application/x-minio"
    mc.fget_object(bucket, "minio/m.bin", str(tmp_path / "m2.bin"))
    assert _same_file(src, tmp_path / "m2.bin")


def test_s3fs_ls_open_write_walk(endpoint, s3, bucket):
    s3fs = pytest.importorskip("s3fs")
    fs = s3fs.S3FileSystem(key="anonymous", secret="anonymous", client_kwargs={"endpoint_url": endpoint,
                           "region_name": "us-east-1"}, use_listings_cache=False)
    data = os.urandom(12 * MiB + 3)
    with fs.open(f"{bucket}/fs/dir/big.bin", "wb", block_size=PART) as f:  # multipart: 3 parts
        for i in range(0, len(data), MiB):
            f.write(data[i:i + MiB])
    fs.pipe(f"{bucket}/fs/small.txt", b"small")
    assert s3.head_object(Bucket=bucket, Key="fs/dir/big.bin")["ETag"].endswith('-3"')
    with fs.open(f"{bucket}/fs/dir/big.bin", "rb") as f:
        assert f.read() == data
    assert sorted(fs.ls(f"{bucket}/fs", detail=False)) == [f"{bucket}/fs/dir", f"{bucket}/fs/small.txt"]
    walked = {root: (sorted(dirs), sorted(files)) for root, dirs, files in fs.walk(f"{bucket}/fs")}
    assert walked == {f"{bucket}/fs": (["dir"], ["small.txt"]), f"{bucket}/fs/dir": ([], ["big.bin"])}
    assert fs.cat(f"{bucket}/fs/small.txt") == b"small"
    assert fs.size(f"{bucket}/fs/dir/big.bin") == len(data)


def test_deleted_bucket_made_again_inherits_no_uploads(s3):
    repo = unique_repo()
    s3.create_bucket(Bucket=f"master.{repo}")
    s3.create_bucket(Bucket=f"dev.{repo}")
    s3.create_multipart_upload(Bucket=f"dev.{repo}", Key="k")
    assert s3.list_multipart_uploads(Bucket=f"dev.{repo}").get("Uploads")
    s3.delete_bucket(Bucket=f"dev.{repo}")  # master keeps the repo alive
    s3.create_bucket(Bucket=f"dev.{repo}")
    assert not s3.list_multipart_uploads(Bucket=f"dev.{repo}").get("Uploads")


def test_listings_show_the_etag_get_returns_and_s3fs_reads_by_it(signed_gateway):
    """S3 lists a multipart object's own ETag (md5 of part MD5s, ``-N``), not its content's MD5.
    s3fs with its defaults (listings cache on) reads a file it found by ``ls`` with ``If-Match:
    <the listed ETag>``: a listed content MD5 made that read a 412."""
    s3fs = pytest.importorskip("s3fs")
    from tests.integration.test_auth import AK, SK, client

    s3 = client(signed_gateway)
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    a, b = os.urandom(PART), os.urandom(1000)
    uid = start(s3, bucket, "mp/big.bin")
    done = complete(s3, bucket, "mp/big.bin", uid, put_parts(s3, bucket, "mp/big.bin", uid, a, b))
    assert done["ETag"] == multipart_etag(a, b)
    # beside it: a small object with a sidecar (metadata) and a big one PUT whole
    s3.put_object(Bucket=bucket, Key="mp/a.txt", Body=b"small", Metadata={"k": "v"})
    whole = os.urandom(PART + 1)
    s3.put_object(Bucket=bucket, Key="mp/whole.bin", Body=whole)
    want = {"mp/a.txt": f'"{md5(b"small")}"', "mp/big.bin": done["ETag"], "mp/whole.bin": f'"{md5(whole)}"'}
    for i in range(16):  # a page of 19 keys with 2 big ones reads their sidecars one by one;
        s3.put_object(Bucket=bucket, Key=f"mp/s{i:02d}", Body=b"s", Metadata={"i": str(i)})
        want[f"mp/s{i:02d}"] = f'"{md5(b"s")}"'
    for listed in (s3.list_objects_v2(Bucket=bucket)["Contents"],
                   s3.list_objects(Bucket=bucket, Prefix="mp/")["Contents"],
                   s3.list_objects_v2(Bucket=bucket, Prefix="mp/", Delimiter="/")["Contents"]):
        assert {o["Key"]: o["ETag"] for o in listed} == want
    assert s3.head_object(Bucket=bucket, Key="mp/big.bin")["ETag"] == done["ETag"]
    # pages of 1 and 3 keys walk their own range of the hidden tree instead
    for size in (1, 3):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": size})
        assert {o["Key"]: o["ETag"] for p in pages for o in p["Contents"]} == want

    fs = s3fs.S3FileSystem(key=AK, secret=SK, client_kwargs={"endpoint_url": signed_gateway.url})
    assert sorted(fs.ls(f"{bucket}/mp", detail=False)) == [f"{bucket}/{k}" for k in sorted(want)]
    with fs.open(f"{bucket}/mp/big.bin", "rb") as f:  # details from the listing: If-Match
        assert f.read() == a + b
