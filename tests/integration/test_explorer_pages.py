"""The explorer's history, diff, folder-paging and sharing pages over HTTP, against a gateway with
credentials (logged in through the form): 60 versions of one object, a 2,500-key folder, commit
changes, text diffs, missing keys and folders, presigned share links."""

from __future__ import annotations

import asyncio
import html
import re

import boto3
import httpx
import pytest
from botocore.config import Config

from gateway.pfs.client import PFS, Ref, add_file
from tests.conftest import Gateway, unique_repo

EXPLORER = "/~/explorer"
AK, SK = "AKIDPAGES", "pages/Secret+Key0123"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("explorer-pages") / "data", "--access-key", AK, "--secret-key", SK)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def s3(gw):
    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=AK,
                        aws_secret_access_key=SK, config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="module")
def web(gw):
    """A browser-like client, logged in."""
    with httpx.Client(base_url=gw.url, timeout=60) as c:
        form = c.get(f"{EXPLORER}/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        r = c.post(f"{EXPLORER}/login", data={"csrf": csrf, "access_key": AK, "secret_key": SK, "next": "/"})
        assert r.status_code == 303
        yield c


@pytest.fixture
def bucket(s3) -> str:
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    return name


def link(page: str, cls: str) -> str | None:
    m = re.search(rf'class="{cls}" href="([^"]*)"', page)
    return html.unescape(m.group(1)) if m else None


def rows(page: str) -> list[str]:
    body = page.split("<table", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]


def put_many(gw: Gateway, bucket: str, files: dict[str, bytes]) -> None:
    """Many keys in one commit, straight through the gateway's PFS client (quick to build)."""

    async def main() -> None:
        client = PFS(f"unix://{gw.data_dir / 'pfsd.sock'}")
        try:
            # a fresh channel's first call fails at once if pfsd is slow to answer the handshake
            # (a loaded machine): wait until it is connected
            await asyncio.wait_for(client.channel.channel_ready(), 60)
            ref = Ref("default", bucket.split(".", 1)[1], "master")
            await client.modify_file(ref, [add_file("/" + k, v) for k, v in files.items()],
                                     f"test: {len(files)} keys")
        finally:
            await client.close()

    asyncio.run(main())


def test_versions_page_walks_60_versions(web, s3, bucket):
    """Issue point 7: any object with more than 20 versions answered 500 (key passed twice)."""
    made = [s3.put_object(Bucket=bucket, Key="log/v.txt", Body=f"version {i}\n".encode())["VersionId"]
            for i in range(60)]
    url, seen, pages = f"{EXPLORER}/history/{bucket}/log/v.txt", [], 0
    while url:
        r = web.get(url)
        assert r.status_code == 200, (url, r.text[-500:])
        seen += re.findall(r'href="/~/explorer/b/[^"]*?([0-9a-f]{32})\.master[^"]*/log/v\.txt"', r.text)
        url = link(r.text, "next")
        pages += 1
    assert seen == made[::-1] and pages == 3
    assert link(web.get(f"{EXPLORER}/history/{bucket}/log/v.txt").text, "first") is None


def test_object_page_names_the_commit_that_last_changed_it(web, s3, bucket):
    """Issue point 8: "Commit" was the branch head, not the commit that changed the object."""
    changed = s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")["VersionId"]
    head = [s3.put_object(Bucket=bucket, Key=f"other{i}", Body=b"o")["VersionId"] for i in range(3)][-1]
    page = web.get(f"{EXPLORER}/b/{bucket}/a.txt").text
    m = re.search(r"<dt>Last changed in</dt><dd>(.*?)</dd>", page, re.S)
    assert changed in m.group(1) and "PutObject a.txt" in m.group(1) and head not in m.group(1)
    assert head in re.search(r"<dt>Viewing at</dt><dd>(.*?)</dd>", page, re.S).group(1)


def test_history_shows_descriptions_and_a_same_size_rewrite(web, s3, bucket):
    """Issue point 9: empty descriptions, and "+0 B" for a rewrite of the same size."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"aaaa")
    s3.put_object(Bucket=bucket, Key="k", Body=b"bbbb")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})
    page = web.get(f"{EXPLORER}/history/{bucket}/").text
    found = [re.sub(r"<[^>]+>", "", r) for r in rows(page)]
    assert "DeleteObjects 1 key" in found[0] and "−4 B" in found[0]
    assert "PutObject k" in found[1] and "same size" in found[1] and "+0 B" not in page
    assert "PutObject k" in found[2] and "+4 B" in found[2]
    assert f"CreateBucket {bucket}" in found[3]


def test_missing_key_folder_and_titles(web, s3, bucket):
    """Issue point 10: a missing key showed "NoSuchBucket" and PFS's text; a missing folder was an
    empty 200; folder titles read ``bucket//~/explorer``."""
    s3.put_object(Bucket=bucket, Key="dir/sub/file.txt", Body=b"x")
    r = web.get(f"{EXPLORER}/b/{bucket}/dir/nope.txt")
    assert r.status_code == 404 and "<h1>No such key</h1>" in r.text
    assert "NoSuchBucket" not in r.text and "not found in repo" not in r.text
    assert f'href="{EXPLORER}/b/{bucket}/dir/"' in r.text  # a way up
    r = web.get(f"{EXPLORER}/b/{bucket}/dir/nothing/")
    assert r.status_code == 404 and "<h1>No such folder</h1>" in r.text
    assert web.get(f"{EXPLORER}/b/{bucket}/dir/sub/").status_code == 200
    r = web.get(f"{EXPLORER}/b/{bucket}/dir/sub")  # a folder named like a key: sent to the folder
    assert r.status_code == 303 and r.headers["location"] == f"{EXPLORER}/b/{bucket}/dir/sub/"
    empty = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=empty)
    r = web.get(f"{EXPLORER}/b/{empty}/")
    assert r.status_code == 200 and "Empty bucket." in r.text
    title = re.search(r"<title>(.*?)</title>", web.get(f"{EXPLORER}/b/{bucket}/dir/sub/").text).group(1)
    assert title.startswith(f"{bucket}/dir/sub/ ·") and "~" not in title
    assert web.get(f"{EXPLORER}/b/master.{unique_repo()}/").status_code == 404  # no such bucket


