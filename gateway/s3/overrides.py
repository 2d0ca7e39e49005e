"""GetObject's ``response-*`` query parameters: response headers the request chooses.

S3 honours them only on signed requests (an Authorization header or a presigned URL) and
answers an anonymous request that carries one with 400 InvalidRequest.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.s3 import errors

OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_SIGNATURE_PARAMS = ("X-Amz-Signature", "Signature")


def response_overrides(query: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, str]:
    """The headers to set in place of the stored ones (empty when none is asked for)."""
    out = {header: query[param] for param, header in OVERRIDES.items() if param in query}
    if out and "authorization" not in headers and not any(p in query for p in _SIGNATURE_PARAMS):
        raise errors.invalid_request("Request specific response headers cannot be used for "
                                     "anonymous GET requests.")
    return out
