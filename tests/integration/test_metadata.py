"""Object metadata: stored with the object in one commit, returned by GET/HEAD, never listed."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def bucket(versioned_bucket):
    """Versioned: these tests use version IDs (the commits of their writes)."""
    return versioned_bucket


def test_metadata_roundtrip(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="doc.bin", Body=b"x", ContentType="text/x-custom",
                        ContentEncoding="gzip", ContentDisposition="attachment; filename=a.txt",
                        CacheControl="max-age=60", ContentLanguage="fr",
                        Expires="Wed, 21 Oct 2037 07:28:00 GMT", Metadata={"color": "blue", "n": "1"})
    for r in (s3.head_object(Bucket=bucket, Key="doc.bin"), s3.get_object(Bucket=bucket, Key="doc.bin")):
        assert r["ContentType"] == "text/x-custom"
        assert r["ContentEncoding"] == "gzip"
        assert r["ContentDisposition"] == "attachment; filename=a.txt"
        assert r["CacheControl"] == "max-age=60"
        assert r["ContentLanguage"] == "fr"
        assert r["ExpiresString"] == "Wed, 21 Oct 2037 07:28:00 GMT"
        assert r["Metadata"] == {"color": "blue", "n": "1"}
        assert r["ETag"] == put["ETag"]


def test_stored_content_type_wins_over_extension(s3, bucket):
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"{}", ContentType="application/json")
    assert s3.head_object(Bucket=bucket, Key="page.html")["ContentType"] == "application/json"


def test_overwrite_without_metadata_drops_stale_metadata(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"1", Metadata={"a": "b"}, ContentType="x/y")
    httpx.put(f"{endpoint}/{bucket}/k.txt", content=b"2").raise_for_status()
    head = s3.head_object(Bucket=bucket, Key="k.txt")
    assert head["Metadata"] == {} and head["ContentType"] == "text/plain"


def test_metadata_and_object_share_one_commit(s3, bucket):
    before = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"new", Metadata={"m": "1"})["VersionId"]
    # the commit before has the old object without metadata; the new commit has both
    old = s3.head_object(Bucket=f"{before}.{bucket}", Key="k")
    assert old["Metadata"] == {} and old["ContentLength"] == 3
    new = s3.head_object(Bucket=f"{v}.{bucket}", Key="k")
    assert new["Metadata"] == {"m": "1"} and new["VersionId"] == v


def test_metadata_too_large_writes_nothing(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="big", Body=b"x", Metadata={"v": "x" * 2100})
    assert e.value.response["Error"]["Code"] == "MetadataTooLarge"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="big")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_sidecars_never_listed_and_deleted_with_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"x", Metadata={"m": "1"})
    s3.put_object(Bucket=bucket, Key="z", Body=b"x", Metadata={"m": "2"})
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b", "z"]
    assert [p["Prefix"] for p in s3.list_objects(Bucket=bucket, Delimiter="/")["CommonPrefixes"]] == ["a/"]
    s3.delete_object(Bucket=bucket, Key="a/b")
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"y")
    assert s3.head_object(Bucket=bucket, Key="a/b")["Metadata"] == {}


def test_aws_chunked_is_not_stored_as_content_encoding(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"abc", ChecksumAlgorithm="CRC32")
    assert "ContentEncoding" not in s3.head_object(Bucket=bucket, Key="c")
