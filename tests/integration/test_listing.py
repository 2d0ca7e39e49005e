"""ListObjects (v1): prefixes, delimiters, markers, pagination, encoding."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from botocore.exceptions import ClientError

from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from gateway.pfs.refs import read_ref

KEYS = sorted(["a-c", "a/b", "a/c/d", "a/c/e", "ab", "b", "b/x", "c d/e", "z"])


@pytest.fixture
def filled(s3, bucket):
    for k in KEYS:
        if k == "b":
            continue  # "b" and "b/x" cannot both exist in PFS: b is a directory
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    return bucket


def keys(resp):
    return [o["Key"] for o in resp.get("Contents", [])]


def prefixes(resp):
    return [p["Prefix"] for p in resp.get("CommonPrefixes", [])]


def test_flat_listing_is_sorted_like_s3(s3, filled):
    r = s3.list_objects(Bucket=filled)
    assert keys(r) == sorted(k for k in KEYS if k != "b")
    assert r["IsTruncated"] is False


def test_delimiter_groups_directories(s3, filled):
    r = s3.list_objects(Bucket=filled, Delimiter="/")
    assert keys(r) == ["a-c", "ab", "z"]
    assert prefixes(r) == ["a/", "b/", "c d/"]
    r = s3.list_objects(Bucket=filled, Delimiter="/", Prefix="a/")
    assert keys(r) == ["a/b"] and prefixes(r) == ["a/c/"]


def test_prefix_without_delimiter(s3, filled):
    assert keys(s3.list_objects(Bucket=filled, Prefix="a")) == ["a-c", "a/b", "a/c/d", "a/c/e", "ab"]
    assert keys(s3.list_objects(Bucket=filled, Prefix="a/c/")) == ["a/c/d", "a/c/e"]
    assert keys(s3.list_objects(Bucket=filled, Prefix="a/c/d")) == ["a/c/d"]
    assert keys(s3.list_objects(Bucket=filled, Prefix="nothing")) == []


def test_partial_prefix_inside_directory(s3, filled):
    r = s3.list_objects(Bucket=filled, Prefix="a/c", Delimiter="/")
    assert keys(r) == [] and prefixes(r) == ["a/c/"]


def test_marker_and_max_keys_pages(s3, filled):
    expected = sorted(k for k in KEYS if k != "b")
    seen, marker = [], ""
    while True:
        r = s3.list_objects(Bucket=filled, MaxKeys=2, Marker=marker)
        page = keys(r)
        assert len(page) <= 2
        seen += page
        if not r["IsTruncated"]:
            break
        assert "NextMarker" not in r  # S3 sends NextMarker only with a delimiter
        marker = page[-1]
    assert seen == expected


def test_next_marker_with_delimiter(s3, filled):
    r = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=2)
    assert r["IsTruncated"] is True
    assert keys(r) + prefixes(r) == ["a-c", "a/"]
    assert r["NextMarker"] == "a/"
    r2 = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=10, Marker=r["NextMarker"])
    assert keys(r2) == ["ab", "z"] and prefixes(r2) == ["b/", "c d/"]


def test_paginator_walks_everything(s3, bucket):
    for i in range(25):
        s3.put_object(Bucket=bucket, Key=f"p/{i:03d}", Body=b"x")
    pages = s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7})
    got = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert got == [f"p/{i:03d}" for i in range(25)]


def test_encoding_type_url(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="sp ace/<&>", Body=b"x")
    r = httpx.get(f"{endpoint}/{bucket}?encoding-type=url")
    assert b"<Key>sp%20ace/%3C%26%3E</Key>" in r.content
    assert keys(s3.list_objects(Bucket=bucket)) == ["sp ace/<&>"]  # boto3 decodes it back


def test_other_delimiters_group_too(s3, filled):
    r = s3.list_objects(Bucket=filled, Delimiter="-")
    assert keys(r) == ["a/b", "a/c/d", "a/c/e", "ab", "b/x", "c d/e", "z"] and prefixes(r) == ["a-"]


def test_max_keys_validation_and_default(endpoint, s3, filled):
    assert s3.list_objects(Bucket=filled)["MaxKeys"] == 1000
    assert httpx.get(f"{endpoint}/{filled}?max-keys=-5").status_code == 400
    assert httpx.get(f"{endpoint}/{filled}?max-keys=ten").status_code == 400
    r = s3.list_objects(Bucket=filled, MaxKeys=0)
    assert keys(r) == []


def test_empty_bucket_lists_empty(s3, bucket):
    r = s3.list_objects(Bucket=bucket)
    assert keys(r) == [] and r["IsTruncated"] is False


def test_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects(Bucket="master.doesnotexist1234")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_page_extension_and_the_pfs_v2_fallback_agree(gateway, s3, bucket, monkeypatch):
    """pfsd's one-message pages hold what the pfs_v2 streams send; a backend without them
    (pachd: UNIMPLEMENTED, forced here with a service name pfsd lacks) gets the streams."""
    for k in ["a", "d/e", "d/f/g", "z"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    ref = read_ref(bucket)
    asks = [(file_pages.walk_file, "/", None, 100, None), (file_pages.walk_file, "/d/", "/d/e", 100, None),
            (file_pages.walk_file, "/", None, 3, None), (file_pages.list_file, "/", None, 100, None),
            (file_pages.list_file, "/d/", None, 1, None), (file_pages.list_file, "/", "/d/", 100, None),
            (file_pages.walk_file, "/", None, 100, "/d/f"), (file_pages.list_file, "/", None, 100, "/e")]

    async def run(service: str):
        monkeypatch.setattr(file_pages, "SERVICE", service)
        client = PFS(f"unix://{gateway.data_dir / 'pfsd.sock'}")
        try:
            out = []
            for fn, path, after, number, until in asks:
                infos = await fn(client, ref, path, after, number, until)
                out.append([(i.file.path, i.file_type, i.size_bytes, i.hash, i.committed.ToNanoseconds(),
                             i.file.commit.id) for i in infos])
            with pytest.raises(NotFound) as e:
                await file_pages.walk_file(client, ref, "/nothing/", None, 10)
            assert e.value.kind == "file"
            with pytest.raises(NotFound) as e:
                await file_pages.list_file(client, Ref(ref.project, ref.repo, "nobranch"), "/", None, 10)
            assert e.value.kind == "branch"
            return out, file_pages._backend(client).lacking_until
        finally:
            await client.close()

    pages, lacking = asyncio.run(run(file_pages.SERVICE))
    assert lacking == 0  # pfsd served every page itself
    # (boto3 sends a CRC32 by default, kept in a metadata sidecar under /.s3g/: not looked at here)
    def data(page):
        return [p for p, *_ in page if not p.startswith("/.s3g/")]

    assert data(pages[0]) == ["/", "/a", "/d/", "/d/e", "/d/f/", "/d/f/g", "/z"]
    assert data(pages[-2]) == ["/", "/a", "/d/", "/d/e"]
    assert data(pages[-1]) == ["/a", "/d/"]
    streamed, lacking = asyncio.run(run("pfsd.NoSuchService"))
    assert lacking > 0  # the fallback was taken, and remembered
    assert streamed == pages


def test_listing_skips_the_hidden_tree(s3, bucket):
    """Metadata sidecars and staged uploads live under .s3g/: never listed, whatever the page size."""
    for k in ["#first", "a/b", "z"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x", ContentType="text/plain", Metadata={"m": "1"})
    for max_keys in (1, 2, 1000):
        got = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": max_keys}) for o in p.get("Contents", [])]
        assert got == ["#first", "a/b", "z"]
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert keys(r) == ["#first", "z"] and prefixes(r) == ["a/"]
    assert keys(s3.list_objects_v2(Bucket=bucket, Prefix=".s3g")) == []
