"""Object metadata: its encoding in a sidecar name, and the cache of what commits hold."""

from __future__ import annotations

import pytest

from gateway.pfs import client as pfs
from gateway.pfs import metacache
from gateway.pfs.client import Ref
from gateway.pfs.metacache import EMPTY, MetaCache
from gateway.pfs.metadata import ObjectMeta


def meta(n: int) -> ObjectMeta:
    return ObjectMeta(headers={"content-type": "text/plain"}, user={"n": str(n)})


def test_encode_decode_roundtrip():
    m = ObjectMeta(headers={"cache-control": "no-cache"}, user={"a": "1"}, etag="abc-2")
    assert ObjectMeta.decode(m.encode()) == m


def test_cache_is_lru():
    cache = MetaCache(max_bytes=3 * (MetaCache.ENTRY_OVERHEAD + 10))
    keys = [("default", "r", f"c{i}", "/k") for i in range(4)]
    for k in keys[:3]:
        cache.put(k, ObjectMeta())
    assert len(cache) == 3
    assert cache.get(keys[0]) is EMPTY  # touched: now the most recent
    cache.put(keys[3], ObjectMeta())
    assert len(cache) == 3 and cache.get(keys[1]) is None
    assert cache.get(keys[0]) is EMPTY and cache.get(keys[3]) is EMPTY


def test_cache_is_bounded_by_bytes():
    cache = MetaCache(max_bytes=64 * 1024)
    big = ObjectMeta(user={"blob": "x" * 2000})
    for i in range(1000):
        cache.put(("default", "r", f"c{i}", f"/k{i}"), big)
    assert cache.bytes <= 64 * 1024 and 0 < len(cache) < 40
    assert cache.get(("default", "r", "c999", "/k999")) == big
    cache.put(("default", "r", "c999", "/k999"), ObjectMeta())  # replacing frees the old cost
    assert cache.bytes <= 64 * 1024
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0


def test_a_write_into_a_held_commit_marks_it_open():
    cache = MetaCache()
    cache.put(("p", "r", "c1", "/a"), meta(1))
    cache.put(("p", "r", "c1", "/b"), meta(2))
    cache.put(("p", "r", "c2", "/a"), meta(3))
    cache.written(("p", "r", "c3"))  # a new commit: nothing held of it
    assert len(cache) == 3
    cache.written(("p", "r", "c1"))  # written again: c1 is open, its entries go
    assert cache.get(("p", "r", "c1", "/a")) is None and cache.get(("p", "r", "c1", "/b")) is None
    assert cache.get(("p", "r", "c2", "/a")) == meta(3) and len(cache) == 1
    cache.put(("p", "r", "c1", "/a"), meta(4))  # and it is never cached again
    assert cache.get(("p", "r", "c1", "/a")) is None


def test_evictions_keep_the_commit_counts():
    cache = MetaCache(max_bytes=2 * (MetaCache.ENTRY_OVERHEAD + 10))
    cache.put(("p", "r", "c1", "/a"), ObjectMeta())
    cache.put(("p", "r", "c2", "/a"), ObjectMeta())
    cache.put(("p", "r", "c3", "/a"), ObjectMeta())  # evicts c1's only entry
    cache.written(("p", "r", "c1"))  # no longer held: not taken for open
    cache.put(("p", "r", "c1", "/a"), meta(1))
    assert cache.get(("p", "r", "c1", "/a")) == meta(1)


class FakeClient:
    def __init__(self, is_pfsd: bool | None) -> None:
        self.is_pfsd = is_pfsd


@pytest.mark.parametrize("is_pfsd", [None, False])
def test_nothing_is_cached_unless_the_backend_is_pfsd(is_pfsd):
    ref = Ref("default", "repo-not-pfsd", "master")
    client = FakeClient(is_pfsd)
    metacache.remember(client, ref, "c" * 32, "/k", meta(1))
    assert metacache.cached(client, ref, "c" * 32, "/k") is None
    assert metacache.cached(FakeClient(True), ref, "c" * 32, "/k") is None


def test_remembered_at_a_commit_id_only():
    ref = Ref("default", "repo-pfsd", "master")
    client = FakeClient(True)
    metacache.remember(client, ref, "", "/k", meta(1))  # no commit ID: nothing to key it by
    assert metacache.cached(client, ref, "", "/k") is None
    metacache.remember(client, ref, "d" * 32, "/k", meta(2))
    assert metacache.cached(client, ref, "d" * 32, "/k") == meta(2)
    assert metacache.cached(client, Ref("other", "repo-pfsd", "master"), "d" * 32, "/k") is None
    assert metacache.cached(client, ref, "d" * 32, "/k2") is None
    metacache.remember(client, ref, "e" * 32, "/k", None)
    assert metacache.cached(client, ref, "e" * 32, "/k") is EMPTY


def test_modify_file_reports_its_commits():
    assert metacache._written in pfs.COMMIT_HOOKS
