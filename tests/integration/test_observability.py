"""Metrics, the structured access log, and the request ID that ties an error to its log line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.conftest import ROOT, Gateway, free_port, unique_repo, wait_http


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("obs") / "data", "--log-json")
    yield g
    g.stop()


def scrape(url: str) -> dict[str, float]:
    """``name{labels}`` -> value, from the text exposition."""
    text = httpx.get(url, timeout=5).text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def requests_of(m: dict[str, float], op: str, status: int) -> float:
    return m.get(f's3gw_requests_total{{operation="{op}",status="{status}"}}', 0.0)


def test_request_counts_match_a_known_workload(gw):
    bucket = f"master.{unique_repo()}"
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        assert c.put(f"/{bucket}").status_code == 200
        before = scrape(gw.url + "/~/metrics")
        for i in range(7):
            assert c.put(f"/{bucket}/k{i}", content=b"x" * (100 + i)).status_code == 200
        for i in range(5):
            assert c.get(f"/{bucket}/k{i}").status_code == 200
        for i in range(3):
            assert c.head(f"/{bucket}/missing{i}").status_code == 404
    after = scrape(gw.url + "/~/metrics")

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert requests_of(after, "PutObject", 200) - requests_of(before, "PutObject", 200) == 7
    assert requests_of(after, "GetObject", 200) - requests_of(before, "GetObject", 200) == 5
    assert requests_of(after, "HeadObject", 404) - requests_of(before, "HeadObject", 404) == 3
    assert requests_of(after, "CreateBucket", 200) == 1
    assert delta('s3gw_request_duration_seconds_count{operation="PutObject"}') == 7
    assert delta('s3gw_request_body_bytes_total{operation="PutObject"}') == sum(100 + i for i in range(7))
    assert delta('s3gw_response_body_bytes_total{operation="GetObject"}') == sum(100 + i for i in range(5))
    assert delta('s3gw_pfs_errors_total{code="NOT_FOUND"}') >= 3
    assert after["s3gw_requests_in_flight"] == 1  # the scrape itself
    # every known operation is bound before its first request
    assert 'request_duration_seconds_count{operation="UploadPartCopy"}' in "".join(after)
    assert after["process_resident_memory_bytes"] > 0


def test_public_metrics_need_no_signature_and_no_bucket_can_take_the_path(tmp_path):
    # (with credentials and without --metrics-public they do: see test_security)
    g = Gateway(tmp_path / "data", "--access-key", "AK", "--secret-key", "SK", "--metrics-public")
    try:
        r = httpx.get(g.url + "/~/metrics", timeout=5)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert "s3gw_requests_total" in r.text
        assert httpx.get(g.url + "/~/other", timeout=5).status_code == 403  # unsigned
    finally:
        g.stop()


def log_lines(gw: Gateway) -> list[dict]:
    out = []
    for line in gw.log_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_error_request_id_matches_its_json_log_line(gw):
    bucket = f"master.{unique_repo()}"
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        c.put(f"/{bucket}")
        r = c.get(f"/{bucket}/no/such/key")
    assert r.status_code == 404
    doc = ET.fromstring(r.content)
    request_id = doc.findtext("RequestId")
    assert doc.findtext("Code") == "NoSuchKey"
    assert request_id and r.headers["x-amz-request-id"] == request_id
    deadline = time.monotonic() + 5
    while True:
        found = [e for e in log_lines(gw) if e.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(found) == 1, found
    entry = found[0]
    assert entry["method"] == "GET" and entry["operation"] == "GetObject"
    assert entry["bucket"] == bucket and entry["status"] == 404
    assert entry["bytes_out"] == len(r.content) and entry["bytes_in"] == 0
    assert entry["duration_ms"] >= 0 and entry["level"] == "info"


def test_text_access_log_names_operation_and_request_id(gateway, endpoint):
    r = httpx.head(f"{endpoint}/master.{unique_repo()}", timeout=10)
    request_id = r.headers["x-amz-request-id"]
    deadline = time.monotonic() + 5
    while request_id not in gateway.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(ln for ln in gateway.log_text().splitlines() if request_id in ln)
    assert re.search(r"HEAD /master\.\S+ HeadBucket 404 in=0 out=0 [\d.]+ms " + request_id, line), line


def test_health_and_readiness(gw):
    assert httpx.get(gw.url + "/~/health").status_code == 200
    assert httpx.get(gw.url + "/~/ready").text == "ok\n"


def test_pfsd_metrics_port(tmp_path):
    grpc_port, metrics_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pfsd", "--listen", f"127.0.0.1:{grpc_port}",
                             "--data-dir", str(tmp_path / "d"), "--metrics-listen",
                             f"127.0.0.1:{metrics_port}"], cwd=ROOT)
    gw = None
    try:
        wait_http(f"http://127.0.0.1:{metrics_port}/metrics", proc, timeout=30)
        gw = Gateway(tmp_path / "gwdata", "--pachd-address", f"127.0.0.1:{grpc_port}")
        bucket = f"master.{unique_repo()}"
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            assert c.put(f"/{bucket}").status_code == 200
            for i in range(3):
                assert c.put(f"/{bucket}/k{i}", content=b"y" * 100_000).status_code == 200
        m = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert m['pfsd_rpcs_total{code="OK",method="ModifyFile"}'] >= 3
        assert m["pfsd_commits_total"] >= 3
        assert m['pfsd_rpc_duration_seconds_count{method="ModifyFile"}'] >= 3
        assert m['pfsd_stored_bytes{kind="blobs"}'] >= 100_000  # one shared blob at least
    finally:
        if gw:
            gw.stop()
        proc.terminate()
        proc.wait(timeout=20)
