"""Folder markers (keys ending in ``/``) with boto3, s3fs and pyarrow against a signed gateway,
and raw HTTP for what clients do not send."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest
from botocore.exceptions import ClientError

from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS
from gateway.pfs.refs import read_ref
from tests.conftest import unique_repo
from tests.integration.test_auth import AK, SK, client


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway  # the session's gateway with credentials (tests/integration/conftest.py)


@pytest.fixture(scope="module")
def s3s(gw):
    return client(gw)


@pytest.fixture
def fb(s3s):
    name = f"master.{unique_repo()}"
    s3s.create_bucket(Bucket=name)
    return name


def keys(r):
    return [o["Key"] for o in r.get("Contents", [])]


def prefixes(r):
    return [p["Prefix"] for p in r.get("CommonPrefixes", [])]


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_marker_put_head_get_list_delete(s3s, fb):
    r = s3s.put_object(Bucket=fb, Key="dir/", Body=b"", ContentType="application/x-directory")
    assert r["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'
    head = s3s.head_object(Bucket=fb, Key="dir/")
    assert head["ContentLength"] == 0 and head["ContentType"] == "application/x-directory"
    got = s3s.get_object(Bucket=fb, Key="dir/")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0
    assert keys(s3s.list_objects_v2(Bucket=fb)) == ["dir/"]
    r = s3s.list_objects_v2(Bucket=fb, Delimiter="/")
    assert keys(r) == [] and prefixes(r) == ["dir/"]
    r = s3s.list_objects_v2(Bucket=fb, Delimiter="/", Prefix="dir/")
    assert keys(r) == ["dir/"] and prefixes(r) == []
    assert s3s.delete_object(Bucket=fb, Key="dir/")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert keys(s3s.list_objects_v2(Bucket=fb)) == []
    with pytest.raises(ClientError) as e:
        s3s.head_object(Bucket=fb, Key="dir/")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_missing_marker_is_404_no_such_key(s3s, fb):
    s3s.put_object(Bucket=fb, Key="real/file", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3s.get_object(Bucket=fb, Key="real/")  # a directory of files, but no marker
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3s.get_object(Bucket=fb, Key="nothing/here/")
    assert code(e) == "NoSuchKey"


def test_delete_of_any_folder_key_is_204(s3s, fb):
    for key in ("never/", "a/b/c/", "a//", "/"):
        r = s3s.delete_object(Bucket=fb, Key=key)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, key


def test_marker_stays_beside_files_until_deleted(s3s, fb):
    s3s.put_object(Bucket=fb, Key="d/", Body=b"")
    s3s.put_object(Bucket=fb, Key="d/a", Body=b"a")
    s3s.put_object(Bucket=fb, Key="d/sub/", Body=b"")
    assert keys(s3s.list_objects_v2(Bucket=fb)) == ["d/", "d/a", "d/sub/"]
    r = s3s.list_objects_v2(Bucket=fb, Prefix="d/", Delimiter="/")
    assert keys(r) == ["d/", "d/a"] and prefixes(r) == ["d/sub/"]
    s3s.delete_object(Bucket=fb, Key="d/a")  # the marker does not go with the files
    assert keys(s3s.list_objects_v2(Bucket=fb)) == ["d/", "d/sub/"]
    s3s.put_object(Bucket=fb, Key="d/b", Body=b"b")
    s3s.delete_object(Bucket=fb, Key="d/")  # nor do the files go with the marker
    assert keys(s3s.list_objects_v2(Bucket=fb)) == ["d/b", "d/sub/"]


def test_non_empty_body_on_a_folder_key_is_refused(s3s, fb):
    with pytest.raises(ClientError) as e:
        s3s.put_object(Bucket=fb, Key="full/", Body=b"bytes")
    assert code(e) == "InvalidArgument"
    assert "folder marker" in e.value.response["Error"]["Message"]
    assert keys(s3s.list_objects_v2(Bucket=fb)) == []


def test_delete_objects_reports_folders_deleted(s3s, fb):
    s3s.put_object(Bucket=fb, Key="x/", Body=b"")
    s3s.put_object(Bucket=fb, Key="x/f", Body=b"f")
    r = s3s.delete_objects(Bucket=fb, Delete={"Objects": [{"Key": "x/"}, {"Key": "y/"}, {"Key": "x/f"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["x/", "x/f", "y/"] and "Errors" not in r
    assert keys(s3s.list_objects_v2(Bucket=fb)) == []


def test_copy_and_multipart_of_zero_bytes_make_markers(s3s, fb):
    s3s.put_object(Bucket=fb, Key="empty", Body=b"")
    s3s.put_object(Bucket=fb, Key="full", Body=b"data")
    s3s.copy_object(Bucket=fb, Key="copied/", CopySource={"Bucket": fb, "Key": "empty"})
    with pytest.raises(ClientError) as e:
        s3s.copy_object(Bucket=fb, Key="nope/", CopySource={"Bucket": fb, "Key": "full"})
    assert code(e) == "InvalidArgument"
    up = s3s.create_multipart_upload(Bucket=fb, Key="mp/")
    part = s3s.upload_part(Bucket=fb, Key="mp/", UploadId=up["UploadId"], PartNumber=1, Body=b"")
    s3s.complete_multipart_upload(Bucket=fb, Key="mp/", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    up = s3s.create_multipart_upload(Bucket=fb, Key="mp2/")
    part = s3s.upload_part(Bucket=fb, Key="mp2/", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
    with pytest.raises(ClientError) as e:
        s3s.complete_multipart_upload(Bucket=fb, Key="mp2/", UploadId=up["UploadId"], MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert code(e) == "InvalidArgument"
    assert keys(s3s.list_objects_v2(Bucket=fb)) == ["copied/", "empty", "full", "mp/"]
    # a marker is a source too: copied to a plain key it is an empty object
    s3s.copy_object(Bucket=fb, Key="from-marker", CopySource={"Bucket": fb, "Key": "mp/"})
    assert s3s.get_object(Bucket=fb, Key="from-marker")["Body"].read() == b""


def test_marker_beside_a_file_of_the_same_name(s3s, fb):
    """S3 holds ``a`` and ``a/`` side by side; PFS can, since the marker is hidden."""
    s3s.put_object(Bucket=fb, Key="a", Body=b"file")
    s3s.put_object(Bucket=fb, Key="a/", Body=b"")
    assert keys(s3s.list_objects_v2(Bucket=fb)) == ["a", "a/"]
    r = s3s.list_objects_v2(Bucket=fb, Delimiter="/")
    assert keys(r) == ["a"] and prefixes(r) == ["a/"]


def test_marker_paging_interleaves_with_keys(s3s, fb):
    want = []
    for i in range(6):
        s3s.put_object(Bucket=fb, Key=f"p/{i}/", Body=b"")
        s3s.put_object(Bucket=fb, Key=f"p/{i}-f", Body=b"x")
        want += [f"p/{i}-f", f"p/{i}/"]
    for delimiter in ("", "/"):
        seen = []
        pages = s3s.get_paginator("list_objects_v2").paginate(
            Bucket=fb, Prefix="p/", Delimiter=delimiter, PaginationConfig={"PageSize": 3})
        for page in pages:
            seen += keys(page) + prefixes(page)
        assert sorted(seen) == sorted(want), delimiter
        assert len(seen) == len(want)


def test_pfs_view_of_files_is_unchanged(gw, s3s, fb):
    """Pipelines read PFS directly: a marker adds nothing outside the hidden ``.s3g/`` tree."""
    s3s.put_object(Bucket=fb, Key="only/", Body=b"")
    s3s.put_object(Bucket=fb, Key="data/x/", Body=b"")
    s3s.put_object(Bucket=fb, Key="data/x/y", Body=b"y")

    async def walk() -> list[str]:
        client = PFS(f"unix://{gw.data_dir / 'pfsd.sock'}")
        try:
            return [i.file.path for i in await file_pages.walk_file(client, read_ref(fb), "/", None, 1000)]
        finally:
            await client.close()

    paths = asyncio.run(walk())
    assert [p for p in paths if not p.startswith("/.s3g/")] == ["/", "/data/", "/data/x/", "/data/x/y"]
    assert "/.s3g/folders/_only/.folder" in paths


def test_raw_http_folder_rules(endpoint):
    """Unsigned requests to the anonymous gateway: HEAD of a missing marker is 404 (s3fs-fuse
    retried the old 400), a chunked non-empty PUT is refused after its body, nothing kept."""
    name = f"master.{unique_repo()}"
    assert httpx.put(f"{endpoint}/{name}").status_code == 200
    assert httpx.head(f"{endpoint}/{name}/m/").status_code == 404
    assert httpx.put(f"{endpoint}/{name}/m/", content=b"").status_code == 200
    r = httpx.head(f"{endpoint}/{name}/m/")
    assert r.status_code == 200 and r.headers["content-length"] == "0"

    def body():
        yield b"abc"

    r = httpx.put(f"{endpoint}/{name}/n/", content=body())  # no Content-Length: the stream decides
    assert r.status_code == 400 and b"folder marker" in r.content
    assert httpx.head(f"{endpoint}/{name}/n/").status_code == 404
    assert httpx.delete(f"{endpoint}/{name}/m/").status_code == 204
    assert httpx.delete(f"{endpoint}/{name}/m/").status_code == 204


def s3fs_fs(gw):
    import s3fs

    return s3fs.S3FileSystem(key=AK, secret=SK, client_kwargs={"endpoint_url": gw.url,
                                                                "region_name": "us-east-1"},
                             use_listings_cache=False)


def test_s3fs_mkdir_ls_rm(gw, s3s, fb):
    fs = s3fs_fs(gw)
    fs.mkdir(f"{fb}/made", create_parents=False)  # s3fs: a bucket-level mkdir makes no marker
    fs.touch(f"{fb}/made/")  # what s3fs-fuse and the console do: a zero-byte "made/"
    assert fs.isdir(f"{fb}/made")
    fs.pipe(f"{fb}/made/a.txt", b"hello")
    fs.pipe(f"{fb}/made/sub/b.txt", b"world")
    # s3fs lists the marker itself as an entry, as it does against S3
    assert sorted(fs.ls(f"{fb}/made", detail=False)) == [f"{fb}/made/", f"{fb}/made/a.txt", f"{fb}/made/sub"]
    assert fs.cat(f"{fb}/made/sub/b.txt") == b"world"
    fs.rm(f"{fb}/made", recursive=True)
    assert keys(s3s.list_objects_v2(Bucket=fb)) == []


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "anonymous"])
def test_pyarrow_create_dir_write_dataset_delete_dir(request, signed):
    """pyarrow's defaults: create_dir PUTs ``dir/``, write_dataset (create_dir=True) too, and
    delete_dir deletes the files and the markers."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.dataset as ds
    from pyarrow import fs as pafs

    if signed:
        url, ak, sk, client = request.getfixturevalue("gw").url, AK, SK, request.getfixturevalue("s3s")
    else:
        url, ak, sk, client = request.getfixturevalue("endpoint"), "anonymous", "anonymous", \
            request.getfixturevalue("s3")
    fb = f"master.{unique_repo()}"
    client.create_bucket(Bucket=fb)
    s3 = pafs.S3FileSystem(access_key=ak, secret_key=sk, endpoint_override=url.removeprefix("http://"),
                           scheme="http", region="us-east-1")
    s3.create_dir(f"{fb}/tables/empty")
    assert s3.get_file_info(f"{fb}/tables/empty").type == pafs.FileType.Directory
    assert "tables/empty/" in keys(client.list_objects_v2(Bucket=fb))
    table = pa.table({"year": [2024, 2024, 2025], "n": [1, 2, 3]})
    ds.write_dataset(table, f"{fb}/tables/t", filesystem=s3, format="parquet", partitioning=["year"])
    back = ds.dataset(f"{fb}/tables/t", filesystem=s3, format="parquet", partitioning=["year"]).to_table()
    assert sorted(back.column("n").to_pylist()) == [1, 2, 3]
    listed = keys(client.list_objects_v2(Bucket=fb))
    assert "tables/t/2024/part-0.parquet" in listed and "tables/t/2025/part-0.parquet" in listed
    s3.delete_dir(f"{fb}/tables")
    assert keys(client.list_objects_v2(Bucket=fb)) == []


