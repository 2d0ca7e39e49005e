"""Per-bucket configuration documents in PFS (gateway.ops.bucketconfig) over a real pfsd."""

from __future__ import annotations

import asyncio

import pytest

from gateway import context
from gateway.ops import bucketconfig
from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from tests.integration.test_object_rpcs import Recorder
from tests.pfsd.conftest import start_pfsd


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bucketconfig")
    server = start_pfsd(tmp / "data", listen=f"unix://{tmp / 'pfsd.sock'}")
    yield server.address
    server.stop()


def run(address: str, scenario, extensions: bool = True) -> None:
    async def main() -> None:
        client = PFS(address, extensions=extensions)
        rpcs = client.api = Recorder(client.api, pachd=not extensions)
        pages = file_pages._backend(client)
        if not extensions:
            pages.lacking_until = float("inf")
        pages.methods = {n: rpcs.recording(f"Pages.{n}", m) for n, m in pages.methods.items()}
        context.set_pfs(client)
        bucketconfig.clear()
        try:
            await scenario(client, rpcs)
        finally:
            context.set_pfs(None)
            await client.close()

    asyncio.run(main())


async def new_bucket(client: PFS, name: str) -> None:
    ref = Ref("default", name, "master")
    await client.create_repo(ref)
    await client.create_branch(ref)


@pytest.mark.parametrize("extensions", [True, False], ids=["pfsd", "pachd-like"])
def test_store_load_delete(address, extensions):
    async def scenario(client, rpcs):
        name = "cfg" + ("x" if extensions else "p")
        await new_bucket(client, name)
        empty = await bucketconfig.load(name)
        assert not empty and empty.get("acl") is None
        commit = await bucketconfig.store(name, "cors", b"<CORSConfiguration/>", "PutBucketCors")
        assert commit
        await bucketconfig.store(name, "owner", b"abc", "CreateBucket")
        cfg = await bucketconfig.load(name)  # the store dropped the cache: read at once
        assert cfg.get("cors") == b"<CORSConfiguration/>" and cfg.get("owner") == b"abc"
        # a pinned view is governed by its branch's documents
        assert (await bucketconfig.load(f"{commit}.master.{name}")).get("owner") == b"abc"
        assert await bucketconfig.store(name, "cors", None, "DeleteBucketCors")
        assert (await bucketconfig.load(name)).get("cors") is None
        assert await bucketconfig.store(name, "cors", None, "DeleteBucketCors") is None  # no commit
        # the document is in PFS, hidden: another gateway (a cold cache) reads the same
        bucketconfig.clear()
        assert (await bucketconfig.load(name)).get("owner") == b"abc"
        with pytest.raises(NotFound):
            await bucketconfig.store("master.nosuchrepo", "acl", b"x", "PutBucketAcl")
        with pytest.raises(ValueError):
            await bucketconfig.store(name, "nonsense", b"x", "x")

    run(address, scenario, extensions)


def test_one_cached_read_per_ttl(address, monkeypatch):
    async def scenario(client, rpcs):
        await new_bucket(client, "cfgttl")
        await new_bucket(client, "cfgnone")
        await bucketconfig.store("cfgttl", "policy", b"{}", "PutBucketPolicy")
        await bucketconfig.store("cfgttl", "acl", b"{}", "PutBucketAcl")
        bucketconfig.clear()
        rpcs.take()
        for _ in range(20):
            cfg = await bucketconfig.load("cfgttl")
        assert cfg.get("policy") == b"{}" and cfg.get("acl") == b"{}"
        first = rpcs.take()
        assert first.count("Pages.ListFile") == 1 and first.count("GetFile") == 2, first
        # after the TTL: one listing again; the unchanged documents are not fetched again
        monkeypatch.setattr(bucketconfig, "TTL", 0.0)
        bucketconfig.forget(Ref("default", "cfgttl", "master"))  # as when the TTL has run out
        await bucketconfig.load("cfgttl")
        assert rpcs.take() == ["Pages.ListFile"]
        # many requests at once share one read
        await asyncio.gather(*(bucketconfig.load("cfgttl") for _ in range(10)))
        assert len(rpcs.take()) < 10
        # a bucket with no configuration costs one listing that finds nothing
        monkeypatch.setattr(bucketconfig, "TTL", 60.0)
        for _ in range(5):
            assert not await bucketconfig.load("cfgnone")
        assert rpcs.take() == ["Pages.ListFile"]
        # a missing bucket reads as no configuration (the operation says NoSuchBucket)
        assert not await bucketconfig.load("master.cfgmissing")

    run(address, scenario)
