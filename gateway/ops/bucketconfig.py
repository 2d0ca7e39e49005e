"""Per-bucket configuration documents (owner, ACL, policy, CORS, ...) kept in PFS.

Each kind is one hidden file of the bucket's own branch, ``/.s3g/bucket/<kind>``, written in a
commit of its own by :func:`store`, so every gateway copy reads the same documents and a
restart loses nothing. The access decision reads them on every request, so :func:`load` is
built to cost one cached look-up:

* one PFS read per (project, repo, branch) per :data:`TTL`: a one-page ListFile of
  ``/.s3g/bucket/`` (a bucket with no configuration answers NotFound there, and that is all it
  costs). The listing carries each file's MD5; a document's bytes are fetched (GetFile) only
  the first time that MD5 is seen, then kept by it (content-addressed, so never stale);
* in between, a dictionary hit. AWS documents ACL and policy changes as eventually
  consistent; here another gateway copy sees a change within :data:`TTL`, and the copy that
  made it at once (:func:`store` drops its cache entry).

A pinned bucket (``<commit>.branch.repo``) is governed by its branch's current documents: a
permission is about who may read now, not about what the commit held.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.context import pfs
from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref, add_file, delete_file
from gateway.pfs.errors import NotFound
from gateway.pfs.refs import read_ref, write_ref
from gateway.s3.names import RESERVED_PREFIX

CONFIG_DIR = f"/{RESERVED_PREFIX}bucket/"
KINDS = ("owner", "acl", "policy", "public-access-block", "ownership", "cors")
TTL = 1.0  # seconds a loaded configuration is trusted
MAX_ENTRIES = 4096  # cached branches (cleared whole past this: a look-up refills it)
MAX_FILES = 64  # entries of the directory read (the kinds, tagging, room to grow)
MAX_DOCUMENT_CACHE = 16 << 20  # bytes of documents kept by MD5

BranchKey = tuple[str, str, str]


class BucketConfig:
    """The documents of one bucket at one moment; ``parsed`` memoizes a parser's result."""

    __slots__ = ("documents", "_parsed")

    def __init__(self, documents: dict[str, bytes] | None = None) -> None:
        self.documents = documents or {}
        self._parsed: dict[tuple[str, Any], object] = {}

    def get(self, kind: str) -> bytes | None:
        return self.documents.get(kind)

    def parsed(self, kind: str, parser: Callable[[bytes], object]) -> object:
        """``parser(document)`` (None without a document), computed once per configuration.

        A parser that raises is not memoized: the error reaches every caller.
        """
        key = (kind, parser)
        try:
            return self._parsed[key]
        except KeyError:
            pass
        raw = self.documents.get(kind)
        value = None if raw is None else parser(raw)
        self._parsed[key] = value
        return value

    def __bool__(self) -> bool:
        return bool(self.documents)


EMPTY = BucketConfig()
_cache: dict[BranchKey, tuple[float, BucketConfig]] = {}
_documents: dict[tuple[str, bytes], bytes] = {}  # (kind, md5) -> bytes
_documents_size = 0
_loading: dict[BranchKey, asyncio.Future] = {}
_names: dict[str, Ref] = {}  # bucket name -> its branch (names never change meaning)


def _key(ref: Ref) -> BranchKey:
    return (ref.project, ref.repo, ref.branch)


def branch_of(ref: Ref) -> Ref:
    return Ref(ref.project, ref.repo, ref.branch)


def clear() -> None:
    """Forget everything cached (tests; a backend that changed)."""
    global _documents_size
    _cache.clear()
    _documents.clear()
    _documents_size = 0


async def load(bucket: str, client: PFS | None = None) -> BucketConfig:
    """All of the bucket's documents (an empty configuration for a missing bucket)."""
    ref = _names.get(bucket)
    if ref is None:  # parsing a bucket name costs more than the rest of a cached look-up
        ref = branch_of(read_ref(bucket))
        if len(_names) >= MAX_ENTRIES:
            _names.clear()
        _names[bucket] = ref
    return await load_ref(ref, client)


async def load_ref(ref: Ref, client: PFS | None = None) -> BucketConfig:
    key = _key(ref)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    pending = _loading.get(key)
    if pending is None:  # one read in flight per branch, however many requests wait on it
        pending = asyncio.ensure_future(_read(client or pfs(), branch_of(ref)))
        _loading[key] = pending
        pending.add_done_callback(lambda _f: _loading.pop(key, None))
    config = await asyncio.shield(pending)
    if len(_cache) >= MAX_ENTRIES:
        _cache.clear()
    _cache[key] = (time.monotonic() + TTL, config)
    return config


async def _read(client: PFS, ref: Ref) -> BucketConfig:
    try:
        if client.use_extensions:
            entries = await file_pages.list_file(client, ref, CONFIG_DIR, None, MAX_FILES)
        else:
            entries = await client.list_file(ref, CONFIG_DIR, None, MAX_FILES)
    except NotFound:
        return EMPTY  # no configuration (or no bucket: the operation itself says which)
    documents: dict[str, bytes] = {}
    for info in entries:
        kind = info.file.path.rsplit("/", 1)[-1]
        if kind not in KINDS:
            continue  # (tagging and other documents have readers of their own)
        cached = _documents.get((kind, info.hash)) if info.hash else None
        if cached is None:
            try:
                cached = b"".join([c async for c in client.get_file(ref, info.file.path)])
            except NotFound:
                continue  # deleted since the listing
            _remember(kind, info.hash, cached)
        documents[kind] = cached
    return BucketConfig(documents) if documents else EMPTY


def _remember(kind: str, md5: bytes, data: bytes) -> None:
    global _documents_size
    if not md5:
        return
    if _documents_size + len(data) > MAX_DOCUMENT_CACHE:
        _documents.clear()
        _documents_size = 0
    _documents[(kind, md5)] = data
    _documents_size += len(data)


def forget(ref: Ref) -> None:
    """Drop the cached configuration of ``ref``'s branch (after a change, or a new bucket)."""
    _cache.pop(_key(ref), None)


async def store(bucket: str, kind: str, document: bytes | None, description: str,
                client: PFS | None = None) -> str | None:
    """Replace (``None``: delete) one document of an existing bucket, in one commit.

    Returns the commit's ID (None when there was nothing to delete). A missing bucket raises
    NotFound (``NoSuchBucket``), as ModifyFile would otherwise create the branch.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown bucket configuration kind {kind!r}")
    client = client or pfs()
    ref = write_ref(bucket)
    await client.inspect_branch(ref)
    if document is None:
        current = await load_ref(ref, client)
        forget(ref)
        if current.get(kind) is None:
            return None
    commit = await client.modify_file(ref, ops(kind, document), description)
    forget(ref)
    return commit


def ops(kind: str, document: bytes | None) -> list:
    """ModifyFile operations that set (or delete) a document, for a caller that writes it in a
    commit with other changes (CreateBucket writes the owner with the bucket's first commit)."""
    path = CONFIG_DIR + kind
    out = [delete_file(path)]
    if document is not None:
        out.append(add_file(path, document))
    return out
