"""Every common S3 client, unchanged, with its default settings, against a gateway WITH credentials.

Signing changes what clients send (trailing checksums, SigV2 presigned URLs, aws-chunked
bodies), so these run against a gateway that checks signatures, as deployments do. Each test
asserts the bytes and the listings that come back. A client whose program or package is not on
the machine skips with the reason (``.ci/run`` installs them: ``make client-deps``).
"""

from __future__ import annotations

import configparser
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
import httpx
import pytest

from tests.conftest import Gateway, unique_repo

KEY, SECRET = "AKIDMATRIX", "matrix-secret-key"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("matrix") / "data", "--access-key", KEY, "--secret-key", SECRET)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    """boto3 exactly as a user makes it: no Config at all."""
    return boto3.client("s3", endpoint_url=gw.url, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        region_name=REGION)


@pytest.fixture
def bucket(s3) -> str:
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    return name


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def client_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, **extra)
    return env


def run(*cmd: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env or client_env(), cwd=cwd, timeout=timeout)
    assert p.returncode == 0, (f"{cmd[0]} {cmd[1:4]} exited {p.returncode}\n"
                               f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p.stdout


# --- boto3: its defaults (SigV2 presigned URLs for us-east-1 on a custom endpoint), paginators --------


def test_boto3_default_presigned_get_and_put(s3, bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "shared/a.txt"}, ExpiresIn=300)
    assert httpx.put(put_url, content=b"presigned body").status_code == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared/a.txt"}, ExpiresIn=300)
    r = httpx.get(get_url)
    assert r.status_code == 200 and r.content == b"presigned body"
    tampered = get_url.replace("shared/a.txt", "shared/b.txt")
    assert httpx.get(tampered).status_code == 403


def test_boto3_paginators_v2_and_versions(s3, bucket):
    for i in range(7):
        s3.put_object(Bucket=bucket, Key=f"p/{i:02d}", Body=b"x" * i)
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == [f"p/{i:02d}" for i in range(7)]
    versions = [v["Key"] for p in s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for v in p.get("Versions", [])]
    assert sorted(set(versions)) == [f"p/{i:02d}" for i in range(7)]


# --- the AWS CLI ----------------------------------------------------------------------------------


def aws(gw, *args: str) -> str:
    return run(sys.executable, "-m", "awscli", "--endpoint-url", gw.url, *args)


def test_aws_cli_sync_twice_and_presign(gw, s3, bucket, tmp_path):
    src = tmp_path / "tree"
    for rel, size in (("a.txt", 10), ("d/b.bin", 70_000), ("d/e/c.csv", 3)):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(os.urandom(size))
    first = aws(gw, "s3", "sync", str(src), f"s3://{bucket}/t")
    assert first.count("upload:") == 3
    assert keys(s3, bucket) == ["t/a.txt", "t/d/b.bin", "t/d/e/c.csv"]
    second = aws(gw, "s3", "sync", str(src), f"s3://{bucket}/t")
    assert "upload:" not in second  # nothing changed: nothing copied
    url = aws(gw, "s3", "presign", f"s3://{bucket}/t/d/b.bin").strip()
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == (src / "d/b.bin").read_bytes()
    back = tmp_path / "back"
    aws(gw, "s3", "sync", f"s3://{bucket}/t", str(back))
    assert (back / "d/e/c.csv").read_bytes() == (src / "d/e/c.csv").read_bytes()


# --- s3fs / fsspec and pandas ----------------------------------------------------------------------


def test_s3fs_and_pandas(gw, s3, bucket):
    pd = pytest.importorskip("pandas")
    s3fs = pytest.importorskip("s3fs")
    opts = {"key": KEY, "secret": SECRET, "client_kwargs": {"endpoint_url": gw.url}}
    df = pd.DataFrame({"n": [1, 2, 3], "s": ["a", "b", "c"]})
    df.to_csv(f"s3://{bucket}/frames/df.csv", index=False, storage_options=opts)
    back = pd.read_csv(f"s3://{bucket}/frames/df.csv", storage_options=opts)
    assert back.equals(df)
    fs = s3fs.S3FileSystem(**opts)
    fs.mkdir(f"{bucket}/made")
    fs.pipe(f"{bucket}/made/x.bin", b"\x00\x01")
    assert fs.cat(f"{bucket}/made/x.bin") == b"\x00\x01"
    assert sorted(fs.ls(f"{bucket}/frames")) == [f"{bucket}/frames/df.csv"]
    fs.rm(f"{bucket}/made", recursive=True)
    fs.invalidate_cache()
    assert keys(s3, bucket) == ["frames/df.csv"]


# --- pyarrow (AWS SDK for C++: trailing CRC64NVME checksums on every upload) ----------------------


