"""S3 versioning over PFS commits, with boto3 and credentials on (signing changes what clients send)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Gateway, unique_repo

KEY, SECRET = "versioning-key", "versioning-secret"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("gw-versioning") / "data", "--access-key", KEY, "--secret-key", SECRET)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def new_bucket(s3, status: str | None = None) -> str:
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    if status:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    return name


def headers(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def versions_of(s3, bucket, **kw):
    resp = s3.list_object_versions(Bucket=bucket, **kw)
    out = [(v["Key"], v["VersionId"], v["IsLatest"], "v") for v in resp.get("Versions", [])]
    out += [(m["Key"], m["VersionId"], m["IsLatest"], "m") for m in resp.get("DeleteMarkers", [])]
    # S3 interleaves them in one order (key, newest first); boto3 splits them: sort back by key
    return resp, out


def test_a_new_bucket_is_unversioned_and_writes_name_their_commit(s3):
    b = new_bucket(s3)
    assert "Status" not in s3.get_bucket_versioning(Bucket=b)
    put = s3.put_object(Bucket=b, Key="k", Body=b"1")
    assert "VersionId" not in put
    commit = headers(put)["x-pfs-commit"]
    assert len(commit) == 32
    assert "VersionId" not in s3.head_object(Bucket=b, Key="k")
    assert "VersionId" not in s3.get_object(Bucket=b, Key="k")
    copy = s3.copy_object(Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "k"})
    assert "VersionId" not in copy and len(headers(copy)["x-pfs-commit"]) == 32
    dele = s3.delete_object(Bucket=b, Key="k")
    assert "VersionId" not in dele and "DeleteMarker" not in dele
    # the commit still pins a read-only view of the bucket as it was
    assert s3.get_object(Bucket=f"{commit}.{b}", Key="k")["Body"].read() == b"1"
    _, listed = versions_of(s3, b)
    assert listed == [("c", "null", True, "v")]


def test_enabled_versions_are_commits(s3):
    b = new_bucket(s3, "Enabled")
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and len(v1) == 32
    assert s3.head_object(Bucket=b, Key="k")["VersionId"] == v2
    got = s3.get_object(Bucket=b, Key="k", VersionId=v1)
    assert got["Body"].read() == b"one" and got["VersionId"] == v1
    resp, listed = versions_of(s3, b)
    assert listed == [("k", v2, True, "v"), ("k", v1, False, "v")]
    assert [v["Size"] for v in resp["Versions"]] == [3, 3]
    assert resp["Versions"][0]["ETag"] == s3.head_object(Bucket=b, Key="k")["ETag"]


def test_delete_markers(s3):
    b = new_bucket(s3, "Enabled")
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
    d = s3.delete_object(Bucket=b, Key="k")
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    assert marker not in (v1, "null")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=b, Key="k")
    assert e.value.response["Error"]["Code"] == "404"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k", VersionId=marker)
    assert e.value.response["Error"]["Code"] == "MethodNotAllowed"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read() == b"one"
    resp = s3.list_object_versions(Bucket=b)
    assert [(m["VersionId"], m["IsLatest"]) for m in resp["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in resp["Versions"]] == [(v1, False)]
    assert "Contents" not in s3.list_objects_v2(Bucket=b)


def test_versioned_deletes(s3):
    b = new_bucket(s3, "Enabled")
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"one", Metadata={"n": "1"}, ContentType="text/one")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"two", Metadata={"n": "2"})["VersionId"]
    v3 = s3.put_object(Bucket=b, Key="k", Body=b"three")["VersionId"]
    # an older version just disappears
    r = s3.delete_object(Bucket=b, Key="k", VersionId=v2)
    assert r["VersionId"] == v2
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k", VersionId=v2)
    assert e.value.response["Error"]["Code"] == "NoSuchVersion"
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"three"
    # the current one: the previous remaining version comes back, bytes and metadata
    s3.delete_object(Bucket=b, Key="k", VersionId=v3)
    got = s3.get_object(Bucket=b, Key="k")
    assert got["Body"].read() == b"one"
    assert got["Metadata"] == {"n": "1"} and got["ContentType"] == "text/one"
    assert got["VersionId"] == v1
    _, listed = versions_of(s3, b)
    assert listed == [("k", v1, True, "v")]
    # the last one: the key is gone, and so is every trace of it in listings
    s3.delete_object(Bucket=b, Key="k", VersionId=v1)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=b, Key="k")
    assert versions_of(s3, b)[1] == []
    # deleting it again succeeds
    assert s3.delete_object(Bucket=b, Key="k", VersionId=v1)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_deleting_the_delete_marker_restores_the_object(s3):
    b = new_bucket(s3, "Enabled")
    v1 = s3.put_object(Bucket=b, Key="d/k", Body=b"one")["VersionId"]
    marker = s3.delete_object(Bucket=b, Key="d/k")["VersionId"]
    r = s3.delete_object(Bucket=b, Key="d/k", VersionId=marker)
    assert r["DeleteMarker"] is True and r["VersionId"] == marker
    got = s3.get_object(Bucket=b, Key="d/k")
    assert got["Body"].read() == b"one" and got["VersionId"] == v1
    assert versions_of(s3, b)[1] == [("d/k", v1, True, "v")]


def test_suspended_writes_null_versions(s3):
    b = new_bucket(s3)
    s3.put_object(Bucket=b, Key="k", Body=b"old")  # before versioning: the null version
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"v1")["VersionId"]
    assert versions_of(s3, b)[1] == [("k", v1, True, "v"), ("k", "null", False, "v")]
    assert s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read() == b"old"
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Suspended"
    put = s3.put_object(Bucket=b, Key="k", Body=b"n1")
    assert put["VersionId"] == "null"
    # the new null version replaced the old one
    assert versions_of(s3, b)[1] == [("k", "null", True, "v"), ("k", v1, False, "v")]
    assert s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read() == b"n1"
    d = s3.delete_object(Bucket=b, Key="k")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    assert versions_of(s3, b)[1] == [("k", v1, False, "v"), ("k", "null", True, "m")]
    s3.delete_object(Bucket=b, Key="k", VersionId="null")
    got = s3.get_object(Bucket=b, Key="k")
    assert got["Body"].read() == b"v1"


def test_put_bucket_versioning_errors(s3, gw):
    import httpx  # noqa: F401

    b = new_bucket(s3)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
                                 MFA="serial 123456")
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=f"master.{unique_repo()}", VersioningConfiguration={"Status": "Enabled"})
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    assert "Status" not in s3.get_bucket_versioning(Bucket=b)
