"""CopyObject: server-side PFS CopyFile across keys, buckets, repos and commits."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo


@pytest.fixture
def bucket(versioned_bucket):
    """Versioned: these tests use version IDs (the commits of their writes)."""
    return versioned_bucket


def code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def test_copy_within_bucket_keeps_metadata(s3, bucket):
    data = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="src.bin", Body=data, ContentType="x/y", Metadata={"a": "1"})
    r = s3.copy_object(Bucket=bucket, Key="dst.bin", CopySource={"Bucket": bucket, "Key": "src.bin"})
    assert r["CopyObjectResult"]["ETag"] == put["ETag"]
    assert r["CopySourceVersionId"] == put["VersionId"] and len(r["VersionId"]) == 32
    got = s3.get_object(Bucket=bucket, Key="dst.bin")
    assert got["Body"].read() == data and got["ContentType"] == "x/y" and got["Metadata"] == {"a": "1"}
    assert got["ETag"] == put["ETag"]


def test_copy_replace_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="s", Body=b"x", Metadata={"a": "1"}, ContentType="x/y")
    s3.copy_object(Bucket=bucket, Key="d", CopySource=f"{bucket}/s", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/plain")
    head = s3.head_object(Bucket=bucket, Key="d")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "text/plain"


def test_copy_overwrites_existing_destination(s3, bucket):
    s3.put_object(Bucket=bucket, Key="s", Body=b"new")
    s3.put_object(Bucket=bucket, Key="d", Body=b"old content, longer", Metadata={"stale": "1"})
    s3.copy_object(Bucket=bucket, Key="d", CopySource=f"/{bucket}/s")
    got = s3.get_object(Bucket=bucket, Key="d")
    assert got["Body"].read() == b"new" and got["Metadata"] == {}


def test_copy_across_repos_and_projects_of_old_version(s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    other = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=other)
    r = s3.copy_object(Bucket=other, Key="copied/k", CopySource={"Bucket": bucket, "Key": "k", "VersionId": v1})
    assert r["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket=other, Key="copied/k")["Body"].read() == b"one"
    # from a commit-pinned bucket name too
    s3.copy_object(Bucket=other, Key="pinned", CopySource=f"{v1}.{bucket}/k")
    assert s3.get_object(Bucket=other, Key="pinned")["Body"].read() == b"one"
    in_project = f"master.{unique_repo()}.{unique_repo()}"
    s3.create_bucket(Bucket=in_project)
    s3.copy_object(Bucket=in_project, Key="p", CopySource=f"{other}/copied/k")
    assert s3.get_object(Bucket=in_project, Key="p")["Body"].read() == b"one"


def test_copy_to_itself_needs_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"a": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k")
    assert code(e) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k", MetadataDirective="REPLACE",
                   Metadata={"a": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"x" and got["Metadata"] == {"a": "2"}


def test_copy_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource=f"{bucket}/missing")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource="master.nosuchrepo/k")
    assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="master.nosuchrepo", Key="d", CopySource=f"{bucket}/k")
    assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "k", "VersionId": "0" * 32})
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource=f"{bucket}/k", MetadataDirective="REPLACE",
                       Metadata={"v": "x" * 2100})
    assert code(e) == "MetadataTooLarge"
    s3.put_object(Bucket=bucket, Key="dir/inner", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dir", CopySource=f"{bucket}/k")
    assert code(e) == "InvalidArgument"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="d")


def test_copy_preconditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    past = datetime.now(UTC) - timedelta(days=1)
    future = datetime.now(UTC) + timedelta(days=1)
    s3.copy_object(Bucket=bucket, Key="ok", CopySource=f"{bucket}/k", CopySourceIfMatch=etag,
                   CopySourceIfModifiedSince=past)
    for kwargs in ({"CopySourceIfMatch": '"nope"'}, {"CopySourceIfNoneMatch": etag},
                   {"CopySourceIfModifiedSince": future}, {"CopySourceIfUnmodifiedSince": past}):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="d", CopySource=f"{bucket}/k", **kwargs)
        assert code(e) == "PreconditionFailed", kwargs
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_copy_raw_edge_cases(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a b/c%d", Body=b"x")
    r = httpx.put(f"{endpoint}/{bucket}/d", headers={"x-amz-copy-source": f"{bucket}/a%20b/c%25d"})
    assert r.status_code == 200, r.text
    assert b"<CopyObjectResult" in r.content and b"<ETag>" in r.content
    for bad in (bucket, f"{bucket}/", "/"):
        r = httpx.put(f"{endpoint}/{bucket}/d", headers={"x-amz-copy-source": bad})
        assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content, bad
    r = httpx.put(f"{endpoint}/{bucket}/d", headers={"x-amz-copy-source": f"{bucket}/d",
                                                      "x-amz-metadata-directive": "BOGUS"})
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content
    since = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    r = httpx.put(f"{endpoint}/{bucket}/e", headers={"x-amz-copy-source": f"{bucket}/d",
                                                      "x-amz-copy-source-if-modified-since": since})
    assert r.status_code == 412


def test_copy_to_pinned_bucket_is_refused(endpoint, s3, bucket):
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=f"{v}.{bucket}", Key="d", CopySource=f"{bucket}/k")
    assert code(e) == "InvalidRequest" and "read-only" in e.value.response["Error"]["Message"]
