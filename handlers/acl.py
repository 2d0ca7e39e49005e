"""ACLs of buckets and objects (see :mod:`gateway.ops.acls` for where they live and what they do)."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import request
from gateway.ops import acls
from gateway.ops.body import read_document
from gateway.s3 import acl


async def _requested() -> acl.Requested | None:
    """The canned-ACL or grant headers, or an AccessControlPolicy body."""
    req = request()
    return await acls.requested(req.headers, await read_document(req, acl.MAX_ACL_BODY))


def _xml(body: bytes) -> Response:
    return Response(body, media_type="application/xml")


async def get_bucket_acl(bucket: str) -> Response:
    return _xml(await acls.bucket_acl(bucket))


async def put_bucket_acl(bucket: str) -> Response:
    await acls.set_bucket_acl(bucket, await _requested())
    return Response(status_code=200)


async def get_object_acl(bucket: str, key: str, version_id: str | None = None) -> Response:
    return _xml(await acls.object_acl(bucket, key, version_id))


async def put_object_acl(bucket: str, key: str, version_id: str | None = None) -> Response:
    commit = await acls.set_object_acl(bucket, key, version_id, await _requested())
    return Response(status_code=200, headers={"x-pfs-commit": commit})


async def get_bucket_ownership_controls(bucket: str) -> Response:
    return _xml(await acls.ownership_controls(bucket))


async def put_bucket_ownership_controls(bucket: str) -> Response:
    acls.refuse_under_pachyderm_auth("Ownership controls")
    body = await read_document(request(), acl.MAX_ACL_BODY)
    await acls.set_ownership_controls(bucket, acl.parse_ownership(body))
    return Response(status_code=200)


async def delete_bucket_ownership_controls(bucket: str) -> Response:
    await acls.set_ownership_controls(bucket, None)
    return Response(status_code=204)