def test_pyarrow_parquet_dataset_and_delete_dir(gw, s3, bucket):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    ds = pytest.importorskip("pyarrow.dataset")
    from pyarrow import fs as pafs

    u = urlparse(gw.url)
    fs = pafs.S3FileSystem(access_key=KEY, secret_key=SECRET, endpoint_override=f"{u.hostname}:{u.port}",
                           scheme="http", region=REGION)
    table = pa.table({"year": [2024, 2024, 2025], "v": [1.0, 2.0, 3.0]})
    pq.write_table(table, f"{bucket}/flat/t.parquet", filesystem=fs)
    assert pq.read_table(f"{bucket}/flat/t.parquet", filesystem=fs).equals(table)
    ds.write_dataset(table, f"{bucket}/part", format="parquet", partitioning=["year"], filesystem=fs)
    written = keys(s3, bucket, "part/")
    assert {k.split("/")[1] for k in written if k.endswith(".parquet")} == {"2024", "2025"}
    back = ds.dataset(f"{bucket}/part", format="parquet", partitioning=["year"], filesystem=fs).to_table()
    assert sorted(back.column("v").to_pylist()) == [1.0, 2.0, 3.0]
    fs.delete_dir(f"{bucket}/part")
    assert keys(s3, bucket, "part") == []
    assert keys(s3, bucket) == ["flat/t.parquet"]


# --- polars and DuckDB ----------------------------------------------------------------------------


def test_polars_write_and_read(gw, bucket):
    pl = pytest.importorskip("polars")
    opts = {"aws_endpoint_url": gw.url, "aws_access_key_id": KEY, "aws_secret_access_key": SECRET,
            "aws_region": REGION, "aws_allow_http": "true"}
    df = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    df.write_parquet(f"s3://{bucket}/pl/df.parquet", storage_options=opts)
    assert pl.read_parquet(f"s3://{bucket}/pl/df.parquet", storage_options=opts).equals(df)
    assert pl.scan_parquet(f"s3://{bucket}/pl/*.parquet", storage_options=opts).collect().equals(df)


def duckdb_httpfs():
    duckdb = pytest.importorskip("duckdb")
    ext = pytest.importorskip("duckdb_ext")
    pattern = f"extensions/v{duckdb.__version__}/*/httpfs.duckdb_extension"
    found = [f for d in ext.__path__ for f in Path(d).glob(pattern)]
    if not found:
        pytest.skip(f"no httpfs extension for duckdb {duckdb.__version__} in duckdb_ext")
    return duckdb, found[0]


def test_duckdb_httpfs_write_and_query(gw, s3, bucket):
    duckdb, ext = duckdb_httpfs()
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext}'")
    u = urlparse(gw.url)
    con.execute(f"CREATE SECRET (TYPE s3, KEY_ID '{KEY}', SECRET '{SECRET}', ENDPOINT '{u.hostname}:{u.port}', "
                f"URL_STYLE 'path', USE_SSL false, REGION '{REGION}')")
    con.execute(f"COPY (SELECT range AS i, range * 2 AS j FROM range(100)) TO 's3://{bucket}/duck/t.parquet'")
    assert keys(s3, bucket) == ["duck/t.parquet"]
    assert con.execute(f"SELECT count(*), sum(j) FROM 's3://{bucket}/duck/t.parquet'").fetchone() == (100, 9900)
    assert con.execute(f"SELECT count(*) FROM glob('s3://{bucket}/duck/*')").fetchone() == (1,)


# --- s3cmd (its default: SigV4 for normal requests; signurl is SigV2) -----------------------------


def s3cmd(gw, tmp_path, *args: str) -> str:
    exe = shutil.which("s3cmd", path=str(Path(sys.executable).parent)) or shutil.which("s3cmd")
    if not exe:
        pytest.skip("s3cmd is not installed")
    cfg = tmp_path / "s3cfg"
    if not cfg.exists():
        u = urlparse(gw.url)
        cfg.write_text(f"[default]\naccess_key = {KEY}\nsecret_key = {SECRET}\nhost_base = {u.netloc}\n"
                       f"host_bucket = {u.netloc}\nuse_https = False\nbucket_location = {REGION}\n")
    return run(sys.executable, exe, "-c", str(cfg), *args)


