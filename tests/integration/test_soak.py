"""Load: the soak (``make soak`` runs the long one) in short, and the races it found."""

from __future__ import annotations

import http.client
import os
import time

import httpx

from bench.soak import soak


def test_short_soak_loses_nothing():
    r = soak(clients=16, duration=10)
    print(r)
    assert r["errors"] == 0, r["error_samples"]
    assert r["lost_updates"] == 0, r["lost_samples"]
    assert r["gateway_errors_logged"] == 0
    assert r["ops"] > 200
    for op in ("put", "get", "head", "list", "delete", "copy", "multipart", "complete"):
        assert r["by_op"].get(op, 0) > 0, op


def _open_put(endpoint: str, path: str, length: int) -> http.client.HTTPConnection:
    u = httpx.URL(endpoint)
    conn = http.client.HTTPConnection(u.host, u.port, timeout=30)
    conn.putrequest("PUT", path)
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    return conn


def test_racing_puts_on_a_new_key_replace_never_append(endpoint, bucket):
    """A PUT that found the key absent must still replace what a racing PUT wrote meanwhile:
    PFS's AddFile appends to an existing file, so without a DeleteFile the two bodies were
    concatenated (found by the soak: 30,000 + 30,000 bytes read back as one 60,000-byte object)."""
    for i, (late, early) in enumerate([(b"L" * 100, b"E" * 50), (os.urandom(300_000), os.urandom(70_000))]):
        key = f"race{i}"
        conn = _open_put(endpoint, f"/{bucket}/{key}", len(late))  # headers only: key absent
        try:
            time.sleep(0.3)  # the gateway has looked the key up and is waiting for the body
            assert httpx.put(f"{endpoint}/{bucket}/{key}", content=early, timeout=10).status_code == 200
            conn.send(late)
            assert conn.getresponse().status == 200
        finally:
            conn.close()
        assert httpx.get(f"{endpoint}/{bucket}/{key}", timeout=10).content == late
