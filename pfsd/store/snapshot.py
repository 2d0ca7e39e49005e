"""What the read RPCs found at the database's current version, kept until the next commit.

Reads run on the event loop's own connection; every change is committed by the writer's
connection. SQLite's ``PRAGMA data_version`` on the read connection changes exactly when
another connection has committed since it was last asked, so while it keeps one value every
query would find what it found before: a branch's head, a commit's file, a sidecar's first
entry. A read RPC asks for the version once (``current``) and takes what an earlier RPC
resolved at that version instead of querying again; the first commit after it empties the
memo. Nothing here can be stale (the version is read before anything is looked up, and a
commit that lands after that is seen by the next RPC's check), so the answers are exactly
those of the queries: the memo only saves their cost (one pragma, ~5 us, against 3-4 index
queries and the messages built from them on a GET). The version does not change for the read
connection's own commits: nothing writes through it (pfsd.api.base.Backend opens it
``query_only``; every write goes through pfsd.store.writer's connection).

Bounded: at most ``max_entries`` answers and ``max_bytes`` of the inline file contents they
hold; past either it starts over.
"""

from __future__ import annotations

import sqlite3
from typing import Any


class Snapshot:
    """A memo of read answers, valid while the read connection's data version holds."""

    def __init__(self, conn: sqlite3.Connection, max_entries: int = 4096, max_bytes: int = 8 << 20) -> None:
        self._conn = conn
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.version: int | None = None
        self.bytes = 0
        self._entries: dict[Any, Any] = {}

    def current(self) -> int:
        """Check the data version (once per RPC, before its first ``get``): a commit since the
        last check empties the memo. The version is the token ``put`` takes."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self.version:
            self.version = version
            self.clear()
        return version

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def get(self, key: Any) -> Any:
        return self._entries.get(key)

    def put(self, version: int, key: Any, value: Any, size: int = 0) -> None:
        """Remember ``value`` (holding ``size`` bytes of file contents), read after ``current``
        answered ``version``; dropped if another RPC has seen a newer version since (what was
        read may be older than that version)."""
        if version != self.version:
            return
        if len(self._entries) >= self.max_entries or self.bytes + size > self.max_bytes:
            self.clear()
        self._entries[key] = value
        self.bytes += size

    def __len__(self) -> int:
        return len(self._entries)
