"""Object metadata (Content-Type, Cache-Control, ``x-amz-meta-*``, ...) stored in PFS beside the object.

S3 keeps headers with an object; PFS files have none. So a PUT with metadata also writes, in
the same commit, one empty "sidecar" file whose *name* carries the metadata:
``/.s3g/meta/<key>/<base64url(JSON)>``. Reading it costs a one-entry ListFile, never a
GetFile, and none at all when :mod:`gateway.pfs.metacache` already knows what the sidecar says at
that commit; it works the same against pachd; and listings never show it (``.s3g/`` is the
gateway's hidden prefix). Replacing or deleting the object deletes the sidecar directory in the
same ModifyFile stream.
"""

from __future__ import annotations

import base64
import dataclasses
import email.header
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref, add_file, delete_file
from gateway.pfs.errors import NotFound
from gateway.s3 import errors, tagging
from gateway.s3.names import RESERVED_PREFIX
from generated.pfs import pfs_pb2 as pb

META_DIR = "/" + RESERVED_PREFIX + "meta"
MAX_USER_METADATA = 2048  # bytes of x-amz-meta-* names and values, as S3 limits them
STORED_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language",
                  "cache-control", "expires")
USER_PREFIX = "x-amz-meta-"
PARTS_FILE = "~parts"  # "~" sorts after the base64url alphabet
# Sidecar names by the metadata's values (ObjectMeta.encode): a bounded map of immutable
# values (strings, numbers, tuples of them), cleared whole when full.
ENCODED_MAX = 256
_ENCODED: dict[tuple, str] = {}


