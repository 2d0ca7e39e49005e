"""Real clients against the gateway: boto3's transfer manager, the minio SDK and the AWS CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import unique_repo


def test_boto3_upload_and_download_file(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    s3.upload_file(str(src), bucket, "files/src.bin")
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "files/src.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()


def test_boto3_paginator_v1_and_delete(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=str(i).encode())
    got = [o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
           for o in p.get("Contents", [])]
    assert got == [f"k{i}" for i in range(5)]
    for k in got:
        s3.delete_object(Bucket=bucket, Key=k)
    assert "Contents" not in s3.list_objects(Bucket=bucket)


@pytest.fixture
def minio_client(endpoint):
    from minio import Minio

    u = urlparse(endpoint)
    return Minio(f"{u.hostname}:{u.port}", access_key="anonymous", secret_key="anonymous", secure=False,
                 region="us-east-1")


def test_minio_every_documented_call(minio_client, tmp_path):
    mc = minio_client
    name = f"master.{unique_repo()}"
    assert not mc.bucket_exists(name)
    mc.make_bucket(name)
    assert mc.bucket_exists(name)
    assert name in [b.name for b in mc.list_buckets()]
    data = os.urandom(200_000)
    mc.put_object(name, "dir/obj", io.BytesIO(data), len(data))
    # unknown length: minio streams it (multipart-free below 5 MiB part size)
    mc.put_object(name, "dir/stream", io.BytesIO(b"streamed"), -1, part_size=5 * 1024 * 1024)
    resp = mc.get_object(name, "dir/obj")
    try:
        assert resp.read() == data
    finally:
        resp.close()
        resp.release_conn()
    stat = mc.stat_object(name, "dir/obj")
    assert stat.size == len(data)
    assert [o.object_name for o in mc.list_objects(name, recursive=True)] == ["dir/obj", "dir/stream"]
    assert [o.object_name for o in mc.list_objects(name)] == ["dir/"]
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(1_000_000))
    mc.fput_object(name, "f.bin", str(src))
    mc.fget_object(name, "f.bin", str(tmp_path / "g.bin"))
    assert (tmp_path / "g.bin").read_bytes() == src.read_bytes()
    for obj in ("dir/obj", "dir/stream", "f.bin"):
        mc.remove_object(name, obj)
    mc.remove_bucket(name)
    assert not mc.bucket_exists(name)


def aws(endpoint: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "anonymous", "AWS_SECRET_ACCESS_KEY": "anonymous",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    cli = Path(sys.executable).parent / "aws"
    return subprocess.run([str(cli), "--endpoint-url", endpoint, *args], env=env, capture_output=True,
                          text=True, check=check, timeout=120)


def test_aws_cli_s3_commands(endpoint, tmp_path):
    name = f"master.{unique_repo()}"
    aws(endpoint, "s3", "mb", f"s3://{name}")
    assert name in aws(endpoint, "s3", "ls").stdout
    f = tmp_path / "one.txt"
    f.write_text("hello from the cli")
    aws(endpoint, "s3", "cp", str(f), f"s3://{name}/docs/one.txt")
    assert "one.txt" in aws(endpoint, "s3", "ls", f"s3://{name}/docs/").stdout
    aws(endpoint, "s3", "cp", f"s3://{name}/docs/one.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "hello from the cli"
    tree = tmp_path / "tree"
    for p in ("a/1.txt", "a/b/2.txt", "c.txt"):
        (tree / p).parent.mkdir(parents=True, exist_ok=True)
        (tree / p).write_text(p)
    aws(endpoint, "s3", "sync", str(tree), f"s3://{name}/tree")
    listed = aws(endpoint, "s3", "ls", "--recursive", f"s3://{name}/tree/").stdout
    assert all(p in listed for p in ("tree/a/1.txt", "tree/a/b/2.txt", "tree/c.txt"))
    out = tmp_path / "out"
    aws(endpoint, "s3", "sync", f"s3://{name}/tree", str(out))
    assert (out / "a/b/2.txt").read_text() == "a/b/2.txt"
    aws(endpoint, "s3", "rm", "--recursive", f"s3://{name}/")
    assert aws(endpoint, "s3", "ls", f"s3://{name}/").stdout.strip() == ""
    aws(endpoint, "s3", "rb", f"s3://{name}")


def test_aws_cli_s3api(endpoint, tmp_path):
    name = f"master.{unique_repo()}"
    aws(endpoint, "s3api", "create-bucket", "--bucket", name)
    aws(endpoint, "s3api", "head-bucket", "--bucket", name)
    body = tmp_path / "b.bin"
    body.write_bytes(b"s3api body")
    aws(endpoint, "s3api", "put-object", "--bucket", name, "--key", "k", "--body", str(body))
    assert '"ContentLength": 10' in aws(endpoint, "s3api", "head-object", "--bucket", name, "--key", "k").stdout
    aws(endpoint, "s3api", "get-object", "--bucket", name, "--key", "k", str(tmp_path / "o.bin"))
    assert (tmp_path / "o.bin").read_bytes() == b"s3api body"
    assert '"Key": "k"' in aws(endpoint, "s3api", "list-objects", "--bucket", name).stdout
    assert name in aws(endpoint, "s3api", "list-buckets").stdout
    aws(endpoint, "s3api", "delete-object", "--bucket", name, "--key", "k")
    missing = aws(endpoint, "s3api", "head-object", "--bucket", name, "--key", "k", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr
    aws(endpoint, "s3api", "delete-bucket", "--bucket", name)
