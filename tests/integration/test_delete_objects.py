"""DeleteObjects: many keys, one commit, per-key results, S3's integrity and size rules."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def bucket(versioned_bucket):
    """Versioned: these tests use version IDs (the commits of their writes)."""
    return versioned_bucket


def objects(*keys: str) -> dict:
    return {"Objects": [{"Key": k} for k in keys]}


def test_delete_three_keys_in_one_commit(s3, bucket):
    for k in ("a", "b/c", "d"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x", Metadata={"m": k.replace("/", "")})
    before = s3.put_object(Bucket=bucket, Key="keep", Body=b"x")["VersionId"]
    r = s3.delete_objects(Bucket=bucket, Delete=objects("a", "b/c", "d", "missing"))
    deleted = {d["Key"]: d for d in r["Deleted"]}
    assert set(deleted) == {"a", "b/c", "d", "missing"} and "Errors" not in r
    versions = {d["DeleteMarkerVersionId"] for d in deleted.values() if d.get("DeleteMarker")}
    assert len(versions) == 1  # one commit for all three
    commit = versions.pop()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep"]
    # the commit before still has all of them; the new commit's parent is that commit
    pinned = s3.list_objects_v2(Bucket=f"{before}.{bucket}")
    assert [o["Key"] for o in pinned["Contents"]] == ["a", "b/c", "d", "keep"]
    assert s3.list_objects_v2(Bucket=f"{commit}.{bucket}")["KeyCount"] == 1
    s3.put_object(Bucket=bucket, Key="a", Body=b"y")
    assert s3.head_object(Bucket=bucket, Key="a")["Metadata"] == {}  # the sidecar went too


def test_quiet_and_per_key_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x")
    s3.put_object(Bucket=bucket, Key="dir/inner", Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Quiet": True, **objects("ok", "bad*key", "dir")})
    assert "Deleted" not in r
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("bad*key", "InvalidArgument")]
    # a directory key is skipped (reported deleted when not quiet), its files stay
    assert s3.get_object(Bucket=bucket, Key="dir/inner")["Body"].read() == b"x"
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dir", "VersionId": "0" * 32}]})
    assert r["Deleted"] == [{"Key": "dir", "VersionId": "0" * 32}]  # no such version: nothing to do
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "ok", "VersionId": "not-a-commit"}]})
    assert r["Errors"][0]["Code"] == "InvalidArgument"


def test_nothing_to_delete_commits_nothing(s3, bucket):
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    r = s3.delete_objects(Bucket=bucket, Delete=objects("nope"))
    assert r["Deleted"] == [{"Key": "nope"}]
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v


def test_no_such_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket="master.nosuchrepo", Delete=objects("a"))
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def _post(endpoint, bucket, body: bytes, **headers):
    return httpx.post(f"{endpoint}/{bucket}?delete", content=body, headers=headers)


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def test_integrity_header_required_and_checked(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    body = b"<Delete><Object><Key>k</Key></Object></Delete>"
    r = _post(endpoint, bucket, body)
    assert r.status_code == 400 and b"<Code>InvalidRequest</Code>" in r.content
    assert b"Missing required header for this request: Content-MD5" in r.content
    r = _post(endpoint, bucket, body, **{"Content-MD5": _md5(b"other")})
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    r = _post(endpoint, bucket, body, **{"x-amz-checksum-crc32": "AAAAAA=="})
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content
    r = _post(endpoint, bucket, body, **{"Content-MD5": _md5(body)})
    assert r.status_code == 200 and b"<Deleted><Key>k</Key>" in r.content


@pytest.mark.parametrize("body", [b"not xml", b"<Other/>", b"<Delete></Delete>",
                                  b"<Delete><Object><VersionId>x</VersionId></Object></Delete>",
                                  b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"])
def test_malformed_xml(endpoint, bucket, body):
    r = _post(endpoint, bucket, body, **{"Content-MD5": _md5(body)})
    assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content


def test_thousand_keys_with_namespace(endpoint, s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    body = ('<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>'
            + "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1000)) + "</Delete>").encode()
    r = _post(endpoint, bucket, body, **{"Content-MD5": _md5(body)})
    assert r.status_code == 200, r.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_pinned_bucket_refuses(endpoint, s3, bucket):
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=f"{v}.{bucket}", Delete=objects("k"))
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
