"""Multipart checksums: CRC combination against whole-data CRCs, composite values, and the
CreateMultipartUpload headers S3 allows."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import crc32c
import pytest

from gateway.s3 import mpchecksums
from gateway.s3.errors import S3Error

CRCS = {"CRC32": zlib.crc32, "CRC32C": crc32c.crc32c}
try:
    from awscrt import checksums as crt

    CRCS["CRC64NVME"] = crt.crc64nvme
except ImportError:  # optional: CRC64NVME is then refused with 501, tested elsewhere
    pass


@pytest.mark.parametrize("algorithm", sorted(CRCS))
@pytest.mark.parametrize("sizes", [(0, 1), (1, 0), (5, 7), (1000, 65_537, 3), (4096,) * 5])
def test_combine_equals_the_crc_of_the_whole(algorithm, sizes):
    fn = CRCS[algorithm]
    parts = [os.urandom(n) for n in sizes]
    whole = fn(b"".join(parts))
    width = 8 if algorithm == "CRC64NVME" else 4
    value = mpchecksums.full_object(algorithm, [(fn(p).to_bytes(width, "big"), len(p)) for p in parts])
    assert base64.b64decode(value) == whole.to_bytes(width, "big")


def test_combine_of_a_long_second_part_without_its_bytes():
    # CRC(A + zeros) for 5 GiB of zeros: only the length matters, never the bytes
    a = b"head"
    zeros_crc = zlib.crc32(b"\0" * (1 << 20))
    combined = mpchecksums.crc_combine("CRC32", zlib.crc32(a), zeros_crc, 1 << 20)
    assert combined == zlib.crc32(b"\0" * (1 << 20), zlib.crc32(a))


def test_composite_is_the_checksum_of_the_part_checksums_with_the_count():
    parts = [b"a" * 10, b"b" * 3]
    joined = b"".join(hashlib.sha256(p).digest() for p in parts)
    expected = base64.b64encode(hashlib.sha256(joined).digest()).decode() + "-2"
    assert mpchecksums.composite("SHA256", [hashlib.sha256(p).digest() for p in parts]) == expected


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"x-amz-checksum-algorithm": "sha256"}, ("SHA256", "COMPOSITE")),
    ({"x-amz-checksum-algorithm": "CRC32"}, ("CRC32", "COMPOSITE")),
    ({"x-amz-checksum-algorithm": "CRC32C", "x-amz-checksum-type": "FULL_OBJECT"}, ("CRC32C", "FULL_OBJECT")),
])
def test_upload_checksum_defaults(headers, expected):
    assert mpchecksums.upload_checksum(headers) == expected


@pytest.mark.parametrize("headers", [
    {"x-amz-checksum-type": "COMPOSITE"},
    {"x-amz-checksum-algorithm": "MD5"},
    {"x-amz-checksum-algorithm": "SHA1", "x-amz-checksum-type": "FULL_OBJECT"},
    {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "BOTH"},
])
def test_upload_checksum_refusals(headers):
    with pytest.raises(S3Error) as e:
        mpchecksums.upload_checksum(headers)
    assert e.value.code == "InvalidRequest"


@pytest.mark.skipif("CRC64NVME" not in CRCS, reason="awscrt is not installed")
def test_crc64nvme_is_full_object_only():
    assert mpchecksums.upload_checksum({"x-amz-checksum-algorithm": "CRC64NVME"}) == ("CRC64NVME", "FULL_OBJECT")
    with pytest.raises(S3Error):
        mpchecksums.upload_checksum({"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"})
