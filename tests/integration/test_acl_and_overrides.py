"""ACLs on the default bucket (Get/PutBucketAcl, Get/PutObjectAcl, x-amz-acl) and GetObject's response-*
overrides, with boto3, the minio SDK and the AWS CLI against a gateway with credentials; raw
HTTP where S3 refuses what clients never send (an anonymous override)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT, unique_repo
from tests.integration import signed


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = signed.start(tmp_path_factory.mktemp("aclgw"))
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    return signed.boto3_client(gw.url)


@pytest.fixture
def bucket(s3):
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name, ACL="private")
    return name


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def owner_full_control(acl: dict) -> None:
    owner = hashlib.sha256(signed.AK.encode()).hexdigest()  # the key's canonical ID
    assert acl["Owner"] == {"ID": owner, "DisplayName": signed.AK}
    assert [(g["Grantee"]["Type"], g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] \
        == [("CanonicalUser", owner, "FULL_CONTROL")]


def test_bucket_acl_under_bucket_owner_enforced(s3, bucket):
    """A new bucket has ACLs disabled (BucketOwnerEnforced, as on AWS): only owner-only ACLs
    are accepted (tests/integration/test_acl.py covers buckets that allow ACLs)."""
    owner_full_control(s3.get_bucket_acl(Bucket=bucket))
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert error_of(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read")) \
        == (400, "AccessControlListNotSupported")
    policy = s3.get_bucket_acl(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Grants": policy["Grants"], "Owner": policy["Owner"]})
    grants = [*policy["Grants"], {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                                  "Permission": "READ"}]
    assert error_of(lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Grants": grants, "Owner": policy["Owner"]})) == (400, "AccessControlListNotSupported")
    owner_full_control(s3.get_bucket_acl(Bucket=bucket))
    assert error_of(lambda: s3.get_bucket_acl(Bucket=f"master.{unique_repo()}")) == (404, "NoSuchBucket")


def test_object_acls_and_canned_acl_on_writes_under_bucket_owner_enforced(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    owner_full_control(s3.get_object_acl(Bucket=bucket, Key="k"))
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert error_of(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")) \
        == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.get_object_acl(Bucket=bucket, Key="nope")) == (404, "NoSuchKey")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="public-read")) \
        == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="p", Body=b"x", GrantRead="id=someone")) \
        == (400, "InvalidArgument")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="p"))[0] == 404  # nothing written
    s3.copy_object(Bucket=bucket, Key="c", CopySource=f"{bucket}/k", ACL="private")
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="c2", CopySource=f"{bucket}/k",
                                           ACL="authenticated-read")) == (400, "AccessControlListNotSupported")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m", ACL="private")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=uid)
    assert error_of(lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", ACL="public-read-write")) \
        == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.create_bucket(Bucket=f"master.{unique_repo()}", ACL="public-read")) \
        == (400, "InvalidBucketAclWithObjectOwnership")


def test_aws_cli_reads_acls(gw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": signed.AK, "AWS_SECRET_ACCESS_KEY": signed.SK,
           "AWS_DEFAULT_REGION": "us-east-1"}
    for args in (["get-bucket-acl", "--bucket", bucket], ["get-object-acl", "--bucket", bucket, "--key", "k"]):
        out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", gw.url, "s3api", *args],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["Grants"][0]["Permission"] == "FULL_CONTROL"


OVERRIDES = {
    "ResponseContentType": ("text/csv", "ContentType"),
    "ResponseContentLanguage": ("fr", "ContentLanguage"),
    "ResponseCacheControl": ("no-store", "CacheControl"),
    "ResponseContentDisposition": ('attachment; filename="x.csv"', "ContentDisposition"),
    "ResponseContentEncoding": ("identity", "ContentEncoding"),
}


def test_response_overrides_signed_and_presigned(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"a,b\n", ContentType="text/plain", CacheControl="max-age=60")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseExpires="Wed, 21 Oct 2037 07:28:00 GMT",
                        **{k: v for k, (v, _) in OVERRIDES.items()})
    assert got["Body"].read() == b"a,b\n"
    for value, field in OVERRIDES.values():
        assert got[field] == value
    assert got["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Wed, 21 Oct 2037 07:28:00 GMT"
    head = s3.head_object(Bucket=bucket, Key="o", ResponseContentType="text/csv")
    assert head["ContentType"] == "text/csv"
    # stored metadata is unchanged
    plain = s3.get_object(Bucket=bucket, Key="o")
    assert (plain["ContentType"], plain["CacheControl"]) == ("text/plain", "max-age=60")
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "o", "ResponseContentDisposition": "attachment; filename=dl.csv",
        "ResponseContentType": "application/octet-stream"})
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"a,b\n"
    assert r.headers["content-disposition"] == "attachment; filename=dl.csv"
    assert r.headers["content-type"] == "application/octet-stream"


def test_minio_response_headers(gw, s3, bucket):
    from minio import Minio

    s3.put_object(Bucket=bucket, Key="o", Body=b"data")
    u = urlparse(gw.url)
    mc = Minio(f"{u.hostname}:{u.port}", access_key=signed.AK, secret_key=signed.SK, secure=False,
               region="us-east-1")
    url = mc.presigned_get_object(bucket, "o", response_headers={"response-content-type": "text/x-minio"})
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"data"
    assert r.headers["content-type"] == "text/x-minio"


def test_anonymous_request_cannot_override(endpoint, s3):
    """The anonymous gateway: an unsigned GET with response-* is 400 InvalidRequest, as S3."""
    name = f"master.{unique_repo()}"
    assert httpx.put(f"{endpoint}/{name}").status_code == 200
    assert httpx.put(f"{endpoint}/{name}/o", content=b"x").status_code == 200
    r = httpx.get(f"{endpoint}/{name}/o", params={"response-content-type": "text/html"})
    assert r.status_code == 400 and b"<Code>InvalidRequest</Code>" in r.content
    assert httpx.get(f"{endpoint}/{name}/o").content == b"x"
