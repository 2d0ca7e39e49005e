"""Body integrity: the MD5 behind the ETag, and the checks a PUT may ask for.

A request can ask for up to three checks on its body, all answered after the last byte:

* ``Content-MD5``: base64 MD5; malformed is ``InvalidDigest``, mismatch ``BadDigest``.
* ``x-amz-content-sha256`` when it is a hex SHA-256 (rather than ``UNSIGNED-PAYLOAD`` or a
  ``STREAMING-*`` marker); mismatch is ``XAmzContentSHA256Mismatch``.
* one ``x-amz-checksum-<algorithm>`` value, sent as a header or, named by ``x-amz-trailer``,
  as an aws-chunked trailer; mismatch is ``BadDigest``. The computed value is echoed back in
  the same header on success.

:func:`plan_checks` reads the request headers before the body, :class:`BodyDigests` hashes
the body as it streams, :func:`verify_body` settles the plan afterwards. Hashing is done by C
code (hashlib, zlib, crc32c) a whole read at a time: no per-byte Python.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import crc32c

from gateway import lean
from gateway.s3.errors import (
    S3Error,
    bad_digest,
    invalid_argument,
    invalid_digest,
    invalid_request,
    malformed_trailer,
    not_implemented,
    x_amz_content_sha256_mismatch,
)

# CRC64NVME has no fast pure-Python form; awscrt (optional) provides it in C. Imported when first
# used: its library is ~4 MB of a process's memory, and few clients ask for CRC64NVME.
_crt_checksums = lean.deferred("awscrt.checksums")

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
_DIGEST_SIZE = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}
CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"

# x-amz-content-sha256 values that are not a hash of the body (AWS SigV4 documentation).
PAYLOAD_MARKERS = frozenset({
    "UNSIGNED-PAYLOAD",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
})
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def supported_algorithms() -> tuple[str, ...]:
    """The checksum algorithms this process can compute (CRC64NVME needs awscrt)."""
    return tuple(a for a in ALGORITHMS if a != "CRC64NVME" or _crt_checksums is not None)


def checksum_header(algorithm: str) -> str:
    """``CRC32`` -> ``x-amz-checksum-crc32``."""
    return CHECKSUM_HEADER_PREFIX + algorithm.lower()


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A running CRC over a C function of the form ``f(data, previous) -> int``."""

    __slots__ = ("_fn", "_size", "_value")

    def __init__(self, fn, size: int) -> None:
        self._fn = fn
        self._size = size
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        # AWS encodes CRCs as the big-endian bytes of the value, then base64.
        return self._value.to_bytes(self._size, "big")


def _new_hasher(algorithm: str) -> _Hasher:
    if algorithm == "CRC32":
        return _Crc(zlib.crc32, 4)
    if algorithm == "CRC32C":
        return _Crc(crc32c.crc32c, 4)
    if algorithm == "CRC64NVME":
        if _crt_checksums is None:
            raise _unsupported(algorithm)
        return _Crc(_crt_checksums.crc64nvme, 8)
    if algorithm == "SHA1":
        return hashlib.sha1(usedforsecurity=False)
    if algorithm == "SHA256":
        return hashlib.sha256()
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


class BodyDigests:
    """Incremental MD5 (for the ETag) plus the given checksum algorithms.

    ``md5=False`` leaves the MD5 to the backend (pfsd computes it as it stores the bytes and
    reports it): :meth:`md5` is then None.
    """

    def __init__(self, algorithms: Iterable[str] = (), md5: bool = True) -> None:
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._hashers: dict[str, _Hasher] = {a: _new_hasher(a) for a in dict.fromkeys(algorithms)}
        self._updates = [*((self._md5.update,) if self._md5 else ()),
                         *(h.update for h in self._hashers.values())]

    def update(self, data: bytes) -> None:
        """Feed the next piece of the body."""
        self.size += len(data)
        for update in self._updates:
            update(data)

    @property
    def hashing(self) -> bool:
        """Whether anything hashes the body here (else the bytes need not be offered)."""
        return bool(self._updates)

    def md5(self) -> bytes | None:
        return self._md5.digest() if self._md5 else None

    def md5_hex(self) -> str:
        assert self._md5 is not None, "the backend computes this body's MD5"
        return self._md5.hexdigest()

    def md5_base64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.md5_hex())).decode("ascii")

    def etag(self) -> str:
        """The quoted ETag of a single-part object: its MD5 in hex."""
        return f'"{self.md5_hex()}"'

    def digest(self, algorithm: str) -> bytes:
        """Raw digest of one of the algorithms given at construction."""
        return self._hashers[algorithm].digest()

    def checksum(self, algorithm: str) -> str:
        """Base64 digest, as sent in ``x-amz-checksum-<algorithm>``."""
        return base64.b64encode(self.digest(algorithm)).decode("ascii")


