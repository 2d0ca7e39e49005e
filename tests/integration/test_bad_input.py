"""Bad input the other suites do not cover: each gets AWS's status and code, and writes nothing.

Covered elsewhere: KeyTooLongError (test_objects), MetadataTooLarge (test_metadata), invalid
bucket names (test_buckets), MalformedXML (test_buckets, test_delete_objects, test_multipart),
NUL and control characters in keys (test_objects), max-keys negative or not a number
(test_listing), Range past the end and unparseable (test_objects).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import xml.etree.ElementTree as ET
import zlib

import httpx
import pytest

from tests.conftest import unique_repo


def error_code(r: httpx.Response) -> str | None:
    return ET.fromstring(r.content).findtext("Code")


def listed(endpoint: str, bucket: str) -> list[str]:
    r = httpx.get(f"{endpoint}/{bucket}", params={"list-type": "2"}, timeout=10)
    return [e.text for e in ET.fromstring(r.content).iter() if e.tag.endswith("Key")]


@pytest.mark.parametrize("raw_key", ["bad%ZZkey", "trailing%", "short%2", "bad%C3%28utf8", "%FF"])
def test_bad_percent_encoding_is_invalid_uri(endpoint, bucket, raw_key):
    r = httpx.put(f"{endpoint}/{bucket}/{raw_key}", content=b"x", timeout=10)
    assert r.status_code == 400 and error_code(r) == "InvalidURI", r.text
    assert listed(endpoint, bucket) == []
    r = httpx.get(f"{endpoint}/{bucket}/{raw_key}", timeout=10)
    assert r.status_code == 400 and error_code(r) == "InvalidURI"


def test_percent_sign_itself_is_a_valid_key(endpoint, bucket):
    assert httpx.put(f"{endpoint}/{bucket}/100%25done", content=b"x", timeout=10).status_code == 200
    assert listed(endpoint, bucket) == ["100%done"]


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,3-4", "items=0-1", "bytes=", "bytes=--1",
                                    "bytes=0-1x", "bytes 0-1"])
def test_malformed_range_is_ignored_like_aws(endpoint, bucket, header):
    """AWS answers an unparseable, inverted or multi-part Range with the whole object (200)."""
    data = bytes(range(256)) * 4
    httpx.put(f"{endpoint}/{bucket}/r", content=data, timeout=10).raise_for_status()
    r = httpx.get(f"{endpoint}/{bucket}/r", headers={"Range": header}, timeout=10)
    assert r.status_code == 200 and r.content == data and "content-range" not in r.headers


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=1024-", "bytes=99999999999999999999-"])
def test_unsatisfiable_range_is_416(endpoint, bucket, header):
    httpx.put(f"{endpoint}/{bucket}/r", content=b"x" * 1024, timeout=10).raise_for_status()
    r = httpx.get(f"{endpoint}/{bucket}/r", headers={"Range": header}, timeout=10)
    assert r.status_code == 416 and error_code(r) == "InvalidRange"
    assert r.headers["content-range"] == "bytes */1024"


@pytest.mark.parametrize("headers", [{"x-amz-meta-big": "v" * 20_000},
                                     {f"x-pad-{i}": "v" * 60 for i in range(400)}],
                         ids=["one-big", "many"])
def test_oversized_headers_are_refused(endpoint, bucket, headers):
    r = httpx.put(f"{endpoint}/{bucket}/k", content=b"x", headers=headers, timeout=10)
    assert r.status_code == 400 and error_code(r) == "RequestHeaderSectionTooLarge"
    assert r.headers["x-amz-request-id"]
    assert listed(endpoint, bucket) == []
    assert httpx.get(f"{endpoint}/~/health", timeout=10).status_code == 200


def _tmp_files(gateway) -> list:
    return list((gateway.data_dir / "tmp").iterdir())


@pytest.mark.parametrize("how", ["half-close", "close", "reset"])
@pytest.mark.parametrize("sent", [40_000, 1_500_000, 24_000_000], ids=["inline", "blob", "big"])
def test_body_shorter_than_content_length_writes_nothing(gateway, endpoint, bucket, how, sent):
    """The client sends part of its body, then gives up. AWS answers 400 IncompleteBody when it
    can; here the connection is gone by the time the gateway knows, so no answer reaches the
    client, and the point is that nothing is committed and no temporary data stays behind
    ("big": pfsd's hash and write lanes hold megabytes queued when the client leaves)."""
    host, port = endpoint.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    length = max(4_000_000, 2 * sent)
    s.sendall(f"PUT /{bucket}/partial HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {length}\r\n\r\n".encode())
    s.sendall(b"a" * sent)
    time.sleep(0.3)
    if how == "half-close":
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        answer = s.recv(65536)
        if answer:  # if one does arrive, it must be IncompleteBody
            assert b" 400 " in answer.split(b"\r\n", 1)[0] and b"IncompleteBody" in answer, answer
    elif how == "reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    deadline = time.monotonic() + 10
    while _tmp_files(gateway) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.head(f"{endpoint}/{bucket}/partial", timeout=10).status_code == 404
    assert listed(endpoint, bucket) == []
    assert httpx.put(f"{endpoint}/{bucket}/after", content=b"ok", timeout=10).status_code == 200
    assert _tmp_files(gateway) == []  # the partial body's temp file is gone (it used to stay)


@pytest.mark.parametrize("header", ["content-md5", "x-amz-checksum-crc32"])
def test_big_body_failing_its_check_writes_nothing(gateway, endpoint, bucket, header):
    """20 MiB whose Content-MD5 (checked by pfsd before it commits) or CRC32 (by the gateway
    after the last byte) is wrong: 400 BadDigest, the object as it was, no temp file left."""
    assert httpx.put(f"{endpoint}/{bucket}/k", content=b"previous", timeout=10).status_code == 200
    body = os.urandom(20 * 1024 * 1024)
    other = b"not the body"
    wrong = (hashlib.md5(other).digest() if header == "content-md5"
             else zlib.crc32(other).to_bytes(4, "big"))
    r = httpx.put(f"{endpoint}/{bucket}/k", content=body, timeout=60,
                  headers={header: base64.b64encode(wrong).decode()})
    assert r.status_code == 400 and error_code(r) == "BadDigest", r.text
    assert httpx.get(f"{endpoint}/{bucket}/k", timeout=10).content == b"previous"
    deadline = time.monotonic() + 10
    while _tmp_files(gateway) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _tmp_files(gateway) == []


def test_xml_body_cut_short_is_incomplete_body_not_a_crash(gateway, endpoint):
    """A client that leaves while a CreateBucket body is read: nothing is created, and the
    gateway records S3's 400 IncompleteBody, not a 500 with a traceback."""
    bucket = f"master.{unique_repo()}"
    host, port = endpoint.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall(f"PUT /{bucket} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 100\r\n\r\n<Create".encode())
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 10
    line = ""
    while not line and time.monotonic() < deadline:
        line = next((ln for ln in gateway.log_text().splitlines()
                     if f"PUT /{bucket} CreateBucket" in ln), "")
        time.sleep(0.1)
    assert " 400 " in line, line
    assert "ClientDisconnect" not in gateway.log_text()
    assert httpx.head(f"{endpoint}/{bucket}", timeout=10).status_code == 404