def test_s3fs_fuse_mkdir_cp_rm(gw, s3s, fb, tmp_path):
    """s3fs-fuse (Debian's s3fs) on a mount: mkdir PUTs ``dir/`` (and HEADs keys that are not
    there, expecting 404), cp writes a file into it, ``rm -r`` deletes both."""
    import os
    import shutil
    import subprocess

    if shutil.which("s3fs") is None or shutil.which("fusermount") is None:
        pytest.skip("s3fs-fuse is not installed (Debian package s3fs; .ci/run installs it)")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse on this machine")
    passwd = tmp_path / "passwd"
    passwd.write_text(f"{AK}:{SK}\n")
    passwd.chmod(0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(
        ["s3fs", fb, str(mnt), "-o", f"url={gw.url},use_path_request_style,passwd_file={passwd},"
         "sigv4,endpoint=us-east-1,retries=1,stat_cache_expire=0"],
        capture_output=True, text=True, timeout=60)
    if mounted.returncode != 0:
        pytest.skip(f"s3fs could not mount here: {mounted.stderr.strip()}")
    try:
        (mnt / "made").mkdir()
        assert "made/" in keys(s3s.list_objects_v2(Bucket=fb))
        (mnt / "made" / "f.txt").write_bytes(b"fuse")
        assert s3s.get_object(Bucket=fb, Key="made/f.txt")["Body"].read() == b"fuse"
        assert sorted(os.listdir(mnt / "made")) == ["f.txt"]
        shutil.rmtree(mnt / "made")
        assert keys(s3s.list_objects_v2(Bucket=fb)) == []
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], capture_output=True, timeout=60)