def test_s3cmd_put_ls_get_signurl_del(gw, s3, bucket, tmp_path):
    f = tmp_path / "f.txt"
    f.write_bytes(b"from s3cmd\n")
    s3cmd(gw, tmp_path, "put", str(f), f"s3://{bucket}/c/f.txt")
    assert f"s3://{bucket}/c/f.txt" in s3cmd(gw, tmp_path, "ls", "-r", f"s3://{bucket}")
    s3cmd(gw, tmp_path, "get", f"s3://{bucket}/c/f.txt", str(tmp_path / "g.txt"))
    assert (tmp_path / "g.txt").read_bytes() == b"from s3cmd\n"
    url = s3cmd(gw, tmp_path, "signurl", f"s3://{bucket}/c/f.txt", "+300").strip().splitlines()[-1]
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"from s3cmd\n"
    s3cmd(gw, tmp_path, "del", f"s3://{bucket}/c/f.txt")
    assert keys(s3, bucket) == []


# --- rclone (Debian package) ------------------------------------------------------------------------


@pytest.fixture
def rclone(gw, tmp_path):
    exe = shutil.which("rclone")
    if not exe:
        pytest.skip("rclone is not installed (Debian package rclone: make client-deps)")
    conf = configparser.ConfigParser()
    conf["gw"] = {"type": "s3", "provider": "Other", "endpoint": gw.url, "access_key_id": KEY,
                  "secret_access_key": SECRET, "region": REGION}
    path = tmp_path / "rclone.conf"
    with path.open("w") as f:
        conf.write(f)
    env = client_env()
    env.pop("AWS_CA_BUNDLE", None)  # rclone fails every command when it is set

    def call(*args: str) -> str:
        return run(exe, "--config", str(path), *args, env=env)

    return call


def test_rclone_copy_check_sync_mkdir_rmdir_purge(rclone, s3, bucket, tmp_path):
    src = tmp_path / "src"
    for rel in ("a.txt", "sub/b.txt", "sub/deep/c.bin"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(os.urandom(1000) + rel.encode())
    rclone("copy", str(src), f"gw:{bucket}/r")
    assert keys(s3, bucket) == ["r/a.txt", "r/sub/b.txt", "r/sub/deep/c.bin"]
    rclone("check", str(src), f"gw:{bucket}/r")
    (src / "a.txt").unlink()
    (src / "new.txt").write_bytes(b"new")
    rclone("sync", str(src), f"gw:{bucket}/r")
    assert keys(s3, bucket) == ["r/new.txt", "r/sub/b.txt", "r/sub/deep/c.bin"]
    rclone("check", str(src), f"gw:{bucket}/r")
    rclone("mkdir", f"gw:{bucket}/emptydir")
    rclone("rmdir", f"gw:{bucket}/emptydir")
    assert "emptydir" not in " ".join(keys(s3, bucket))
    rclone("purge", f"gw:{bucket}")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


# --- s3fs-fuse (Debian package s3fs) --------------------------------------------------------------


def test_s3fs_fuse_mount_mkdir_cp_rm(gw, s3, bucket, tmp_path):
    exe = shutil.which("s3fs")
    if not exe:
        pytest.skip("s3fs-fuse is not installed (Debian package s3fs: make client-deps)")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse on this machine")
    if not shutil.which("fusermount"):
        pytest.skip("fusermount is not installed (Debian package fuse3/fuse)")
    passwd = tmp_path / "passwd"
    passwd.write_text(f"{KEY}:{SECRET}\n")
    passwd.chmod(0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run([exe, bucket, str(mnt), "-o", f"url={gw.url},use_path_request_style,passwd_file={passwd}"],
                   check=True, timeout=60)
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mnt):
            assert time.monotonic() < deadline, "s3fs did not mount"
            time.sleep(0.2)
        (mnt / "dir").mkdir()
        assert "dir/" in keys(s3, bucket)
        src = tmp_path / "file.bin"
        src.write_bytes(os.urandom(300_000))
        shutil.copy(src, mnt / "dir" / "file.bin")
        obj = s3.get_object(Bucket=bucket, Key="dir/file.bin")["Body"].read()
        assert obj == src.read_bytes()
        assert sorted(os.listdir(mnt / "dir")) == ["file.bin"]
        shutil.rmtree(mnt / "dir")
        assert keys(s3, bucket) == []
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], timeout=30)


# --- minio SDK with credentials -------------------------------------------------------------------


def test_minio_with_credentials(gw, s3, bucket):
    from minio import Minio

    u = urlparse(gw.url)
    mc = Minio(u.netloc, access_key=KEY, secret_key=SECRET, secure=False, region=REGION)
    data = os.urandom(100_000)
    mc.put_object(bucket, "m/obj", io.BytesIO(data), len(data))
    resp = mc.get_object(bucket, "m/obj")
    try:
        assert resp.read() == data
    finally:
        resp.close()
        resp.release_conn()
    assert [o.object_name for o in mc.list_objects(bucket, prefix="m/")] == ["m/obj"]
    mc.remove_object(bucket, "m/obj")
    assert keys(s3, bucket) == []
