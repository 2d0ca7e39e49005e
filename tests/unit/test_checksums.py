"""Body digests and the Content-MD5 / x-amz-content-sha256 / x-amz-checksum-* checks."""

from __future__ import annotations

import base64
import hashlib
import random
import zlib

import pytest
from starlette.datastructures import Headers

from gateway.s3 import checksums
from gateway.s3.checksums import (
    BodyDigests,
    ChecksumPlan,
    checksum_header,
    parse_content_md5,
    parse_content_sha256,
    plan_checks,
    supported_algorithms,
    verify_body,
)
from gateway.s3.errors import S3Error

CHECK = b"123456789"  # the CRC catalogue's check input


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc64nvme_reference(data: bytes, previous: int = 0) -> int:
    """Bit-at-a-time CRC-64/NVME (reflected poly 0x9A6C9329AC4BC9B5, init and xorout all
    ones), with awscrt's calling convention. Test oracle only: far too slow for bodies."""
    mask = (1 << 64) - 1
    crc = previous ^ mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9A6C9329AC4BC9B5 if crc & 1 else 0)
    return crc ^ mask


class FakeCrt:
    crc64nvme = staticmethod(crc64nvme_reference)


@pytest.fixture
def with_crc64(monkeypatch):
    monkeypatch.setattr(checksums, "_crt_checksums", FakeCrt)


@pytest.fixture
def without_crc64(monkeypatch):
    monkeypatch.setattr(checksums, "_crt_checksums", None)


def digest_of(algorithm: str, data: bytes) -> BodyDigests:
    digests = BodyDigests([algorithm])
    digests.update(data)
    return digests


# --- Digests ------------------------------------------------------------------------------


def test_crc_check_values_big_endian_base64(with_crc64):
    assert digest_of("CRC32", CHECK).digest("CRC32") == (0xCBF43926).to_bytes(4, "big")
    assert digest_of("CRC32C", CHECK).digest("CRC32C") == (0xE3069283).to_bytes(4, "big")
    assert digest_of("CRC64NVME", CHECK).digest("CRC64NVME") == (
        0xAE8B14860A799888).to_bytes(8, "big")
    assert digest_of("CRC32", b"").checksum("CRC32") == "AAAAAA=="


def test_aws_trailer_example_crc32c():
    # AWS's trailing-header example sends x-amz-checksum-crc32c:sOO8/Q== for 66560 x 'a'.
    assert digest_of("CRC32C", b"a" * 66560).checksum("CRC32C") == "sOO8/Q=="


def test_sha_checksums_are_base64_of_raw_digest():
    assert digest_of("SHA1", CHECK).checksum("SHA1") == b64(hashlib.sha1(CHECK).digest())
    assert digest_of("SHA256", CHECK).checksum("SHA256") == b64(hashlib.sha256(CHECK).digest())


def test_md5_accessors_and_etag():
    digests = BodyDigests()
    digests.update(b"hello")
    md5 = hashlib.md5(b"hello")
    assert digests.md5() == md5.digest()
    assert digests.md5_hex() == md5.hexdigest()
    assert digests.md5_base64() == b64(md5.digest())
    assert digests.etag() == f'"{md5.hexdigest()}"'
    assert digests.size == 5


@pytest.mark.parametrize("seed", range(10))
def test_incremental_equals_one_shot(seed, with_crc64):
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(0, 5000))
    algorithms = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
    whole, pieces = BodyDigests(algorithms), BodyDigests(algorithms)
    whole.update(data)
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 700)
        pieces.update(data[pos:pos + step])
        pos += step
    for algorithm in algorithms:
        assert pieces.checksum(algorithm) == whole.checksum(algorithm)
    assert pieces.md5_hex() == whole.md5_hex() == hashlib.md5(data).hexdigest()
    assert pieces.size == len(data)


def test_crc64nvme_availability_follows_awscrt(with_crc64):
    assert "CRC64NVME" in supported_algorithms()


def test_crc64nvme_unsupported_without_awscrt(without_crc64):
    assert "CRC64NVME" not in supported_algorithms()
    with pytest.raises(S3Error) as info:
        plan_checks({"x-amz-checksum-crc64nvme": b64(bytes(8))})
    assert (info.value.status, info.value.code) == (501, "NotImplemented")
    with pytest.raises(S3Error) as info:
        BodyDigests(["CRC64NVME"])
    assert info.value.status == 501


