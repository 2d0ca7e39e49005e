"""History: versionId reads, commit-pinned buckets, versioning, location, ListObjectVersions."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def bucket(versioned_bucket):
    """Versioned: these tests use version IDs (the commits of their writes)."""
    return versioned_bucket


def code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def test_get_and_head_by_version_id(s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one", Metadata={"n": "1"})["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two!")["VersionId"]
    got = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert got["Body"].read() == b"one" and got["VersionId"] == v1 and got["Metadata"] == {"n": "1"}
    head = s3.head_object(Bucket=bucket, Key="k", VersionId=v2)
    assert head["ContentLength"] == 4 and head["VersionId"] == v2
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two!"


def test_version_errors(endpoint, s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="a", Body=b"x")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a", VersionId="0" * 32)
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="a", VersionId="0" * 32)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="b", VersionId=v1)  # a commit, but not one of b's
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a", VersionId="not-a-commit")
    assert code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="master.nosuchrepo", Key="a", VersionId=v1)
    assert code(e) == "NoSuchBucket"
    r = httpx.delete(f"{endpoint}/{bucket}/a", params={"versionId": "not-a-commit"})
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"


def test_pinned_bucket_reads(s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="d/k", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="d/k", Body=b"two")
    s3.put_object(Bucket=bucket, Key="later", Body=b"x")
    pinned = f"{v1}.{bucket}"
    s3.head_bucket(Bucket=pinned)
    assert s3.get_object(Bucket=pinned, Key="d/k")["Body"].read() == b"one"
    assert s3.head_object(Bucket=pinned, Key="d/k")["ContentLength"] == 3
    assert [o["Key"] for o in s3.list_objects(Bucket=pinned)["Contents"]] == ["d/k"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pinned)["Contents"]] == ["d/k"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=pinned, Key="later")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=f"{'0' * 32}.{bucket}")
    assert code(e) == "NoSuchBucket"


def test_every_write_to_a_pinned_bucket_is_refused(endpoint, s3, bucket):
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    pinned = f"{v}.{bucket}"
    writes = [
        lambda: s3.put_object(Bucket=pinned, Key="k", Body=b"y"),
        lambda: s3.delete_object(Bucket=pinned, Key="k"),
        lambda: s3.copy_object(Bucket=pinned, Key="c", CopySource=f"{bucket}/k"),
        lambda: s3.delete_objects(Bucket=pinned, Delete={"Objects": [{"Key": "k"}]}),
        lambda: s3.create_bucket(Bucket=pinned),
        lambda: s3.delete_bucket(Bucket=pinned),
    ]
    for write in writes:
        with pytest.raises(ClientError) as e:
            write()
        assert code(e) == "InvalidRequest" and "read-only" in e.value.response["Error"]["Message"]
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v  # nothing was committed


def test_versioning_and_location(endpoint, s3, bucket):
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    r = httpx.get(f"{endpoint}/{bucket}?location")
    assert r.status_code == 200 and b"<LocationConstraint" in r.content
    for call in (s3.get_bucket_versioning, s3.get_bucket_location):
        with pytest.raises(ClientError) as e:
            call(Bucket="master.nosuchrepo")
        assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=f"{'0' * 32}.{bucket}", VersioningConfiguration={"Status": "Enabled"})
    assert code(e) == "InvalidRequest"  # a pinned bucket is read-only


def test_list_object_versions(s3, bucket):
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"2")["VersionId"]
    b1 = s3.put_object(Bucket=bucket, Key="b", Body=b"1")["VersionId"]
    same = s3.put_object(Bucket=bucket, Key="b", Body=b"1")["VersionId"]  # same content: a version too
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "c"}]})
    d = deleted["Deleted"][0]["DeleteMarkerVersionId"]
    r = s3.list_object_versions(Bucket=bucket)
    got = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]]
    assert got == [("a", a2, False), ("a", a1, False), ("b", same, True), ("b", b1, False)]
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in r["DeleteMarkers"]] == [("a", d, True)]
    assert r["Versions"][0]["ETag"] and r["Versions"][0]["Size"] == 1
    assert not r["IsTruncated"]
    only_a = s3.list_object_versions(Bucket=bucket, Prefix="a")
    assert len(only_a["Versions"]) == 2 and "b" not in {v["Key"] for v in only_a["Versions"]}


def test_list_object_versions_pages(s3, bucket):
    made = []
    for i in range(5):
        for k in ("x/1", "x/2"):
            made.append((k, s3.put_object(Bucket=bucket, Key=k, Body=str(i).encode())["VersionId"]))
    pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket, MaxKeys=3))
    assert len(pages) >= 4 and all(len(p.get("Versions", [])) <= 3 for p in pages)
    seen = [(v["Key"], v["VersionId"]) for p in pages for v in p.get("Versions", [])]
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    latest = {(v["Key"], v["VersionId"]) for p in pages for v in p["Versions"] if v["IsLatest"]}
    assert latest == {made[-2], made[-1]}
    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["x/"] and "Versions" not in grouped


def test_list_object_versions_errors(endpoint, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket="master.nosuchrepo")
    assert code(e) == "NoSuchBucket"
    r = httpx.get(f"{endpoint}/{bucket}?versions&version-id-marker={'0' * 32}")
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content
    r = httpx.get(f"{endpoint}/{bucket}?versions&key-marker=a&version-id-marker=zz")
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content


def test_list_object_versions_of_pinned_bucket(s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    r = s3.list_object_versions(Bucket=f"{v1}.{bucket}")
    assert [(v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == [(v1, True)]


def test_list_object_versions_markers_and_encoding(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a b", Body=b"1")
    s3.put_object(Bucket=bucket, Key="c", Body=b"1")
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="a b")
    assert [v["Key"] for v in r["Versions"]] == ["c"]
    r = httpx.get(f"{endpoint}/{bucket}?versions&encoding-type=url&prefix=a")
    assert b"<Key>a%20b</Key>" in r.content and b"<EncodingType>url</EncodingType>" in r.content
    deleted = s3.delete_object(Bucket=bucket, Key="c")
    assert deleted["DeleteMarker"] is True and len(deleted["VersionId"]) == 32
    marker = s3.list_object_versions(Bucket=bucket, Prefix="c")["DeleteMarkers"][0]
    assert marker["VersionId"] == deleted["VersionId"] and marker["IsLatest"]
