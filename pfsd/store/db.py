"""The SQLite metadata database: schema and connections.

Versioned files use "lineages": every commit has a repo-wide increasing `seq` and belongs to a
lineage, a chain of commits each the child of the previous. A file row `(lineage, path, seq)`
records the path's content (or a tombstone, size -1) as of that commit, so a commit stores only
what it changed. Reading commit (L, s) takes the newest row of L with seq <= s, falling back to
L's parent lineage as of the fork point. A branch created at an older commit starts a new
lineage. The primary key order (path ASC, seq DESC) makes both a point lookup and "next
distinct path, newest version" a single index seek.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects(
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS repos(
    id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', created REAL NOT NULL, UNIQUE(project, name, type));
CREATE TABLE IF NOT EXISTS branches(
    repo_id INTEGER NOT NULL, name TEXT NOT NULL, head TEXT NOT NULL,
    PRIMARY KEY(repo_id, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lineages(
    id INTEGER PRIMARY KEY AUTOINCREMENT, repo_id INTEGER NOT NULL, parent INTEGER, fork_seq INTEGER,
    tip_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS commits(
    id TEXT PRIMARY KEY, repo_id INTEGER NOT NULL, branch TEXT NOT NULL, parent TEXT,
    seq INTEGER NOT NULL, lineage INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL, finishing REAL, finished REAL, size INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS commits_by_repo ON commits(repo_id, seq);
CREATE INDEX IF NOT EXISTS commits_by_parent ON commits(parent);
CREATE TABLE IF NOT EXISTS files(
    lineage INTEGER NOT NULL, path TEXT NOT NULL, seq INTEGER NOT NULL,
    size INTEGER NOT NULL, md5 BLOB, blob TEXT, inline_id INTEGER, committed REAL NOT NULL,
    PRIMARY KEY(lineage, path, seq DESC)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_blob ON files(blob) WHERE blob IS NOT NULL;
CREATE TABLE IF NOT EXISTS inline_data(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""

TOMBSTONE = -1


def connect(path: Path, *, writer: bool = False) -> sqlite3.Connection:
    """Open a connection in WAL mode; `synchronous=FULL` so a COMMIT is durable."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-16000")  # 16 MB page cache per connection
    conn.execute("PRAGMA temp_store=MEMORY")
    if writer:
        conn.executescript(SCHEMA)
    return conn
