"""The web explorer (/~/explorer/) over HTTP against the real gateway: every page, paging
through 10,000 keys, hostile key names, downloads, the browser redirect at the root, login."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

import grpc
import httpx
import pytest

from tests.conftest import Gateway, unique_repo


@pytest.fixture
def bucket(versioned_bucket):
    """Versioned: these tests use version IDs (the commits of their writes)."""
    return versioned_bucket


EXPLORER = "/~/explorer"
HOSTILE = ["h/<img src=x onerror=alert'1'>\"q\".txt", "h/<script>x</script>.txt", "h/a&b 'c' %41.txt"]


def get(endpoint: str, path: str, **kw) -> httpx.Response:
    return httpx.get(endpoint + path, timeout=30, **kw)


def links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page)]


def next_link(page: str) -> str | None:
    m = re.search(r'class="next" href="([^"]*)"', page)
    return html.unescape(m.group(1)) if m else None


def png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def test_buckets_page_lists_repos_branches_and_head_time(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="x.txt", Body=b"x")
    s3.create_bucket(Bucket="dev." + bucket.split(".", 1)[1])
    r = get(endpoint, EXPLORER + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<meta name="viewport"' in r.text and "<script" not in r.text
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no script
    assert f'href="{EXPLORER}/b/{bucket}/"' in r.text
    assert f'href="{EXPLORER}/b/dev.{bucket.split(".", 1)[1]}/"' in r.text
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", r.text)  # head commit time
    assert 'href="/~/docs/"' in r.text
    assert get(endpoint, EXPLORER).status_code == 308


def test_folder_page_with_sizes_etags_breadcrumbs(endpoint, s3, bucket):
    for key, body in (("a/b.txt", b"bee"), ("a/c/d.txt", b"dee"), ("top.txt", b"top!")):
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    etag = s3.head_object(Bucket=bucket, Key="top.txt")["ETag"].strip('"')
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/")
    assert r.status_code == 200
    assert f'href="{EXPLORER}/b/{bucket}/a/"' in r.text and f'href="{EXPLORER}/b/{bucket}/top.txt"' in r.text
    assert etag in r.text and "4 B" in r.text and "UTC" in r.text
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/a/")
    assert f'href="{EXPLORER}/b/{bucket}/a/c/"' in r.text and f'href="{EXPLORER}/b/{bucket}/a/b.txt"' in r.text
    assert "top.txt" not in r.text
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/a/c/")
    crumbs = re.search(r'<nav class="crumbs">(.*?)</nav>', r.text, re.S).group(1)
    assert links(crumbs) == [f"{EXPLORER}/", f"{EXPLORER}/b/{bucket}/", f"{EXPLORER}/b/{bucket}/a/",
                             f"{EXPLORER}/b/{bucket}/a/c/"]
    assert "d.txt" in r.text
    missing = get(endpoint, f"{EXPLORER}/b/{bucket}/nothing/")  # no such folder: 404, not an empty 200
    assert missing.status_code == 404 and "<h1>No such folder</h1>" in missing.text


def test_folder_page_shows_a_multipart_objects_own_etag(endpoint, s3, bucket):
    part = 5 * 1024 * 1024
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp/big.bin")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp/big.bin", UploadId=uid, PartNumber=n,
                                                     Body=body)["ETag"]}
             for n, body in ((1, b"a" * part), (2, b"b"))]
    etag = s3.complete_multipart_upload(Bucket=bucket, Key="mp/big.bin", UploadId=uid,
                                        MultipartUpload={"Parts": parts})["ETag"].strip('"')
    assert etag.endswith("-2")
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/mp/")
    assert r.status_code == 200 and etag in r.text  # as S3 lists it, not the content MD5


def add_many(gateway: Gateway, repo: str, keys: list[str]) -> None:
    """One ModifyFile with an AddFile per key, straight into the gateway's pfsd."""
    from google.protobuf import wrappers_pb2

    from generated.pfs import pfs_pb2 as pb
    from generated.pfs import pfs_pb2_grpc

    commit = pb.Commit(repo=pb.Repo(name=repo, type="user", project=pb.Project(name="default")),
                       branch=pb.Branch(repo=pb.Repo(name=repo, type="user", project=pb.Project(name="default")),
                                        name="master"))

    def ops():
        yield pb.ModifyFileRequest(set_commit=commit)
        for k in keys:
            yield pb.ModifyFileRequest(add_file=pb.AddFile(path="/" + k, raw=wrappers_pb2.BytesValue(value=k.encode())))

    with grpc.insecure_channel(f"unix://{gateway.data_dir / 'pfsd.sock'}") as ch:
        pfs_pb2_grpc.APIStub(ch).ModifyFile(ops(), timeout=120)


