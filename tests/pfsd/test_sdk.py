"""Pachyderm's official Python SDK (pachyderm_sdk 2.12.2) as a client of pfsd.

The SDK pins packages that clash with ours, so it lives in its own cached virtualenv under
`.cache/sdk-venv` (git-ignored). If pip cannot install it at all, the test skips with why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.pfsd.conftest import ROOT, Pfsd

SDK = "pachyderm_sdk==2.12.2"
VENV = ROOT / ".cache" / "sdk-venv"
SCRIPT = Path(__file__).with_name("sdk_script.py")


def sdk_python() -> Path:
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import pachyderm_sdk"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", SDK], capture_output=True, text=True)
    if install.returncode != 0:
        pytest.skip(f"cannot install {SDK}: {install.stderr.strip()[-500:]}")
    return python


def test_official_sdk(pfsd: Pfsd) -> None:
    python = sdk_python()
    host, port = pfsd.address.rsplit(":", 1)
    run = subprocess.run([str(python), str(SCRIPT), host, port], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    assert out["project_exists"] == "True"
    assert out["repo_exists"] == "True"
    assert out["commit_id_len"] == "32"
    assert out["commit_finished"] == "True"
    assert out["read_a"] == "hello sdk"
    assert out["read_b_ok"] == "True"
    assert out["list_root"] == "/a.txt,/dir/"
    assert out["inspect_a"] == "FILE:9"
    assert out["branches"] == "dev,master"
    assert out["path_exists_after_delete"] == "False"
    assert out["commits"] == "2 first_listed_last=True"
    assert out["repos"] == "images"
    assert out["repo_exists_after_delete"] == "False"
    assert out["done"] == "1"