def test_2500_key_folder_count_pages_jumps_and_filters(gw, web, bucket):
    put_many(gw, bucket, {f"big/key-{i:04d}": b"x" for i in range(2500)})
    base = f"{EXPLORER}/b/{bucket}/big/"
    first = web.get(base).text
    assert "Entries 1–100 of 2,500." in first
    assert link(first, "prev") is None and link(first, "first") is None
    jumps = dict(re.findall(r'<a href="([^"]*)">(\d+)</a>', first.split('class="jumps"', 1)[1]))
    by_number = {int(n): html.unescape(h) for h, n in jumps.items()}
    assert sorted(by_number) == list(range(2, 26))
    page25 = web.get(by_number[25]).text  # item 2,401 in one click, not 24
    assert "Entries 2,401–2,500 of 2,500." in page25 and "key-2400" in page25 and "key-2499" in page25
    assert link(page25, "next") is None and len(rows(page25)) == 100
    page24 = web.get(link(page25, "prev")).text
    assert "Entries 2,301–2,400 of 2,500." in page24 and "key-2300" in page24 and "key-2400" not in page24
    page25_again = web.get(link(page24, "next")).text
    assert "Entries 2,401–2,500" in page25_again
    assert "Entries 1–100 of 2,500." in web.get(link(page25, "first")).text
    r = web.get(base, params={"q": "key-24"})
    assert "Entries 1–100 of 100 starting with “key-24”." in r.text and "key-2499" in r.text
    assert "key-2399" not in r.text
    r = web.get(base, params={"q": "499", "match": "contains"})
    names = re.findall(r">(key-\d{4})</a>", r.text)
    assert names == ["key-0499", "key-1499", "key-2499"]
    r = web.get(base, params={"q": "<zz>"})
    assert "No names match." in r.text and "&lt;zz&gt;" in r.text and "<zz>" not in r.text


