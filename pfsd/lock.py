"""One owner per data directory: an exclusive ``flock`` on ``<data dir>/pfsd.lock``.

Two servers writing one SQLite database and content store would corrupt both, so pfsd takes
the lock before it opens anything and keeps it for its whole life. The kernel drops a flock
when its process dies, however it dies: a kill -9 leaves no stale lock to clean up. The file
holds the owner's PID, only to name it in the refusal (the lock, not the file, decides).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "pfsd.lock"


class DataDirInUse(Exception):
    """Another live process owns the data directory."""


def holder(fd: int) -> str:
    """The PID written by the lock's owner (``?`` if it has not written it yet)."""
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    except OSError:
        return "?"


def acquire(data_dir: Path) -> int:
    """Lock ``data_dir`` for this process; the open descriptor holds the lock (keep it open)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = holder(fd)
        os.close(fd)
        raise DataDirInUse(f"the data directory {data_dir.resolve()} is in use by another PFS "
                           f"server (PID {pid}); two servers must never write one data "
                           "directory") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
