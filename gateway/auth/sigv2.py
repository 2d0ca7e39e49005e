"""AWS Signature Version 2 as S3 checks it: the ``AWS key:signature`` header and presigned URLs.

Pure functions over a request's method, raw path, raw query and headers, like
:mod:`gateway.auth.sigv4`: no I/O, no clock (callers pass ``now``). The rules follow the S3
developer guide ("Signing and Authenticating REST Requests")::

    StringToSign = Verb \\n Content-MD5 \\n Content-Type \\n Date \\n
                   CanonicalizedAmzHeaders CanonicalizedResource
    Signature    = Base64(HMAC-SHA1(secret, UTF-8(StringToSign)))

* ``Date`` is the ``Date`` header, empty when an ``x-amz-date`` header is sent (that one is
  signed among the ``x-amz-*`` headers instead), and the ``Expires`` value of a presigned URL;
* ``CanonicalizedAmzHeaders``: every ``x-amz-*`` header, name lowercased, value trimmed,
  repeated headers joined with commas, sorted by name, one ``name:value\\n`` each;
* ``CanonicalizedResource``: the path as sent (bucket included: the gateway is path-style),
  then the sub-resources of :data:`SUBRESOURCES` found in the query, sorted by name, with their
  decoded values (``?acl``, ``?partNumber=2&uploadId=..``, ``?response-content-type=..``).

The string is built from the request's raw bytes (header values as sent, query values
percent-decoded to bytes), which is the UTF-8 a client signs for non-ASCII text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from gateway.auth.sigv4 import MAX_SKEW, parse_amz_date, query_pairs
from gateway.s3 import errors

PREFIX = "AWS "  # the Authorization header's scheme
# Query keys that are part of the resource (the S3 guide's list, plus those S3 added later and
# that SDKs sign: botocore's HmacV1Auth and s3cmd agree on these). Others are not signed.
SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
    "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
    "partNumber", "policy", "replication", "requestPayment", "restore", "retention", "select",
    "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId",
    "versioning", "versions", "website",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires",
})
_DATE_REQUIRED = "AWS authentication requires a valid Date or x-amz-date header"


@dataclass(frozen=True)
class SignedV2:
    """The SigV2 signature a request carries (header or query form)."""

    access_key: str
    signature: str  # base64, as sent
    presigned: bool = False
    expires: int = 0  # seconds since the epoch, presigned only


def is_sigv2(authorization: str | None, query: dict[str, str]) -> bool:
    """``Authorization: AWS key:sig`` or ``?AWSAccessKeyId=..&Signature=..``."""
    if authorization is not None:
        return authorization.startswith(PREFIX)
    return "AWSAccessKeyId" in query or ("Signature" in query and "Expires" in query)


def parse_authorization(authorization: str) -> SignedV2:
    access_key, colon, signature = authorization[len(PREFIX):].strip().rpartition(":")
    if not colon or not access_key or not signature:
        # the value is not echoed: with pachd auth the access key is a token
        raise errors.invalid_argument("AWS authorization header is invalid.  Expected "
                                      "AwsAccessKeyId:signature", "Authorization", "AWS ...")
    return SignedV2(access_key.strip(), signature.strip())


def parse_presigned(query: dict[str, str]) -> SignedV2:
    """The ``AWSAccessKeyId``, ``Signature`` and ``Expires`` query parameters (decoded)."""
    missing = [n for n in ("AWSAccessKeyId", "Signature", "Expires") if not query.get(n)]
    if missing:
        raise errors.access_denied("Query-string authentication requires the Signature, "
                                   "Expires and AWSAccessKeyId parameters")
    expires = query["Expires"].strip()
    if not expires.isdigit() or len(expires) > 12:
        raise errors.access_denied(f"Invalid date (should be seconds since epoch): {expires}")
    # a '+' the client left unencoded arrives as a space: base64 has no spaces
    return SignedV2(query["AWSAccessKeyId"], query["Signature"].replace(" ", "+"), presigned=True,
                    expires=int(expires))


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of ``name`` (lowercase) among the raw headers."""
    for raw_name, value in headers:
        if raw_name.lower() == name:
            return value
    return None