def test_folder_past_the_counted_range(gw, web, bucket):
    """Past the first 5,000 entries the count reads "5,000+" and pages go on from the last key."""
    put_many(gw, bucket, {f"huge/k{i:05d}": b"" for i in range(5050)})
    base = f"{EXPLORER}/b/{bucket}/huge/"
    first = web.get(base).text
    assert "Entries 1–100 of 5,000+." in first
    last_counted = re.findall(r'<a href="([^"]*)">50</a>', first)[0]
    page50 = web.get(html.unescape(last_counted)).text
    assert "Entries 4,901–5,000 of 5,000+." in page50 and "k04999" in page50
    beyond = web.get(link(page50, "next")).text
    assert "Entries after huge/k04999" in beyond and "k05000" in beyond and "k05049" in beyond
    assert link(beyond, "next") is None and link(beyond, "first") is not None
    r = web.get(base, params={"q": "504", "match": "contains"})
    assert "among the first 5,000 entries" in r.text and "k05040" not in r.text
    assert "k05040" in web.get(base, params={"q": "k0504"}).text  # a prefix filter searches them all


def test_commit_changes_page(gw, web, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"same")
    s3.put_object(Bucket=bucket, Key="edit.txt", Body=b"one\n")
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"bye")
    for k in ("m/1", "m/2", "m/3"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"m")
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"m/{i}"} for i in (1, 2, 3)]})
    commit = s3.list_object_versions(Bucket=bucket, Prefix="m/1")["DeleteMarkers"][0]["VersionId"]
    assert deleted["Deleted"]
    r = web.get(f"{EXPLORER}/diff/{bucket}/", params={"commit": commit})
    assert r.status_code == 200 and "DeleteObjects 3 keys" in r.text
    kinds = re.findall(r'<tr class="(\w+)">', r.text)
    assert kinds == ["removed"] * 3 and all(f"m/{i}" in r.text for i in (1, 2, 3))
    edit = s3.put_object(Bucket=bucket, Key="edit.txt", Body=b"two\n")["VersionId"]
    r = web.get(f"{EXPLORER}/diff/{bucket}/", params={"commit": edit})
    assert re.findall(r'<tr class="(\w+)">', r.text) == ["changed"]
    assert f'href="{EXPLORER}/diff/{bucket}/edit.txt?to={edit}&amp;from=' in r.text
    # the history links each commit to its changes
    assert f'href="{EXPLORER}/diff/{bucket}/?commit={edit}"' in web.get(f"{EXPLORER}/history/{bucket}/").text
    # a commit of 2,500 keys: its changes come a bounded page at a time
    put_many(gw, bucket, {f"bulk/{i:04d}": b"b" for i in range(2500)})
    url, added = f"{EXPLORER}/diff/{bucket}/", 0
    for _ in range(5):
        page = web.get(url).text
        added += len(re.findall(r'<tr class="added">', page))
        nxt = link(page, "next")
        if nxt is None:
            break
        url = nxt
    assert added == 2500
    assert web.get(f"{EXPLORER}/diff/{bucket}/", params={"commit": "zz"}).status_code == 400


def test_text_diff_between_versions(web, s3, bucket):
    s3.put_object(Bucket=bucket, Key="t/data.csv", Body=b"city,n\nLyon,3\nOslo,5\n", ContentType="text/csv")
    v2 = s3.put_object(Bucket=bucket, Key="t/data.csv", Body=b"city,n\nLyon,3\nOslo,6\nLima,<8>\n",
                       ContentType="text/csv")["VersionId"]
    r = web.get(f"{EXPLORER}/diff/{bucket}/t/data.csv", params={"to": v2})
    assert r.status_code == 200
    assert '<span class="del">-Oslo,5</span>' in r.text and '<span class="add">+Oslo,6</span>' in r.text
    assert '<span class="add">+Lima,&lt;8&gt;</span>' in r.text and '<span class="ctx"> Lyon,3</span>' in r.text
    s3.put_object(Bucket=bucket, Key="t/doc.json", Body=b'{"b": 1, "a": [1, 2]}')
    v = s3.put_object(Bucket=bucket, Key="t/doc.json", Body=b'{"a":[1,2],"b":2}')["VersionId"]
    r = web.get(f"{EXPLORER}/diff/{bucket}/t/doc.json", params={"to": v})
    assert '<span class="del">-  &#34;b&#34;: 1</span>' in r.text
    assert '<span class="add">+  &#34;b&#34;: 2</span>' in r.text
    assert "&#34;a&#34;" not in re.sub(r'<span class="ctx">.*?</span>', "", r.text)  # reformatting is no change
    created = s3.put_object(Bucket=bucket, Key="t/new.txt", Body=b"hello\n")["VersionId"]
    r = web.get(f"{EXPLORER}/diff/{bucket}/t/new.txt", params={"to": created})
    assert "Created in this version." in r.text and '<span class="add">+hello</span>' in r.text
    b = s3.put_object(Bucket=bucket, Key="t/blob.bin", Body=b"\x00\x01")["VersionId"]
    assert "no line diff" in web.get(f"{EXPLORER}/diff/{bucket}/t/blob.bin", params={"to": b}).text
    page = web.get(f"{EXPLORER}/history/{bucket}/t/data.csv").text
    assert f'href="{EXPLORER}/diff/{bucket}/t/data.csv?to={v2}"' in page