def test_checksum_header_names():
    assert checksum_header("CRC32C") == "x-amz-checksum-crc32c"
    assert checksum_header("CRC64NVME") == "x-amz-checksum-crc64nvme"


# --- Content-MD5 and x-amz-content-sha256 -------------------------------------------------


def test_parse_content_md5():
    raw = hashlib.md5(b"x").digest()
    assert parse_content_md5(None) is None
    assert parse_content_md5(b64(raw)) == raw
    assert parse_content_md5(" " + b64(raw) + " ") == raw


@pytest.mark.parametrize("value", ["", "not base64!", b64(bytes(15)), b64(bytes(17)),
                                   hashlib.md5(b"x").hexdigest(), "AAAA"])
def test_invalid_content_md5(value):
    with pytest.raises(S3Error) as info:
        parse_content_md5(value)
    assert (info.value.status, info.value.code) == (400, "InvalidDigest")


@pytest.mark.parametrize("marker", ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"])
def test_content_sha256_markers_are_not_hashes(marker):
    assert parse_content_sha256(marker) is None


def test_content_sha256_hash():
    hexd = hashlib.sha256(b"x").hexdigest()
    assert parse_content_sha256(hexd) == bytes.fromhex(hexd)
    assert parse_content_sha256(hexd.upper()) == bytes.fromhex(hexd)
    for bad in ("", "abc", hexd[:-1], hexd + "0", "g" * 64, "unsigned-payload"):
        with pytest.raises(S3Error) as info:
            parse_content_sha256(bad)
        assert info.value.code == "InvalidArgument"


# --- Plans ----------------------------------------------------------------------------------


def test_plan_without_checks():
    plan = plan_checks({})
    assert plan == ChecksumPlan()
    assert plan.algorithms == ()
    digests = plan.digests()
    digests.update(b"data")
    assert verify_body(plan, digests) == {}


def test_plan_header_checksum():
    value = b64(zlib.crc32(b"data").to_bytes(4, "big"))
    plan = plan_checks({"x-amz-checksum-crc32": value, "x-amz-sdk-checksum-algorithm": "crc32"})
    assert (plan.algorithm, plan.trailer) == ("CRC32", None)
    digests = plan.digests()
    digests.update(b"data")
    assert verify_body(plan, digests) == {"x-amz-checksum-crc32": value}


def test_plan_trailer_checksum():
    plan = plan_checks({"x-amz-trailer": "x-amz-checksum-crc32c",
                        "x-amz-sdk-checksum-algorithm": "CRC32C",
                        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
    assert (plan.algorithm, plan.trailer, plan.checksum) == ("CRC32C", "x-amz-checksum-crc32c",
                                                            None)
    digests = plan.digests()
    digests.update(b"a" * 66560)
    assert verify_body(plan, digests, {"x-amz-checksum-crc32c": "sOO8/Q=="}) == {
        "x-amz-checksum-crc32c": "sOO8/Q=="}


def test_plan_reads_case_insensitive_headers():
    value = b64(hashlib.sha256(b"data").digest())
    plan = plan_checks(Headers({"X-Amz-Checksum-SHA256": value, "Content-MD5":
                                b64(hashlib.md5(b"data").digest())}))
    assert plan.algorithm == "SHA256"
    assert plan.content_md5 == hashlib.md5(b"data").digest()


def test_sha256_computed_once_for_content_sha256_and_checksum():
    body = b"data"
    plan = plan_checks({"x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
                        "x-amz-checksum-sha256": b64(hashlib.sha256(body).digest())})
    assert plan.algorithms == ("SHA256",)
    digests = plan.digests()
    digests.update(body)
    assert verify_body(plan, digests) == {"x-amz-checksum-sha256":
                                          b64(hashlib.sha256(body).digest())}


def test_plan_extra_algorithms():
    digests = plan_checks({}).digests("CRC32")
    digests.update(CHECK)
    assert digests.digest("CRC32") == (0xCBF43926).to_bytes(4, "big")


@pytest.mark.parametrize(("headers", "fragment"), [
    ({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": b64(bytes(20))},
     "Multiple checksum Types"),
    ({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-trailer": "x-amz-checksum-crc32"},
     "Multiple checksum Types"),
    ({"x-amz-trailer": "x-amz-checksum-crc32,x-amz-checksum-sha1"}, "Multiple checksum Types"),
    ({"x-amz-sdk-checksum-algorithm": "CRC32"}, "no corresponding"),
    ({"x-amz-sdk-checksum-algorithm": "MD5", "x-amz-checksum-crc32": "AAAAAA=="},
     "x-amz-sdk-checksum-algorithm header is invalid"),
    ({"x-amz-sdk-checksum-algorithm": "SHA1", "x-amz-checksum-crc32": "AAAAAA=="},
     "does not match"),
    ({"x-amz-trailer": "x-amz-checksum-md5"}, "x-amz-trailer"),
    ({"x-amz-trailer": "x-amz-meta-foo"}, "x-amz-trailer"),
    ({"x-amz-checksum-crc32": "AAAA"}, "x-amz-checksum-crc32 header is invalid"),
    ({"x-amz-checksum-crc32": "!!!!!!=="}, "x-amz-checksum-crc32 header is invalid"),
    ({"x-amz-checksum-sha256": "AAAAAA=="}, "x-amz-checksum-sha256 header is invalid"),
])
def test_plan_rejects_bad_checksum_headers(headers, fragment):
    with pytest.raises(S3Error) as info:
        plan_checks(headers)
    assert (info.value.status, info.value.code) == (400, "InvalidRequest")
    assert fragment in info.value.message


def test_unrelated_checksum_headers_ignored():
    # CreateMultipartUpload's x-amz-checksum-algorithm/-type are not body checksums.
    plan = plan_checks({"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "COMPOSITE"})
    assert plan.algorithm is None


# --- Verification -----------------------------------------------------------------------------


def test_content_md5_mismatch_is_bad_digest():
    plan = plan_checks({"content-md5": b64(hashlib.md5(b"other").digest())})
    digests = plan.digests()
    digests.update(b"data")
    with pytest.raises(S3Error) as info:
        verify_body(plan, digests)
    assert (info.value.status, info.value.code) == (400, "BadDigest")
    assert "Content-MD5" in info.value.message


def test_content_sha256_mismatch():
    claimed = hashlib.sha256(b"other").hexdigest()
    plan = plan_checks({"x-amz-content-sha256": claimed})
    digests = plan.digests()
    digests.update(b"data")
    with pytest.raises(S3Error) as info:
        verify_body(plan, digests)
    assert (info.value.status, info.value.code) == (400, "XAmzContentSHA256Mismatch")
    assert info.value.extra == {"ClientComputedContentSHA256": claimed,
                                "S3ComputedContentSHA256": hashlib.sha256(b"data").hexdigest()}


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_checksum_mismatch_is_bad_digest(algorithm, with_crc64):
    wrong = b64(bytes(checksums._DIGEST_SIZE[algorithm]))
    plan = plan_checks({checksum_header(algorithm): wrong})
    digests = plan.digests()
    digests.update(b"data")
    with pytest.raises(S3Error) as info:
        verify_body(plan, digests)
    assert (info.value.status, info.value.code) == (400, "BadDigest")
    assert info.value.message == (f"The {algorithm} you specified did not match the "
                                  "calculated checksum.")


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_checksum_match_echoes_header(algorithm, with_crc64):
    right = digest_of(algorithm, b"data").checksum(algorithm)
    plan = plan_checks({checksum_header(algorithm): right})
    digests = plan.digests()
    digests.update(b"da")
    digests.update(b"ta")
    assert verify_body(plan, digests) == {checksum_header(algorithm): right}


def test_missing_trailer_is_malformed_trailer():
    plan = plan_checks({"x-amz-trailer": "x-amz-checksum-crc32"})
    digests = plan.digests()
    for trailers in (None, {}, {"x-amz-checksum-sha1": b64(bytes(20))}):
        with pytest.raises(S3Error) as info:
            verify_body(plan, digests, trailers)
        assert (info.value.status, info.value.code) == (400, "MalformedTrailerError")


def test_invalid_trailer_value():
    plan = plan_checks({"x-amz-trailer": "x-amz-checksum-crc32"})
    with pytest.raises(S3Error) as info:
        verify_body(plan, plan.digests(), {"x-amz-checksum-crc32": "nope"})
    assert info.value.code == "InvalidRequest"
    assert "trailing header" in info.value.message


def test_wrong_trailer_value_is_bad_digest():
    plan = plan_checks({"x-amz-trailer": "x-amz-checksum-crc32"})
    digests = plan.digests()
    digests.update(b"data")
    with pytest.raises(S3Error) as info:
        verify_body(plan, digests, {"x-amz-checksum-crc32": "AAAAAA=="})
    assert info.value.code == "BadDigest"
