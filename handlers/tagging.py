"""Object tagging and bucket tagging (see :mod:`gateway.ops.tags` for where tags live)."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops import tags as stored
from gateway.ops import versions
from gateway.ops.body import read_document
from gateway.pfs.refs import read_ref, write_ref
from gateway.s3 import errors, tagging
from gateway.s3.names import object_path


def _xml(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/xml", headers=headers)


def _no_old_versions(version_id: str | None) -> None:
    if version_id is not None:
        raise errors.not_implemented("PFS history is immutable: only the current version's "
                                     "tags can be changed.")


async def get_object_tagging(bucket: str, key: str, version_id: str | None = None) -> Response:
    path = object_path(key)  # a folder marker has tags too
    ref = await versions.target(pfs(), read_ref(bucket), key, path, version_id)
    info, meta = await stored.current_object(pfs(), ref, path, key)
    return _xml(tagging.render(meta.tags),
                await versions.read_headers(pfs(), ref, path, meta, info.file.commit.id, version_id))


async def put_object_tagging(bucket: str, key: str, version_id: str | None = None) -> Response:
    _no_old_versions(version_id)
    ref = write_ref(bucket)
    path = object_path(key)
    tags = tagging.parse_document(await read_document(request(), tagging.MAX_DOCUMENT))
    commit = await stored.set_object_tags(pfs(), ref, path, key, tags, f"PutObjectTagging {key}")
    return Response(status_code=200, headers={"x-pfs-commit": commit})


async def delete_object_tagging(bucket: str, key: str, version_id: str | None = None) -> Response:
    _no_old_versions(version_id)
    ref = write_ref(bucket)
    path = object_path(key)
    commit = await stored.set_object_tags(pfs(), ref, path, key, {}, f"DeleteObjectTagging {key}")
    return Response(status_code=204, headers={"x-pfs-commit": commit})


async def get_bucket_tagging(bucket: str) -> Response:
    tags = await stored.bucket_tags(pfs(), read_ref(bucket))
    if tags is None:
        raise errors.S3Error(404, "NoSuchTagSet", "The TagSet does not exist", BucketName=bucket)
    return _xml(tagging.render(tags))


async def put_bucket_tagging(bucket: str) -> Response:
    ref = write_ref(bucket)
    tags = tagging.parse_document(await read_document(request(), tagging.MAX_DOCUMENT), tagging.MAX_BUCKET_TAGS)
    await stored.set_bucket_tags(pfs(), ref, tags, "PutBucketTagging")
    return Response(status_code=204)


async def delete_bucket_tagging(bucket: str) -> Response:
    await stored.set_bucket_tags(pfs(), write_ref(bucket), None, "DeleteBucketTagging")
    return Response(status_code=204)
