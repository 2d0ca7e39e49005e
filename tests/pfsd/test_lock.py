"""One owner per data directory: pfsd holds an exclusive lock on it for as long as it runs.

A second pfsd, or a gateway that would start its embedded one, on a directory in use exits at
once, naming the directory and the PID that holds it. The lock is a kernel lock (flock): it dies
with its process, so a kill -9 leaves nothing that blocks a restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, free_port
from tests.pfsd.conftest import start_pfsd


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_second_owner_exits_naming_dir_and_pid_and_kill9_leaves_no_stale_lock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_pfsd(data)
    try:
        pid = str(first.proc.pid)
        second = run("-m", "pfsd", "--listen", "127.0.0.1:0", "--data-dir", str(data))
        assert second.returncode != 0, second.stdout
        out = second.stdout + second.stderr
        assert "pfsd ready" not in out
        assert str(data) in out and f"PID {pid}" in out, out

        # a gateway asked to start its embedded pfsd on that directory refuses before serving
        gw = run("-m", "gateway", "--port", str(free_port()), "--data-dir", str(data))
        assert gw.returncode != 0
        out = gw.stdout + gw.stderr
        assert str(data) in out and f"PID {pid}" in out, out
        assert "listening" not in out

        first.proc.send_signal(signal.SIGKILL)  # no clean-up at all
        first.proc.wait(timeout=30)
        again = start_pfsd(data)  # the lock died with its process
        assert again.stop() == 0
    finally:
        first.stop()
