"""Graceful shutdown: SIGTERM lets in-flight requests finish, refuses new ones, exits 0, and
takes the embedded PFS server down too (in the gateway's process, the default, or its child
process with --pfsd-process); SIGINT (Ctrl-C) stops everything."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import httpx
import psutil
import pytest

from tests.conftest import Gateway, unique_repo
from tests.integration.test_faults import slow_put
from tests.pfsd.conftest import start_pfsd


def pfsd_child(gw: Gateway) -> psutil.Process:
    (child,) = [p for p in psutil.Process(gw.proc.pid).children() if "pfsd" in " ".join(p.cmdline())]
    return child


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def test_sigterm_finishes_the_upload_in_flight_then_exits_0(tmp_path):
    gw = Gateway(tmp_path / "data", "--shutdown-grace", "20")
    bucket = f"master.{unique_repo()}"
    httpx.put(f"{gw.url}/{bucket}", timeout=10).raise_for_status()
    chunk = os.urandom(64 * 1024)
    result: dict = {}
    signalled = threading.Event()

    def on_chunk(i: int) -> None:
        if i == 3:
            gw.proc.send_signal(signal.SIGTERM)
            signalled.set()

    t = threading.Thread(target=lambda: result.update(
        r=slow_put(gw.url, f"/{bucket}/slow", 30, chunk, 0.05, on_chunk)))
    t.start()
    assert signalled.wait(10)
    deadline = time.monotonic() + 5
    while not refused(gw.port):  # the listener closes first
        assert time.monotonic() < deadline, "new connections still accepted after SIGTERM"
        time.sleep(0.05)
    t.join(30)
    status, body = result["r"]
    assert status == 200, body
    assert gw.proc.wait(timeout=30) == 0
    assert not (tmp_path / "data" / "pfsd.sock").exists()
    gw.log.close()

    again = Gateway(tmp_path / "data")  # the upload was committed
    try:
        assert httpx.get(f"{again.url}/{bucket}/slow", timeout=10).content == chunk * 30
    finally:
        again.stop()


@pytest.mark.parametrize("mode", ["in-process", "--pfsd-process"])
def test_sigterm_past_the_grace_period_leaves_nothing_partial(tmp_path, mode):
    gw = Gateway(tmp_path / "data", "--shutdown-grace", "1", *([mode] if mode[0] == "-" else []))
    pfsd = pfsd_child(gw) if mode[0] == "-" else None
    bucket = f"master.{unique_repo()}"
    httpx.put(f"{gw.url}/{bucket}", timeout=10).raise_for_status()

    def on_chunk(i: int) -> None:
        if i == 2:
            gw.proc.send_signal(signal.SIGTERM)

    # 60 chunks 0.1 s apart: far longer than the 1 s grace
    status, _ = slow_put(gw.url, f"/{bucket}/slow", 60, os.urandom(64 * 1024), 0.1, on_chunk)
    assert status != 200
    assert gw.proc.wait(timeout=30) == 0
    if pfsd is not None:
        psutil.wait_procs([pfsd], timeout=10)
        assert not pfsd.is_running()
    gw.log.close()
    again = Gateway(tmp_path / "data")
    try:
        assert httpx.head(f"{again.url}/{bucket}/slow", timeout=10).status_code == 404
        assert httpx.head(f"{again.url}/{bucket}", timeout=10).status_code == 200
    finally:
        again.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_gateway_and_its_pfsd(tmp_path, sig):
    """In-process (the default): one process, exit 0, the gRPC socket removed and the data
    directory's lock released (a pfsd can take the directory at once)."""
    gw = Gateway(tmp_path / "data")
    assert not psutil.Process(gw.proc.pid).children()
    gw.proc.send_signal(sig)
    assert gw.proc.wait(timeout=30) == 0
    assert not (tmp_path / "data" / "pfsd.sock").exists()
    gw.log.close()
    start_pfsd(tmp_path / "data").stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_both_processes(tmp_path, sig):
    gw = Gateway(tmp_path / "data", "--pfsd-process")
    pfsd = pfsd_child(gw)
    gw.proc.send_signal(sig)
    assert gw.proc.wait(timeout=30) == 0
    psutil.wait_procs([pfsd], timeout=10)
    assert not pfsd.is_running()
    assert not (tmp_path / "data" / "pfsd.sock").exists()
    gw.log.close()


def test_ctrl_c_in_a_terminal_reaches_the_gateway_only(tmp_path):
    """Ctrl-C signals the whole foreground process group: pfsd must not stop before the
    gateway has drained its requests, so it runs in a group of its own."""
    gw = Gateway(tmp_path / "data", "--pfsd-process")
    pfsd = pfsd_child(gw)
    try:
        assert os.getpgid(pfsd.pid) != os.getpgid(gw.proc.pid)
    finally:
        gw.stop()
    psutil.wait_procs([pfsd], timeout=10)
    assert not pfsd.is_running()
