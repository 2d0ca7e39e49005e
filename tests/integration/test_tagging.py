"""Object and bucket tagging with boto3 and the minio SDK against a gateway with credentials:
the operations, x-amz-tagging on PutObject/CopyObject/CreateMultipartUpload, the tagging
directive, x-amz-tagging-count, S3's limits, and that tags change in their own commit."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo
from tests.integration import signed


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = signed.start(tmp_path_factory.mktemp("taggw"))
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    return signed.boto3_client(gw.url)


@pytest.fixture
def bucket(s3):
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    return name


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def tagset(d: dict) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in d.items()]


def tags_of(s3, bucket, key, **kw) -> dict:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def test_object_tagging_round_trip(s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentType="text/x-kept",
                       Metadata={"color": "blue"})["ResponseMetadata"]["HTTPHeaders"]["x-pfs-commit"]
    assert tags_of(s3, bucket, "k") == {}
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="k")
    v2 = s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tagset(
        {"project": "x", "with space": "a/b:c@d=e+f-g_h.i", "empty": ""})})
    v2 = v2["ResponseMetadata"]["HTTPHeaders"]["x-pfs-commit"]
    assert v2 != v1  # a commit of its own
    assert tags_of(s3, bucket, "k") == {"project": "x", "with space": "a/b:c@d=e+f-g_h.i", "empty": ""}
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "3"
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 3 and got["Body"].read() == b"data"
    # the bytes and the other metadata are unchanged
    assert (got["ContentType"], got["Metadata"], got["ETag"]) == ("text/x-kept", {"color": "blue"}, head["ETag"])
    # an unversioned bucket's commits are not S3 versions: as GetObject, NoSuchVersion
    # (test_stored_checksums.py reads the tags of older versions on a versioned bucket)
    assert error_of(lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)) == (404, "NoSuchVersion")
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=v1)) == (404, "NoSuchVersion")
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert tags_of(s3, bucket, "k") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")
    assert error_of(lambda: s3.get_object_tagging(Bucket=bucket, Key="missing")) == (404, "NoSuchKey")
    assert error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="missing",
                                                  Tagging={"TagSet": []})) == (404, "NoSuchKey")


def test_tagging_on_writes_and_copy_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"s", Tagging="a=1&b=two%20words")
    assert tags_of(s3, bucket, "src") == {"a": "1", "b": "two words"}
    s3.copy_object(Bucket=bucket, Key="copied", CopySource=f"{bucket}/src")
    assert tags_of(s3, bucket, "copied") == {"a": "1", "b": "two words"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource=f"{bucket}/src",
                   TaggingDirective="REPLACE", Tagging="c=3")
    assert tags_of(s3, bucket, "replaced") == {"c": "3"}
    s3.copy_object(Bucket=bucket, Key="none", CopySource=f"{bucket}/src", TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "none") == {}
    # metadata REPLACE keeps the source's tags unless the tagging directive says otherwise
    s3.copy_object(Bucket=bucket, Key="meta", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   ContentType="text/plain")
    assert tags_of(s3, bucket, "meta") == {"a": "1", "b": "two words"}
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="m=p")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"part")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert tags_of(s3, bucket, "mp") == {"m": "p"}
    assert s3.head_object(Bucket=bucket, Key="mp")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "1"


def test_tag_limits(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    bad = [
        {f"k{i}": "v" for i in range(11)},  # 11 tags
        {"k" * 129: "v"},
        {"k": "v" * 257},
        {"aws:reserved": "v"},
    ]
    for tags in bad:
        assert error_of(lambda t=tags: s3.put_object_tagging(
            Bucket=bucket, Key="k", Tagging={"TagSet": tagset(t)})) == (400, "InvalidTag"), tags
    dup = [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]
    assert error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": dup})) \
        == (400, "InvalidTag")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&a=2")) \
        == (400, "InvalidTag")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="t"))[0] == 404  # nothing written
    ok = {f"k{i}": "v" * 256 for i in range(9)} | {"k" * 128: ""}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tagset(ok)})
    assert tags_of(s3, bucket, "k") == ok


def test_bucket_tagging(s3, bucket):
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset({"team": "data", "cost": "42"})})
    got = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert got == {"team": "data", "cost": "42"}
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # hidden from listings
    assert error_of(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset(
        {f"k{i}": "v" for i in range(51)})})) == (400, "InvalidTag")
    s3.delete_bucket_tagging(Bucket=bucket)
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset({"again": "1"})})
    s3.delete_bucket(Bucket=bucket)  # the tags do not make the bucket non-empty
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=f"master.{unique_repo()}")) == (404, "NoSuchBucket")


def test_minio_tagging(gw, s3, bucket):
    from minio import Minio
    from minio.commonconfig import Tags

    u = urlparse(gw.url)
    mc = Minio(f"{u.hostname}:{u.port}", access_key=signed.AK, secret_key=signed.SK, secure=False,
               region="us-east-1")
    tags = Tags.new_object_tags()
    tags["owner"] = "minio"
    mc.put_object(bucket, "o", io.BytesIO(b"abc"), 3, tags=tags)
    assert dict(mc.get_object_tags(bucket, "o")) == {"owner": "minio"}
    tags["stage"] = "two"
    mc.set_object_tags(bucket, "o", tags)
    assert dict(mc.get_object_tags(bucket, "o")) == {"owner": "minio", "stage": "two"}
    mc.delete_object_tags(bucket, "o")
    assert not mc.get_object_tags(bucket, "o")
    btags = Tags.new_bucket_tags()
    btags["env"] = "test"
    mc.set_bucket_tags(bucket, btags)
    assert dict(mc.get_bucket_tags(bucket)) == {"env": "test"}
    mc.delete_bucket_tags(bucket)
    assert mc.get_bucket_tags(bucket) is None


def test_tagging_body_digest_is_checked(gw, bucket):
    """A Content-MD5 that does not match the body (set before signing): BadDigest, nothing
    changes."""
    s3 = signed.boto3_client(gw.url)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")

    def corrupt(request, **_):
        for name in list(request.headers):
            if name.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum")):
                del request.headers[name]
        request.headers["Content-MD5"] = "AAAAAAAAAAAAAAAAAAAAAA=="

    s3.meta.events.register("before-sign.s3.PutObjectTagging", corrupt)
    assert error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tagset(
        {"a": "b"})})) == (400, "BadDigest")
    assert tags_of(s3, bucket, "k") == {}
