"""Garbage collection of content no committed metadata references.

Temp files are partial uploads of interrupted streams (or a crash): all of them are garbage at
startup. A blob is garbage when no file row names it and no in-flight write holds it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable

from pfsd.store.content import ContentStore

log = logging.getLogger("pfsd.gc")


def sweep_tmp(store: ContentStore) -> int:
    """Remove every temp file (call before serving)."""
    removed = 0
    for entry in os.scandir(store.tmp):
        os.unlink(entry.path)
        removed += 1
    return removed


def _referenced(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM files WHERE blob=? LIMIT 1", (name,)).fetchone() is not None


def sweep_blobs(store: ContentStore, conn: sqlite3.Connection, candidates: Iterable[str] | None = None) -> int:
    """Unlink unreferenced blobs: the given candidates, or every blob when None."""
    if candidates is None:
        candidates = (entry.name for sub in os.scandir(store.blobs) if sub.is_dir() for entry in os.scandir(sub.path))
    removed = 0
    for name in list(candidates):
        if name in store.pending or _referenced(conn, name):
            continue
        if store.unlink_unless_held(name):  # a write may have claimed it since
            removed += 1
    if removed:
        log.info("gc: removed %d unreferenced blobs", removed)
    return removed
