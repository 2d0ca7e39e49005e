"""Versioning through real clients (credentials on): paging over many commits, delimiters,
copies, multipart, DeleteObjects, the minio SDK, the AWS CLI and rclone."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_versioning import KEY, SECRET, gw, headers, new_bucket, s3  # noqa: F401


def all_versions(s3, bucket, page_size, **kw):  # noqa: F811
    got = []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": page_size}, **kw):
        got += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        got += [(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])]
    return got


def test_paginator_returns_every_version_exactly_once_over_many_commits(s3):  # noqa: F811
    b = new_bucket(s3, "Enabled")
    made = []
    for i in range(120):  # 120 commits: 12 keys written 10 times each
        key = f"d{i % 3}/k{i % 12:02d}"
        made.append((key, s3.put_object(Bucket=b, Key=key, Body=str(i).encode())["VersionId"]))
    markers = [("d0/k00", s3.delete_object(Bucket=b, Key="d0/k00")["VersionId"])]
    expected = sorted(made + markers, key=lambda kv: kv[0])
    for size in (7, 50, 1000):
        got = all_versions(s3, b, size)
        assert len(got) == len(set(got)) == 121
        assert sorted(got) == sorted(expected)
    # S3's order: by key, each key's newest first (boto3 puts markers in a list of their own)
    resp = s3.list_object_versions(Bucket=b, MaxKeys=1000)
    keys = [v["Key"] for v in resp["Versions"]]
    assert keys == sorted(keys)
    newest_first = [v for k, v in reversed(made) if k == "d1/k01"]
    assert [v["VersionId"] for v in resp["Versions"] if v["Key"] == "d1/k01"] == newest_first
    # markers the gateway emits are ones it accepts, by hand too
    page = s3.list_object_versions(Bucket=b, MaxKeys=5)
    assert page["IsTruncated"] and page["NextKeyMarker"] and page["NextVersionIdMarker"]
    nxt = s3.list_object_versions(Bucket=b, MaxKeys=5, KeyMarker=page["NextKeyMarker"],
                                  VersionIdMarker=page["NextVersionIdMarker"])
    first = {v["VersionId"] for v in page["Versions"]} | {m["VersionId"] for m in page.get("DeleteMarkers", [])}
    second = {v["VersionId"] for v in nxt["Versions"]} | {m["VersionId"] for m in nxt.get("DeleteMarkers", [])}
    assert not first & second and len(second) == 5


@pytest.mark.parametrize("delimiter", ["/", "-", "ab", "%"])
def test_any_delimiter_and_prefix(s3, delimiter):  # noqa: F811
    b = new_bucket(s3, "Enabled")
    keys = ["a/1", "a/2", "a-x", "a-y/z", "abab", "ab%c", "b", "q%r/s"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=k.encode())
    resp = s3.list_object_versions(Bucket=b, Delimiter=delimiter)
    prefixes = sorted(p["Prefix"] for p in resp.get("CommonPrefixes", []))
    flat = sorted(v["Key"] for v in resp.get("Versions", []))
    want_prefixes = sorted({k[: k.index(delimiter) + len(delimiter)] for k in keys if delimiter in k})
    assert prefixes == want_prefixes
    assert flat == sorted(k for k in keys if delimiter not in k)
    # paged one entry at a time, prefixes and versions each come once
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=b, Delimiter=delimiter, PaginationConfig={"PageSize": 1}):
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        seen += [v["Key"] for v in page.get("Versions", [])]
    assert sorted(seen) == sorted(want_prefixes + flat)
    under = s3.list_object_versions(Bucket=b, Prefix="a", Delimiter=delimiter)
    assert all(p["Prefix"].startswith("a") for p in under.get("CommonPrefixes", []))
    assert all(v["Key"].startswith("a") for v in under.get("Versions", []))


def test_copy_object_with_version_sources(s3):  # noqa: F811
    b = new_bucket(s3, "Enabled")
    v1 = s3.put_object(Bucket=b, Key="src", Body=b"one")["VersionId"]
    s3.put_object(Bucket=b, Key="src", Body=b"two")
    c = s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src", "VersionId": v1})
    assert c["CopySourceVersionId"] == v1
    assert len(c["VersionId"]) == 32 and c["VersionId"] == headers(c)["x-pfs-commit"]
    assert s3.get_object(Bucket=b, Key="dst")["Body"].read() == b"one"
    plain = new_bucket(s3)
    c2 = s3.copy_object(Bucket=plain, Key="k", CopySource={"Bucket": b, "Key": "src"})
    assert "VersionId" not in c2 and len(c2["CopySourceVersionId"]) == 32
    marker = s3.delete_object(Bucket=b, Key="src")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "src", "VersionId": marker})
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "src", "VersionId": "0" * 32})
    assert e.value.response["Error"]["Code"] == "NoSuchVersion"


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_multipart_completion_is_a_version(s3, status):  # noqa: F811
    b = new_bucket(s3, status)
    first = s3.put_object(Bucket=b, Key="big", Body=b"small")
    up = s3.create_multipart_upload(Bucket=b, Key="big")["UploadId"]
    part = s3.upload_part(Bucket=b, Key="big", UploadId=up, PartNumber=1, Body=b"x" * 1024)
    done = s3.complete_multipart_upload(Bucket=b, Key="big", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    listed = s3.list_object_versions(Bucket=b)["Versions"]
    if status == "Enabled":
        assert len(done["VersionId"]) == 32
        assert [v["VersionId"] for v in listed] == [done["VersionId"], first["VersionId"]]
        assert listed[0]["ETag"] == done["ETag"]  # the multipart ETag, kept with the version
    else:
        assert done["VersionId"] == "null"
        assert [(v["VersionId"], v["Size"]) for v in listed] == [("null", 1024)]


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_delete_objects_markers_and_versions(s3, status):  # noqa: F811
    b = new_bucket(s3, status)
    puts = {k: s3.put_object(Bucket=b, Key=k, Body=k.encode())["VersionId"] for k in ("a", "b", "c")}
    resp = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "none"}]})
    by_key = {d["Key"]: d for d in resp["Deleted"]}
    assert by_key["a"]["DeleteMarker"] is True and by_key["b"]["DeleteMarker"] is True
    assert "DeleteMarker" not in by_key["none"]
    marker_a = by_key["a"]["DeleteMarkerVersionId"]
    assert marker_a == ("null" if status == "Suspended" else headers(resp)["x-pfs-commit"])
    # versions by ID: the marker of a (a comes back), and c's only version (c is gone)
    resp = s3.delete_objects(Bucket=b, Delete={"Objects": [
        {"Key": "a", "VersionId": marker_a}, {"Key": "c", "VersionId": puts["c"]}]})
    by_key = {d["Key"]: d for d in resp["Deleted"]}
    assert by_key["a"]["DeleteMarker"] is True and by_key["a"]["VersionId"] == marker_a
    assert by_key["c"]["VersionId"] == puts["c"]
    if status == "Enabled":
        assert s3.get_object(Bucket=b, Key="a")["Body"].read() == b"a"
    else:  # the null marker replaced a's null version: nothing is left to come back
        with pytest.raises(ClientError):
            s3.head_object(Bucket=b, Key="a")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=b, Key="c")


def test_minio_sdk_versioning(gw):  # noqa: F811
    from minio import Minio
    from minio.commonconfig import ENABLED
    from minio.versioningconfig import VersioningConfig

    u = urlparse(gw.url)
    mc = Minio(f"{u.hostname}:{u.port}", access_key=KEY, secret_key=SECRET, secure=False, region="us-east-1")
    name = "master.minio" + os.urandom(4).hex()
    mc.make_bucket(name)
    assert mc.get_bucket_versioning(name).status in (None, "Off")  # no Status: never versioned
    mc.set_bucket_versioning(name, VersioningConfig(ENABLED))
    assert mc.get_bucket_versioning(name).status == "Enabled"
    v1 = mc.put_object(name, "k", io.BytesIO(b"one"), 3).version_id
    v2 = mc.put_object(name, "k", io.BytesIO(b"two!"), 4).version_id
    assert mc.stat_object(name, "k").version_id == v2
    assert mc.stat_object(name, "k", version_id=v1).size == 3
    resp = mc.get_object(name, "k", version_id=v1)
    try:
        assert resp.read() == b"one"
    finally:
        resp.close()
        resp.release_conn()
    listed = [(o.object_name, o.version_id, o.is_latest) for o in mc.list_objects(name, include_version=True)]
    assert listed == [("k", v2, "true"), ("k", v1, "false")]
    mc.remove_object(name, "k", version_id=v2)
    assert mc.stat_object(name, "k").version_id == v1
    mc.remove_object(name, "k")  # a delete marker
    listed = {(o.version_id, o.is_delete_marker, o.is_latest) for o in mc.list_objects(name, include_version=True)}
    assert len(listed) == 2 and (v1, False, "false") in listed
    assert [o.is_latest for o in mc.list_objects(name, include_version=True) if o.is_delete_marker] == ["true"]
    for o in list(mc.list_objects(name, include_version=True)):
        mc.remove_object(name, o.object_name, version_id=o.version_id)
    assert list(mc.list_objects(name, include_version=True)) == []
    mc.remove_bucket(name)


def aws(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    cli = Path(sys.executable).parent / "aws"
    return subprocess.run([str(cli), "--endpoint-url", url, *args], env=env, capture_output=True,
                          text=True, check=True, timeout=300)


def test_aws_cli_version_round_trips(gw, s3):  # noqa: F811
    b = new_bucket(s3)
    aws(gw.url, "s3api", "put-bucket-versioning", "--bucket", b,
        "--versioning-configuration", "Status=Enabled")
    made = [json.loads(aws(gw.url, "s3api", "put-object", "--bucket", b, "--key", f"k{i % 4}").stdout)["VersionId"]
            for i in range(104)]
    listed = json.loads(aws(gw.url, "s3api", "list-object-versions", "--bucket", b,
                            "--page-size", "10").stdout)
    ids = [v["VersionId"] for v in listed["Versions"]]
    assert len(ids) == len(set(ids)) == 104 and set(ids) == set(made)
    aws(gw.url, "s3api", "delete-object", "--bucket", b, "--key", "k3", "--version-id", made[-1])
    listed = json.loads(aws(gw.url, "s3api", "list-object-versions", "--bucket", b, "--prefix", "k3").stdout)
    assert made[-1] not in [v["VersionId"] for v in listed["Versions"]]
    assert listed["Versions"][0]["IsLatest"] is True and listed["Versions"][0]["VersionId"] == made[-5]


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone (Debian package) is not installed")
def test_rclone_purge_of_a_versioned_bucket(gw, s3, tmp_path):  # noqa: F811
    b = new_bucket(s3, "Enabled")
    for i in range(200):
        s3.put_object(Bucket=b, Key=f"dir{i % 5}/f{i:03d}", Body=b"x" * (i % 7))
    for i in range(0, 200, 10):  # a few with more versions, a few deleted (markers)
        s3.put_object(Bucket=b, Key=f"dir{i % 5}/f{i:03d}", Body=b"again")
    for i in range(0, 200, 25):
        s3.delete_object(Bucket=b, Key=f"dir{i % 5}/f{i:03d}")
    conf = tmp_path / "rclone.conf"
    conf.write_text(f"[gw]\ntype = s3\nprovider = Other\nendpoint = {gw.url}\naccess_key_id = {KEY}\n"
                    f"secret_access_key = {SECRET}\nregion = us-east-1\n")
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    run = subprocess.run(["rclone", "--config", str(conf), "purge", f"gw:{b}"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert e.value.response["Error"]["Code"] == "404"
