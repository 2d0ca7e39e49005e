"""Object metadata (Content-Type, Cache-Control, ``x-amz-meta-*``, ...) stored in PFS beside the object.

S3 keeps headers with an object; PFS files have none. So a PUT with metadata also writes, in
the same commit, one empty "sidecar" file whose *name* carries the metadata:
``/.s3g/meta/<key>/<base64url(JSON)>``. Reading it costs a one-entry ListFile (run concurrently
with InspectFile), never a GetFile; it works the same against pachd; and listings never show
it (``.s3g/`` is the gateway's hidden prefix). Replacing or deleting the object deletes the
sidecar directory in the same ModifyFile stream.

A finished commit never changes, so what the sidecar says at (repo, commit ID, path) is cached
(bounded LRU): a repeated read costs no RPC, a moved head is simply a new key, nothing is ever
invalidated and gateway copies cannot disagree. Only pfsd's commits are known to be finished
when read or written (pachd's head may be an open commit), so against pachd nothing is cached.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway import errors
from gateway.names import RESERVED_PREFIX
from gateway.pfs import PFS, Ref, add_file, delete_file
from gateway.pfs_errors import NotFound
from generated.pfs import pfs_pb2 as pb

META_DIR = "/" + RESERVED_PREFIX + "meta"
MAX_USER_METADATA = 2048  # bytes of x-amz-meta-* names and values, as S3 limits them
STORED_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language",
                  "cache-control", "expires")
USER_PREFIX = "x-amz-meta-"


@dataclass
class ObjectMeta:
    """What S3 returns about an object besides size and dates."""

    headers: dict[str, str] = field(default_factory=dict)  # lower-case standard headers
    user: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    etag: str | None = None  # overrides the MD5 ETag (multipart: "<md5-of-md5s>-<n>")

    def empty(self) -> bool:
        return not (self.headers or self.user or self.etag)

    def response_headers(self) -> dict[str, str]:
        out = {k.title(): v for k, v in self.headers.items()}
        out.update({USER_PREFIX + k: v for k, v in self.user.items()})
        return out

    def encode(self) -> str:
        doc = {k: v for k, v in (("h", self.headers), ("u", self.user), ("e", self.etag)) if v}
        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, name: str) -> ObjectMeta:
        raw = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4))
        doc = json.loads(raw)
        return cls(headers=doc.get("h", {}), user=doc.get("u", {}), etag=doc.get("e"))


def from_headers(headers: Mapping[str, str], content_type: str | None) -> ObjectMeta:
    """The metadata a PUT (or a REPLACE copy, or CreateMultipartUpload) asks to store.

    ``content_type`` is the request's own Content-Type (the dispatcher hides it from connexion).
    Raises ``MetadataTooLarge`` when the user metadata exceeds S3's 2 KB.
    """
    meta = ObjectMeta()
    if content_type:
        meta.headers["content-type"] = content_type
    for name in STORED_HEADERS[1:]:
        value = headers.get(name)
        if value is not None:
            meta.headers[name] = value
    size = 0
    for name, value in headers.items():
        name = name.lower()
        if name.startswith(USER_PREFIX):
            short = name[len(USER_PREFIX):]
            meta.user[short] = value
            size += len(short.encode()) + len(value.encode())
    if size > MAX_USER_METADATA:
        raise errors.metadata_too_large()
    if "content-encoding" in meta.headers:
        # aws-chunked is how the body travelled, not how the object is encoded
        kept = [e.strip() for e in meta.headers["content-encoding"].split(",")
                if e.strip() and e.strip().lower() != "aws-chunked"]
        if kept:
            meta.headers["content-encoding"] = ", ".join(kept)
        else:
            del meta.headers["content-encoding"]
    return meta


def sidecar_dir(path: str) -> str:
    """The hidden directory that holds the metadata of the object at PFS ``path``."""
    return f"{META_DIR}{path}/"


def write_ops(path: str, meta: ObjectMeta | None) -> list[pb.ModifyFileRequest]:
    """ModifyFile operations that replace the object's metadata (to go in the object's commit)."""
    ops = [delete_file(sidecar_dir(path))]
    if meta is not None and not meta.empty():
        ops.append(add_file(sidecar_dir(path) + meta.encode(), b""))
    return ops


def delete_ops(path: str) -> list[pb.ModifyFileRequest]:
    return [delete_file(sidecar_dir(path))]


async def read(pfs: PFS, ref: Ref, path: str) -> ObjectMeta:
    """The stored metadata of the object at ``path`` (empty when it has none)."""
    try:
        entries = await pfs.list_file(ref, sidecar_dir(path), None, 1)
    except NotFound:
        return ObjectMeta()
    for info in entries:
        name = info.file.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            return ObjectMeta.decode(name)
        except ValueError:
            break
    return ObjectMeta()


EMPTY = ObjectMeta()  # the cache's one entry for every object without metadata


class MetaCache:
    """(project, repo, commit ID, path) -> ObjectMeta, least recently used first out.

    What it returns is shared between requests: read it, never change it.

    Bounded by an estimate of the bytes it holds, so a burst of keys with 2 KB of metadata
    each cannot grow the gateway past its memory budget.
    """

    ENTRY_OVERHEAD = 400  # bytes: the key tuple, its strings, the dict slot, the meta object

    def __init__(self, max_bytes: int = 4 << 20) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, str, str, str], tuple[ObjectMeta, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def get(self, key: tuple[str, str, str, str]) -> ObjectMeta | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        self._entries.move_to_end(key)
        return hit[0]

    def put(self, key: tuple[str, str, str, str], meta: ObjectMeta) -> None:
        cost = self.ENTRY_OVERHEAD + len(key[1]) + len(key[3])
        if not meta.empty():
            cost += 2 * len(meta.encode())  # the decoded dicts hold about twice the encoded text
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (EMPTY if meta.empty() else meta, cost)
        self.bytes += cost
        while self.bytes > self.max_bytes and self._entries:
            _, (_, freed) = self._entries.popitem(last=False)
            self.bytes -= freed


CACHE = MetaCache()


def cache_key(ref: Ref, commit: str, path: str) -> tuple[str, str, str, str] | None:
    return (ref.project, ref.repo, commit, path) if commit else None


def cached(pfs: PFS, ref: Ref, commit: str, path: str) -> ObjectMeta | None:
    """The object's metadata at ``commit`` if this gateway already knows it."""
    key = cache_key(ref, commit, path)
    return CACHE.get(key) if key is not None and pfs.is_pfsd else None


def remember(pfs: PFS, ref: Ref, commit: str, path: str, meta: ObjectMeta | None) -> None:
    """Record the object's metadata at ``commit`` (read there, or just written in it)."""
    key = cache_key(ref, commit, path)
    if key is not None and pfs.is_pfsd:  # pfsd: that commit is finished
        CACHE.put(key, meta or EMPTY)


async def read_at(pfs: PFS, ref: Ref, commit: str, path: str) -> ObjectMeta:
    """The object's metadata at ``commit`` (resolved: an ID), from the cache or one ListFile."""
    meta = cached(pfs, ref, commit, path)
    if meta is None:
        meta = await read(pfs, Ref(ref.project, ref.repo, ref.branch, commit), path)
        remember(pfs, ref, commit, path, meta)
    return meta