def test_pagination_over_10000_keys(gateway, endpoint, s3, bucket):
    keys = [f"many/k{i:05d}" for i in range(10_000)] + ["many/sub/inner", "other"]
    add_many(gateway, bucket.split(".", 1)[1], keys)
    url, seen, pages, slowest = f"{EXPLORER}/b/{bucket}/many/", [], 0, 0.0
    while url:
        started = time.perf_counter()
        r = get(endpoint, url)
        slowest = max(slowest, time.perf_counter() - started)
        assert r.status_code == 200, r.text
        rows = re.findall(rf'href="{EXPLORER}/b/{re.escape(bucket)}/many/([^"?]+)"', r.text)
        assert 0 < len(rows) <= 100
        seen += rows
        pages += 1
        url = next_link(r.text)
        if url:
            assert "after=" in url
    assert sorted(seen) == sorted([k[5:] for k in keys if k.startswith("many/k")] + ["sub/"])
    assert len(seen) == len(set(seen)) == 10_001 and pages == 101
    assert slowest < 5.0  # each page is one bounded ListFile, not a walk of the bucket


def test_object_page_metadata_preview_and_download(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="d/data.json", Body=b'{"b": [1, 2], "a": "<x>"}', ContentType="application/json",
                  Metadata={"owner": "<alice>"})
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/d/data.json")
    assert r.status_code == 200
    head = s3.head_object(Bucket=bucket, Key="d/data.json")
    assert head["ETag"].strip('"') in r.text and head["VersionId"] in r.text
    assert "application/json" in r.text and "x-amz-meta-owner" in r.text and "&lt;alice&gt;" in r.text
    assert "&#34;b&#34;: [\n    1," in r.text  # pretty-printed JSON preview, escaped
    assert f'href="{EXPLORER}/b/{head["VersionId"]}.{bucket}/d/data.json"' in r.text  # the commit's view
    download = f"{EXPLORER}/raw/{bucket}/d/data.json"
    assert f'href="{download}"' in r.text

    body = os.urandom(700_000)  # streamed (above the gateway's small-body size)
    s3.put_object(Bucket=bucket, Key="d/blob.bin", Body=body)
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/d/blob.bin")
    assert "No preview" in r.text
    r = get(endpoint, f"{EXPLORER}/raw/{bucket}/d/blob.bin")
    assert r.content == body
    assert r.headers["content-disposition"].startswith('attachment; filename="blob.bin"')
    assert r.headers["content-type"] == "application/octet-stream" and r.headers["x-content-type-options"] == "nosniff"

    s3.put_object(Bucket=bucket, Key="t.csv", Body=b"name,n\n<b>,1\nz,2\n")
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/t.csv")
    assert "<tr><th>name</th><th>n</th></tr>" in r.text and "<td>&lt;b&gt;</td>" in r.text

    big = b"".join(b"line %06d\n" % i for i in range(20_000))  # 220 KB of text
    s3.put_object(Bucket=bucket, Key="big.txt", Body=big)
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/big.txt")
    assert "line 000000" in r.text and "line 019999" not in r.text and "First 64 KiB only" in r.text

    png = png_1x1()
    s3.put_object(Bucket=bucket, Key="img/dot.png", Body=png, ContentType="image/png")
    r = get(endpoint, f"{EXPLORER}/b/{bucket}/img/dot.png")
    assert f'<img class="preview" src="{EXPLORER}/raw/{bucket}/img/dot.png?inline=1"' in r.text
    r = get(endpoint, f"{EXPLORER}/raw/{bucket}/img/dot.png?inline=1")
    assert r.content == png and r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"].startswith("inline;")
    # inline only for raster images: HTML or SVG would run in the gateway's origin
    s3.put_object(Bucket=bucket, Key="evil.html", Body=b"<script>alert(1)</script>", ContentType="text/html")
    r = get(endpoint, f"{EXPLORER}/raw/{bucket}/evil.html?inline=1")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in r.headers["content-security-policy"]


