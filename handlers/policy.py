"""Bucket policies and public access blocks (see :mod:`gateway.ops.policies`)."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import request
from gateway.ops import policies
from gateway.ops.body import UploadBody
from gateway.s3 import errors, publicaccess
from gateway.s3.xml import document, element


async def _document(limit: int, too_large: errors.S3Error) -> bytes:
    """The request body (small by S3's rules), checked against Content-MD5 / checksums."""
    body = UploadBody(request())
    data = bytearray()
    async for chunk in body.chunks():
        data += chunk
        if len(data) > limit:
            raise too_large
    body.verify()
    return bytes(data)


async def get_bucket_policy(bucket: str) -> Response:
    return Response(await policies.get_policy(bucket), media_type="application/json")


async def put_bucket_policy(bucket: str) -> Response:
    policies.refuse_when_pachyderm_decides(request().scope)
    body = await _document(policies.MAX_POLICY_BYTES, policies.policy_too_large())
    await policies.put_policy(bucket, body)
    return Response(status_code=204)


async def delete_bucket_policy(bucket: str) -> Response:
    policies.refuse_when_pachyderm_decides(request().scope)
    await policies.delete_policy(bucket)
    return Response(status_code=204)


async def get_bucket_policy_status(bucket: str) -> Response:
    public = await policies.policy_is_public(bucket)
    return Response(document("PolicyStatus", element("IsPublic", public)),
                    media_type="application/xml")


async def get_public_access_block(bucket: str) -> Response:
    block = await policies.get_public_access_block(bucket)
    return Response(block.render(), media_type="application/xml")


async def put_public_access_block(bucket: str) -> Response:
    policies.refuse_when_pachyderm_decides(request().scope)
    block = publicaccess.parse(await _document(publicaccess.MAX_DOCUMENT, errors.malformed_xml()))
    await policies.put_public_access_block(bucket, block)
    return Response(status_code=200)


async def delete_public_access_block(bucket: str) -> Response:
    policies.refuse_when_pachyderm_decides(request().scope)
    await policies.delete_public_access_block(bucket)
    return Response(status_code=204)
