"""The RPCs each object operation makes, against pfsd and against a pachd-like backend.

The gateway runs in-process (its ASGI app, driven by httpx) over a real pfsd process. The PFS
client's stub is wrapped to record each RPC; in "pachd" mode the wrapper also strips pfsd's
extension metadata (GetFile's ``pfs-file-info-bin``, ModifyFile's ``pfs-commit-id``), so the
gateway sees exactly what pachd would send and must take its fallback paths.
"""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from gateway import context
from gateway.pfs import metacache
from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS
from gateway.server.app import create_app

EXTENSION_KEYS = ("pfs-file-info-bin", "pfs-commit-id", "pfs-md5")


class _PachdCall:
    """A grpc.aio call whose initial and trailing metadata lack pfsd's extension keys."""

    def __init__(self, call) -> None:
        self._call = call

    def __getattr__(self, name: str):
        return getattr(self._call, name)

    def __aiter__(self):
        return self._call.__aiter__()

    def __await__(self):
        return self._call.__await__()

    async def initial_metadata(self):
        return [(k, v) for k, v in await self._call.initial_metadata() or () if k not in EXTENSION_KEYS]

    async def trailing_metadata(self):
        return [(k, v) for k, v in await self._call.trailing_metadata() or () if k not in EXTENSION_KEYS]


class Recorder:
    """Wraps the client's stub: records each RPC by name; ``pachd`` strips the extensions."""

    def __init__(self, stub, pachd: bool) -> None:
        self._stub = stub
        self.pachd = pachd
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        return self.recording(name, getattr(self._stub, name))

    def recording(self, name: str, method):
        def call(*args, **kwargs):
            self.calls.append(name)
            c = method(*args, **kwargs)
            return _PachdCall(c) if self.pachd else c

        return call

    def take(self) -> list[str]:
        out, self.calls = self.calls, []
        return sorted(out)


def run(address: str, scenario, pachd: bool = False, extensions: bool = True) -> None:
    """Run ``scenario(http, rpcs, client)`` against an in-process gateway over ``address``."""

    async def main() -> None:
        client = PFS(address, extensions=extensions)
        rpcs = client.api = Recorder(client.api, pachd)
        pages = file_pages._backend(client)
        if pachd:
            pages.lacking_until = float("inf")  # pachd answers UNIMPLEMENTED
        pages.methods = {name: rpcs.recording(f"Pages.{name}", m) for name, m in pages.methods.items()}
        context.set_pfs(client)
        try:
            transport = httpx.ASGITransport(app=create_app(address))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                await scenario(http, rpcs, client)
        finally:
            context.set_pfs(None)
            await client.close()

    asyncio.run(main())


async def make_bucket(http: httpx.AsyncClient, rpcs: Recorder, name: str) -> None:
    assert (await http.put(f"/{name}")).status_code == 200
    rpcs.take()


def test_pfsd_get_and_head_are_one_rpc(pfsd_address):
    body = b"0123456789" * 100

    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, "master.one")
        r = await http.put("/master.one/k", content=body, headers={"x-amz-meta-color": "blue",
                                                                    "Content-Type": "text/x-test"})
        assert r.status_code == 200, r.text
        assert rpcs.take() == ["InspectFile", "ModifyFile"]
        assert client.is_pfsd is True  # learned from ModifyFile's commit ID
        # known to be pfsd: a PUT is one RPC (pfsd checks the bucket and the key itself)
        r = await http.put("/master.one/k", content=body, headers={"x-amz-meta-color": "blue",
                                                                    "Content-Type": "text/x-test"})
        assert r.status_code == 200 and rpcs.take() == ["ModifyFile"]

        r = await http.get("/master.one/k")  # the metadata is known from the PUT
        assert rpcs.take() == ["GetFile"]
        assert r.content == body and r.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert r.headers["x-amz-meta-color"] == "blue" and r.headers["content-type"] == "text/x-test"

        r = await http.head("/master.one/k")
        assert rpcs.take() == ["InspectFile"]
        assert r.headers["content-length"] == str(len(body)) and r.headers["x-amz-meta-color"] == "blue"

        metacache.CACHE.clear()  # a cold cache: the sidecar's page comes with GetFile, then known
        r = await http.get("/master.one/k")
        assert rpcs.take() == ["GetFile"] and r.headers["x-amz-meta-color"] == "blue"
        assert r.headers["content-type"] == "text/x-test"
        r = await http.get("/master.one/k")
        assert rpcs.take() == ["GetFile"] and r.content == body

        # a write elsewhere moves the head: a new commit, a new cache key
        await http.put("/master.one/other", content=b"x")
        rpcs.take()
        r = await http.head("/master.one/k")
        assert rpcs.take() == ["InspectFile", "Pages.ListFile"] and r.headers["x-amz-meta-color"] == "blue"

    run(pfsd_address, scenario)


