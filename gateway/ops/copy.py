"""CopyObject's source: the ``x-amz-copy-source`` header parsed, resolved and pinned to a commit.

The copy itself is one PFS CopyFile inside the destination's ModifyFile: the bytes never pass
through the gateway, whichever bucket, repo or project the source lives in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote

from gateway.ops import versions
from gateway.ops.objects import ObjectInfo, is_directory
from gateway.pfs import metadata
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from gateway.pfs.metadata import ObjectMeta
from gateway.pfs.refs import read_ref
from gateway.s3 import checksums, errors
from gateway.s3.names import is_commit_id, object_path
from generated.pfs import pfs_pb2 as pb

SELF_COPY = ("This copy request is illegal because it is trying to copy an object to itself "
             "without changing the object's metadata, storage class, website redirect location "
             "or encryption attributes.")


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None


def parse_copy_source(header: str) -> CopySource:
    """``/bucket/key`` or ``bucket/key``, URL-encoded, optionally ``?versionId=<commit>``."""
    raw, _, query = header.partition("?")
    version_id = None
    if query:
        name, _, value = query.partition("=")
        if name != "versionId" or not value:
            raise _bad_source(header)
        version_id = unquote(value)
        if version_id != "null" and not is_commit_id(version_id):
            raise errors.invalid_argument("Invalid version id specified", "x-amz-copy-source", header)
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise _bad_source(header) from None
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket or not key:
        raise _bad_source(header)
    return CopySource(bucket, key, version_id)


def _bad_source(header: str) -> errors.S3Error:
    return errors.invalid_argument("Copy Source must mention the source bucket and key: "
                                   "sourcebucket/sourcekey", "x-amz-copy-source", header)


@dataclass(frozen=True)
class ResolvedSource:
    ref: Ref  # pinned to the commit the source was read at
    path: str
    obj: ObjectInfo
    version_id: str | None = None  # the source's S3 version ID, when it has one

    @property
    def meta(self) -> ObjectMeta:
        return self.obj.meta

    def file_pb(self) -> pb.File:
        return self.ref.file_pb(self.path)


async def resolve(client: PFS, src: CopySource) -> ResolvedSource:
    """InspectFile and the metadata read of the source, concurrently; its S3 errors named after it."""
    ref = read_ref(src.bucket)
    path = object_path(src.key)
    if src.version_id:
        try:
            ref = await versions.pick(client, ref, src.key, path, src.version_id)
        except errors.S3Error as e:
            if e.code == "MethodNotAllowed":
                raise errors.invalid_request("The source of a copy request may not specifically "
                                             "refer to a delete marker by version id.") from None
            raise
    try:
        info, meta = await asyncio.gather(client.inspect_file(ref, path),
                                          metadata.read(client, ref, path))
    except NotFound as e:
        if e.kind == "file":
            raise errors.no_such_key(src.key) from None
        if e.kind == "commit" and src.version_id:
            raise errors.no_such_version(src.key, src.version_id) from None
        raise errors.no_such_bucket(src.bucket) from None
    if is_directory(info):
        raise errors.no_such_key(src.key)
    obj = ObjectInfo.from_file_info(src.key, info, meta)
    pinned = Ref(ref.project, ref.repo, ref.branch, obj.commit or ref.commit)
    version = await versions.read_headers(client, pinned, path, meta, pinned.commit or "", src.version_id)
    return ResolvedSource(pinned, path, obj, version.get("x-amz-version-id"))


def copy_algorithm(headers) -> str | None:
    """CopyObject's ``x-amz-checksum-algorithm``: the checksum the copy must have (None: the
    source's, as it is)."""
    value = headers.get("x-amz-checksum-algorithm")
    if value is None:
        return None
    algorithm = value.strip().upper()
    if algorithm not in checksums.ALGORITHMS:
        raise errors.invalid_request("Checksum algorithm provided is unsupported. Please try again "
                                     "with any of the valid types: [CRC32, CRC32C, CRC64NVME, "
                                     "SHA1, SHA256]")
    checksums.BodyDigests([algorithm])  # CRC64NVME without awscrt: 501 before anything happens
    return algorithm


async def copy_checksum(client: PFS, src: ResolvedSource, algorithm: str) -> list:
    """The copy's stored checksum: the source's when it is that algorithm over the whole
    object, else computed from the source's bytes (read once, never buffered)."""
    current = src.obj.checksum()
    if current is not None and current[0] == algorithm and current[2] == "FULL_OBJECT":
        return list(src.meta.checksum)
    digests = checksums.BodyDigests([algorithm])
    async for chunk in client.get_file(src.ref, src.path):
        digests.update(chunk)
    return [algorithm, digests.checksum(algorithm), "FULL_OBJECT", digests.size, digests.md5_hex()]


def checksum_elements(stored: list) -> list[tuple[str, str]]:
    """``Checksum<ALG>`` and ``ChecksumType`` for a result document (none when none is stored)."""
    if len(stored) < 3 or not stored[1]:
        return []
    return [("Checksum" + stored[0], stored[1]), ("ChecksumType", stored[2])]


def copy_file(dst: str, src: pb.File) -> pb.ModifyFileRequest:
    """A CopyFile op that replaces (never appends to) ``dst``."""
    return pb.ModifyFileRequest(copy_file=pb.CopyFile(dst=dst, src=src, append=False))
