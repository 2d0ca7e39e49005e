"""DeleteObjects: up to 1,000 keys deleted in one atomic PFS commit."""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops import versioning, versions
from gateway.ops.body import UploadBody
from gateway.ops.deletes import KEY_CHECK, read_delete_request
from gateway.ops.objects import existing_file, is_directory
from gateway.pfs import metadata
from gateway.pfs.client import delete_file
from gateway.pfs.refs import write_ref
from gateway.s3 import errors
from gateway.s3.names import is_commit_id, is_folder_key, object_path
from gateway.s3.xml import document, element

CONCURRENT_INSPECTS = 32


async def delete_objects(bucket: str) -> Response:
    """Keys without a version: one InspectFile each (bounded concurrency), then one ModifyFile
    with every DeleteFile (a delete marker each, on a versioned bucket). Keys with a VersionId:
    each version deleted as DeleteObject ``?versionId=`` does, one commit each, in order.

    Missing keys and directories are reported Deleted, as S3 reports missing keys; a folder key
    (``.../``) deletes its marker, never the objects under it.
    """
    ref = write_ref(bucket)
    quiet, entries = await read_delete_request(UploadBody(request()))
    client = pfs()
    await client.inspect_branch(ref)  # NoSuchBucket before anything else
    failed: dict[int, errors.S3Error] = {}
    paths: dict[str, str] = {}  # key -> PFS path, for the valid keys without a version
    versioned: dict[int, str] = {}  # entry -> PFS path, for the valid keys with a version
    may_delete = request().scope.get("state", {}).get(KEY_CHECK)  # None: no key pairs decide
    for i, entry in enumerate(entries):
        try:
            path = object_path(entry.key)
            if entry.version_id and entry.version_id != versions.NULL and not is_commit_id(entry.version_id):
                raise errors.invalid_argument("Invalid version id specified", "VersionId", entry.version_id)
        except errors.S3Error as e:
            if not is_folder_key(entry.key) or entry.version_id:  # a folder that cannot exist is deleted already
                failed[i] = e
            continue
        if may_delete is not None:
            try:
                await may_delete(entry.key, entry.version_id)
            except errors.S3Error as e:
                failed[i] = e
                continue
        if entry.version_id:
            versioned[i] = path
        else:
            paths[entry.key] = path
    limit = asyncio.Semaphore(CONCURRENT_INSPECTS)

    async def is_file(path: str) -> bool:
        async with limit:
            info = await existing_file(client, ref, path)
        return info is not None and not is_directory(info)

    mode = versioning.version_mode(await versioning.status(client, ref)) if paths else None
    found = await asyncio.gather(*(is_file(p) for p in paths.values()))
    doomed = [p for p, ok in zip(paths.values(), found, strict=True) if ok]
    commit = None
    if doomed:
        if mode is None:
            ops = [op for p in doomed for op in (delete_file(p), *metadata.delete_ops(p))]
        else:
            ops = [op for p in doomed for op in versions.marker_ops(p, mode)]
        n = len(doomed)
        commit = await client.modify_file(ref, ops, f"DeleteObjects {n} key{'' if n == 1 else 's'}")
    deleted_paths = set(doomed)
    gone: dict[int, versions.Version | None] = {}
    for i, path in versioned.items():
        try:
            _, gone[i] = await versions.delete_version(client, ref, entries[i].key, path,
                                                       entries[i].version_id or "")
        except errors.S3Error as e:
            failed[i] = e
    parts = []
    for i, entry in enumerate(entries):
        version = element("VersionId", entry.version_id) if entry.version_id else ""
        if i in failed:
            err = failed[i]
            parts.append(f"<Error>{element('Key', entry.key)}{version}{element('Code', err.code)}"
                         f"{element('Message', err.message)}</Error>")
        elif not quiet:
            marker = ""
            if i in versioned:
                v = gone.get(i)
                if v is not None and v.marker:
                    marker = element("DeleteMarker", True) + element("DeleteMarkerVersionId", v.version_id)
            elif commit and mode is not None and paths.get(entry.key) in deleted_paths:
                vid = commit if mode == "c" else versions.NULL
                marker = element("DeleteMarker", True) + element("DeleteMarkerVersionId", vid)
            parts.append(f"<Deleted>{element('Key', entry.key)}{version}{marker}</Deleted>")
    return Response(document("DeleteResult", parts), media_type="application/xml",
                    headers={"x-pfs-commit": commit} if commit else {})
