"""list_page over an in-memory PFS with pfsd's ListFile/WalkFile order and markers; rendering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import product
from types import SimpleNamespace

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ops import listing
from gateway.ops.objects import committed_at, etag_of
from gateway.pfs import pages as file_pages
from gateway.pfs.client import Ref
from gateway.pfs.errors import NotFound
from gateway.s3.names import folder_path
from gateway.s3.xml import Timestamps, element, timestamp
from generated.pfs import pfs_pb2 as pb
from tests.s3model import s3_listing

REF = Ref("default", "repo", "master")
HIDDEN = [f".s3g/meta/k{i:03d}/x" for i in range(40)]
KEYS = [" sp", "#h", "-d/x", ".dot", ".s3f", "a", "a-c", "a/b", "a/c/d", "a/c/e", "ab", "b/x", "c d/e", "z"]


class FakeCall:
    """A pfs_v2 server stream: entries are sent as they are read; ``cancel`` ends it."""

    def __init__(self, record: list, entries) -> None:
        self.record, self.entries = record, entries

    async def __aiter__(self):
        for e in self.entries:
            self.record[4] += 1
            yield e

    def cancel(self) -> None:
        pass


class FakePFS:
    """Paths in PFS order; WalkFile/ListFile streams as pfsd serves them (directories as ``d/``)."""

    def __init__(self, files: list[str]) -> None:
        self.files = {"/" + f for f in files}
        entries = set(self.files)
        for f in self.files:
            parts = f.split("/")[1:-1]
            entries.update("/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
        self.entries = sorted(entries | {"/"})
        self.calls: list[list] = []  # [rpc, path, after, number, entries sent]
        self.api = SimpleNamespace(WalkFile=self._walk, ListFile=self._list)

    def _info(self, path: str) -> pb.FileInfo:
        if path.endswith("/"):
            return pb.FileInfo(file=pb.File(path=path), file_type=pb.FileType.DIR)
        return pb.FileInfo(file=pb.File(path=path), file_type=pb.FileType.FILE, size_bytes=len(path),
                           hash=bytes(16), committed=Timestamp(seconds=1_700_000_000, nanos=5_000_000))

    def _below(self, path: str) -> list[str]:
        if path != "/" and path not in self.entries:
            raise NotFound(f"file {path} not found in repo repo at commit c", "file")
        return [e for e in self.entries if e.startswith(path)]

    def _call(self, rpc: str, req, entries: list[str]) -> FakeCall:
        after = req.paginationMarker.path or None
        got = [self._info(e) for e in entries if after is None or e > after][: req.number or None]
        self.calls.append(record := [rpc, req.file.path, after, req.number, 0])
        return FakeCall(record, got)

    def _walk(self, req, timeout=None) -> FakeCall:
        return self._call("WalkFile", req, self._below(req.file.path))

    def _list(self, req, timeout=None) -> FakeCall:
        path = req.file.path
        depth = path.count("/")
        return self._call("ListFile", req, [e for e in self._below(path)
                                            if e != path and e.rstrip("/").count("/") == depth])


@pytest.fixture(autouse=True)
def _stream_only(monkeypatch):
    async def no_extension(pfs, name, request, until):
        return None  # the fake serves only the pfs_v2 streams, like pachd

    monkeypatch.setattr(file_pages, "_page", no_extension)


def expected(keys: list[str], prefix: str, grouped: bool) -> list[str]:
    """What S3 lists: keys (and, with the delimiter, common prefixes) in order."""
    out: list[str] = []
    for k in sorted(keys):
        if not k.startswith(prefix):
            continue
        cut = k.find("/", len(prefix)) if grouped else -1
        item = k[: cut + 1] if cut >= 0 else k
        if item not in out:
            out.append(item)
    return out


def list_all(pfs: FakePFS, prefix: str, grouped: bool, max_keys: int, after: str | None = None) -> list[str]:
    seen: list[str] = []
    for _ in range(100):
        page = asyncio.run(listing.list_page(pfs, REF, prefix, "/" if grouped else None, after, max_keys))
        items = sorted([k for k, _ in page.files] + page.prefixes)
        assert len(items) <= max_keys
        seen += items
        if not page.truncated:
            return seen
        assert page.last == items[-1]
        after = page.last
    raise AssertionError("no end")


@pytest.mark.parametrize(("prefix", "grouped", "max_keys"),
                         list(product(["", "a", "a/", "a/c", "a/c/", ".", ".s3g", ".s3g/", "c d/", "zz"],
                                      [False, True], [1, 2, 3, 1000])))
def test_pages_list_what_s3_would(prefix, grouped, max_keys):
    pfs = FakePFS(KEYS + HIDDEN)
    assert list_all(pfs, prefix, grouped, max_keys) == expected(KEYS, prefix, grouped)


@pytest.mark.parametrize("after", ["", " sp", "#h", "-d/x", ".dot", "a", "a/b", "a/c/", "ab", "z", "zz"])
def test_markers_resume_after(after):
    pfs = FakePFS(KEYS + HIDDEN)
    for grouped in (False, True):
        want = [k for k in expected(KEYS, "", grouped) if k > after]
        assert list_all(pfs, "", grouped, 4, after=after or None) == want


def test_root_walk_starts_past_the_hidden_tree():
    pfs = FakePFS(["a", "b/c", *HIDDEN])
    page = asyncio.run(listing.list_page(pfs, REF, "", None, None, 1000))
    assert [k for k, _ in page.files] == ["a", "b/c"]
    assert [c[0] for c in pfs.calls] == ["ListFile", "WalkFile"]  # one look at the root first
    assert sum(c[4] for c in pfs.calls) < 10  # the 40 hidden entries were never sent


def test_hidden_tree_met_mid_walk_is_skipped_in_one_step():
    pfs = FakePFS([" first", "a", *HIDDEN])
    page = asyncio.run(listing.list_page(pfs, REF, "", None, None, 5))
    assert [k for k, _ in page.files] == [" first", "a"]
    # the walk met .s3g/ after " first": its first batch ended inside it, the next starts past it
    assert pfs.calls[-1][2] == "/" + listing._PAST_HIDDEN


def test_grouped_listing_keeps_its_batch_past_the_hidden_directory():
    pfs = FakePFS(["a", "b/c", *HIDDEN])
    page = asyncio.run(listing.list_page(pfs, REF, "", "/", None, 1000))
    assert [k for k, _ in page.files] == ["a"] and page.prefixes == ["b/"]
    assert len(pfs.calls) == 1


def test_found_tells_whether_pfs_answered_for_the_bucket():
    pfs = FakePFS(["a/b"])
    assert asyncio.run(listing.list_page(pfs, REF, "a/", None, None, 10)).found
    assert asyncio.run(listing.list_page(pfs, REF, "nothing/", None, None, 10)).found  # no such dir
    assert not asyncio.run(listing.list_page(pfs, REF, "", None, None, 0)).found  # asked nothing

    class Missing(FakePFS):
        def _walk(self, *args, **kwargs):
            raise NotFound("branch master not found in repo repo", "branch")

    with pytest.raises(NotFound):
        asyncio.run(listing.list_page(Missing([]), REF, "x/", None, None, 10))


def test_render_contents_matches_the_element_builder():
    stamp = Timestamp(seconds=1_700_000_123, nanos=987_654_321)
    infos = [pb.FileInfo(file=pb.File(path="/a&<b>"), size_bytes=7, hash=bytes(range(16)), committed=stamp),
             pb.FileInfo(file=pb.File(path="/c"), size_bytes=0, hash=b"f" * 32, committed=stamp)]
    files = [(i.file.path[1:], i) for i in infos]
    for owner in (False, True):
        old = "".join(
            f"<Contents>{element('Key', k)}{element('LastModified', timestamp(committed_at(i)))}"
            f"{element('ETag', chr(34) + etag_of(i) + chr(34))}{element('Size', i.size_bytes)}"
            f"{listing.OWNER if owner else ''}<StorageClass>STANDARD</StorageClass></Contents>"
            for k, i in files)
        assert "".join(listing.render_contents(files, lambda s: s, owner)) == old


def test_timestamps_match_timestamp():
    stamps = Timestamps()
    for seconds, nanos in [(0, 0), (1_700_000_000, 999_999_999), (1_700_000_000, 1_000_000), (951_782_400, 5)]:
        dt = Timestamp(seconds=seconds, nanos=nanos).ToDatetime(tzinfo=UTC)
        assert stamps(seconds, nanos) == timestamp(dt)
    assert timestamp(datetime(2024, 2, 29, 1, 2, 3, 4000, tzinfo=UTC)) == "2024-02-29T01:02:03.004Z"


@pytest.mark.parametrize("grouped", [False, True])
def test_a_narrow_prefix_reads_no_further_than_its_end(grouped):
    pfs = FakePFS([f"l/{i:04d}" for i in range(300)])
    page = asyncio.run(listing.list_page(pfs, REF, "l/001", "/" if grouped else None, None, 1000))
    assert [k for k, _ in page.files] == [f"l/{i:04d}" for i in range(10, 20)]
    assert pfs.calls[-1][4] == 11  # the stream was left at l/0020, the first key past the prefix


# --- any delimiter, folder markers: a property test against a model of S3's rules ------------

def pfs_paths(keys: list[str]) -> list[str]:
    """Where the gateway keeps ``keys`` in PFS: files at their paths, folder markers hidden."""
    return [folder_path(k)[1:] if k.endswith("/") else k for k in keys]


def storable(keys: list[str]) -> list[str]:
    """Drop keys PFS cannot hold beside the others (a file that is also a directory)."""
    files = sorted({k for k in keys if not k.endswith("/") and "//" not in k and not k.startswith("/")})
    kept = [f for f in files if not any(o.startswith(f + "/") for o in files)]
    markers = {k for k in keys if k.endswith("/") and "//" not in k and not k.startswith("/")}
    return kept + sorted(markers)


KEY_PART = st.text(alphabet=st.sampled_from("ab-./ %"), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(KEY_PART, max_size=14), prefix=st.text(alphabet=st.sampled_from("ab-./"), max_size=3),
       delimiter=st.sampled_from(["", "/", "-", ".", " ", "%", "b/", "-a", "ab"]),
       after=st.one_of(st.none(), st.text(alphabet=st.sampled_from("ab-./ "), max_size=4)),
       max_keys=st.integers(min_value=1, max_value=4))
def test_any_delimiter_pages_match_the_model(keys, prefix, delimiter, after, max_keys):
    keys = storable(keys)
    pfs = FakePFS(pfs_paths(keys) or ["unrelated-bucket-content/x"])
    if not keys:
        keys = ["unrelated-bucket-content/x"]
    want = s3_listing(keys, prefix, delimiter, after or "")
    got: list[tuple[str, bool]] = []
    cursor = after
    for _ in range(200):
        page = asyncio.run(listing.list_page(pfs, REF, prefix, delimiter or None, cursor, max_keys))
        items = sorted([(k, False) for k, _ in page.files] + [(p, True) for p in page.prefixes])
        assert len(items) <= max_keys
        got += items
        if not page.truncated:
            break
        assert page.last == items[-1][0]
        cursor = page.last
    assert got == want


@pytest.mark.parametrize("max_keys", [40, 100, 1000])
def test_grouped_walk_batches_grow_and_shrink(max_keys):
    """Singles make the batches grow past FIRST_BATCH, groups make them small again; every page
    still lists what the model does, and a group's hidden keys are mostly never sent."""
    keys = [f"s{i:03d}" for i in range(150)] + [f"g{g}-{i:03d}" for g in range(5) for i in range(300)]
    pfs = FakePFS(keys)
    got, after = [], None
    while True:
        page = asyncio.run(listing.list_page(pfs, REF, "", "-", after, max_keys))
        got += sorted([(k, False) for k, _ in page.files] + [(p, True) for p in page.prefixes])
        if not page.truncated:
            break
        after = page.last
    assert got == s3_listing(keys, "", "-", "")
    assert sum(c[4] for c in pfs.calls) < len(keys) // 2  # the groups' 1,500 keys: mostly unsent
