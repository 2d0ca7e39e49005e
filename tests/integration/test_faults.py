"""Backend faults: pfsd unreachable at start, killed mid-upload and restarted, out of space.

pfsd runs as its own process on a TCP port here (not the gateway's embedded child), so a test
can kill it and start it again on the same address and data while the gateway keeps serving.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, unique_repo


class PFSD:
    """``python -m pfsd`` on a fixed TCP address, restartable on the same data dir."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pfsd", "--listen", self.address,
                                      "--data-dir", str(self.data_dir)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("pfsd ready"), line

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class RemoteGateway:
    """The gateway pointed at a pachd address with ``--pachd-address``; ready or not."""

    def __init__(self, tmp: Path, address: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"gateway-{self.port}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "--port", str(self.port),
                                      "--pachd-address", address], cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:  # liveness, not readiness: the backend may be down on purpose
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(self.url + "/~/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)

    def wait_ready(self, timeout: float = 15) -> float:
        started = time.monotonic()
        while httpx.get(self.url + "/~/ready", timeout=5).status_code != 200:
            assert time.monotonic() - started < timeout, "gateway never became ready"
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.log.close()


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    if r.request.method != "HEAD":
        doc = ET.fromstring(r.content)
        assert doc.findtext("Code") == "ServiceUnavailable"
        assert doc.findtext("RequestId") == r.headers["x-amz-request-id"]


def test_backend_unreachable_at_start_then_recovers(tmp_path):
    port = free_port()  # nothing listens here yet
    gw = RemoteGateway(tmp_path, f"127.0.0.1:{port}")
    pfsd = PFSD(tmp_path / "pfsd", port)
    try:
        assert httpx.get(gw.url + "/~/ready", timeout=5).status_code == 503
        bucket = f"master.{unique_repo()}"
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            for method, path, body in [("PUT", f"/{bucket}", None), ("GET", "/", None),
                                       ("PUT", f"/{bucket}/k", b"data"), ("GET", f"/{bucket}/k", None),
                                       ("HEAD", f"/{bucket}/k", None), ("GET", f"/{bucket}", None),
                                       ("DELETE", f"/{bucket}/k", None)]:
                started = time.monotonic()
                r = c.request(method, path, content=body)
                assert time.monotonic() - started < 2.0, (method, path)
                assert_unavailable(r)
        # the backend appears on that address: the same gateway process serves
        pfsd.start()
        assert gw.wait_ready() < 5
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            assert c.put(f"/{bucket}").status_code == 200
            assert c.put(f"/{bucket}/k", content=b"data").status_code == 200
            assert c.get(f"/{bucket}/k").content == b"data"
        assert gw.proc.poll() is None
    finally:
        gw.stop()
        pfsd.stop()


def slow_put(url: str, path: str, chunks: int, chunk: bytes, pause: float,
             on_chunk=None) -> tuple[int | None, bytes | Exception]:
    """A PUT whose body trickles in; ``on_chunk(i)`` runs after chunk ``i`` is sent."""
    u = httpx.URL(url)
    conn = http.client.HTTPConnection(u.host, u.port, timeout=30)
    try:
        conn.putrequest("PUT", path)
        conn.putheader("Content-Length", str(chunks * len(chunk)))
        conn.endheaders()
        for i in range(chunks):
            conn.send(chunk)
            if on_chunk:
                on_chunk(i)
            time.sleep(pause)
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        try:  # the gateway may have answered early, before the whole body was sent
            r = conn.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            return None, e
    finally:
        conn.close()


@contextlib.contextmanager
def backend_and_gateway(tmp_path: Path):
    """A started pfsd, a ready gateway on it and a bucket name; both stopped afterwards."""
    pfsd = PFSD(tmp_path / "pfsd")
    pfsd.start()
    gw = RemoteGateway(tmp_path, pfsd.address)
    try:
        gw.wait_ready()
        yield pfsd, gw, f"master.{unique_repo()}"
    finally:
        gw.stop()
        pfsd.stop()


def test_backend_killed_mid_upload_then_restarted(tmp_path):
    with backend_and_gateway(tmp_path) as (pfsd, gw, bucket):
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            assert c.put(f"/{bucket}").status_code == 200
            assert c.put(f"/{bucket}/before", content=b"kept").status_code == 200

        def kill_at(i: int) -> None:
            if i == 5:
                pfsd.kill()

        # 40 x 256 KiB: past the inline limit, so pfsd is streaming a blob when it dies
        status, body = slow_put(gw.url, f"/{bucket}/big", 40, os.urandom(256 * 1024), 0.05, kill_at)
        assert status != 200, body
        if status is not None:
            assert status == 503 and b"<Code>ServiceUnavailable</Code>" in body, body
        assert gw.proc.poll() is None

        # while down: quick 503s, readiness says so
        assert httpx.get(gw.url + "/~/ready", timeout=5).status_code == 503
        started = time.monotonic()
        assert_unavailable(httpx.get(f"{gw.url}/{bucket}/before", timeout=5))
        assert time.monotonic() - started < 2

        pfsd.start()  # same address, same data
        assert gw.wait_ready() < 5
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            assert c.head(f"/{bucket}/big").status_code == 404  # nothing partial
            listed = c.get(f"/{bucket}", params={"list-type": "2"}).text
            assert "<Key>big</Key>" not in listed and "<Key>before</Key>" in listed
            assert c.get(f"/{bucket}/before").content == b"kept"
            data = os.urandom(1 << 20)
            assert c.put(f"/{bucket}/big", content=data).status_code == 200
            assert c.get(f"/{bucket}/big").content == data
        assert gw.proc.poll() is None  # never restarted
        assert not any((tmp_path / "pfsd" / "tmp").iterdir())  # the broken blob was swept


def test_requests_in_flight_fail_cleanly_when_backend_dies(tmp_path):
    """A GET streaming a large object when pfsd dies: the body is cut, never completed wrongly."""
    with backend_and_gateway(tmp_path) as (pfsd, gw, bucket):
        data = os.urandom(48 << 20)
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            assert c.put(f"/{bucket}").status_code == 200
            assert c.put(f"/{bucket}/big", content=data).status_code == 200
            received = bytearray()
            with pytest.raises(httpx.HTTPError), c.stream("GET", f"/{bucket}/big") as r:
                assert r.status_code == 200
                for part in r.iter_bytes(64 * 1024):
                    received += part
                    if len(received) >= (1 << 20) and pfsd.proc.poll() is None:
                        pfsd.kill()
                    time.sleep(0.001)
            assert len(received) < len(data) and data.startswith(bytes(received))
        pfsd.start()
        gw.wait_ready()
        assert httpx.get(f"{gw.url}/{bucket}/big", timeout=30).content == data
        assert gw.proc.poll() is None


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


def test_disk_full_is_a_clear_error_and_service_resumes(tmp_path):
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "24m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount(8))")
    pfsd = PFSD(mnt / "pfsd")
    gw = None
    try:
        pfsd.start()
        gw = RemoteGateway(tmp_path, pfsd.address)
        gw.wait_ready()
        bucket = f"master.{unique_repo()}"
        filler = mnt / "filler"
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            assert c.put(f"/{bucket}").status_code == 200
            assert c.put(f"/{bucket}/small", content=b"s" * 1000).status_code == 200
            # leave ~4 MiB free, then upload 8 MiB
            free = shutil.disk_usage(mnt).free
            with open(filler, "wb") as f:
                f.write(b"\0" * (free - (4 << 20)))
            r = c.put(f"/{bucket}/big", content=os.urandom(8 << 20))
            assert r.status_code == 503, r.text
            doc = ET.fromstring(r.content)
            assert doc.findtext("Code") == "ServiceUnavailable"
            assert "space" in doc.findtext("Message")
            assert r.headers["retry-after"]
            assert c.head(f"/{bucket}/big").status_code == 404  # nothing partial
            assert not any((mnt / "pfsd" / "tmp").iterdir())
            assert c.get(f"/{bucket}/small").content == b"s" * 1000  # reads still served
            filler.unlink()
            data = os.urandom(8 << 20)
            assert c.put(f"/{bucket}/big", content=data).status_code == 200
            assert c.get(f"/{bucket}/big").content == data
    finally:
        if gw:
            gw.stop()
        pfsd.stop()
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_only_read_calls_are_retried_and_reconnects_are_bounded():
    import json as _json

    from gateway.pfs.client import CHANNEL_OPTIONS

    options = dict(CHANNEL_OPTIONS)
    assert options["grpc.max_reconnect_backoff_ms"] <= 1000
    (method_config,) = _json.loads(options["grpc.service_config"])["methodConfig"]
    retried = {n["method"] for n in method_config["name"]}
    assert retried and all(m.startswith(("Inspect", "List", "Walk", "Glob", "Get", "Find")) for m in retried)
    assert method_config["retryPolicy"]["maxAttempts"] == 2
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
