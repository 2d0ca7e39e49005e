"""S3 operations on an object, a PFS file: put, get, head, delete."""

from __future__ import annotations

from starlette.responses import Response, StreamingResponse

from gateway import conditions, errors
from gateway.body import UploadBody
from gateway.context import pfs, request
from gateway.names import validate_key
from gateway.objects import ObjectInfo, is_directory
from gateway.pfs import Ref, add_file, delete_file
from gateway.pfs_errors import NotFound
from gateway.refs import read_ref, write_ref


async def put_object(bucket: str, key: str) -> Response:
    """Stream the body into one ModifyFile: the object appears in one atomic commit."""
    ref = write_ref(bucket)
    path = validate_key(key)
    body = UploadBody(request())
    # One call checks the bucket (PFS would create a missing branch; S3 never does) and
    # what the key is now: PFS appends to an existing file and its DeleteFile of a directory
    # is recursive, so only an existing file is deleted first, and a directory is refused.
    existing = await _existing(ref, path)
    if existing is not None and is_directory(existing):
        raise errors.path_conflict(key)

    async def ops():
        if existing is not None:
            yield delete_file(path)
        empty = True
        async for chunk in body.chunks():
            empty = False
            yield add_file(path, chunk)
        if empty:
            yield add_file(path, b"")
        body.verify()  # raising here cancels the stream: PFS commits nothing

    commit = await pfs().modify_file(ref, ops())
    headers = {"ETag": f'"{body.md5_hex}"', "x-amz-version-id": commit, **body.response_headers()}
    return Response(status_code=200, headers=headers)


async def _existing(ref: Ref, path: str):
    """The FileInfo at ``path``, or None when there is none (a missing bucket still raises)."""
    try:
        return await pfs().inspect_file(ref, path)
    except NotFound as e:
        if e.kind == "file":
            return None
        raise


async def _inspect(bucket: str, key: str) -> tuple[Ref, str, ObjectInfo]:
    ref = read_ref(bucket)
    path = validate_key(key)
    info = await pfs().inspect_file(ref, path)
    if is_directory(info):
        raise errors.no_such_key(key)
    return ref, path, ObjectInfo.from_file_info(key, info)


async def head_object(bucket: str, key: str) -> Response:
    """Size, ETag and dates from one InspectFile; the content is never read."""
    _, _, obj = await _inspect(bucket, key)
    headers = request().headers
    conditions.check_preconditions(headers, obj.etag, obj.last_modified)
    out = obj.headers()
    rng = conditions.parse_range(headers.get("range"), obj.size)
    if rng is None:
        out["Content-Length"] = str(obj.size)
        return Response(status_code=200, headers=out)
    start, end = rng
    out["Content-Length"] = str(end - start + 1)
    out["Content-Range"] = conditions.content_range(start, end, obj.size)
    return Response(status_code=206, headers=out)


async def get_object(bucket: str, key: str) -> Response:
    """Stream the file, whole or one range, from the commit InspectFile saw."""
    ref, path, obj = await _inspect(bucket, key)
    headers = request().headers
    conditions.check_preconditions(headers, obj.etag, obj.last_modified)
    out = obj.headers()
    rng = conditions.parse_range(headers.get("range"), obj.size)
    start, end, status = 0, obj.size - 1, 200
    if rng is not None:
        start, end = rng
        status = 206
        out["Content-Range"] = conditions.content_range(start, end, obj.size)
    length = end - start + 1
    out["Content-Length"] = str(length)
    pinned = Ref(ref.project, ref.repo, ref.branch, obj.commit or ref.commit)
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


async def delete_object(bucket: str, key: str) -> Response:
    """Delete the file in one commit; a missing key is success and commits nothing."""
    ref = write_ref(bucket)
    path = validate_key(key)
    info = await _existing(ref, path)
    if info is None or is_directory(info):
        return Response(status_code=204)
    commit = await pfs().modify_file(ref, [delete_file(path)])
    return Response(status_code=204, headers={"x-amz-version-id": commit})