def request_time(headers: list[tuple[bytes, bytes]]) -> datetime:
    """The request's ``x-amz-date`` (preferred, as S3 does) or ``Date``, as an aware time."""
    value = header(headers, b"x-amz-date") or header(headers, b"date")
    if value is None:
        raise errors.access_denied(_DATE_REQUIRED)
    text = value.decode("latin-1").strip()
    try:
        when = parsedate_to_datetime(text)  # RFC 1123, as clients send it
    except (TypeError, ValueError):
        try:
            return parse_amz_date(text)  # some clients send ISO 8601 basic in x-amz-date
        except ValueError:
            raise errors.access_denied(_DATE_REQUIRED) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def check_time(signed: SignedV2, headers: list[tuple[bytes, bytes]], now: datetime) -> None:
    """Skew for header signatures, expiry for presigned URLs (403s, as S3 answers)."""
    if signed.presigned:
        if now.timestamp() > signed.expires:
            err = errors.access_denied("Request has expired")
            err.extra.update({"Expires": _iso(signed.expires), "ServerTime": _iso(now.timestamp())})
            raise err
        return
    when = request_time(headers)
    if abs((now - when).total_seconds()) > MAX_SKEW:
        raise errors.request_time_too_skewed(_iso(when.timestamp()), _iso(now.timestamp()),
                                              MAX_SKEW * 1000)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_amz_headers(headers: list[tuple[bytes, bytes]], skip: bytes = b"") -> bytes:
    values: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(b"x-amz-") and lower != skip:
            values.setdefault(lower.strip(), []).append(b" ".join(value.strip().splitlines()))
    return b"".join(name + b":" + b",".join(values[name]) + b"\n" for name in sorted(values))


def canonical_resource(raw_path: bytes, query_string: bytes) -> bytes:
    """The path as sent, then the signed sub-resources (values decoded), sorted by name."""
    subresources = []
    for name, value in query_pairs(query_string):
        key = name.decode("latin-1")
        if key in SUBRESOURCES:
            # a value-less key signs as the bare name (``?acl``, ``?uploads=``)
            subresources.append((key, unquote_to_bytes(value) if value else None))
    resource = raw_path or b"/"
    if not subresources:
        return resource
    subresources.sort(key=lambda item: item[0])
    return resource + b"?" + b"&".join(
        k.encode() if v is None else k.encode() + b"=" + v for k, v in subresources)


def _with_query_headers(headers: list[tuple[bytes, bytes]],
                        query_string: bytes) -> list[tuple[bytes, bytes]]:
    """A presigned URL's headers plus the ``x-amz-*``, ``Content-Type`` and ``Content-MD5`` it
    carries as query parameters (botocore moves the headers it signed there) and that the
    request does not send as headers."""
    sent = {name.lower() for name, _ in headers}
    extra = []
    for name, value in query_pairs(query_string):
        lower = unquote_to_bytes(name).lower()
        if (lower.startswith(b"x-amz-") or lower in (b"content-type", b"content-md5")) \
                and lower not in sent:
            extra.append((lower, unquote_to_bytes(value.replace(b"+", b" "))))
    return [*headers, *extra] if extra else headers


def string_to_sign(signed: SignedV2, method: str, raw_path: bytes, query_string: bytes,
                   headers: list[tuple[bytes, bytes]], *, amz_date_as_date: bool = False) -> bytes:
    """The StringToSign; ``amz_date_as_date`` puts an ``x-amz-date`` in the Date line instead
    of among the ``x-amz-*`` headers (the guide's own DELETE example signs it that way)."""
    if signed.presigned:
        headers = _with_query_headers(headers, query_string)
    md5 = header(headers, b"content-md5") or b""
    content_type = header(headers, b"content-type") or b""
    skip = b""
    if signed.presigned:
        date = str(signed.expires).encode()
    elif (amz_date := header(headers, b"x-amz-date")) is not None:
        date, skip = (amz_date, b"x-amz-date") if amz_date_as_date else (b"", b"")
    else:
        date = header(headers, b"date") or b""
    return b"\n".join((method.encode(), md5.strip(), content_type.strip(), date.strip(),
                       canonical_amz_headers(headers, skip) + canonical_resource(raw_path, query_string)))


def signature(secret: str, text: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), text, hashlib.sha1).digest()).decode()


def verify(signed: SignedV2, secret: str, method: str, raw_path: bytes, query_string: bytes,
           headers: list[tuple[bytes, bytes]], *, explain: bool = True) -> None:
    """Raise ``SignatureDoesNotMatch`` unless ``signed.signature`` is the request's signature.

    ``explain`` adds the string to sign to the error, as S3 does; pass False when it could
    show a secret (a Pachyderm token is the access key).
    """
    sts = string_to_sign(signed, method, raw_path, query_string, headers)
    expected = hmac.new(secret.encode("utf-8"), sts, hashlib.sha1).digest()
    try:
        provided = base64.b64decode(signed.signature, validate=True)
    except (binascii.Error, ValueError):
        provided = b""
    if hmac.compare_digest(expected, provided):
        return
    if not signed.presigned and header(headers, b"x-amz-date") is not None:
        alt = string_to_sign(signed, method, raw_path, query_string, headers, amz_date_as_date=True)
        if hmac.compare_digest(hmac.new(secret.encode("utf-8"), alt, hashlib.sha1).digest(), provided):
            return
    extra = {"SignatureProvided": signed.signature}
    if explain:
        extra.update(AWSAccessKeyId=signed.access_key,
                     StringToSign=sts.decode("utf-8", "replace"),
                     StringToSignBytes=" ".join(f"{b:02x}" for b in sts))
    raise errors.signature_does_not_match(**extra)