def test_address_and_presigned_share_link(gw, web, s3, bucket):
    s3.put_object(Bucket=bucket, Key="share/me please.txt", Body=b"shared bytes")
    page = web.get(f"{EXPLORER}/b/{bucket}/share/me please.txt").text
    assert f'<input readonly value="s3://{bucket}/share/me please.txt"' in page
    assert '<select name="share">' in page and "<script" not in page
    r = web.get(f"{EXPLORER}/b/{bucket}/share/me please.txt", params={"share": "3600"})
    url = html.unescape(re.search(r'aria-label="Presigned link"', r.text) and
                        re.search(r'Presigned link[^<]*<input readonly value="([^"]+)"', r.text).group(1))
    assert url.startswith(f"{gw.url}/{bucket}/share/me%20please.txt?") and "X-Amz-Expires=3600" in url
    assert SK not in r.text
    got = httpx.get(url, timeout=30)  # no cookie, no credentials: the URL alone
    assert got.status_code == 200 and got.content == b"shared bytes"
    assert httpx.get(url[:-4] + ("0000" if url[-4:] != "0000" else "1111"), timeout=30).status_code == 403
    r = web.get(f"{EXPLORER}/b/{bucket}/share/me please.txt", params={"share": "9999999"})
    assert r.status_code == 400


def test_no_share_link_without_credentials(endpoint):
    import tests.conftest as c

    anon = c.boto3_client(endpoint)
    name = f"master.{unique_repo()}"
    anon.create_bucket(Bucket=name)
    anon.put_object(Bucket=name, Key="x.txt", Body=b"x")
    page = httpx.get(f"{endpoint}{EXPLORER}/b/{name}/x.txt").text
    assert f'value="s3://{name}/x.txt"' in page and 'name="share"' not in page
    assert httpx.get(f"{endpoint}{EXPLORER}/b/{name}/x.txt", params={"share": "60"}).status_code == 400


def test_hostile_names_are_escaped_on_the_new_pages(web, s3, bucket):
    hostile = "h/<script>alert'1'</script>&\"'.txt"
    v1 = s3.put_object(Bucket=bucket, Key=hostile, Body=b"<b>one</b>\n")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key=hostile, Body=b"<img src=x onerror=alert(2)>\n")["VersionId"]
    quoted = hostile.replace("%", "%25").replace("#", "%23").replace("?", "%3F")
    for path, params in ((f"{EXPLORER}/diff/{bucket}/", {"commit": v2}),
                         (f"{EXPLORER}/diff/{bucket}/{quoted}", {"to": v2, "from": v1}),
                         (f"{EXPLORER}/b/{bucket}/{quoted}", {"share": "3600"}),
                         (f"{EXPLORER}/b/{bucket}/h/", {"q": "<script>"}),
                         (f"{EXPLORER}/b/{bucket}/{quoted}x", {})):
        r = web.get(path, params=params)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert "<script" not in r.text and "<img" not in r.text and "<b>" not in r.text, path
    assert "&lt;img src=x onerror=alert(2)&gt;" in web.get(f"{EXPLORER}/diff/{bucket}/{quoted}",
                                                           params={"to": v2}).text
