"""DeleteObjects: up to 1,000 keys deleted in one atomic PFS commit."""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops.body import UploadBody
from gateway.ops.deletes import read_delete_request
from gateway.ops.objects import existing_file, is_directory
from gateway.pfs import metadata
from gateway.pfs.client import delete_file
from gateway.pfs.refs import write_ref
from gateway.s3 import errors
from gateway.s3.names import is_folder_key, object_path
from gateway.s3.xml import document, element

CONCURRENT_INSPECTS = 32


async def delete_objects(bucket: str) -> Response:
    """One InspectFile per key (bounded concurrency), then one ModifyFile with every DeleteFile.

    Missing keys and directories are reported Deleted, as S3 reports missing keys; a folder key
    (``.../``) deletes its marker, never the objects under it.
    """
    ref = write_ref(bucket)
    quiet, entries = await read_delete_request(UploadBody(request()))
    client = pfs()
    await client.inspect_branch(ref)  # NoSuchBucket before anything else
    failed: dict[int, errors.S3Error] = {}
    paths: dict[str, str] = {}  # key -> PFS path, for the valid keys
    for i, entry in enumerate(entries):
        if entry.version_id:
            failed[i] = errors.not_implemented("PFS history is immutable: a version cannot be deleted.")
            continue
        try:
            paths[entry.key] = object_path(entry.key)
        except errors.S3Error as e:
            if not is_folder_key(entry.key):  # a folder that cannot exist is deleted already
                failed[i] = e
    limit = asyncio.Semaphore(CONCURRENT_INSPECTS)

    async def is_file(path: str) -> bool:
        async with limit:
            info = await existing_file(client, ref, path)
        return info is not None and not is_directory(info)

    found = await asyncio.gather(*(is_file(p) for p in paths.values()))
    doomed = [p for p, ok in zip(paths.values(), found, strict=True) if ok]
    commit = None
    if doomed:
        ops = [op for p in doomed for op in (delete_file(p), *metadata.delete_ops(p))]
        commit = await client.modify_file(ref, ops, f"DeleteObjects {len(doomed)} key{'' if len(doomed) == 1 else 's'}")
    deleted_paths = set(doomed)
    parts = []
    for i, entry in enumerate(entries):
        if i in failed:
            err = failed[i]
            version = element("VersionId", entry.version_id) if entry.version_id else ""
            parts.append(f"<Error>{element('Key', entry.key)}{version}{element('Code', err.code)}"
                         f"{element('Message', err.message)}</Error>")
        elif not quiet:
            marker = ""
            if commit and paths.get(entry.key) in deleted_paths:
                marker = (element("DeleteMarker", True) + element("DeleteMarkerVersionId", commit))
            parts.append(f"<Deleted>{element('Key', entry.key)}{marker}</Deleted>")
    return Response(document("DeleteResult", parts), media_type="application/xml")
