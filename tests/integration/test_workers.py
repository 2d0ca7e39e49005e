"""``--workers N``: several gateway processes on one port share one embedded pfsd.

Every worker serves (each scrape of /~/metrics names the process that answered), they agree on
the state (it is all in PFS), a killed worker is replaced while the others go on serving, and
SIGTERM stops every process (workers, then pfsd) with exit status 0.
"""

from __future__ import annotations

import re
import signal
import time

import boto3
import httpx
import psutil
import pytest
from botocore.config import Config

from tests.conftest import Gateway, unique_repo

AK, SK = "workers-ak", "workers-sk"


def workers_of(gw: Gateway) -> list[psutil.Process]:
    return [p for p in psutil.Process(gw.proc.pid).children()
            if "gateway.server.workers" in " ".join(p.cmdline())]


def wait_for(cond, what: str, timeout: float = 60.0):
    """Poll ``cond`` until it is true (a bound on waiting, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while not (got := cond()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
    return got


def answering_pid(url: str) -> int:
    """The pid of the process that answered a scrape on a fresh connection."""
    text = httpx.get(f"{url}/~/metrics", timeout=10, headers={"Connection": "close"}).text
    return int(re.search(r's3gw_worker_info\{pid="(\d+)"\}', text).group(1))


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("workers") / "data", "--workers", "2", "--metrics-public",
                env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})
    wait_for(lambda: len(workers_of(g)) == 1, "the second worker")
    yield g
    g.stop()


def client(gw: Gateway):
    # a fresh connection per request: each may land on either worker
    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=AK,
                        aws_secret_access_key=SK,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      max_pool_connections=1))


def test_both_workers_serve_and_agree(gw):
    (worker,) = workers_of(gw)
    seen: set[int] = set()
    wait_for(lambda: seen.add(answering_pid(gw.url)) or len(seen) == 2, "both workers answering")
    assert seen == {gw.proc.pid, worker.pid}
    # what one process wrote, every process reads (signed requests: SigV4 checked in each)
    s3 = client(gw)
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    for i in range(6):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=f"v{i}".encode())
    for _ in range(3):
        fresh = client(gw)
        got = {o["Key"] for o in fresh.list_objects_v2(Bucket=bucket)["Contents"]}
        assert got == {f"k{i}" for i in range(6)}
        assert fresh.get_object(Bucket=bucket, Key="k5")["Body"].read() == b"v5"
    assert httpx.get(f"{gw.url}/{bucket}/k0", timeout=10).status_code == 403  # unsigned


def test_a_killed_worker_is_replaced(gw):
    (old,) = workers_of(gw)
    old.kill()
    old.wait(10)
    s3 = client(gw)
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)  # the first process serves meanwhile
    (new,) = wait_for(lambda: [p for p in workers_of(gw) if p.pid != old.pid], "a new worker")
    wait_for(lambda: answering_pid(gw.url) == new.pid, "the new worker answering")
    s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    assert client(gw).get_object(Bucket=bucket, Key="after")["Body"].read() == b"x"
    assert "exited with -9; starting another" in gw.log_text()


def test_sigterm_stops_every_process_and_exits_0(tmp_path):
    g = Gateway(tmp_path / "data", "--workers", "2")
    (worker,) = wait_for(lambda: workers_of(g), "the second worker")
    (pfsd,) = [p for p in psutil.Process(g.proc.pid).children() if "pfsd" in " ".join(p.cmdline())]
    g.proc.send_signal(signal.SIGTERM)
    assert g.proc.wait(timeout=60) == 0
    g.log.close()
    for p in (worker, pfsd):
        assert not p.is_running() or p.status() == psutil.STATUS_ZOMBIE


def test_workers_flag_and_env(monkeypatch):
    from gateway.server.config import parse_args

    monkeypatch.delenv("S3GW_WORKERS", raising=False)
    assert parse_args([]).workers == 1
    assert parse_args(["--workers", "3"]).workers == 3
    monkeypatch.setenv("S3GW_WORKERS", "2")
    assert parse_args([]).workers == 2
    with pytest.raises(SystemExit):
        parse_args(["--workers", "0"])
