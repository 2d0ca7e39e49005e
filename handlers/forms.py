"""POST Object: an object written by a browser form (``multipart/form-data``) to the bucket's URL."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops import formpost


async def post_object(bucket: str) -> Response:
    """The form's file, under its ``key`` field, in one commit; signature and policy first."""
    req = request()
    written, fields = await formpost.post_object(req, pfs(), bucket)
    status, headers, body = formpost.answer(req, written, fields)
    return Response(body, status_code=status, headers=headers, media_type=None)
