"""Bucket policies and public access blocks (see :mod:`gateway.ops.policies`)."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import request
from gateway.ops import policies
from gateway.ops.body import read_document
from gateway.s3 import publicaccess
from gateway.s3.xml import document, element


async def get_bucket_policy(bucket: str) -> Response:
    return Response(await policies.get_policy(bucket), media_type="application/json")


async def put_bucket_policy(bucket: str) -> Response:
    policies.refuse_when_pachyderm_decides(request().scope)
    body = await read_document(request(), policies.MAX_POLICY_BYTES, policies.policy_too_large())
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
    block = publicaccess.parse(await read_document(request(), publicaccess.MAX_DOCUMENT))
    await policies.put_public_access_block(bucket, block)
    return Response(status_code=200)


async def delete_public_access_block(bucket: str) -> Response:
    policies.refuse_when_pachyderm_decides(request().scope)
    await policies.delete_public_access_block(bucket)
    return Response(status_code=204)