@dataclass
class ObjectMeta:
    """What S3 returns about an object besides size and dates."""

    headers: dict[str, str] = field(default_factory=dict)  # lower-case standard headers
    user: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    etag: str | None = None  # overrides the MD5 ETag (multipart: "<md5-of-md5s>-<n>")
    tags: dict[str, str] = field(default_factory=dict)  # the object's tag set
    parts: list[list[int]] = field(default_factory=list)  # multipart: part sizes, as [size, count] runs
    # S3 versioning (gateway.ops.versions): how the write that left this sidecar is versioned.
    # None: an unversioned write; "c": its version ID is the commit that wrote it; "null": the
    # null version (Suspended); a commit ID: a version restored (written back) from that commit;
    # "x": not a version (the last version was deleted). ``marker``: the write was a delete.
    version: str | None = None
    marker: bool = False
    acl: str | None = None  # the object's own ACL (gateway.s3.aclmodel.ACL.encode), if it has one
    # The object's checksum as S3 keeps it: [algorithm, base64 value, FULL_OBJECT | COMPOSITE,
    # size, MD5 hex or ""] (a composite value ends in "-<parts>"); size and MD5 are those of the
    # bytes it describes. An upload in progress records [algorithm, "", type].
    checksum: list = field(default_factory=list)
    # A multipart object's part checksums are in the file PARTS_FILE of the sidecar directory.
    part_checksums: bool = False
    # When the sidecar was committed (epoch seconds; None: not read from PFS). Not stored.
    written: float | None = field(default=None, compare=False)

    def empty(self) -> bool:
        return not (self.headers or self.user or self.etag or self.tags or self.parts or self.version
                    or self.acl or self.checksum)

    def current_checksum(self, size: int, pfs_hash: str,
                         modified: float | None = None) -> tuple[str, str, str] | None:
        """(algorithm, value, type) of the stored checksum, if it still describes the file.

        A file rewritten in PFS by something other than the gateway (pachctl, a pipeline) keeps
        its old sidecar: a checksum of other bytes would make clients that verify it (botocore
        does by default) fail every read, so it is answered only while the file was not
        committed after its sidecar (``modified``, where PFS reports when each file changed, as
        pfsd does) and has the size, and the MD5 where one was recorded, it was computed for.
        """
        c = self.checksum
        if len(c) < 3 or not c[1]:
            return None
        if self.written is not None and modified is not None and modified > self.written + 1e-3:
            return None
        if len(c) >= 5 and (c[3] != size or (c[4] and len(pfs_hash) == 32 and c[4] != pfs_hash)):
            return None
        return c[0], c[1], c[2]

    def checksum_headers(self, size: int, pfs_hash: str, modified: float | None = None) -> dict[str, str]:
        """``x-amz-checksum-<alg>`` and ``x-amz-checksum-type``, for ``x-amz-checksum-mode: ENABLED``."""
        current = self.current_checksum(size, pfs_hash, modified)
        if current is None:
            return {}
        algorithm, value, kind = current
        return {"x-amz-checksum-" + algorithm.lower(): value, "x-amz-checksum-type": kind}

    def response_headers(self) -> dict[str, str]:
        out = {k.title(): v for k, v in self.headers.items()}
        out.update({USER_PREFIX + k: encode_user_value(v) for k, v in self.user.items()})
        if self.tags:
            out["x-amz-tagging-count"] = str(len(self.tags))
        return out

    def encode(self) -> str:
        """The sidecar's file name: base64url of the JSON of the fields that are set.

        Most writes store the same few documents (one Content-Type, no user metadata), so the
        names are remembered by value (:data:`_ENCODED`): a PUT asks twice (the sidecar, the
        cache's size estimate), and a JSON encode costs ~10 us, its key ~1 us.
        """
        if self.parts:
            return self._encode()  # CompleteMultipartUpload's: rare, and lists of lists
        key = (tuple(self.headers.items()), tuple(self.user.items()), self.etag,
               tuple(self.tags.items()), self.version, self.marker, self.acl,
               tuple(self.checksum), self.part_checksums)
        name = _ENCODED.get(key)
        if name is None:
            if len(_ENCODED) >= ENCODED_MAX:
                _ENCODED.clear()
            name = _ENCODED[key] = self._encode()
        return name

    def _encode(self) -> str:
        doc = {k: v for k, v in (("h", self.headers), ("u", self.user), ("e", self.etag),
                                 ("t", self.tags), ("p", self.parts), ("v", self.version),
                                 ("d", self.marker), ("a", self.acl), ("c", self.checksum),
                                 ("pc", self.part_checksums)) if v}
        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, name: str) -> ObjectMeta:
        raw = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4))
        doc = json.loads(raw)
        return cls(headers=doc.get("h", {}), user=doc.get("u", {}), etag=doc.get("e"),
                   tags=doc.get("t", {}), parts=doc.get("p", []), version=doc.get("v"),
                   marker=bool(doc.get("d")), acl=doc.get("a"), checksum=doc.get("c", []),
                   part_checksums=bool(doc.get("pc")))


def from_headers(headers: Mapping[str, str], content_type: str | None) -> ObjectMeta:
    """The metadata a PUT (or a REPLACE copy, or CreateMultipartUpload) asks to store.

    ``content_type`` is the request's own Content-Type (the dispatcher hides it from connexion).
    Raises ``MetadataTooLarge`` when the user metadata exceeds S3's 2 KB.
    """
    meta = ObjectMeta(tags=tagging.from_header(headers) or {})
    if content_type:
        meta.headers["content-type"] = content_type
    for name in STORED_HEADERS[1:]:
        value = headers.get(name)
        if value is not None:
            meta.headers[name] = value
    size = 0
    for name, value in _user_headers(headers):
        short = name[len(USER_PREFIX):]
        meta.user[short] = value = decode_user_value(value)
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