@dataclass(frozen=True)
class ChecksumPlan:
    """What to verify once the body has been read (built by :func:`plan_checks`)."""

    content_md5: bytes | None = None  # decoded Content-MD5
    content_sha256: bytes | None = None  # decoded x-amz-content-sha256, when a hash
    algorithm: str | None = None  # the x-amz-checksum algorithm, e.g. "CRC32"
    checksum: bytes | None = None  # its expected value, when sent as a header
    trailer: str | None = None  # its trailer name, when it comes after the body

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The algorithms :class:`BodyDigests` must compute besides MD5."""
        algs = [self.algorithm] if self.algorithm else []
        if self.content_sha256 is not None and self.algorithm != "SHA256":
            algs.append("SHA256")
        return tuple(algs)

    def digests(self, *extra: str, md5: bool = True) -> BodyDigests:
        """A fresh :class:`BodyDigests` for this plan, plus ``extra`` algorithms (``md5=False``:
        the backend hashes and checks the MD5, see :class:`BodyDigests`)."""
        return BodyDigests((*self.algorithms, *extra), md5=md5)


def parse_content_md5(value: str | None) -> bytes | None:
    """Decode ``Content-MD5``; not base64 of 16 bytes is ``InvalidDigest``."""
    if value is None:
        return None
    raw = _b64decode(value.strip())
    if raw is None or len(raw) != 16:
        raise invalid_digest()
    return raw


def parse_content_sha256(value: str | None) -> bytes | None:
    """Decode ``x-amz-content-sha256`` when it is a body hash; ``None`` for the markers."""
    if value is None or value in PAYLOAD_MARKERS:
        return None
    if not _SHA256_HEX.fullmatch(value):
        raise invalid_argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                               "STREAMING-UNSIGNED-PAYLOAD-TRAILER, a STREAMING-AWS4-* value "
                               "or a valid sha256 value.", "x-amz-content-sha256", value)
    return bytes.fromhex(value)


def plan_checks(headers: Mapping[str, str]) -> ChecksumPlan:
    """Build the checks a request asks for, from its headers (lowercase names or a
    case-insensitive mapping). Malformed or contradictory headers raise 400 at once;
    an algorithm this process cannot compute (CRC64NVME without awscrt) raises 501."""
    content_md5 = parse_content_md5(headers.get("content-md5"))
    content_sha256 = parse_content_sha256(headers.get("x-amz-content-sha256"))

    sent = [a for a in ALGORITHMS if headers.get(checksum_header(a)) is not None]
    trailed = _trailer_algorithms(headers.get("x-amz-trailer"))
    if len(sent) + len(trailed) > 1:
        raise invalid_request("Expecting a single x-amz-checksum- header. "
                              "Multiple checksum Types are not allowed.")
    algorithm = (sent or trailed or [None])[0]

    sdk = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk is not None:
        sdk = sdk.strip().upper()
        if sdk not in ALGORITHMS:
            raise invalid_request("Value for x-amz-sdk-checksum-algorithm header is invalid.")
        if algorithm is None:
            raise invalid_request("x-amz-sdk-checksum-algorithm specified, but no corresponding "
                                  "x-amz-checksum-* or x-amz-trailer headers were found.")
        if sdk != algorithm:
            raise invalid_request(f"Value for x-amz-sdk-checksum-algorithm header ({sdk}) does "
                                  f"not match the checksum provided ({algorithm}).")

    checksum = trailer = None
    if algorithm is not None:
        if algorithm not in supported_algorithms():
            raise _unsupported(algorithm)
        if sent:
            name = checksum_header(algorithm)
            checksum = _parse_checksum(algorithm, headers[name], f"{name} header")
        else:
            trailer = checksum_header(algorithm)
    return ChecksumPlan(content_md5, content_sha256, algorithm, checksum, trailer)


def verify_body(plan: ChecksumPlan, digests: BodyDigests,
                trailers: Mapping[str, str] | None = None) -> dict[str, str]:
    """Check the finished body against ``plan``; return the checksum headers to echo.

    ``trailers`` are the aws-chunked trailing headers (lowercase names), if any.
    """
    if plan.content_sha256 is not None:
        computed = digests.digest("SHA256")
        if computed != plan.content_sha256:
            raise x_amz_content_sha256_mismatch(plan.content_sha256.hex(), computed.hex())
    if plan.content_md5 is not None and digests.md5() is not None and digests.md5() != plan.content_md5:
        raise bad_digest()  # (without an MD5 here, the backend checks Content-MD5)
    if plan.algorithm is None:
        return {}
    expected = plan.checksum
    if plan.trailer is not None:
        value = (trailers or {}).get(plan.trailer)
        if value is None:
            raise malformed_trailer(f"The {plan.trailer} trailer declared in x-amz-trailer "
                                    "was not sent.")
        expected = _parse_checksum(plan.algorithm, value, f"{plan.trailer} trailing header")
    if digests.digest(plan.algorithm) != expected:
        raise bad_digest(f"The {plan.algorithm} you specified did not match the calculated "
                         "checksum.")
    return {checksum_header(plan.algorithm): digests.checksum(plan.algorithm)}


def _trailer_algorithms(value: str | None) -> list[str]:
    found = []
    for name in (value or "").split(","):
        name = name.strip().lower()
        if not name:
            continue
        if not name.startswith(CHECKSUM_HEADER_PREFIX):
            raise invalid_request(f"The value specified in the x-amz-trailer header ({name}) "
                                  "is not supported.")
        algorithm = name[len(CHECKSUM_HEADER_PREFIX):].upper()
        if algorithm not in ALGORITHMS:
            raise invalid_request(f"The value specified in the x-amz-trailer header ({name}) "
                                  "is not supported.")
        found.append(algorithm)
    return found


def _parse_checksum(algorithm: str, value: str, where: str) -> bytes:
    raw = _b64decode(value.strip())
    if raw is None or len(raw) != _DIGEST_SIZE[algorithm]:
        raise invalid_request(f"Value for {where} is invalid.")
    return raw


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _unsupported(algorithm: str) -> S3Error:
    return not_implemented(f"The {algorithm} checksum algorithm is not supported by this server.")
