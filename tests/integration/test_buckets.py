"""Bucket operations over real processes: ListBuckets, CreateBucket, HeadBucket, DeleteBucket."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_create_list_head_delete(s3):
    repo = unique_repo()
    s3.create_bucket(Bucket=f"master.{repo}")
    s3.create_bucket(Bucket=f"dev.{repo}")  # a second branch of an existing repo
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {f"master.{repo}", f"dev.{repo}"} <= names
    created = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}
    assert created[f"master.{repo}"].year >= 2026
    s3.head_bucket(Bucket=f"dev.{repo}")
    s3.delete_bucket(Bucket=f"dev.{repo}")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=f"dev.{repo}")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.head_bucket(Bucket=f"master.{repo}")  # the repo keeps its other branch
    s3.delete_bucket(Bucket=f"master.{repo}")
    assert f"master.{repo}" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_bare_repo_is_master(s3):
    repo = unique_repo()
    s3.create_bucket(Bucket=repo)
    assert f"master.{repo}" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    s3.put_object(Bucket=repo, Key="k", Body=b"v")
    assert s3.get_object(Bucket=f"master.{repo}", Key="k")["Body"].read() == b"v"


def test_same_bucket_twice_is_409(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=bucket)
    assert code(e) == "BucketAlreadyOwnedByYou"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


@pytest.mark.parametrize("name", ["bad!name", "a..b", ".lead.x", "x.y.", "has space.r", "x.y.z.w.v",
                                  "ünïcode.r", "a" * 300])
def test_invalid_names_are_400(endpoint, name):
    r = httpx.put(f"{endpoint}/{name}")
    assert r.status_code == 400, r.text
    assert b"<Code>InvalidBucketName</Code>" in r.content


def test_create_bucket_configuration_with_region_is_accepted(s3):
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.head_bucket(Bucket=name)


def test_malformed_configuration_is_rejected(endpoint):
    r = httpx.put(f"{endpoint}/master.{unique_repo()}", content=b"<CreateBucketConfiguration>")
    assert r.status_code == 400
    assert b"<Code>MalformedXML</Code>" in r.content


def test_project_buckets(s3):
    repo = unique_repo()
    name = f"master.{repo}.proj{repo[-4:]}"
    s3.create_bucket(Bucket=name)
    assert name in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    s3.put_object(Bucket=name, Key="a", Body=b"1")
    assert s3.get_object(Bucket=name, Key="a")["Body"].read() == b"1"


def test_head_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=f"master.{unique_repo()}")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_missing_bucket_errors_are_no_such_bucket(s3):
    missing = f"master.{unique_repo()}"
    for call in (lambda: s3.list_objects(Bucket=missing), lambda: s3.get_object(Bucket=missing, Key="k"),
                 lambda: s3.put_object(Bucket=missing, Key="k", Body=b"x"),
                 lambda: s3.delete_bucket(Bucket=missing), lambda: s3.delete_object(Bucket=missing, Key="k")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NoSuchBucket"
    assert missing not in {b["Name"] for b in s3.list_buckets()["Buckets"]}  # put made no bucket


def test_delete_empty_and_non_empty(s3):
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="x/y", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="x/y")
    s3.delete_bucket(Bucket=name)  # empty again: deletes fine
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def test_multipart_staging_branch_is_never_a_bucket(endpoint, s3):
    repo = unique_repo()
    s3.create_bucket(Bucket=f"master.{repo}")
    upload = s3.create_multipart_upload(Bucket=f"master.{repo}", Key="big")["UploadId"]
    s3.upload_part(Bucket=f"master.{repo}", Key="big", UploadId=upload, PartNumber=1, Body=b"x")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert f"master.{repo}" in names
    assert not any(n.startswith("s3g-uploads.") for n in names)
    r = httpx.put(f"{endpoint}/s3g-uploads.{repo}")
    assert r.status_code == 400 and b"<Code>InvalidBucketName</Code>" in r.content
    assert httpx.get(f"{endpoint}/s3g-uploads.{repo}").status_code == 400
    # deleting the last real bucket deletes the repo, staged uploads included
    s3.abort_multipart_upload(Bucket=f"master.{repo}", Key="big", UploadId=upload)
    s3.delete_bucket(Bucket=f"master.{repo}")
    s3.create_bucket(Bucket=f"dev.{repo}")  # the repo is new again: no old branches
    assert {b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith(f".{repo}")} == {f"dev.{repo}"}
