"""Conditional writes (If-None-Match: *, If-Match) on PutObject, CopyObject and
CompleteMultipartUpload, with boto3 against a gateway with credentials; the atomic check under
racing writers; and the check-then-write fallback with pfsd's extensions off (pachd's path)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo
from tests.integration import signed
from tests.integration.conftest import in_process_gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = signed.start(tmp_path_factory.mktemp("condgw"))
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    return signed.boto3_client(gw.url, max_pool_connections=32)


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


def test_put_if_none_match_creates_once(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")) \
        == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_put_if_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfMatch='"0123"')) \
        == (412, "PreconditionFailed")
    etag2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # the old ETag no longer matches
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=etag)) \
        == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["ETag"] == etag2
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=etag)) \
        == (404, "NoSuchKey")


def test_if_none_match_other_than_star_is_refused(gw, s3, bucket):
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch='"abc"')) \
        == (501, "NotImplemented")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="k"))[0] == 404


def test_racing_if_none_match_puts_exactly_one_wins(s3, bucket):
    """Many concurrent create-only PUTs of each key: exactly one commits per key."""
    attempts, keys = 12, 4

    def put(i: int) -> tuple[str, int, bytes]:
        key = f"race/{i % keys}"
        body = f"writer {i}".encode()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            return key, 200, body
        except ClientError as e:
            return key, e.response["ResponseMetadata"]["HTTPStatusCode"], body

    with ThreadPoolExecutor(attempts) as pool:
        results = list(pool.map(put, range(attempts * keys)))
    for k in range(keys):
        key = f"race/{k}"
        mine = [r for r in results if r[0] == key]
        winners = [r for r in mine if r[1] == 200]
        assert len(winners) == 1, mine
        assert {r[1] for r in mine if r[1] != 200} <= {412}
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == winners[0][2]


def test_copy_destination_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfNoneMatch="*")
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                                           IfNoneMatch="*")) == (412, "PreconditionFailed")
    s3.put_object(Bucket=bucket, Key="dst", Body=b"changed")
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                                           IfMatch='"ffffffffffffffffffffffffffffffff"')) \
        == (412, "PreconditionFailed")
    etag = s3.head_object(Bucket=bucket, Key="dst")["ETag"]
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source"


def test_complete_multipart_conditions(s3, bucket):
    def upload(key: str, data: bytes) -> tuple[str, list]:
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=data)["ETag"]
        return uid, [{"PartNumber": 1, "ETag": etag}]

    uid, parts = upload("mp", b"multipart one")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    uid, parts = upload("mp", b"multipart two")
    assert error_of(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts}, IfNoneMatch="*")) \
        == (412, "PreconditionFailed")
    current = s3.head_object(Bucket=bucket, Key="mp")["ETag"]
    assert current.endswith('-1"')  # a multipart ETag is matched too
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": parts}, IfMatch=current)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"multipart two"


@pytest.mark.parametrize("extensions", [True, False], ids=["pfsd", "pachd-fallback"])
def test_conditions_in_process(pfsd_address, extensions):
    """The same rules through the in-process gateway, with pfsd's extensions on and off (off:
    the client behaves as against pachd, which ignores the requirement: the check-then-write
    fallback still answers 412 to a sequential second create)."""
    from gateway.pfs.client import Ref, Requirement, add_file
    from gateway.pfs.errors import ConditionFailed

    name = f"master.{unique_repo()}"

    async def main() -> None:
        async with in_process_gateway(pfsd_address, extensions) as (http, client):
            assert (await http.put(f"/{name}")).status_code == 200
            r = await http.put(f"/{name}/k", content=b"one", headers={"If-None-Match": "*"})
            assert r.status_code == 200, r.text
            r = await http.put(f"/{name}/k", content=b"two", headers={"If-None-Match": "*"})
            assert r.status_code == 412 and b"PreconditionFailed" in r.content
            etag = (await http.head(f"/{name}/k")).headers["etag"]
            r = await http.put(f"/{name}/k", content=b"three", headers={"If-Match": etag})
            assert r.status_code == 200, r.text
            assert (await http.get(f"/{name}/k")).content == b"three"
            ref = Ref("default", name.split(".", 1)[1], "master")
            if extensions:  # the requirement itself, straight to pfsd: nothing is committed
                with pytest.raises(ConditionFailed):
                    await client.modify_file(ref, [add_file("/k", b"x")], require=[Requirement("/k", None)])
                with pytest.raises(ConditionFailed):
                    await client.modify_file(ref, [add_file("/k", b"x")], require=[Requirement("/k", "00" * 16)])
                assert b"".join([c async for c in client.get_file(ref, "/k")]) == b"three"

    asyncio.run(main())


def test_retried_complete_answers_the_same(s3, bucket):
    """SDKs retry a CompleteMultipartUpload that timed out: after it succeeded, the same
    request answers 200 with the same ETag and version, and the object is unchanged."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = os.urandom(5 * 1024 * 1024)
    parts = []
    for n, data in ((1, part), (2, b"tail")):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=data)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    assert (again["ETag"], again.get("VersionId")) == (first["ETag"], first.get("VersionId"))
    assert again["ResponseMetadata"]["HTTPHeaders"]["x-pfs-commit"] == \
        first["ResponseMetadata"]["HTTPHeaders"]["x-pfs-commit"]
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == part + b"tail"
    # another part list, another key, or an abort: the upload is gone
    assert error_of(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts[:1]})) == (404, "NoSuchUpload")
    assert error_of(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="other", UploadId=uid, MultipartUpload={"Parts": parts})) == (404, "NoSuchUpload")
    assert error_of(lambda: s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid)) \
        == (404, "NoSuchUpload")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
