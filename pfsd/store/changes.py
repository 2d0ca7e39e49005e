"""Applying a ModifyFile's staged changes to a commit (writer thread, inside its transaction)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from pfsd import errors
from pfsd.names import dir_prefix, parent_dirs, prefix_end
from pfsd.store import views
from pfsd.store.content import Content
from pfsd.store.db import TOMBSTONE
from pfsd.store.meta import CommitRec, chain


@dataclass(frozen=True)
class Put:
    path: str
    content: Content


@dataclass(frozen=True)
class Delete:
    path: str


Change = Put | Delete


def apply(conn: sqlite3.Connection, commit: CommitRec, changes: list[Change]) -> int:
    """Write `changes` as rows at the commit's seq; returns the commit's new total size."""
    view = chain(conn, commit)
    now = time.time()
    size = commit.size
    for change in changes:
        if isinstance(change, Put):
            size += _put(conn, commit, view, change.path, change.content, now)
        else:
            size += _delete(conn, commit, view, change.path, now)
    conn.execute("UPDATE commits SET size=? WHERE id=?", (size, commit.id))
    return size


def _put(
    conn: sqlite3.Connection,
    commit: CommitRec,
    view: views.Chain,
    path: str,
    content: Content,
    now: float,
) -> int:
    if path == "/":
        raise errors.invalid("cannot put a file at the root path /")
    # Files and directories are implicit: a path cannot be both (pachd calls it a collision).
    for parent in parent_dirs(path):
        if views.lookup(conn, view, parent) is not None:
            raise errors.precondition(f"file / directory path collision ({parent})")
    below = dir_prefix(path)
    if views.next_live(conn, view, below, prefix_end(below)) is not None:
        raise errors.precondition(f"file / directory path collision ({path})")
    old = views.lookup(conn, view, path)
    inline_id = None
    if content.blob is None and content.size:
        cur = conn.execute("INSERT INTO inline_data(data) VALUES (?)", (content.data,))
        inline_id = cur.lastrowid
    if old is not None and old.seq == commit.seq and old.inline_id is not None:
        conn.execute("DELETE FROM inline_data WHERE id=?", (old.inline_id,))
    conn.execute(
        "INSERT OR REPLACE INTO files(lineage, path, seq, size, md5, blob, inline_id, committed) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (commit.lineage, path, commit.seq, content.size, content.md5, content.blob, inline_id, now),
    )
    return content.size - (old.size if old else 0)


def _delete(conn: sqlite3.Connection, commit: CommitRec, view: views.Chain, path: str, now: float) -> int:
    """Delete a file, or a directory and everything below it (pachd deletes recursively)."""
    delta = 0
    targets: list[views.Row] = []
    if path != "/":
        row = views.lookup(conn, view, path)
        if row is not None:
            targets.append(row)
    below = dir_prefix(path)
    lo, hi = below, prefix_end(below)
    while True:
        row = views.next_live(conn, view, lo, hi)
        if row is None:
            break
        targets.append(row)
        lo = row.path + "\x00"
    for row in targets:
        if row.seq == commit.seq and row.inline_id is not None:
            conn.execute("DELETE FROM inline_data WHERE id=?", (row.inline_id,))
        conn.execute(
            "INSERT OR REPLACE INTO files(lineage, path, seq, size, md5, blob, inline_id, "
            "committed) VALUES (?,?,?,?,NULL,NULL,NULL,?)",
            (commit.lineage, row.path, commit.seq, TOMBSTONE, now),
        )
        delta -= row.size
    return delta
