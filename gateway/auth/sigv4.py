"""AWS Signature Version 4 as S3 checks it: parsing, canonical requests, signatures, chunks.

Pure functions over a request's method, raw path, raw query and headers: no I/O, no clock
(callers pass ``now``). The rules follow the AWS S3 API reference ("Authenticating Requests
(AWS Signature Version 4)"): the canonical URI is the path URI-encoded once (S3 does not
double-encode), the query is sorted by encoded name then value, header values are trimmed
with inner runs of spaces collapsed, and the payload hash is ``x-amz-content-sha256``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

from gateway.s3 import errors
from gateway.s3.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MAX_SKEW = 15 * 60  # seconds between the request's time and ours, as S3 allows
MAX_EXPIRES = 7 * 24 * 3600  # the longest a presigned URL may live

_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_DATE = re.compile(r"\d{8}")
# A path of only unreserved characters and slashes is its own canonical form.
_PLAIN_PATH = re.compile(rb"[A-Za-z0-9\-._~/]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
               "X-Amz-SignedHeaders", "X-Amz-Expires")


@dataclass(slots=True)
class Signed:
    """The signature a request carries, parsed (header or query form).

    Never changed once parsed (not ``frozen``: a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__``, 4x the cost, and one is built for every signed request).
    """

    access_key: str
    date: str  # yyyymmdd from the credential scope
    region: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # yyyymmddThhmmssZ, the request's time
    payload_hash: str  # what goes last in the canonical request
    presigned: bool = False
    expires: int = 0  # seconds, presigned only

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{SERVICE}/{TERMINATOR}"

    @property
    def time(self) -> datetime:
        # parse_amz_date is cached; functools.cached_property took a lock per first read
        return parse_amz_date(self.amz_date)


# -- canonical request --------------------------------------------------------------------

def uri_encode(value: bytes | str, safe: str = "") -> str:
    """AWS's UriEncode: every byte but ``A-Za-z0-9-._~`` (and ``safe``) as ``%XY``."""
    return quote(value, safe=safe)


def canonical_uri(raw_path: bytes) -> str:
    """The path as S3 canonicalizes it: each segment decoded, then encoded exactly once.

    Decoding first makes ``~`` and ``%7E``, or ``$`` and ``%24``, the same, as they are on
    the wire; working per segment keeps an encoded ``%2F`` apart from a ``/``.
    """
    if not raw_path:
        return "/"
    if _PLAIN_PATH.fullmatch(raw_path):  # what most keys look like: nothing to decode or encode
        return raw_path.decode("ascii")
    return "/".join(uri_encode(unquote_to_bytes(seg)) for seg in raw_path.split(b"/"))


def query_pairs(query_string: bytes) -> list[tuple[bytes, bytes]]:
    """The raw (still encoded) ``name=value`` pairs of a query string, in order."""
    pairs = []
    for part in query_string.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            pairs.append((name, value))
    return pairs


def canonical_query(pairs: list[tuple[bytes, bytes]], exclude: str | None = None) -> str:
    """Names and values re-encoded once, sorted by name then value, joined with ``&``."""
    if not pairs:
        return ""
    items = []
    for name, value in pairs:
        enc_name = uri_encode(unquote_to_bytes(name))
        if enc_name == exclude:
            continue
        items.append((enc_name, uri_encode(unquote_to_bytes(value))))
    items.sort()
    return "&".join(f"{n}={v}" for n, v in items)


@functools.lru_cache(maxsize=256)
def _header_slots(signed: tuple[str, ...]) -> tuple[dict[bytes, int], dict[str, int]]:
    """Each signed name's place, by its bytes (ASCII names) and by its text (any name)."""
    return ({name.encode("latin-1"): i for i, name in enumerate(signed)},
            {name: i for i, name in enumerate(signed)})


def canonical_headers(headers: list[tuple[bytes, bytes]], signed: tuple[str, ...]) -> str:
    """``name:value\\n`` per signed header; repeated headers joined with commas."""
    by_bytes, by_text = _header_slots(signed)  # (a client signs the same few lists)
    values: list[str | None] = [None] * len(signed)
    for raw_name, raw_value in headers:
        # ASCII names (all valid ones) compare as bytes: no decoding of the unsigned ones
        i = by_bytes.get(raw_name.lower()) if raw_name.isascii() else \
            by_text.get(raw_name.decode("latin-1").lower())
        if i is not None:
            value = " ".join(raw_value.decode("latin-1").split())
            values[i] = value if values[i] is None else f"{values[i]},{value}"
    return "".join([f"{name}:{value or ''}\n" for name, value in zip(signed, values, strict=True)])


