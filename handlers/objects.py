"""S3 operations on an object, a PFS file: put, get, head, delete."""

from __future__ import annotations

import asyncio

from starlette.responses import Response, StreamingResponse

from gateway.context import content_type, pfs, request
from gateway.ops import acls, conditional, folders, versioning, versions
from gateway.ops.body import UploadBody
from gateway.ops.download import LocalFileResponse
from gateway.ops.objects import (
    ObjectInfo,
    existing_file,
    inspect,
    is_directory,
    open_object,
    part_range,
)
from gateway.ops.upload import write_object
from gateway.pfs import metadata
from gateway.pfs.client import PFS, FileReader, Ref, delete_file
from gateway.pfs.errors import NotFound
from gateway.pfs.refs import read_ref, write_ref
from gateway.s3 import conditions, errors
from gateway.s3.names import is_commit_id, is_folder_key, object_path
from gateway.s3.overrides import response_overrides


async def put_object(bucket: str, key: str) -> Response:
    """Stream the body into one ModifyFile: the object and its metadata appear in one commit.

    A key ending in ``/`` is a folder marker: a hidden empty file (see gateway.s3.names), so
    its body must be empty.
    """
    ref = write_ref(bucket)
    path = object_path(key)
    meta = metadata.from_headers(request().headers, content_type())  # MetadataTooLarge first
    client = pfs()
    body = UploadBody(request(), backend_md5=client.hashes_uploads)
    if is_folder_key(key):
        folders.refuse_declared_body(request().headers, key)
    meta.acl = await acls.for_object_write(bucket, request().headers)
    cond = conditional.parse(request().headers)
    require = await conditional.check(client, ref, path, key, cond)
    commit = await write_object(client, ref, path, key, body, meta, f"PutObject {key}", require, cond)
    headers = {"ETag": f'"{body.md5_hex}"', **versioning.write_headers(commit, meta.version),
               **body.response_headers()}
    return Response(status_code=200, headers=headers)


def _overrides(req) -> dict[str, str]:
    """The ``response-*`` query parameters' headers (none without a query: no parse of it)."""
    if not req.scope.get("query_string"):
        return {}
    return response_overrides(req.query_params, req.headers)


async def _target(bucket: str, key: str, version_id: str | None) -> tuple[Ref, str]:
    """Where GET and HEAD read: the bucket's head or pinned commit, or ``version_id``'s commit."""
    path = object_path(key)
    return await versions.target(pfs(), read_ref(bucket), key, path, version_id), path


async def _inspect(client: PFS, ref: Ref, path: str, key: str, version_id: str | None) -> ObjectInfo:
    """The object by InspectFile and its metadata (cached, or one ListFile)."""
    try:
        info, meta = await inspect(client, ref, path)
    except NotFound as e:
        if version_id is not None and e.kind == "commit":
            raise errors.no_such_version(key, version_id) from None
        if e.kind == "file" and version_id is None:
            raise await versions.missing(client, ref, key, path) from None
        raise
    if is_directory(info):
        raise errors.no_such_key(key)
    return ObjectInfo.from_file_info(key, info, meta)


async def head_object(bucket: str, key: str, version_id: str | None = None,
                      part_number: int | None = None, **_params: str) -> Response:
    """Size, ETag, dates and metadata from InspectFile (and the metadata); content is never read."""
    overrides = _overrides(request())
    ref, path = await _target(bucket, key, version_id)
    client = pfs()
    obj = await _inspect(client, ref, path, key, version_id)
    headers = request().headers
    conditions.check_preconditions(headers, obj.etag, obj.last_modified)
    out = obj.headers()
    out.update(await versions.read_headers(client, ref, path, obj.meta, obj.commit, version_id))
    out.update(overrides)
    rng = _part_or_range(obj, part_number, headers.get("range"), out)
    if rng is None:
        out.update(_checksum_headers(obj, headers))
        out["Content-Length"] = str(obj.size)
        return Response(status_code=200, headers=out)
    start, end = rng
    out["Content-Length"] = str(end - start + 1)
    out["Content-Range"] = conditions.content_range(start, end, obj.size)
    return Response(status_code=206, headers=out)


def _part_or_range(obj: ObjectInfo, part_number: int | None, range_header: str | None,
                   out: dict[str, str]) -> tuple[int, int] | None:
    """The byte range to serve: one part (``partNumber``, adding its parts count to ``out``),
    or the Range header's; None for the whole object."""
    if part_number is None:
        return conditions.parse_range(range_header, obj.size)
    if range_header is not None:
        raise errors.invalid_request("Cannot specify both Range header and partNumber query parameter")
    first, last, count = part_range(obj, part_number)
    out["x-amz-mp-parts-count"] = str(count)
    return None if obj.size == 0 else (first, last)


def _checksum_headers(obj: ObjectInfo, headers) -> dict[str, str]:
    """The stored checksum, when the request asks (``x-amz-checksum-mode: ENABLED``) and the
    whole object is served: a range or a part gets none, as from S3."""
    if headers.get("x-amz-checksum-mode", "").upper() != "ENABLED":
        return {}
    return obj.meta.checksum_headers(obj.size, obj.pfs_hash, obj.last_modified.timestamp())


