"""An object's checksum as S3 stores it: its type, and how a multipart upload's part checksums
make the object's.

* ``FULL_OBJECT``: the checksum of all the bytes. A single PUT's is the body's; a multipart
  upload's (CRC32, CRC32C, CRC64NVME only) is the part CRCs *combined* with the part lengths
  (:func:`crc_combine`): no byte is read again.
* ``COMPOSITE`` (multipart only; any algorithm but CRC64NVME): the checksum of the parts' binary
  checksums concatenated, written with ``-<part count>`` after the base64.

:func:`upload_checksum` reads CreateMultipartUpload's ``x-amz-checksum-algorithm`` and
``x-amz-checksum-type`` (COMPOSITE by default, FULL_OBJECT for CRC64NVME).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from functools import cache

from gateway.s3 import checksums
from gateway.s3.errors import invalid_request

FULL_OBJECT = "FULL_OBJECT"
COMPOSITE = "COMPOSITE"
CRCS = ("CRC32", "CRC32C", "CRC64NVME")  # the algorithms a FULL_OBJECT multipart checksum allows
# Reflected generator polynomials and widths (init and final XOR all ones, as zlib's crc32).
_POLY = {"CRC32": (0xEDB88320, 32), "CRC32C": (0x82F63B78, 32), "CRC64NVME": (0x9A6C9329AC4BC9B5, 64)}


def upload_checksum(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(algorithm, type) CreateMultipartUpload asks for, or None; 400 InvalidRequest when the
    pair is not one S3 allows."""
    algorithm = headers.get("x-amz-checksum-algorithm")
    kind = headers.get("x-amz-checksum-type")
    if algorithm is None:
        if kind is not None:
            raise invalid_request("The x-amz-checksum-type header can only be used with the "
                                  "x-amz-checksum-algorithm header.")
        return None
    algorithm = algorithm.strip().upper()
    if algorithm not in checksums.ALGORITHMS:
        raise invalid_request("Checksum algorithm provided is unsupported. Please try again with "
                              "any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
    if algorithm not in checksums.supported_algorithms():
        checksums.plan_checks({checksums.checksum_header(algorithm): ""})  # raises its 501
    kind = (kind or (FULL_OBJECT if algorithm == "CRC64NVME" else COMPOSITE)).strip().upper()
    if kind not in (FULL_OBJECT, COMPOSITE):
        raise invalid_request("Value for x-amz-checksum-type header is invalid.")
    if kind == FULL_OBJECT and algorithm not in CRCS:
        raise invalid_request(f"The {algorithm} checksum algorithm cannot be used with the "
                              "FULL_OBJECT checksum type.")
    if kind == COMPOSITE and algorithm == "CRC64NVME":
        raise invalid_request("The CRC64NVME checksum algorithm cannot be used with the "
                              "COMPOSITE checksum type.")
    return algorithm, kind


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def composite(algorithm: str, digests: list[bytes]) -> str:
    """S3's COMPOSITE value: the checksum of the concatenated part digests, ``-<count>``."""
    hasher = checksums.BodyDigests([algorithm])
    hasher.update(b"".join(digests))
    return f"{hasher.checksum(algorithm)}-{len(digests)}"


def full_object(algorithm: str, parts: list[tuple[bytes, int]]) -> str:
    """The CRC of the whole object from the parts' (CRC, length) pairs, in order."""
    width = _POLY[algorithm][1]
    crc = 0  # the CRC of nothing
    for digest, length in parts:
        crc = crc_combine(algorithm, crc, int.from_bytes(digest, "big"), length)
    return b64(crc.to_bytes(width // 8, "big"))


def crc_combine(algorithm: str, crc1: int, crc2: int, len2: int) -> int:
    """CRC(A + B) from CRC(A), CRC(B) and len(B): CRC(A) times x^(8 len(B)) modulo the
    polynomial, plus CRC(B) (zlib's crc32_combine, for any reflected CRC with init and final
    XOR all ones). O(log len2) polynomial products."""
    poly, width = _POLY[algorithm]
    return _multmodp(_x2nmodp(algorithm, len2, 3), crc1, poly, width) ^ crc2


def _multmodp(a: int, b: int, poly: int, width: int) -> int:
    """a(x) b(x) modulo p(x), bit-reflected (the top bit is x^0)."""
    m = 1 << (width - 1)
    product = 0
    while a:
        if a & m:
            product ^= b
            a ^= m
        m >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return product


@cache
def _x2n_table(algorithm: str) -> tuple[int, ...]:
    """x^(2^n) modulo p(x) for n = 0..66 (lengths up to 2^64 bytes)."""
    poly, width = _POLY[algorithm]
    p = 1 << (width - 2)  # x^1
    table = [p]
    for _ in range(66):
        p = _multmodp(p, p, poly, width)
        table.append(p)
    return tuple(table)


def _x2nmodp(algorithm: str, n: int, k: int) -> int:
    """x^(n 2^k) modulo p(x)."""
    poly, width = _POLY[algorithm]
    table = _x2n_table(algorithm)
    p = 1 << (width - 1)  # x^0
    while n:
        if n & 1:
            p = _multmodp(table[k], p, poly, width)
        n >>= 1
        k += 1
    return p