def canonical_request(method: str, uri: str, query: str, headers: list[tuple[bytes, bytes]],
                      signed: tuple[str, ...], payload_hash: str) -> str:
    return "\n".join((method, uri, query, canonical_headers(headers, signed), ";".join(signed),
                      payload_hash))


def string_to_sign(amz_date: str, scope: str, canonical: str, encoding: str = "utf-8") -> str:
    """``encoding="latin-1"`` hashes the header bytes as sent (see :func:`verify`)."""
    digest = hashlib.sha256(canonical.encode(encoding)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@functools.lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """``kSigning`` for one day, region and service: four HMACs, so it is cached."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def signature(key: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` under ``key``, in hex (what ``hmac.new(...).hexdigest()`` gives)."""
    inner, outer = _hmac_states(key)
    inner = inner.copy()
    inner.update(text.encode("utf-8"))
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=512)
def _hmac_states(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """RFC 2104's two padded-key SHA-256 states of ``key``, hashed once and copied for each
    message: every request (and every aws-chunked chunk) is signed with one of a few keys, and
    ``hmac.new`` derived them again each time (2.5 us, this 1 us). Only ever copied, never
    updated, so one state serves every thread."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


# -- parsing --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def parse_amz_date(value: str) -> datetime:
    # cached: every request parses its time twice (syntax, then skew), and the requests of one
    # second share it; a datetime is immutable (a bad value raises, and is not cached)
    if not _AMZ_DATE.fullmatch(value):
        raise ValueError(value)
    # by hand: strptime costs more than the rest of a signature check
    return datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]),
                    int(value[11:13]), int(value[13:15]), tzinfo=UTC)


def _credential(value: str, malformed) -> tuple[str, str, str]:
    """``AK/yyyymmdd/region/s3/aws4_request`` -> (access key, date, region)."""
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not parts[0]:
        raise malformed(f"the Credential '{_redact(value)}' is not of the form "
                        "<key>/<date>/<region>/<service>/aws4_request")
    _check_scope(*parts[1:], malformed)
    return parts[0], parts[1], parts[2]


@functools.lru_cache(maxsize=256)
def _check_scope(date: str, region: str, service: str, terminator: str, malformed) -> None:
    # cached: a client sends the same scope all day (a bad one raises, and is not cached); the
    # access key is not part of it (against pachd with auth, it is a token: never kept)
    if not _DATE.fullmatch(date) or not region:
        raise malformed("the Credential's date or region is invalid")
    if service != SERVICE:
        raise malformed(f"the Credential's service is '{service}'; expecting 's3'")
    if terminator != TERMINATOR:
        raise malformed(f"the Credential's terminator is '{terminator}'; expecting "
                        f"'{TERMINATOR}'")


def parse_credential(value: str, malformed) -> tuple[str, str, str]:
    """``AK/yyyymmdd/region/s3/aws4_request`` -> (access key, date, region); ``malformed(msg)``
    makes the error to raise (a form upload's ``x-amz-credential`` field uses this too)."""
    return _credential(value, malformed)


def _redact(credential: str) -> str:
    """A credential with its key left out: with pachd auth, the access key is a token."""
    _, sep, rest = credential.partition("/")
    return "<key>" + sep + rest


@functools.lru_cache(maxsize=256)
def _signed_header_list(value: str, malformed) -> tuple[str, ...]:
    # cached, as _credential
    names = tuple(value.lower().split(";"))
    if not value or any(not n for n in names):
        raise malformed("SignedHeaders is empty or malformed")
    return tuple(sorted(names))


def parse_authorization(authorization: str, headers: dict[str, str]) -> Signed:
    """The ``Authorization: AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..``."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise errors.invalid_request("The authorization mechanism you have provided is not "
                                     f"supported. Please use {ALGORITHM}.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, value = item.strip().partition("=")
        if eq:
            fields[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    malformed = errors.authorization_header_malformed
    if missing:
        raise malformed(f"missing {', '.join(missing)}")
    access_key, date, region = _credential(fields["Credential"], malformed)
    amz_date = headers.get("x-amz-date")
    if amz_date is None:
        raise errors.access_denied("AWS authentication requires a valid Date or x-amz-date "
                                   "header")
    try:
        parse_amz_date(amz_date)
    except ValueError:
        raise errors.access_denied("AWS authentication requires a valid Date or x-amz-date "
                                   "header") from None
    if amz_date[:8] != date:
        raise malformed(f"the Credential's date '{date}' is not the date of x-amz-date "
                        f"'{amz_date}'")
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        raise errors.invalid_request("Missing required header for this request: "
                                     "x-amz-content-sha256")
    return Signed(access_key, date, region, _signed_header_list(fields["SignedHeaders"], malformed),
                  fields["Signature"].lower(), amz_date, payload)


def parse_presigned(query: dict[str, str]) -> Signed:
    """The ``X-Amz-*`` query parameters of a presigned URL (values already decoded)."""
    bad = errors.authorization_query_parameters_error
    if any(name not in query for name in _QUERY_AUTH):
        raise bad("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                  "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                  "X-Amz-Expires parameters.")
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise bad(f"X-Amz-Algorithm only supports \"{ALGORITHM}\"")
    access_key, date, region = _credential(query["X-Amz-Credential"], bad)
    amz_date = query["X-Amz-Date"]
    try:
        parse_amz_date(amz_date)
    except ValueError:
        raise bad("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"") from None
    if amz_date[:8] != date:
        raise bad(f"the Credential's date '{date}' is not the date of X-Amz-Date '{amz_date}'")
    expires = query["X-Amz-Expires"]
    if not expires.isdigit():
        raise bad("X-Amz-Expires should be a number")
    if int(expires) > MAX_EXPIRES:
        raise bad("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    payload = query.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
    return Signed(access_key, date, region, _signed_header_list(query["X-Amz-SignedHeaders"], bad),
                  query["X-Amz-Signature"].lower(), amz_date, payload, presigned=True,
                  expires=int(expires))


# -- checks -------------------------------------------------------------------------------

def check_time(signed: Signed, now: datetime) -> None:
    """Skew for header signatures, expiry for presigned URLs (403s, as S3 answers)."""
    when = signed.time
    delta = (now - when).total_seconds()
    if signed.presigned:
        if delta < -MAX_SKEW:
            raise errors.access_denied("Request is not valid yet")
        if delta > signed.expires:
            err = errors.access_denied("Request has expired")
            err.extra.update({"X-Amz-Expires": str(signed.expires),
                              "Expires": _iso(when.timestamp() + signed.expires),
                              "ServerTime": _iso(now.timestamp())})
            raise err
    elif abs(delta) > MAX_SKEW:
        raise errors.request_time_too_skewed(_iso(when.timestamp()), _iso(now.timestamp()),
                                              MAX_SKEW * 1000)


def within_skew(signed: Signed, now: float) -> bool:
    """Whether a header signature's time is within the allowed skew of ``now`` (seconds since
    the epoch): then :func:`check_time` has nothing to say, and no datetime is built."""
    return not signed.presigned and abs(now - _amz_epoch(signed.amz_date)) <= MAX_SKEW


@functools.lru_cache(maxsize=64)
def _amz_epoch(value: str) -> float:
    return parse_amz_date(value).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_signature(signed: Signed, secret: str, method: str, raw_path: bytes,
                      query_string: bytes, headers: list[tuple[bytes, bytes]],
                      uri: str | None = None) -> tuple[str, str, str]:
    """(expected signature, canonical request, string to sign) for ``signed``'s request."""
    exclude = "X-Amz-Signature" if signed.presigned else None
    canonical = canonical_request(method, uri if uri is not None else canonical_uri(raw_path),
                                  canonical_query(query_pairs(query_string), exclude), headers,
                                  signed.signed_headers, signed.payload_hash)
    sts = string_to_sign(signed.amz_date, signed.scope, canonical)
    key = signing_key(secret, signed.date, signed.region)
    return signature(key, sts), canonical, sts


def verify(signed: Signed, secret: str, method: str, raw_path: bytes, query_string: bytes,
           headers: list[tuple[bytes, bytes]], *, explain: bool = True) -> None:
    """Raise ``SignatureDoesNotMatch`` unless ``signed.signature`` is the request's signature.

    The path is tried canonicalized and, failing that, exactly as sent (clients that sign the
    encoded path they send, whatever its encoding). ``explain`` adds the canonical request and
    string to sign to the error, as S3 does; pass False when they could show a secret.
    """
    expected, canonical, sts = request_signature(signed, secret, method, raw_path,
                                                 query_string, headers)
    if hmac.compare_digest(expected, signed.signature):
        return
    raw = raw_path.decode("latin-1") or "/"
    if raw != canonical.split("\n", 2)[1]:
        alt, _, _ = request_signature(signed, secret, method, raw_path, query_string, headers,
                                      uri=raw)
        if hmac.compare_digest(alt, signed.signature):
            return
    if not canonical.isascii():
        # Non-ASCII header values (x-amz-meta-*): headers are decoded as latin-1 above, which
        # matches clients that send latin-1; SDKs that send UTF-8 sign those very bytes.
        key = signing_key(secret, signed.date, signed.region)
        alt = signature(key, string_to_sign(signed.amz_date, signed.scope, canonical, "latin-1"))
        if hmac.compare_digest(alt, signed.signature):
            return
    extra = {"SignatureProvided": signed.signature}
    if explain:
        extra.update(AWSAccessKeyId=signed.access_key, StringToSign=sts,
                     CanonicalRequest=canonical)
    raise errors.signature_does_not_match(**extra)


def unsigned_headers(headers: list[tuple[bytes, bytes]], signed: tuple[str, ...]) -> list[str]:
    """``x-amz-*`` headers present but not signed (S3 refuses them), plus a missing host."""
    # only x-amz-* names matter: no other name lower-cases to one (latin-1 has no letter
    # whose lower case is ASCII), so the rest are not even decoded
    names = {n.decode("latin-1").lower() for n, _ in headers if n[:6].lower() == b"x-amz-"}
    missing = sorted(n for n in names if n not in signed)
    if "host" not in signed:
        missing.insert(0, "host")
    return missing


# -- streaming (aws-chunked) signatures ----------------------------------------------------

class ChunkSignatureValidator:
    """Checks every chunk signature of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`` body.

    Plugs into :class:`gateway.s3.chunked.AwsChunkedDecoder` as its ``validator``. Each chunk's
    string to sign chains from the previous signature, the first from the seed (the request's
    own signature), so chunks cannot be dropped, reordered or altered. Raises
    ``SignatureDoesNotMatch`` at the first bad chunk, before the upload can complete.
    """

    def __init__(self, key: bytes, amz_date: str, scope: str, seed: str, *,
                 trailer: bool = False) -> None:
        self._key = key
        self._prefix = f"{ALGORITHM}-PAYLOAD\n{amz_date}\n{scope}\n"
        self._trailer_prefix = f"{ALGORITHM}-TRAILER\n{amz_date}\n{scope}\n"
        self._previous = seed
        self._hash = hashlib.sha256()
        self._trailer = trailer
        self.final_seen = False

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def end_chunk(self, signature: str | None) -> None:
        if self.final_seen:
            raise errors.invalid_request("Malformed aws-chunked body: chunk after the final one.")
        digest = self._hash.hexdigest()
        if digest == EMPTY_SHA256:
            self.final_seen = True
        expected = self.chunk_signature(digest)
        if signature is None or not hmac.compare_digest(expected, signature):
            raise _chunk_mismatch()
        self._previous = expected
        self._hash = hashlib.sha256()

    def end_trailer(self, trailers: list[tuple[str, str]], signature: str | None) -> None:
        if not self.final_seen:
            raise _chunk_mismatch()
        if not self._trailer:
            if trailers or signature is not None:
                raise errors.invalid_request("Trailing headers need STREAMING-AWS4-HMAC-SHA256-"
                                             "PAYLOAD-TRAILER.")
            return
        expected = self.trailer_signature(trailers)
        if signature is None or not hmac.compare_digest(expected, signature.lower()):
            raise _chunk_mismatch("The trailer signature we calculated does not match the "
                                  "signature you provided.")

    def chunk_signature(self, data_sha256_hex: str) -> str:
        return signature(self._key, f"{self._prefix}{self._previous}\n{EMPTY_SHA256}\n"
                                    f"{data_sha256_hex}")

    def trailer_signature(self, trailers: list[tuple[str, str]]) -> str:
        text = "".join(f"{name}:{value}\n" for name, value in trailers)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return signature(self._key, f"{self._trailer_prefix}{self._previous}\n{digest}")


def _chunk_mismatch(message: str = "The chunk signature we calculated does not match the "
                    "signature you provided.") -> S3Error:
    return errors.signature_does_not_match(message=message)
