"""Stored checksums, WITH credentials: PUT, GET/HEAD with checksum mode, CopyObject, multipart
(COMPOSITE and FULL_OBJECT), ListParts and GetObjectAttributes, with boto3 and the AWS CLI.

Every expected value is computed here, independently of the gateway, from the bytes sent:
COMPOSITE = the checksum of the concatenated binary part checksums, ``-<parts>``; FULL_OBJECT =
the checksum of the whole object.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import zlib

import crc32c
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo
from tests.integration.test_auth import AK, SK, client
from tests.integration.test_client_matrix import run

MB = 1024 * 1024
PART = 5 * MB


def _crc64nvme(data: bytes) -> bytes:
    from awscrt import checksums

    return checksums.crc64nvme(data).to_bytes(8, "big")


RAW = {
    "CRC32": lambda d: zlib.crc32(d).to_bytes(4, "big"),
    "CRC32C": lambda d: crc32c.crc32c(d).to_bytes(4, "big"),
    "CRC64NVME": _crc64nvme,
    "SHA1": lambda d: hashlib.sha1(d).digest(),
    "SHA256": lambda d: hashlib.sha256(d).digest(),
}


def full(algorithm: str, data: bytes) -> str:
    return base64.b64encode(RAW[algorithm](data)).decode()


def composite(algorithm: str, parts: list[bytes]) -> str:
    joined = b"".join(RAW[algorithm](p) for p in parts)
    return f"{full(algorithm, joined)}-{len(parts)}"


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway  # tests/integration/conftest.py


@pytest.fixture(scope="module")
def s3(gw):
    return client(gw)


@pytest.fixture(scope="module")
def bucket(s3):
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def big() -> bytes:
    """Three parts of PART bytes and a short fourth (boto3 and the CLI cut at 5 MiB here)."""
    return os.urandom(3 * PART + 1000)


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


# -- single PUT ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32C", "CRC64NVME"])
def test_put_stores_the_checksum_for_get_and_head(s3, bucket, algorithm):
    data = os.urandom(70_000)
    key = f"put/{algorithm}"
    sent = s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm=algorithm)
    assert sent[f"Checksum{algorithm}"] == full(algorithm, data)
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == full(algorithm, data)
    assert head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")  # botocore re-checks the body
    assert got[f"Checksum{algorithm}"] == full(algorithm, data) and got["Body"].read() == data
    plain = s3.head_object(Bucket=bucket, Key=key)
    assert f"Checksum{algorithm}" not in plain and "ChecksumType" not in plain
    ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-9", ChecksumMode="ENABLED")
    assert ranged["Body"].read() == data[:10] and f"Checksum{algorithm}" not in ranged


def test_default_boto3_put_keeps_its_crc32_and_a_plain_put_none(gw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="default", Body=b"hello checksum")  # botocore: CRC32 when supported
    head = s3.head_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == full("CRC32", b"hello checksum")
    import httpx
    assert httpx.put(f"{gw.url}/{bucket}/plain", content=b"x").status_code in (403,)  # unsigned: refused
    bare = client(gw)
    bare.meta.events.register("before-sign.s3.PutObject", _strip_checksums)
    bare.put_object(Bucket=bucket, Key="plain", Body=b"no checksum")
    head = s3.head_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    assert not [k for k in head if k.startswith("Checksum")]


def _strip_checksums(request, **_kwargs):
    for name in [h for h in request.headers if h.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum"))]:
        del request.headers[name]


def _overwrite_in_pfs(gw, bucket: str, key: str, data: bytes) -> None:
    """Rewrite the file as pachctl or a pipeline would: straight into PFS, no sidecar change."""
    import asyncio

    from gateway.pfs.client import PFS, Ref, add_file, delete_file

    branch, repo = bucket.split(".", 1)

    async def main() -> None:
        client = PFS(f"unix://{gw.data_dir / 'pfsd.sock'}", extensions=False)
        try:
            await asyncio.wait_for(client.channel.channel_ready(), 60)
            await client.modify_file(Ref("default", repo, branch), [delete_file("/" + key),
                                                                    add_file("/" + key, data)], "outside")
        finally:
            await client.close()

    asyncio.run(main())


@pytest.mark.parametrize("replacement", [b"same size!", b"other size"])
def test_a_file_rewritten_outside_the_gateway_loses_its_stale_checksum(gw, s3, bucket, replacement):
    key = f"stale/{len(replacement)}{replacement[:4].decode()}"
    original = b"same size!" if replacement != b"same size!" else b"SAME SIZE!"
    s3.put_object(Bucket=bucket, Key=key, Body=original, ChecksumAlgorithm="SHA256")
    assert s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["ChecksumSHA256"] == full("SHA256", original)
    _overwrite_in_pfs(gw, bucket, key, replacement)
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")  # botocore would refuse a stale one
    assert got["Body"].read() == replacement and "ChecksumSHA256" not in got


def test_copy_keeps_the_checksum_or_computes_the_one_asked(s3, bucket):
    data = os.urandom(20_000)
    s3.put_object(Bucket=bucket, Key="copy/src", Body=data, ChecksumAlgorithm="SHA1")
    out = s3.copy_object(Bucket=bucket, Key="copy/same", CopySource=f"{bucket}/copy/src")
    assert out["CopyObjectResult"]["ChecksumSHA1"] == full("SHA1", data)
    head = s3.head_object(Bucket=bucket, Key="copy/same", ChecksumMode="ENABLED")
    assert head["ChecksumSHA1"] == full("SHA1", data)
    s3.copy_object(Bucket=bucket, Key="copy/crc32c", CopySource=f"{bucket}/copy/src",
                   ChecksumAlgorithm="CRC32C", MetadataDirective="REPLACE", ContentType="text/x")
    head = s3.head_object(Bucket=bucket, Key="copy/crc32c", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == full("CRC32C", data) and "ChecksumSHA1" not in head
    assert head["ChecksumType"] == "FULL_OBJECT"


# -- multipart with boto3's transfer manager -----------------------------------------------------


def _transfer(tmp_path, data: bytes, s3, bucket: str, key: str, **extra) -> None:
    from boto3.s3.transfer import TransferConfig

    src = tmp_path / "big.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), bucket, key, ExtraArgs=extra or None,
                   Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART))


def _parts(data: bytes) -> list[bytes]:
    return [data[i:i + PART] for i in range(0, len(data), PART)]


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32"])
def test_upload_file_composite_then_head_and_attributes(tmp_path, s3, bucket, big, algorithm):
    key = f"mp/{algorithm}"
    _transfer(tmp_path, big, s3, bucket, key, ChecksumAlgorithm=algorithm)
    parts = _parts(big)
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == composite(algorithm, parts)
    assert head["ChecksumType"] == "COMPOSITE" and head["ETag"].endswith(f'-{len(parts)}"')
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == big  # a composite value is not re-checked by botocore, the bytes are
    attrs = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts"],
                                     MaxParts=3)
    assert attrs["Checksum"] == {f"Checksum{algorithm}": composite(algorithm, parts).split("-")[0],
                                 "ChecksumType": "COMPOSITE"}
    op = attrs["ObjectParts"]
    assert op["TotalPartsCount"] == 4 and op["IsTruncated"] and op["NextPartNumberMarker"] == 3
    assert [(p["PartNumber"], p["Size"], p[f"Checksum{algorithm}"]) for p in op["Parts"]] == [
        (n, len(p), full(algorithm, p)) for n, p in enumerate(parts[:3], 1)]
    rest = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=3)["ObjectParts"]
    assert [(p["PartNumber"], p[f"Checksum{algorithm}"]) for p in rest["Parts"]] == [(4, full(algorithm, parts[3]))]
    assert not rest["IsTruncated"]


def test_upload_file_full_object_crc32_given_by_the_user(tmp_path, s3, bucket, big):
    # s3transfer turns a whole-file ChecksumCRC32 into a FULL_OBJECT upload, checked on Complete
    _transfer(tmp_path, big, s3, bucket, "mp/full", ChecksumCRC32=full("CRC32", big))
    head = s3.head_object(Bucket=bucket, Key="mp/full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == full("CRC32", big) and head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="mp/full", ChecksumMode="ENABLED")  # botocore checks it
    assert got["Body"].read() == big


# -- the multipart operations one by one --------------------------------------------------------


def _upload(s3, bucket: str, key: str, data: bytes, algorithm: str, kind: str | None = None,
            send_part_sums: bool = True) -> tuple[str, list[dict]]:
    args = {"ChecksumAlgorithm": algorithm} | ({"ChecksumType": kind} if kind else {})
    created = s3.create_multipart_upload(Bucket=bucket, Key=key, **args)
    assert created["ChecksumAlgorithm"] == algorithm
    assert created["ChecksumType"] == (kind or "COMPOSITE")
    uid, done = created["UploadId"], []
    if not send_part_sums:  # parts without any checksum header: the gateway computes them
        s3.meta.events.register("before-sign.s3.UploadPart", _strip_checksums)
    try:
        for n, part in enumerate(_parts(data), 1):
            extra = {f"Checksum{algorithm}": full(algorithm, part)} if send_part_sums else {}
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=part, **extra)
            assert r[f"Checksum{algorithm}"] == full(algorithm, part)
            done.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{algorithm}": r[f"Checksum{algorithm}"]})
    finally:
        s3.meta.events.unregister("before-sign.s3.UploadPart", _strip_checksums)
    return uid, done


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_multipart_combines_part_crcs(s3, bucket, big, algorithm):
    key = f"full/{algorithm}"
    uid, done = _upload(s3, bucket, key, big, algorithm, "FULL_OBJECT")
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=2)
    assert listed["ChecksumAlgorithm"] == algorithm and listed["ChecksumType"] == "FULL_OBJECT"
    assert [p[f"Checksum{algorithm}"] for p in listed["Parts"]] == [d[f"Checksum{algorithm}"] for d in done[:2]]
    with pytest.raises(ClientError) as e:  # a wrong whole-object value: BadDigest, nothing written
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done},
                                     **{f"Checksum{algorithm}": full(algorithm, b"other")})
    assert _code(e) == "BadDigest"
    out = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done},
                                       **{f"Checksum{algorithm}": full(algorithm, big)})
    assert out[f"Checksum{algorithm}"] == full(algorithm, big) and out["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == full(algorithm, big)


def test_composite_complete_checks_the_listed_part_checksums(s3, bucket):
    data = os.urandom(PART + 10)
    uid, done = _upload(s3, bucket, "comp/checked", data, "SHA1", send_part_sums=False)  # computed by the gateway
    wrong = [dict(done[0], ChecksumSHA1=full("SHA1", b"nope")), done[1]]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="comp/checked", UploadId=uid,
                                     MultipartUpload={"Parts": wrong})
    assert _code(e) == "InvalidPart"
    missing = [{k: v for k, v in done[0].items() if k != "ChecksumSHA1"}, done[1]]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="comp/checked", UploadId=uid,
                                     MultipartUpload={"Parts": missing})
    assert _code(e) == "InvalidRequest"
    out = s3.complete_multipart_upload(Bucket=bucket, Key="comp/checked", UploadId=uid,
                                       MultipartUpload={"Parts": done})
    assert out["ChecksumSHA1"] == composite("SHA1", _parts(data)) and out["ChecksumType"] == "COMPOSITE"
    again = s3.complete_multipart_upload(Bucket=bucket, Key="comp/checked", UploadId=uid,
                                         MultipartUpload={"Parts": done})  # an SDK's retry
    assert (again["ETag"], again["ChecksumSHA1"], again["ChecksumType"]) == (
        out["ETag"], out["ChecksumSHA1"], "COMPOSITE")


def test_bad_checksum_requests(s3, bucket):
    with pytest.raises(ClientError) as e:  # SHA256 cannot be combined into a whole-object value
        s3.create_multipart_upload(Bucket=bucket, Key="bad", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
    assert _code(e) == "InvalidRequest"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="bad", ChecksumAlgorithm="SHA256")["UploadId"]
    with pytest.raises(ClientError) as e:  # a part of another algorithm
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1, Body=b"x",
                       ChecksumCRC32=full("CRC32", b"x"))
    assert _code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:  # a part whose checksum does not match its bytes
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1, Body=b"x",
                       ChecksumSHA256=full("SHA256", b"y"))
    assert _code(e) == "BadDigest"
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="bad", UploadId=uid)
    s3.abort_multipart_upload(Bucket=bucket, Key="bad", UploadId=uid)


# -- the AWS CLI --------------------------------------------------------------------------------


def test_aws_cli_cp_multipart_then_head_with_checksum_mode(gw, bucket, big, tmp_path):
    from tests.integration.test_client_matrix import client_env

    src = tmp_path / "cli.bin"
    src.write_bytes(big[: 2 * PART + 5])
    env = client_env() | {"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK}
    cli = (sys.executable, "-m", "awscli", "--endpoint-url", gw.url)
    run(*cli, "s3", "cp", str(src), f"s3://{bucket}/cli/big.bin", env=env)  # 8 MiB parts by default
    head = json.loads(run(*cli, "s3api", "head-object", "--bucket", bucket, "--key", "cli/big.bin",
                          "--checksum-mode", "ENABLED", env=env))
    data = src.read_bytes()
    parts = [data[i:i + 8 * MB] for i in range(0, len(data), 8 * MB)]
    assert head["ChecksumCRC32"] == composite("CRC32", parts) and head["ChecksumType"] == "COMPOSITE"


# -- folder markers and versions in tagging, attributes and ListObjectVersions ----------------------


def test_tagging_and_attributes_of_a_folder_marker(s3, bucket):
    s3.put_object(Bucket=bucket, Key="folder/", Body=b"")
    s3.put_object_tagging(Bucket=bucket, Key="folder/", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="folder/")["TagSet"] == [{"Key": "k", "Value": "v"}]
    attrs = s3.get_object_attributes(Bucket=bucket, Key="folder/", ObjectAttributes=["ObjectSize", "ETag"])
    assert attrs["ObjectSize"] == 0 and attrs["ETag"] == hashlib.md5(b"").hexdigest()
    s3.delete_object_tagging(Bucket=bucket, Key="folder/")
    assert s3.get_object_tagging(Bucket=bucket, Key="folder/")["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="nofolder/")
    assert _code(e) == "NoSuchKey"


def test_version_ids_of_tagging_and_attributes_as_in_get(s3):
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"unversioned", Tagging="old=1")  # the null version
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"second", Tagging="new=2")["VersionId"]
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="null")["TagSet"] == [{"Key": "old", "Value": "1"}]
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v2)["TagSet"] == [{"Key": "new", "Value": "2"}]
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", VersionId="null", ObjectAttributes=["ObjectSize"])
    assert attrs["ObjectSize"] == len(b"unversioned") and attrs["VersionId"] == "null"
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=marker),
                 lambda: s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=marker,
                                                  ObjectAttributes=["ObjectSize"])):
        with pytest.raises(ClientError) as e:  # a delete marker: 405, as GetObject answers
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405


def test_list_object_versions_shows_folder_markers(s3):
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="d/", Body=b"")
    s3.put_object(Bucket=bucket, Key="d/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="e/", Body=b"")
    listed = s3.list_object_versions(Bucket=bucket)
    versions = [(v["Key"], v["IsLatest"], v["Size"]) for v in listed["Versions"]]
    assert versions == [("d/", True, 0), ("d/a", True, 1), ("e/", True, 0)]
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["d/", "e/"]
    under = s3.list_object_versions(Bucket=bucket, Prefix="d/", Delimiter="/")
    assert [v["Key"] for v in under["Versions"]] == ["d/", "d/a"]


def test_pyarrow_uploads_keep_their_crc64nvme(gw, s3, bucket):
    pytest.importorskip("awscrt")  # the gateway needs it to check CRC64NVME
    pafs = pytest.importorskip("pyarrow.fs")
    from urllib.parse import urlsplit

    u = urlsplit(gw.url)
    fs = pafs.S3FileSystem(access_key=AK, secret_key=SK, endpoint_override=f"{u.hostname}:{u.port}",
                           scheme="http", region="us-east-1")
    small = os.urandom(100_000)
    with fs.open_output_stream(f"{bucket}/arrow/small.bin") as f:  # one PUT, a trailing CRC64NVME
        f.write(small)
    head = s3.head_object(Bucket=bucket, Key="arrow/small.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == full("CRC64NVME", small) and head["ChecksumType"] == "FULL_OBJECT"
    with fs.open_input_stream(f"{bucket}/arrow/small.bin") as f:
        assert f.read() == small


def test_sidecar_rewrites_keep_the_part_checksums(s3, bucket):
    data = os.urandom(PART + 10)
    uid, done = _upload(s3, bucket, "keep/parts", data, "CRC32C")
    s3.complete_multipart_upload(Bucket=bucket, Key="keep/parts", UploadId=uid, MultipartUpload={"Parts": done})
    s3.put_object_tagging(Bucket=bucket, Key="keep/parts", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    s3.put_object_acl(Bucket=bucket, Key="keep/parts", ACL="private")
    s3.copy_object(Bucket=bucket, Key="keep/copy", CopySource=f"{bucket}/keep/parts")
    for key in ("keep/parts", "keep/copy"):
        attrs = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts"])
        assert attrs["Checksum"]["ChecksumCRC32C"] == composite("CRC32C", _parts(data)).split("-")[0]
        assert [p["ChecksumCRC32C"] for p in attrs["ObjectParts"]["Parts"]] == [full("CRC32C", p) for p in _parts(data)]