SMALL_OBJECT = 256 * 1024  # bytes read whole rather than streamed
SENDFILE_MIN = 64 * 1024  # a longer body of a local blob file (pfsd in this process) goes by sendfile


async def get_object(bucket: str, key: str, version_id: str | None = None,
                     part_number: int | None = None, **_params: str) -> Response:
    """Stream the file, whole or one range, from one commit.

    Against pfsd one GetFile is the whole conversation: its first answer is the FileInfo, which
    decides status and headers before any byte is read (the metadata comes from the cache, or
    one ListFile). Against pachd, or to explain a failure, InspectFile comes first.
    """
    req = request()
    if req.method == "HEAD":  # Starlette routes HEAD to a GET route: answer as HeadObject
        return await head_object(bucket, key, version_id, part_number)
    overrides = _overrides(req)
    ref, path = await _target(bucket, key, version_id)
    headers = req.headers
    range_header = headers.get("range")
    client = pfs()
    # a part's offset needs the object's part sizes first: InspectFile, then GetFile from there
    offset = conditions.range_start(range_header) if part_number is None else None
    opened = await open_object(client, ref, path, offset) if offset is not None else None
    reader: FileReader | None = None
    if opened is None:
        obj = await _inspect(client, ref, path, key, version_id)
    else:
        info, meta, reader = opened
        obj = ObjectInfo.from_file_info(key, info, meta)
    try:
        conditions.check_preconditions(headers, obj.etag, obj.last_modified)
        out = obj.headers()
        out.update(overrides)
        rng = _part_or_range(obj, part_number, range_header, out)
    except BaseException:
        if reader is not None:
            reader.cancel()
        raise
    if obj.meta.version is not None or version_id is not None:
        out.update(await versions.read_headers(client, ref, path, obj.meta, obj.commit, version_id))
    start, end, status = 0, obj.size - 1, 200
    if rng is None:
        out.update(_checksum_headers(obj, headers))
    else:
        start, end = rng
        status = 206
        out["Content-Range"] = conditions.content_range(start, end, obj.size)
    length = end - start + 1
    out["Content-Length"] = str(length)
    if reader is not None and reader.local is not None:
        reader.offset = start  # the blob file itself (pfsd in this process): any offset
    elif reader is None or start != offset:
        if reader is not None:
            reader.cancel()
        pinned = Ref(ref.project, ref.repo, ref.branch, obj.commit or ref.commit)
        reader = client.open_file(pinned, path, start)
    if reader.local is not None and length > SENDFILE_MIN:
        # sent by the kernel from the blob file: measured cheaper than a read into a plain
        # response from 128 KiB on (docs/benchmarks.md, "Zero-copy GET")
        return LocalFileResponse(reader, length, status, out)
    if length <= SMALL_OBJECT:
        # A small body is read whole: a plain Response costs far less CPU than a streamed one
        # (no task group, no disconnect listener), and memory stays bounded by SMALL_OBJECT.
        return Response(await reader.read(length), status_code=status, headers=out, media_type=None)
    return StreamingResponse(reader.chunks(length), status_code=status, headers=out, media_type=None)


async def delete_object(bucket: str, key: str, version_id: str | None = None) -> Response:
    """Delete the key in one commit: the file and its metadata, or (versioned bucket) a delete
    marker; with ``versionId``, that version leaves the S3 view (gateway.ops.versions).

    A folder key (``.../``) deletes its marker only, never the objects under it, as in S3; one
    that cannot exist (``a//``) is deleted already.
    """
    ref = write_ref(bucket)
    try:
        path = object_path(key)
    except errors.S3Error:
        if not is_folder_key(key):
            raise
        await pfs().inspect_branch(ref)  # NoSuchBucket still
        return Response(status_code=204)
    client = pfs()
    if version_id is not None:
        if version_id != versions.NULL and not is_commit_id(version_id):
            raise errors.invalid_argument("Invalid version id specified", "versionId", version_id)
        commit, gone = await versions.delete_version(client, ref, key, path, version_id)
        out = {"x-amz-version-id": version_id}
        if gone is not None and gone.marker:
            out["x-amz-delete-marker"] = "true"
        if commit:
            out["x-pfs-commit"] = commit
        return Response(status_code=204, headers=out)
    info, status = await asyncio.gather(existing_file(client, ref, path),
                                        versioning.status(client, ref))
    mode = versioning.version_mode(status)
    if info is not None and is_directory(info):
        return Response(status_code=204)
    if mode is None:
        if info is None:
            return Response(status_code=204)
        commit = await client.modify_file(ref, [delete_file(path), *metadata.delete_ops(path)],
                                         f"DeleteObject {key}")
        return Response(status_code=204, headers=versioning.write_headers(commit, None))
    if info is None:  # nothing current to hide: S3 would stack another marker, PFS sees no change
        err = await versions.missing(client, ref, key, path)
        return Response(status_code=204, headers=err.headers)
    commit = await client.modify_file(ref, versions.marker_ops(path, mode), f"DeleteObject {key}")
    return Response(status_code=204, headers={**versioning.write_headers(commit, mode),
                                              "x-amz-delete-marker": "true"})