def _user_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``x-amz-meta-*`` headers, names lower-case. From a request's raw header list only
    those are decoded (a PUT has a dozen others, and most have no user metadata at all)."""
    raw = getattr(headers, "raw", None)
    if raw is None:
        return [(name.lower(), value) for name, value in headers.items()
                if name.lower().startswith(USER_PREFIX)]
    return [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw
            if name[:11].lower() == _USER_PREFIX_BYTES]


_USER_PREFIX_BYTES = USER_PREFIX.encode()


def decode_user_value(value: str) -> str:
    """An ``x-amz-meta-*`` value as S3 stores it: text, whatever way the client sent it.

    Header values arrive decoded as latin-1 (one character per byte). Raw non-ASCII bytes are
    read as UTF-8, as SDKs send them (latin-1 when they are not valid UTF-8); ASCII values with
    RFC 2047 encoded words (``=?UTF-8?B?...?=``) are decoded, as S3 does before storing.
    """
    if value.isascii():
        if "=?" not in value:
            return value
        try:
            decoded = str(email.header.make_header(email.header.decode_header(value)))
        except (ValueError, LookupError, UnicodeDecodeError):
            return value  # not well-formed encoded words: kept as sent
        return decoded or value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def encode_user_value(value: str) -> str:
    """How S3 returns a stored value: as is when ASCII, else RFC 2047 (``=?UTF-8?B?...?=``)
    so that the header stays ASCII ("mail-safe"), whatever the characters."""
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode() + "?="


def sidecar_dir(path: str) -> str:
    """The hidden directory that holds the metadata of the object at PFS ``path``."""
    return f"{META_DIR}{path}/"


def parts_file(path: str) -> str:
    """The file of a multipart object's part checksums (JSON ``[[base64, size], ...]``). Its
    name sorts after every base64url name, so a one-entry ListFile still finds the metadata."""
    return sidecar_dir(path) + PARTS_FILE


def parts_source(ref: Ref, path: str, meta: ObjectMeta) -> pb.File | None:
    """Where a rewrite of ``meta`` (read at ``ref``, pinned) copies its part checksums from."""
    return ref.file_pb(parts_file(path)) if meta.part_checksums else None


def write_ops(path: str, meta: ObjectMeta | None,
              parts: bytes | pb.File | None = None) -> list[pb.ModifyFileRequest]:
    """ModifyFile operations that replace the object's metadata (to go in the object's commit).

    ``parts``: the part checksums file's content, or the file to copy it from (the same
    object's, when only its metadata changes); without it the metadata claims none.
    """
    ops = [delete_file(sidecar_dir(path))]
    if meta is not None and not meta.empty():
        if meta.part_checksums and parts is None:
            meta = dataclasses.replace(meta, part_checksums=False)
        ops.append(add_file(sidecar_dir(path) + meta.encode(), b""))
        if isinstance(parts, bytes):
            ops.append(add_file(parts_file(path), parts))
        elif parts is not None and meta.part_checksums:
            ops.append(pb.ModifyFileRequest(copy_file=pb.CopyFile(dst=parts_file(path), src=parts)))
    return ops


def delete_ops(path: str) -> list[pb.ModifyFileRequest]:
    return [delete_file(sidecar_dir(path))]


async def read(pfs: PFS, ref: Ref, path: str) -> ObjectMeta:
    """The stored metadata of the object at ``path`` (empty when it has none)."""
    try:
        if pfs.use_extensions:  # one unary page from pfsd (the pfs_v2 stream against pachd)
            entries = await file_pages.list_file(pfs, ref, sidecar_dir(path), None, 1)
        else:
            entries = await pfs.list_file(ref, sidecar_dir(path), None, 1)
    except NotFound:
        return ObjectMeta()
    return from_page(entries)


def from_page(entries: list[pb.FileInfo]) -> ObjectMeta:
    """The metadata a ListFile page of the sidecar directory holds (empty when none)."""
    for info in entries:
        name = info.file.path.rstrip("/").rsplit("/", 1)[-1]
        if name == PARTS_FILE:
            break
        try:
            meta = ObjectMeta.decode(name)
        except ValueError:
            break
        if info.HasField("committed"):
            meta.written = info.committed.ToNanoseconds() / 1e9
        return meta
    return ObjectMeta()


async def read_parts(pfs: PFS, ref: Ref, path: str) -> list[list]:
    """A multipart object's part checksums, ``[[base64, size], ...]`` in part order ([] when
    it has none): one GetFile, only for the callers that list parts."""
    try:
        raw = b"".join([chunk async for chunk in pfs.get_file(ref, parts_file(path))])
    except NotFound:
        return []
    return json.loads(raw) if raw else []
