"""S3 operations on an object, a PFS file: put, get, head, delete."""

from __future__ import annotations

import asyncio

from starlette.responses import Response, StreamingResponse

from gateway import conditions, errors, metadata
from gateway.body import UploadBody
from gateway.context import content_type, pfs, request
from gateway.names import is_commit_id, validate_key
from gateway.objects import ObjectInfo, existing_file, is_directory
from gateway.pfs import Ref, delete_file
from gateway.pfs_errors import NotFound
from gateway.refs import read_ref, write_ref


async def put_object(bucket: str, key: str) -> Response:
    """Stream the body into one ModifyFile: the object and its metadata appear in one commit."""
    ref = write_ref(bucket)
    path = validate_key(key)
    meta = metadata.from_headers(request().headers, content_type())  # MetadataTooLarge first
    body = UploadBody(request())
    # One call checks the bucket (PFS would create a missing branch; S3 never does) and
    # what the key is now: PFS's DeleteFile of a directory is recursive, so a directory is
    # refused.
    existing = await existing_file(pfs(), ref, path)
    if existing is not None and is_directory(existing):
        raise errors.path_conflict(key)

    async def ops():
        async for op in body.file_ops(path):
            yield op
        for op in metadata.write_ops(path, meta):  # also drops a stale sidecar
            yield op
        body.verify()  # raising here cancels the stream: PFS commits nothing

    commit = await pfs().modify_file(ref, ops())
    headers = {"ETag": f'"{body.md5_hex}"', "x-amz-version-id": commit, **body.response_headers()}
    return Response(status_code=200, headers=headers)


async def _inspect(bucket: str, key: str, version_id: str | None) -> tuple[Ref, str, ObjectInfo]:
    """InspectFile and the metadata read, concurrently, at the head or at ``version_id``."""
    ref = read_ref(bucket)
    path = validate_key(key)
    if version_id is not None:
        if not is_commit_id(version_id):
            raise errors.invalid_argument("Invalid version id specified", "versionId", version_id)
        ref = Ref(ref.project, ref.repo, ref.branch, version_id)
    client = pfs()
    try:
        info, meta = await asyncio.gather(client.inspect_file(ref, path),
                                          metadata.read(client, ref, path))
    except NotFound as e:
        if version_id is not None and e.kind == "commit":
            raise errors.no_such_version(key, version_id) from None
        raise
    if is_directory(info):
        raise errors.no_such_key(key)
    return ref, path, ObjectInfo.from_file_info(key, info, meta)


async def _answerable(bucket: str, key: str, version_id: str | None):
    """What GET and HEAD share: the object, its conditions checked, its headers, the range asked."""
    ref, path, obj = await _inspect(bucket, key, version_id)
    headers = request().headers
    conditions.check_preconditions(headers, obj.etag, obj.last_modified)
    return ref, path, obj, obj.headers(), conditions.parse_range(headers.get("range"), obj.size)


async def head_object(bucket: str, key: str, version_id: str | None = None) -> Response:
    """Size, ETag, dates and metadata from InspectFile and one ListFile; content is never read."""
    _, _, obj, out, rng = await _answerable(bucket, key, version_id)
    if rng is None:
        out["Content-Length"] = str(obj.size)
        return Response(status_code=200, headers=out)
    start, end = rng
    out["Content-Length"] = str(end - start + 1)
    out["Content-Range"] = conditions.content_range(start, end, obj.size)
    return Response(status_code=206, headers=out)


SMALL_OBJECT = 256 * 1024  # bytes read whole rather than streamed


async def get_object(bucket: str, key: str, version_id: str | None = None) -> Response:
    """Stream the file, whole or one range, from the commit InspectFile saw."""
    ref, path, obj, out, rng = await _answerable(bucket, key, version_id)
    start, end, status = 0, obj.size - 1, 200
    if rng is not None:
        start, end = rng
        status = 206
        out["Content-Range"] = conditions.content_range(start, end, obj.size)
    length = end - start + 1
    out["Content-Length"] = str(length)
    pinned = Ref(ref.project, ref.repo, ref.branch, obj.commit or ref.commit)
    if length <= SMALL_OBJECT:
        # A small body is read whole: a plain Response costs far less CPU than a streamed one
        # (no task group, no disconnect listener), and memory stays bounded by SMALL_OBJECT.
        body = b"".join([chunk async for chunk in _read(pinned, path, start, length)])
        return Response(body, status_code=status, headers=out, media_type=None)
    return StreamingResponse(_read(pinned, path, start, length), status_code=status,
                             headers=out, media_type=None)


async def _read(ref: Ref, path: str, offset: int, length: int):
    if length <= 0:
        return
    remaining = length
    async for chunk in pfs().get_file(ref, path, offset):
        if len(chunk) >= remaining:
            yield chunk[:remaining]
            return
        remaining -= len(chunk)
        yield chunk


async def delete_object(bucket: str, key: str, version_id: str | None = None) -> Response:
    """Delete the file and its metadata in one commit; a missing key is success, commits nothing."""
    if version_id is not None:
        raise errors.not_implemented("PFS history is immutable: a version cannot be deleted.")
    ref = write_ref(bucket)
    path = validate_key(key)
    info = await existing_file(pfs(), ref, path)
    if info is None or is_directory(info):
        return Response(status_code=204)
    commit = await pfs().modify_file(ref, [delete_file(path), *metadata.delete_ops(path)])
    return Response(status_code=204, headers={"x-amz-version-id": commit, "x-amz-delete-marker": "true"})
