"""ListBuckets paging (max-buckets, continuation-token, prefix, bucket-region) and S3's bucket
name lengths, with boto3 signing against a gateway of its own (so the bucket list is exact)."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Gateway

AK, SK = "AKIDBUCKETS", "buckets-secret"
NAMES = sorted([f"b{i:02d}.lb" for i in range(7)] + ["other.lb", "zz.lb2"])


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("buckets") / "data", "--access-key", AK, "--secret-key", SK)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3s(gw):
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=AK,
                          aws_secret_access_key=SK,
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    for name in NAMES:
        client.create_bucket(Bucket=name)
    return client


def names(r):
    return [b["Name"] for b in r["Buckets"]]


def test_all_buckets_without_paging(s3s):
    r = s3s.list_buckets()
    assert names(r) == NAMES and "ContinuationToken" not in r
    assert {b["BucketRegion"] for b in r["Buckets"]} == {"us-east-1"}


def test_max_buckets_and_continuation_token(s3s):
    r = s3s.list_buckets(MaxBuckets=4)
    assert names(r) == NAMES[:4] and r["ContinuationToken"]
    r2 = s3s.list_buckets(MaxBuckets=4, ContinuationToken=r["ContinuationToken"])
    assert names(r2) == NAMES[4:8]
    r3 = s3s.list_buckets(MaxBuckets=4, ContinuationToken=r2["ContinuationToken"])
    assert names(r3) == NAMES[8:] and "ContinuationToken" not in r3


def test_paginator_and_prefix(s3s):
    pages = s3s.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 2})
    assert [n for p in pages for n in names(p)] == NAMES
    r = s3s.list_buckets(Prefix="b0", MaxBuckets=3)
    assert names(r) == ["b00.lb", "b01.lb", "b02.lb"] and r["Prefix"] == "b0"
    pages = s3s.get_paginator("list_buckets").paginate(Prefix="b0", PaginationConfig={"PageSize": 3})
    assert [n for p in pages for n in names(p)] == [f"b{i:02d}.lb" for i in range(7)]


def test_bucket_region(s3s):
    assert names(s3s.list_buckets(BucketRegion="us-east-1")) == NAMES
    assert names(s3s.list_buckets(BucketRegion="eu-west-1")) == []


def test_bad_paging_arguments(endpoint, s3s):
    for bad in ("0", "10001", "x"):  # botocore refuses these itself: raw HTTP
        r = httpx.get(f"{endpoint}/?max-buckets={bad}")
        assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content, bad
    with pytest.raises(ClientError) as e:
        s3s.list_buckets(ContinuationToken="%%%not-a-token")
    assert e.value.response["Error"]["Code"] == "InvalidArgument"


@pytest.mark.parametrize("name", ["ab", "x" * 64, "b." + "y" * 62])
def test_bucket_name_length_rules(s3s, name):
    with pytest.raises(ClientError) as e:
        s3s.create_bucket(Bucket=name)
    assert e.value.response["Error"]["Code"] == "InvalidBucketName"
    with pytest.raises(ClientError) as e:
        s3s.head_object(Bucket=name, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_longest_and_shortest_names_work(s3s):
    for name in ("abc", "m." + "z" * 61):
        s3s.create_bucket(Bucket=name)
        s3s.put_object(Bucket=name, Key="k", Body=b"v")
        assert s3s.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
        s3s.delete_object(Bucket=name, Key="k")
        s3s.delete_bucket(Bucket=name)


def test_raw_http_list_buckets_paging(endpoint):
    """Unsigned, on the anonymous gateway: the XML elements S3 sends."""
    r = httpx.get(f"{endpoint}/?max-buckets=1&prefix=nothing-like-this")
    assert r.status_code == 200
    assert b"<Buckets></Buckets>" in r.content and b"<Prefix>nothing-like-this</Prefix>" in r.content
    assert b"ContinuationToken" not in r.content
