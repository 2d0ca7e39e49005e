"""ACL probes on buckets and objects: the owner holds FULL_CONTROL, and only ``private`` can be set.

Each checks that the bucket (or object) exists, as S3 does, then answers the one ACL there is.
"""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops.objects import existing_file, is_directory
from gateway.pfs.refs import at_version, read_ref, write_ref
from gateway.s3 import acl, errors
from gateway.s3.names import object_path


def _policy() -> Response:
    return Response(acl.policy_document(), media_type="application/xml")


async def _bucket_exists(bucket: str, write: bool = False) -> None:
    ref = write_ref(bucket) if write else read_ref(bucket)
    if ref.commit:
        await pfs().inspect_commit(ref)
    else:
        await pfs().inspect_branch(ref)


async def _object_exists(bucket: str, key: str, version_id: str | None = None,
                         write: bool = False) -> None:
    ref = write_ref(bucket) if write else read_ref(bucket)
    ref = at_version(ref, version_id)
    info = await existing_file(pfs(), ref, object_path(key))  # a folder marker has ACLs too
    if info is None or is_directory(info):
        raise errors.no_such_key(key)


async def _check_request() -> None:
    """The canned-ACL headers, or a body equivalent to ``private``."""
    req = request()
    acl.check_canned(req.headers)
    body = bytearray()
    async for chunk in req.stream():
        body += chunk
        if len(body) > acl.MAX_ACL_BODY:
            raise errors.malformed_xml()
    if body.strip():
        acl.check_policy(bytes(body))


async def get_bucket_acl(bucket: str) -> Response:
    await _bucket_exists(bucket)
    return _policy()


async def put_bucket_acl(bucket: str) -> Response:
    await _check_request()
    await _bucket_exists(bucket, write=True)
    return Response(status_code=200)


async def get_object_acl(bucket: str, key: str, version_id: str | None = None) -> Response:
    await _object_exists(bucket, key, version_id)
    return _policy()


async def put_object_acl(bucket: str, key: str, version_id: str | None = None) -> Response:
    await _check_request()
    await _object_exists(bucket, key, version_id, write=True)
    return Response(status_code=200)
