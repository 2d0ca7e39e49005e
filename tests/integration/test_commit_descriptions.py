"""Every commit the gateway makes carries a description naming the S3 operation and its key or
count (pfsd's ``pfs-commit-description-bin`` request metadata); with the extensions off (as
against pachd) writes still work and commits stay undescribed."""

from __future__ import annotations

import asyncio

import pytest

from gateway.ops.multipart import STAGING_BRANCH
from gateway.pfs.client import PFS, Ref, add_file, delete_file
from generated.pfs import pfs_pb2 as pb
from tests.conftest import Gateway, unique_repo

AK, SK = "describer", "describer-secret-key-0123"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("describe") / "data", "--access-key", AK, "--secret-key", SK)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=AK,
                        aws_secret_access_key=SK, config=Config(s3={"addressing_style": "path"}))


def descriptions(gw: Gateway, repo: str, branch: str = "master", extensions: bool = True) -> list[str]:
    """The branch's commit descriptions, newest first (read straight from pfsd)."""

    async def main() -> list[str]:
        client = PFS(f"unix://{gw.data_dir / 'pfsd.sock'}", extensions=extensions)
        try:
            await asyncio.wait_for(client.channel.channel_ready(), 60)  # a loaded machine: connect first
            req = pb.ListCommitRequest(repo=Ref("default", repo, branch).repo_pb(),
                                       to=Ref("default", repo, branch).commit_pb())
            return [c.description async for c in client.api.ListCommit(req)]
        finally:
            await client.close()

    return asyncio.run(main())


def test_every_write_names_its_operation(gw, s3):
    repo = unique_repo()
    bucket = f"master.{repo}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=b"meow")
    s3.put_object(Bucket=bucket, Key="notes/a b&c.txt", Body=b"utf-8 key")
    s3.copy_object(Bucket=bucket, Key="copy.png", CopySource={"Bucket": bucket, "Key": "images/cat.png"})
    s3.delete_object(Bucket=bucket, Key="copy.png")
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=f"many/{k}", Body=k.encode())
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"many/{k}"} for k in "abc"]})
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "one"}, {"Key": "missing"}]})
    up = s3.create_multipart_upload(Bucket=bucket, Key="data.parquet")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="data.parquet", UploadId=up, PartNumber=1, Body=b"p" * 10)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="data.parquet", UploadId=up,
                                 MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
    assert descriptions(gw, repo) == [
        "CompleteMultipartUpload data.parquet", "DeleteObjects 1 key", "PutObject one", "DeleteObjects 3 keys",
        "PutObject many/c", "PutObject many/b", "PutObject many/a", "DeleteObject copy.png",
        "CopyObject copy.png", "PutObject notes/a b&c.txt", "PutObject images/cat.png", f"CreateBucket {bucket}",
    ]
    staged = descriptions(gw, repo, STAGING_BRANCH)
    assert staged[:3] == [f"CompleteMultipartUpload data.parquet (upload {up})", "UploadPart data.parquet part 1",
                          "CreateMultipartUpload data.parquet"]
    assert all(staged), staged  # no undescribed commit on the hidden branch either


def test_aborted_upload_and_part_copy_are_described(gw, s3):
    repo = unique_repo()
    bucket = f"master.{repo}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="src", Body=b"x" * 100)
    up = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    s3.upload_part_copy(Bucket=bucket, Key="big", UploadId=up, PartNumber=2, CopySource=f"{bucket}/src")
    s3.upload_part_copy(Bucket=bucket, Key="big", UploadId=up, PartNumber=3, CopySource=f"{bucket}/src",
                        CopySourceRange="bytes=0-9")
    s3.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=up)
    assert descriptions(gw, repo, STAGING_BRANCH)[:4] == [
        f"AbortMultipartUpload big (upload {up})", "UploadPartCopy big part 3", "UploadPartCopy big part 2",
        "CreateMultipartUpload big"]


def test_extensions_off_writes_work_without_descriptions(gw, s3):
    """As against pachd: the client sends no description metadata, the write is still one commit."""
    repo = unique_repo()
    s3.create_bucket(Bucket=f"master.{repo}")

    async def main() -> tuple[str, str]:
        client = PFS(f"unix://{gw.data_dir / 'pfsd.sock'}", extensions=False)
        try:
            ref = Ref("default", repo, "master")
            commit = await client.modify_file(ref, [delete_file("/k"), add_file("/k", b"v")], "PutObject k")
            head = (await client.inspect_branch(ref)).head.id
            return commit, head
        finally:
            await client.close()

    commit, head = asyncio.run(main())
    assert commit == head
    assert descriptions(gw, repo)[:2] == ["", f"CreateBucket master.{repo}"]


def test_long_description_is_capped(gw):
    repo = unique_repo()

    async def main() -> str:
        client = PFS(f"unix://{gw.data_dir / 'pfsd.sock'}")
        try:
            await client.create_repo(Ref("default", repo, "master"))
            ref = Ref("default", repo, "master")
            await client.modify_file(ref, [add_file("/k", b"v")], "PutObject " + "é" * 5000)
            return (await client.inspect_commit(ref)).description
        finally:
            await client.close()

    text = asyncio.run(main())
    assert text.startswith("PutObject é") and len(text.encode()) <= 4096
