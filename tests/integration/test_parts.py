"""partNumber on GetObject/HeadObject and GetObjectAttributes, with boto3 against a gateway
with credentials: multipart objects (part sizes kept at completion) and plain ones (one part)."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo
from tests.integration import signed

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = signed.start(tmp_path_factory.mktemp("partsgw"))
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    return signed.boto3_client(gw.url)


@pytest.fixture(scope="module")
def objects(s3):
    """A bucket with a three-part object (5 MiB, 5 MiB, 7 bytes) and a plain one."""
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    datas = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"the end"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n,
                                                      Body=d)["ETag"]} for n, d in enumerate(datas, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts})
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain bytes")
    return bucket, datas


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def test_get_and_head_by_part_number(s3, objects):
    bucket, datas = objects
    offset = 0
    for n, data in enumerate(datas, 1):
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{10 * MiB + 7}"
        assert got["Body"].read() == data
        head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert (head["PartsCount"], head["ContentLength"]) == (3, len(data))
        offset += len(data)
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=4)) == (416, "InvalidPartNumber")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=1, Range="bytes=0-1")) \
        == (400, "InvalidRequest")
    plain = s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert (plain["PartsCount"], plain["Body"].read()) == (1, b"plain bytes")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="plain", PartNumber=2)) == (416, "InvalidPartNumber")


def test_get_object_attributes(s3, objects):
    bucket, datas = objects
    every = ["ETag", "ObjectParts", "StorageClass", "ObjectSize"]
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=every)
    head = s3.head_object(Bucket=bucket, Key="mp")
    assert attrs["ETag"] == head["ETag"].strip('"') and attrs["ETag"].endswith("-3")
    assert (attrs["ObjectSize"], attrs["StorageClass"]) == (10 * MiB + 7, "STANDARD")
    assert attrs["VersionId"] == head["VersionId"]
    parts = attrs["ObjectParts"]
    assert parts["TotalPartsCount"] == 3 and parts["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB), (3, 7)]
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2)
    assert page["ObjectParts"]["IsTruncated"] is True
    assert [p["PartNumber"] for p in page["ObjectParts"]["Parts"]] == [1, 2]
    rest = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2,
                                    PartNumberMarker=page["ObjectParts"]["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["ObjectParts"]["Parts"]] == [3]
    assert rest["ObjectParts"]["IsTruncated"] is False
    plain = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=every)
    assert (plain["ObjectSize"], "ObjectParts" in plain) == (11, False)
    assert error_of(lambda: s3.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=every)) \
        == (404, "NoSuchKey")
    assert error_of(lambda: s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["Colour"])) \
        == (400, "InvalidArgument")
