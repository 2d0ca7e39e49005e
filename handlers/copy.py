"""CopyObject: a server-side PFS CopyFile into one atomic commit on the destination branch."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from starlette.responses import Response

from gateway.context import content_type, pfs, request
from gateway.ops import acls, conditional, folders, versioning, versions
from gateway.ops.copy import (
    SELF_COPY,
    checksum_elements,
    copy_algorithm,
    copy_checksum,
    copy_file,
    parse_copy_source,
    resolve,
)
from gateway.ops.objects import existing_file, is_directory
from gateway.pfs import metadata
from gateway.pfs.client import delete_file
from gateway.pfs.refs import read_ref, write_ref
from gateway.s3 import conditions, errors, tagging
from gateway.s3.names import is_folder_key, object_path
from gateway.s3.xml import document, element, timestamp


async def copy_object(bucket: str, key: str) -> Response:
    """Copy the source (any bucket, any commit) with its metadata, or REPLACE it from headers."""
    ref = write_ref(bucket)
    path = object_path(key)
    headers = request().headers
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive",
                                      headers.get("x-amz-metadata-directive"))
    replaced = metadata.from_headers(headers, content_type()) if directive == "REPLACE" else None
    tag_directive = headers.get("x-amz-tagging-directive", "COPY").upper()
    if tag_directive not in ("COPY", "REPLACE"):
        raise errors.invalid_argument("Unknown tagging directive.", "x-amz-tagging-directive",
                                      headers.get("x-amz-tagging-directive"))
    new_tags = (tagging.from_header(headers) or {}) if tag_directive == "REPLACE" else None
    src_name = parse_copy_source(headers["x-amz-copy-source"])
    src_ref = read_ref(src_name.bucket)
    if (directive == "COPY" and src_name.key == key and src_name.version_id is None
            and not src_ref.commit and (src_ref.project, src_ref.repo, src_ref.branch)
            == (ref.project, ref.repo, ref.branch)):
        raise errors.invalid_request(SELF_COPY)
    client = pfs()
    object_acl = await acls.for_object_write(bucket, headers)  # the source's ACL is not copied
    wanted = copy_algorithm(headers)
    cond = conditional.parse(headers)
    src = await resolve(client, src_name)
    if is_folder_key(key) and src.obj.size:
        raise folders.not_empty(key)
    conditions.check_copy_preconditions(headers, src.obj.etag, src.obj.last_modified)
    meta = src.meta
    if replaced is not None:
        replaced.etag = src.meta.etag  # the ETag describes the bytes, which are the same
        replaced.parts = src.meta.parts  # and so do the part sizes
        replaced.checksum = src.meta.checksum  # and its checksum
        replaced.part_checksums = src.meta.part_checksums
        meta = replaced
    # the tags: the source's (COPY, the default) or x-amz-tagging's (REPLACE), whatever the
    # metadata directive says (the source's ObjectMeta may be cached: never changed in place)
    meta = dataclasses.replace(meta, tags=src.meta.tags if new_tags is None else new_tags)
    require = await conditional.check(client, ref, path, key, cond)
    existing, status = await asyncio.gather(existing_file(client, ref, path),
                                            versioning.status(client, ref))
    if existing is not None and is_directory(existing):
        raise errors.path_conflict(key)
    meta = dataclasses.replace(meta, version=versioning.version_mode(status), marker=False,
                               acl=object_acl)
    if wanted is not None:
        meta = dataclasses.replace(meta, checksum=await copy_checksum(client, src, wanted),
                                   part_checksums=False)
    parts = metadata.parts_source(src.ref, src.path, meta)
    # Always delete first: PFS would append otherwise, and a racing write may have created it.
    ops = [delete_file(path), copy_file(path, src.file_pb()), *metadata.write_ops(path, meta, parts),
           *versions.index_ops(path, meta.version)]
    commit = await conditional.guarded(
        client.modify_file(ref, ops, f"CopyObject {key}", require=require), cond)
    result = [element("LastModified", timestamp(datetime.now(UTC))), element("ETag", f'"{src.obj.etag}"')]
    result += [element(name, value) for name, value in checksum_elements(meta.checksum)]
    body = document("CopyObjectResult", result)
    out = versioning.write_headers(commit, meta.version)
    if src.version_id:
        out["x-amz-copy-source-version-id"] = src.version_id
    return Response(body, media_type="application/xml", headers=out)