def test_history_and_versions(endpoint, s3, bucket):
    v1 = s3.put_object(Bucket=bucket, Key="f.txt", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="g.txt", Body=b"other")
    v2 = s3.put_object(Bucket=bucket, Key="f.txt", Body=b"two two")["VersionId"]
    r = get(endpoint, f"{EXPLORER}/history/{bucket}/")
    assert r.status_code == 200
    commit_links = re.findall(rf'href="{EXPLORER}/b/([0-9a-f]{{32}})\.{re.escape(bucket)}/"', r.text)
    assert commit_links[:3] == [v2, commit_links[1], v1]
    assert "+4 B" in r.text  # "one" -> "two two"
    # the bucket as it was at the first version: f.txt holds "one", g.txt is not there yet
    old = get(endpoint, f"{EXPLORER}/b/{v1}.{bucket}/")
    assert "f.txt" in old.text and "g.txt" not in old.text and "Read-only view" in old.text
    assert get(endpoint, f"{EXPLORER}/raw/{v1}.{bucket}/f.txt").content == b"one"
    r = get(endpoint, f"{EXPLORER}/history/{bucket}/f.txt")
    assert r.status_code == 200
    assert re.findall(rf'href="{EXPLORER}/b/([0-9a-f]{{32}})\.{re.escape(bucket)}/f.txt"', r.text) == [v2, v1]
    assert r.text.count("latest") == 1
    assert "delete marker" not in r.text and "deleted version" not in r.text
    marker = s3.delete_object(Bucket=bucket, Key="f.txt")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="f.txt", VersionId=v1)
    r = get(endpoint, f"{EXPLORER}/history/{bucket}/f.txt")
    # as S3 clients see it: the marker is the latest, v1 was deleted; the commits stay listed
    assert r.text.count("delete marker") == 1 and r.text.count("deleted version") == 1
    assert r.text.count("latest") == 1 and marker[:12] in r.text
    row = re.search(rf'{v1[:12]}.*?</tr>', r.text, re.S).group(0)
    assert "deleted version" in row and "latest" not in row


def test_history_pages(endpoint, s3, bucket):
    for i in range(30):
        s3.put_object(Bucket=bucket, Key="k", Body=str(i).encode())
    r = get(endpoint, f"{EXPLORER}/history/{bucket}/")
    first = re.findall(r'<td class="mono[^"]*"><a href="[^"]*/b/([0-9a-f]{32})\.', r.text)
    assert len(first) == 25
    r = get(endpoint, next_link(r.text))
    second = re.findall(r'<td class="mono[^"]*"><a href="[^"]*/b/([0-9a-f]{32})\.', r.text)
    assert len(second) == 7 and not set(first) & set(second)  # 30 puts, PutBucketVersioning, the first commit


def test_hostile_key_names_are_escaped(endpoint, s3, bucket):
    for key in HOSTILE:
        s3.put_object(Bucket=bucket, Key=key, Body=b"hostile", Metadata={"note": "<script>x</script>"})
    pages = [f"{EXPLORER}/b/{bucket}/h/", f"{EXPLORER}/b/{bucket}/h/<script>x</", f"{EXPLORER}/history/{bucket}/"]
    r = get(endpoint, pages[0])
    targets = [u for u in links(r.text) if u.startswith(f"{EXPLORER}/b/{bucket}/h/") and u != pages[0]]
    assert len(targets) == 3
    for key in HOSTILE:
        pages += [f"{EXPLORER}/b/{bucket}/{key}", f"{EXPLORER}/history/{bucket}/{key}"]
    for path in pages:
        url = httpx.URL(endpoint).copy_with(raw_path=_quote(path).encode())
        r = httpx.get(url, timeout=30)
        assert r.status_code == 200, (path, r.text)
        assert "<script" not in r.text and "<img src=x" not in r.text, path
    r = httpx.get(httpx.URL(endpoint).copy_with(raw_path=_quote(f"{EXPLORER}/b/{bucket}/{HOSTILE[0]}").encode()))
    assert "&lt;img src=x onerror=alert&#39;1&#39;&gt;&#34;q&#34;.txt" in r.text
    # every link on the folder page leads to its object (percent-encoding round-trips)
    for key in HOSTILE[::2]:
        r = httpx.get(httpx.URL(endpoint).copy_with(raw_path=_quote(f"{EXPLORER}/raw/{bucket}/{key}").encode()))
        assert r.content == b"hostile"
    folder = get(endpoint, f"{EXPLORER}/b/{bucket}/h/")
    for href in links(folder.text):
        if href.startswith(f"{EXPLORER}/b/{bucket}/h/") and not href.endswith("/"):
            assert httpx.get(httpx.URL(endpoint).copy_with(raw_path=href.encode())).status_code == 200, href


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/~")


