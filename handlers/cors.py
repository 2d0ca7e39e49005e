"""A bucket's CORS configuration: Put/Get/DeleteBucketCors.

The rules are one hidden document of the bucket's branch (:mod:`gateway.ops.bucketconfig`),
stored as GetBucketCors gives it back; preflights and CORS response headers are answered from
it before dispatch (:mod:`gateway.server.cors`).
"""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops import bucketconfig
from gateway.ops.body import read_document
from gateway.pfs.refs import read_ref
from gateway.s3 import cors


async def put_bucket_cors(bucket: str) -> Response:
    config = cors.parse(await read_document(request(), cors.MAX_DOCUMENT, require_checksum=True))
    commit = await bucketconfig.store(bucket, "cors", cors.render(config),
                                      f"PutBucketCors ({len(config.rules)} rules)")
    return Response(status_code=200, headers={"x-pfs-commit": commit} if commit else None)


async def get_bucket_cors(bucket: str) -> Response:
    document = (await bucketconfig.load(bucket)).get("cors")
    if document is None:
        ref = read_ref(bucket)  # no configuration, or no bucket: which one
        if ref.commit:
            await pfs().inspect_commit(ref)
        else:
            await pfs().inspect_branch(ref)
        raise cors.no_such_configuration(bucket)
    return Response(document, media_type="application/xml")


async def delete_bucket_cors(bucket: str) -> Response:
    commit = await bucketconfig.store(bucket, "cors", None, "DeleteBucketCors")
    return Response(status_code=204, headers={"x-pfs-commit": commit} if commit else None)
