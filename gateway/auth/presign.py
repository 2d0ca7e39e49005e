"""Presigned GET URLs made by the gateway itself (the explorer's share links), in the SigV4
query form every S3 client makes and :mod:`gateway.auth.sigv4` verifies."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from gateway.auth import sigv4

REGION = "us-east-1"  # the gateway accepts any region in a credential scope


def presigned_get(base_url: str, host: str, bucket: str, key: str, access_key: str, secret: str,
                  expires: int, now: datetime | None = None) -> str:
    """A URL that GETs ``bucket``/``key`` as ``access_key`` for ``expires`` seconds.

    ``base_url`` is ``scheme://host[:port]`` as the browser reached the gateway; ``host`` is the
    Host header value the URL will be requested with (signed, as clients do).
    """
    if not 1 <= expires <= sigv4.MAX_EXPIRES:
        raise ValueError(f"expiry must be 1..{sigv4.MAX_EXPIRES} seconds")
    now = now or datetime.now(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope = f"{date}/{REGION}/{sigv4.SERVICE}/{sigv4.TERMINATOR}"
    path = "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")
    query = {
        "X-Amz-Algorithm": sigv4.ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    query_string = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical = sigv4.canonical_request("GET", sigv4.canonical_uri(path.encode()),
                                        sigv4.canonical_query(sigv4.query_pairs(query_string.encode())),
                                        [(b"host", host.encode())], ("host",), sigv4.UNSIGNED_PAYLOAD)
    text = sigv4.string_to_sign(amz_date, scope, canonical)
    signature = sigv4.signature(sigv4.signing_key(secret, date, REGION), text)
    return f"{base_url.rstrip('/')}{path}?{query_string}&X-Amz-Signature={signature}"