def test_missing_things_are_html_404s_and_explorer_is_read_only(endpoint, bucket):
    for path in (f"{EXPLORER}/b/master.{unique_repo()}/", f"{EXPLORER}/b/{bucket}/nope.txt",
                 f"{EXPLORER}/raw/{bucket}/nope.txt", f"{EXPLORER}/history/master.{unique_repo()}/",
                 f"{EXPLORER}/nowhere"):
        r = get(endpoint, path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
    r = get(endpoint, f"{EXPLORER}/b/not..valid/")
    assert r.status_code == 400 and "InvalidBucketName" in r.text
    for method in ("PUT", "DELETE", "POST"):
        r = httpx.request(method, f"{endpoint}{EXPLORER}/b/{bucket}/x.txt", content=b"x")
        assert r.status_code == 405, method


def test_browser_at_root_is_sent_to_the_explorer(endpoint, s3, bucket):
    r = get(endpoint, "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 302 and r.headers["location"] == f"{EXPLORER}/"
    r = get(endpoint, "/", follow_redirects=True, headers={"Accept": "text/html"})
    assert r.status_code == 200 and bucket in r.text
    r = get(endpoint, "/")
    assert r.status_code == 200 and r.text.startswith("<?xml") and "ListAllMyBucketsResult" in r.text
    r = get(endpoint, f"/{bucket}", headers={"Accept": "text/html"})  # only the root redirects
    assert "ListBucketResult" in r.text


def test_s3_clients_still_get_list_buckets(endpoint, s3, bucket):
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    from minio import Minio

    u = urlparse(endpoint)
    mc = Minio(f"{u.hostname}:{u.port}", access_key="anonymous", secret_key="anonymous", secure=False,
               region="us-east-1")
    assert bucket in [b.name for b in mc.list_buckets()]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "a", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    out = subprocess.run([str(Path(sys.executable).parent / "aws"), "--endpoint-url", endpoint, "s3", "ls"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and bucket in out.stdout


# -- with credentials ------------------------------------------------------------------

AK, SK = "AKIDEXPLORER", "explorer/Secret+NeverShown"


@pytest.fixture(scope="module")
def authgw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("explorer-auth") / "data", "--access-key", AK, "--secret-key", SK)
    yield g
    g.stop()


def login(client: httpx.Client, ak: str = AK, sk: str = SK, next_path: str = f"{EXPLORER}/") -> httpx.Response:
    form = client.get(f"{EXPLORER}/login", params={"next": next_path})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post(f"{EXPLORER}/login", data={"csrf": csrf, "access_key": ak, "secret_key": sk,
                                                   "next": next_path})


def test_login_required_with_credentials(authgw):
    import boto3
    from botocore.config import Config

    s3a = boto3.client("s3", endpoint_url=authgw.url, region_name="us-east-1", aws_access_key_id=AK,
                       aws_secret_access_key=SK, config=Config(s3={"addressing_style": "path"}))
    name = f"master.{unique_repo()}"
    s3a.create_bucket(Bucket=name)
    s3a.put_object(Bucket=name, Key="secret/file.txt", Body=b"payload")
    with httpx.Client(base_url=authgw.url, timeout=30) as c:
        for path in (f"{EXPLORER}/", f"{EXPLORER}/b/{name}/", f"{EXPLORER}/raw/{name}/secret/file.txt",
                     f"{EXPLORER}/history/{name}/"):
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith(f"{EXPLORER}/login?next="), path
            assert "payload" not in r.text
        # the browser at the root is sent to the explorer (and its login), S3 clients are not
        assert c.get("/", headers={"Accept": "text/html"}).headers["location"] == f"{EXPLORER}/"
        assert c.get("/").status_code == 403
        assert name in [b["Name"] for b in s3a.list_buckets()["Buckets"]]

        assert login(c, sk="wrong").status_code == 401
        assert login(c, ak="NOBODY").status_code == 401
        r = c.post(f"{EXPLORER}/login", data={"access_key": AK, "secret_key": SK})  # no CSRF token
        assert r.status_code == 403 and not c.cookies.get("s3gw_explorer")
        r = login(c, next_path=f"{EXPLORER}/b/{name}/secret/")
        assert r.status_code == 303 and r.headers["location"] == f"{EXPLORER}/b/{name}/secret/"
        set_cookie = [v for v in r.headers.get_list("set-cookie") if v.startswith("s3gw_explorer=")][0]
        assert "httponly" in set_cookie.lower() and "samesite=lax" in set_cookie.lower()
        assert f"path={EXPLORER}" in set_cookie.lower() and "max-age=" in set_cookie.lower()
        assert SK not in set_cookie and "NeverShown" not in set_cookie
        r = c.get(r.headers["location"])
        assert r.status_code == 200 and "file.txt" in r.text and SK not in r.text
        assert c.get(f"{EXPLORER}/raw/{name}/secret/file.txt").content == b"payload"
        assert c.get(f"{EXPLORER}/history/{name}/").status_code == 200
        # a tampered cookie proves nothing
        good = c.cookies.get("s3gw_explorer")
        payload, sig = good.split(".")
        tampered = payload + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
        for cookie in (tampered, good.replace(".", "x."), ""):
            r = httpx.get(f"{authgw.url}{EXPLORER}/", headers={"Cookie": f"s3gw_explorer={cookie}"})
            assert r.status_code == 303
        assert httpx.get(f"{authgw.url}{EXPLORER}/", headers={"Cookie": f"s3gw_explorer={good}"}).status_code == 200
        # no open redirect through next
        r = login(c, next_path="https://evil.example/")
        assert r.headers["location"] == f"{EXPLORER}/"
        # logout (a POST with the session's token)
        page = c.get(f"{EXPLORER}/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = c.post(f"{EXPLORER}/logout", data={"csrf": csrf})
        assert r.status_code == 303
        assert c.get(f"{EXPLORER}/").status_code == 303
    assert SK not in authgw.log_text()


def test_expired_or_foreign_sessions_are_refused():
    import asyncio

    from gateway.auth.authenticator import Authenticator
    from gateway.explorer import session

    auth = Authenticator({AK: SK})
    cookie = asyncio.run(session.log_in(auth, AK, SK))
    assert session.read(auth, cookie).access_key == AK
    assert session.read(Authenticator({AK: "another secret"}), cookie) is None  # secret rotated
    assert session.read(Authenticator({"OTHER": SK}), cookie) is None
    assert session.read(auth, cookie, now=time.time() + session.SESSION_TTL + 1) is None
    assert session.read(auth, "garbage") is None and session.read(auth, None) is None


def test_pachd_token_sessions_keep_the_token_out_of_the_cookie():
    import asyncio
    import base64

    from gateway.auth.authenticator import Authenticator
    from gateway.explorer import session
    from gateway.s3 import errors

    class FakePachd:  # pachd with auth active: WhoAmI knows one token
        async def active(self) -> bool:
            return True

        async def check_token(self, token: str) -> None:
            if token != "tok-good-123":
                raise errors.invalid_access_key_id()

    auth = Authenticator({}, pachd=FakePachd())

    async def run():
        assert await session.login_required(auth)
        assert await session.log_in(auth, "tok-good-123", "something else") is None  # secret = token
        assert await session.log_in(auth, "tok-bad", "tok-bad") is None
        return await session.log_in(auth, "tok-good-123", "tok-good-123")

    cookie = asyncio.run(run())
    payload = cookie.split(".")[0]
    assert b"tok-good" not in base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    sess = session.read(auth, cookie)
    assert sess.token == "tok-good-123"  # what the explorer's PFS calls carry
    session.log_out(cookie)
    assert session.read(auth, cookie) is None
    assert not asyncio.run(session.login_required(None))
    assert not asyncio.run(session.login_required(Authenticator({})))