def test_pfsd_ranges_and_conditions_read_only_what_they_answer(pfsd_address):
    body = bytes(range(256)) * 8

    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, "master.ranges")
        etag = (await http.put("/master.ranges/k", content=body)).headers["etag"]
        await http.get("/master.ranges/k")
        rpcs.take()

        r = await http.get("/master.ranges/k", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == body[10:20]
        assert r.headers["content-range"] == f"bytes 10-19/{len(body)}"
        assert rpcs.take() == ["GetFile"]
        r = await http.get("/master.ranges/k", headers={"Range": "bytes=2000-"})
        assert r.status_code == 206 and r.content == body[2000:]
        assert rpcs.take() == ["GetFile"]
        # a suffix range needs the size first: InspectFile, then the read from there
        r = await http.get("/master.ranges/k", headers={"Range": "bytes=-5"})
        assert r.status_code == 206 and r.content == body[-5:]
        assert rpcs.take() == ["GetFile", "InspectFile"]
        # a range S3 ignores (several ranges) serves the whole object from one call
        r = await http.get("/master.ranges/k", headers={"Range": "bytes=0-1,5-6"})
        assert r.status_code == 200 and r.content == body
        assert rpcs.take() == ["GetFile"]
        # an ignored reversed range started reading at 0 anyway
        r = await http.get("/master.ranges/k", headers={"Range": "bytes=9-3"})
        assert r.status_code == 200 and r.content == body

        r = await http.get("/master.ranges/k", headers={"Range": f"bytes={len(body)}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(body)}"
        r = await http.get("/master.ranges/k", headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
        r = await http.get("/master.ranges/k", headers={"If-Match": '"nope"'})
        assert r.status_code == 412
        rpcs.take()
        r = await http.get("/master.ranges/k", headers={"If-Match": etag, "Range": "bytes=0-0"})
        assert r.status_code == 206 and r.content == body[:1] and rpcs.take() == ["GetFile"]

        # failures are explained by InspectFile, as before
        r = await http.get("/master.ranges/missing")
        assert r.status_code == 404 and "NoSuchKey" in r.text
        await http.put("/master.ranges/dir/inner", content=b"x")
        r = await http.get("/master.ranges/dir")
        assert r.status_code == 404 and "NoSuchKey" in r.text
        r = await http.get("/master.ranges/k", params={"versionId": "0" * 32})
        assert r.status_code == 404 and "NoSuchVersion" in r.text

    run(pfsd_address, scenario)


def test_pfsd_put_is_one_rpc_that_pfsd_checks(pfsd_address):
    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, "master.puts")
        await http.put("/master.puts/k", content=b"x")  # the client learns it talks to pfsd
        await http.put("/master.puts/dir/inner", content=b"x")
        rpcs.take()
        big = b"y" * (3 << 20)
        r = await http.put("/master.puts/dir", content=big)  # a directory: refused, untouched
        assert r.status_code == 400 and "both an object and a prefix" in r.text
        assert rpcs.take() == ["ModifyFile"]
        assert (await http.get("/master.puts/dir/inner")).content == b"x"
        r = await http.put("/nobranch.puts/k", content=big)  # PFS would create the branch
        assert r.status_code == 404 and "NoSuchBucket" in r.text
        assert (await http.head("/nobranch.puts")).status_code == 404
        r = await http.put("/master.nosuchrepo/k", content=b"z")
        assert r.status_code == 404 and "NoSuchBucket" in r.text
        r = await http.put("/master.puts/dir/inner/deeper", content=b"z")  # a file above it
        assert r.status_code == 400 and "both an object and a prefix" in r.text
        rpcs.take()
        r = await http.put("/master.puts/k", content=b"new", headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
        assert r.status_code == 400 and "BadDigest" in r.text
        assert (await http.get("/master.puts/k")).content == b"x"

    run(pfsd_address, scenario)


@pytest.mark.parametrize("pachd", [False, True])
def test_listing_page_is_one_walk_and_one_marker_walk(pfsd_address, pachd):
    """A full page asks the real tree for what it can hold and stops there: one WalkFile
    (plus the folder markers' one), never a second batch only to learn the page is full."""
    bucket = f"master.pages{int(pachd)}"
    walk = "WalkFile" if pachd else "Pages.WalkFile"  # pachd: the pfs_v2 stream

    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, bucket)
        for i in range(7):
            assert (await http.put(f"/{bucket}/p/{i}", content=b"x")).status_code == 200
        rpcs.take()
        r = await http.get(f"/{bucket}", params={"list-type": "2", "prefix": "p/", "max-keys": "3"})
        assert r.status_code == 200 and r.text.count("<Key>") == 3 and "<IsTruncated>true" in r.text
        assert rpcs.take() == [walk, walk]
        token = r.text.split("<NextContinuationToken>")[1].split("<")[0]
        r = await http.get(f"/{bucket}", params={"list-type": "2", "prefix": "p/", "max-keys": "3",
                                                 "continuation-token": token})
        assert [k.split("<")[0] for k in r.text.split("<Key>")[1:]] == ["p/3", "p/4", "p/5"]
        assert rpcs.take() == [walk, walk]
        r = await http.get(f"/{bucket}", params={"list-type": "2", "prefix": "p/", "max-keys": "7"})
        assert r.text.count("<Key>") == 7 and "<IsTruncated>false" in r.text
        assert rpcs.take() == [walk, walk]

    run(pfsd_address, scenario, pachd=pachd)


def test_pfsd_hashes_uploads_for_the_gateway(pfsd_address, monkeypatch):
    """Once pfsd has reported an upload's MD5, the gateway hashes no body itself: the ETag comes
    from pfsd's trailer and a Content-MD5 is checked by pfsd before anything commits."""
    import base64
    import types

    from gateway.s3 import checksums

    big = bytes(range(256)) * 1200  # a blob in pfsd, streamed in more than one message
    good = base64.b64encode(hashlib.md5(big).digest()).decode()

    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, "master.md5")
        r = await http.put("/master.md5/k", content=b"first")  # learns what the backend does
        assert r.headers["etag"] == f'"{hashlib.md5(b"first").hexdigest()}"'
        assert client.reports_md5 is True and client.hashes_uploads

        def no_md5(*a, **kw):
            raise AssertionError("the gateway hashed a body pfsd hashes")

        monkeypatch.setattr(checksums, "hashlib", types.SimpleNamespace(md5=no_md5))
        rpcs.take()
        r = await http.put("/master.md5/k", content=big, headers={"Content-MD5": good})
        assert r.status_code == 200 and r.headers["etag"] == f'"{hashlib.md5(big).hexdigest()}"'
        assert rpcs.take() == ["ModifyFile"]
        r = await http.put("/master.md5/k", content=b"not it", headers={"Content-MD5": good})
        assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
        assert (await http.get("/master.md5/k")).content == big  # nothing committed
        upload = (await http.post("/master.md5/mp?uploads")).text
        upload_id = upload.split("<UploadId>")[1].split("<")[0]
        r = await http.put(f"/master.md5/mp?partNumber=1&uploadId={upload_id}", content=big,
                           headers={"Content-MD5": good})
        assert r.status_code == 200 and r.headers["etag"] == f'"{hashlib.md5(big).hexdigest()}"'
        r = await http.put(f"/master.md5/mp?partNumber=2&uploadId={upload_id}", content=b"x",
                           headers={"Content-MD5": good})
        assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text

    run(pfsd_address, scenario)


def test_pachd_like_backend_takes_the_fallback_paths(pfsd_address):
    body = b"abcdefghij" * 50

    async def scenario(http, rpcs, client):
        cached = len(metacache.CACHE)
        await make_bucket(http, rpcs, "master.pachd")
        r = await http.put("/master.pachd/k", content=body, headers={"x-amz-meta-color": "red"})
        assert r.status_code == 200
        version = r.headers["x-pfs-commit"]
        assert "x-amz-version-id" not in r.headers  # an unversioned bucket
        # no commit-ID trailer: the commit is the branch head, asked afterwards
        assert rpcs.take() == ["InspectBranch", "InspectFile", "ModifyFile"]
        assert client.is_pfsd is False  # learned: GETs go straight to InspectFile

        r = await http.get("/master.pachd/k")
        assert r.content == body and r.headers["x-amz-meta-color"] == "red"
        assert "x-amz-version-id" not in r.headers
        assert rpcs.take() == ["GetFile", "InspectFile", "ListFile"]
        client.is_pfsd = None  # as after a restart: the first GET finds out
        r = await http.get("/master.pachd/k")  # no FileInfo with the bytes: InspectFile first
        assert rpcs.take() == ["GetFile", "GetFile", "InspectFile", "ListFile"] and r.content == body
        assert client.is_pfsd is False
        r = await http.get("/master.pachd/k")
        assert rpcs.take() == ["GetFile", "InspectFile", "ListFile"] and r.content == body
        r = await http.head("/master.pachd/k")
        assert rpcs.take() == ["InspectFile", "ListFile"] and r.headers["x-amz-meta-color"] == "red"

        r = await http.get("/master.pachd/k", headers={"Range": "bytes=5-9"})
        assert r.status_code == 206 and r.content == body[5:10]
        r = await http.get("/master.pachd/k", headers={"Range": "bytes=-3"})
        assert r.status_code == 206 and r.content == body[-3:]
        r = await http.get("/master.pachd/k", headers={"If-None-Match": r.headers["etag"]})
        assert r.status_code == 304
        r = await http.get(f"/{version}.master.pachd/k")
        assert r.content == body
        r = await http.get("/master.pachd/missing")
        assert r.status_code == 404 and "NoSuchKey" in r.text
        r = await http.put("/nobranch.pachd/k", content=b"x")
        assert r.status_code == 404 and "NoSuchBucket" in r.text
        assert len(metacache.CACHE) == cached  # nothing read from pachd is cached

    run(pfsd_address, scenario, pachd=True)


def test_extensions_off_behaves_like_pachd(pfsd_address):
    async def scenario(http, rpcs, client):
        assert client.is_pfsd is False
        await make_bucket(http, rpcs, "master.off")
        await http.put("/master.off/k", content=b"data")
        assert rpcs.take() == ["InspectBranch", "InspectFile", "ModifyFile"]
        r = await http.get("/master.off/k")
        assert r.content == b"data" and rpcs.take() == ["GetFile", "InspectFile", "ListFile"]

    run(pfsd_address, scenario, extensions=False)



def test_pfsd_commit_left_open_by_another_client_is_not_trusted(pfsd_address):
    """A commit opened with StartCommit takes every write until finished: once a write lands
    in a commit the cache holds, that commit's entries go and it is never cached again."""
    from generated.pfs import pfs_pb2 as pb

    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, "master.open")
        await http.put("/master.open/k", content=b"x", headers={"x-amz-meta-color": "blue"})
        branch = pb.Branch(repo=pb.Repo(name="open", type="user", project=pb.Project(name="default")),
                           name="master")
        opened = await client.api.StartCommit(pb.StartCommitRequest(branch=branch))
        r = await http.get("/master.open/k")  # read at the open commit: cached, for now
        assert r.headers["x-amz-meta-color"] == "blue" and "x-amz-version-id" not in r.headers
        # another writer (CopyObject here) replaces the metadata inside that same commit
        r = await http.put("/master.open/k", headers={"x-amz-copy-source": "/master.open/k",
                                                      "x-amz-metadata-directive": "REPLACE",
                                                      "x-amz-meta-color": "green"})
        assert r.status_code == 200, r.text
        rpcs.take()
        r = await http.get("/master.open/k")
        assert r.headers["x-amz-meta-color"] == "green"
        assert rpcs.take() == ["GetFile"]  # the sidecar's page came with it
        r = await http.put("/master.open/k", content=b"y", headers={"x-amz-meta-color": "red"})
        assert r.headers["x-pfs-commit"] == opened.id  # still the open commit
        r = await http.head("/master.open/k")
        assert r.headers["x-amz-meta-color"] == "red"
        assert rpcs.take() == ["InspectFile", "ModifyFile", "Pages.ListFile"]  # never cached
        await client.api.FinishCommit(pb.FinishCommitRequest(commit=opened))
        await http.put("/master.open/k", content=b"z", headers={"x-amz-meta-color": "gold"})
        rpcs.take()
        r = await http.get("/master.open/k")  # a new, finished commit: cached from the PUT
        assert r.content == b"z" and r.headers["x-amz-meta-color"] == "gold"
        assert rpcs.take() == ["GetFile"]

    run(pfsd_address, scenario)


def test_explorer_pages_against_a_pachd_like_backend(pfsd_address):
    """Without pfsd's extensions (no descriptions, no pages service, no commit-ID trailer) the
    explorer's history, folder, object, changes and diff pages still tell the truth."""
    import re

    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, "master.plain")
        for key, body in (("d/a.txt", b"one\n"), ("d/b.txt", b"b"), ("d/c.txt", b"c")):
            await http.put(f"/master.plain/{key}", content=body)
        changed = (await http.put("/master.plain/d/a.txt", content=b"two\n")).headers["x-pfs-commit"]
        await http.put("/master.plain/d/z.txt", content=b"z")
        history = await http.get("/~/explorer/history/master.plain/")
        assert history.status_code == 200 and history.text.count("no description") == 6
        folder = await http.get("/~/explorer/b/master.plain/d/")
        assert "Entries 1–4 of 4." in folder.text
        obj = await http.get("/~/explorer/b/master.plain/d/a.txt")
        assert changed in re.search(r"<dt>Last changed in</dt><dd>(.*?)</dd>", obj.text, re.S).group(1)
        changes = await http.get("/~/explorer/diff/master.plain/", params={"commit": changed})
        assert re.findall(r'<tr class="(\w+)">', changes.text) == ["changed"]
        diff = await http.get("/~/explorer/diff/master.plain/d/a.txt", params={"to": changed})
        assert '<span class="del">-one</span>' in diff.text and '<span class="add">+two</span>' in diff.text

    run(pfsd_address, scenario, pachd=True, extensions=False)


def test_pfsd_in_this_process_is_known_to_hash_uploads_from_the_start():
    """The gateway hosting pfsd (a LocalChannel) has nothing to learn: even its first upload
    is hashed once, by pfsd; with extensions off it hashes itself, as against pachd."""
    from gateway.pfs.local import Handlers, LocalChannel

    local = PFS("unix:///in-process", channel=LocalChannel(Handlers()))
    assert local.is_pfsd is True and local.hashes_uploads
    plain = PFS("unix:///in-process", extensions=False, channel=LocalChannel(Handlers()))
    assert plain.is_pfsd is False and not plain.hashes_uploads
