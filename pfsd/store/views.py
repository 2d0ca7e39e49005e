"""Reading a commit's file tree from the lineage-versioned `files` table.

A commit's view is a "chain": its own (lineage, seq) followed by each ancestor lineage as of
its fork point. Every operation here is a handful of index seeks per returned entry, so the
cost follows the page size, not the number of files in the branch or their old versions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import NamedTuple

from pfsd.names import prefix_end
from pfsd.store.content import Content
from pfsd.store.db import TOMBSTONE

Chain = tuple[tuple[int, int], ...]

_COLS = "path, seq, size, md5, blob, inline_id, committed"
_POINT = f"SELECT {_COLS} FROM files WHERE lineage=? AND path=? AND seq<=? ORDER BY seq DESC LIMIT 1"
_NEXT = f"SELECT {_COLS} FROM files WHERE lineage=? AND path>=? AND path<? AND seq<=? ORDER BY path, seq DESC LIMIT 1"
_BATCH = f"SELECT {_COLS} FROM files WHERE lineage=? AND path>=? AND path<? AND seq<=? ORDER BY path, seq DESC LIMIT ?"
# A sequential walk's batch: what a listing sends of a file, not where its content lives.
_LIST_BATCH = (
    "SELECT path, size, md5, committed FROM files WHERE lineage=? AND path>=? AND path<? AND seq<=? "
    "ORDER BY path, seq DESC LIMIT ?"
)
_POINT_DATA = (
    "SELECT f.path, f.seq, f.size, f.md5, f.blob, f.inline_id, f.committed, i.data FROM files f "
    "LEFT JOIN inline_data i ON i.id=f.inline_id WHERE f.lineage=? AND f.path=? AND f.seq<=? "
    "ORDER BY f.seq DESC LIMIT 1"
)
_PREV_PATH = "SELECT path FROM files WHERE lineage=? AND path>=? AND path<? ORDER BY path DESC LIMIT 1"
BATCH_MIN, BATCH_MAX = 8, 256


# NamedTuples, not dataclasses: a listing builds one per entry, and a tuple is built ~5x faster.
class Row(NamedTuple):
    """One file version: size -1 is a tombstone."""

    path: str
    seq: int
    size: int
    md5: bytes | None
    blob: str | None
    inline_id: int | None
    committed: float


class Listed(NamedTuple):
    """A live file as a walk of one lineage reads it: what a FileInfo says, and no more (a
    third fewer columns to read per entry; a reader of content looks the path up)."""

    path: str
    size: int
    md5: bytes | None
    committed: float


class Entry(NamedTuple):
    """A listing entry: a file (with its row) or a directory (path ends with `/`)."""

    path: str
    row: Row | Listed | None

    @property
    def is_dir(self) -> bool:
        return self.row is None


def lookup(conn: sqlite3.Connection, chain: Chain, path: str) -> Row | None:
    """The live version of `path` in the view, or None (missing or deleted)."""
    for lineage, seq in chain:
        found = conn.execute(_POINT, (lineage, path, seq)).fetchone()
        if found is not None:
            row = Row(*found)
            return None if row.size == TOMBSTONE else row
    return None


def lookup_content(conn: sqlite3.Connection, chain: Chain, path: str) -> tuple[Row, Content] | None:
    """`lookup` and `content_of` in one query (a GetFile of a small file)."""
    for lineage, seq in chain:
        found = conn.execute(_POINT_DATA, (lineage, path, seq)).fetchone()
        if found is not None:
            row = Row(*found[:7])
            if row.size == TOMBSTONE:
                return None
            if row.blob is not None:
                return row, Content(row.size, row.md5 or b"", row.blob, None)
            return row, Content(row.size, row.md5 or b"", None, found[7] or b"")
    return None


def any_live(conn: sqlite3.Connection, chain: Chain, paths: list[str]) -> bool:
    """Whether any of `paths` is a live file in the view: one query per lineage, not per path."""
    if not paths:
        return False
    sql = f"SELECT path, size FROM files WHERE lineage=? AND path IN ({','.join('?' * len(paths))}) AND seq<=? "
    sql += "ORDER BY path, seq DESC"
    decided: set[str] = set()
    for lineage, seq in chain:
        for path, size in conn.execute(sql, (lineage, *paths, seq)):
            if path in decided:
                continue  # an older version, or shadowed by a newer lineage
            if size != TOMBSTONE:
                return True
            decided.add(path)
    return False


def content_of(conn: sqlite3.Connection, row: Row) -> Content:
    """The content a live row points at (inline bytes are fetched here, not in listings)."""
    md5 = row.md5 or b""
    if row.blob is not None:
        return Content(row.size, md5, row.blob, None)
    data = b""
    if row.inline_id is not None:
        data = conn.execute("SELECT data FROM inline_data WHERE id=?", (row.inline_id,)).fetchone()[0]
    return Content(row.size, md5, None, data)


def next_live(conn: sqlite3.Connection, chain: Chain, lo: str, hi: str) -> Row | None:
    """The live row with the smallest path in [lo, hi): a k-way merge over the chain."""
    heads: list[Row | None] = [None] * len(chain)
    while True:
        best: Row | None = None
        for i, (lineage, seq) in enumerate(chain):
            head = heads[i]
            if head is None or head.path < lo:
                found = conn.execute(_NEXT, (lineage, lo, hi, seq)).fetchone()
                head = heads[i] = Row(*found) if found else None
            # the first lineage in the chain holding a path shadows its ancestors
            if head is not None and (best is None or head.path < best.path):
                best = head
        if best is None:
            return None
        if best.size != TOMBSTONE:
            return best
        lo = best.path + "\x00"


# One lineage, two seeks in one statement (a writer's checks; see pfsd.store.changes.Tree):
# the newest version of the first path in [?2, ?3) and of the path after it ...
_NEXT_TWO = (
    f"WITH f AS (SELECT {_COLS} FROM files WHERE lineage=?1 AND path>=?2 AND path<?3 AND seq<=?4 "
    "ORDER BY path, seq DESC LIMIT 1) SELECT * FROM f UNION ALL SELECT * FROM ("
    f"SELECT {_COLS} FROM files WHERE lineage=?1 AND path>(SELECT path FROM f) AND path<?3 "
    "AND seq<=?4 ORDER BY path, seq DESC LIMIT 1)"
)
# ... and a path's newest version with the first path in [?3, ?4) (a file and what is below it).
_POINT_NEXT = (
    f"SELECT * FROM (SELECT {_COLS} FROM files WHERE lineage=?1 AND path=?2 AND seq<=?5 "
    "ORDER BY seq DESC LIMIT 1) UNION ALL SELECT * FROM ("
    f"SELECT {_COLS} FROM files WHERE lineage=?1 AND path>=?3 AND path<?4 AND seq<=?5 "
    "ORDER BY path, seq DESC LIMIT 1)"
)


def next_two(conn: sqlite3.Connection, lineage: int, seq: int, lo: str, hi: str) -> list[Row]:
    """One lineage's newest rows (tombstones included) of the first two paths in [lo, hi)."""
    return [Row(*r) for r in conn.execute(_NEXT_TWO, (lineage, lo, hi, seq))]


def point_and_next(conn: sqlite3.Connection, lineage: int, seq: int, path: str, lo: str,
                   hi: str) -> tuple[Row | None, Row | None]:
    """One lineage's newest row (tombstones included) of `path`, and of the first path in
    [lo, hi) (`path` outside it), in one statement."""
    point = first = None
    for r in conn.execute(_POINT_NEXT, (lineage, path, lo, hi, seq)):
        if r[0] == path:
            point = Row(*r)
        else:
            first = Row(*r)
    return point, first


class _Run:
    """One lineage's rows in [lo, hi) in path order, newest version first, a batch at a time.

    Batches, not one open cursor: an unfinished statement would pin the read snapshot of the
    shared connection for every other request while a listing waits on its client. Each batch
    grows while it is read through and shrinks after a jump (a skipped subtree) or when it held
    mostly old versions of few paths, so an entry costs a bounded number of rows read.
    """

    __slots__ = ("conn", "lineage", "seq", "hi", "rows", "pos", "full", "size", "used")

    def __init__(self, conn: sqlite3.Connection, lineage: int, seq: int, hi: str) -> None:
        self.conn, self.lineage, self.seq, self.hi = conn, lineage, seq, hi
        self.rows: list[tuple] = []
        self.pos = 0
        self.full = True  # whether rows past the batch may exist
        self.size = BATCH_MIN
        self.used = 0  # distinct paths handed out from this batch

    def head(self, lo: str) -> tuple | None:
        """The newest version (seq <= the chain's) of the smallest path >= lo, as a raw row."""
        rows, pos = self.rows, self.pos
        while True:
            while pos < len(rows):
                row = rows[pos]
                if row[0] >= lo:
                    if pos != self.pos or not self.used:
                        self.used += 1
                    self.pos = pos
                    return row  # the first row of its path in the batch: its newest version
                pos += 1
            if not self.full:
                self.pos = pos
                return None
            sequential = bool(rows) and lo == rows[-1][0] + "\x00"
            if sequential:
                self.size = min(BATCH_MAX, max(BATCH_MIN, 2 * self.used))
            else:
                self.size = BATCH_MIN
            rows = self.rows = self.conn.execute(_BATCH, (self.lineage, lo, self.hi, self.seq, self.size)).fetchall()
            self.full = len(rows) == self.size
            pos = self.pos = 0
            self.used = 0


class Scanner:
    """`next_live` for a sequence of nondecreasing `lo`s (a walk), reading rows in batches."""

    def __init__(self, conn: sqlite3.Connection, chain: Chain, hi: str) -> None:
        self.runs = [_Run(conn, lineage, seq, hi) for lineage, seq in chain]

    def next_live(self, lo: str) -> Row | None:
        """The live row with the smallest path in [lo, hi); `lo` never decreases between calls."""
        runs = self.runs
        while True:
            if len(runs) == 1:
                best = runs[0].head(lo)
            else:
                best = None
                for run in runs:  # the first lineage in the chain holding a path shadows the rest
                    head = run.head(lo)
                    if head is not None and (best is None or head[0] < best[0]):
                        best = head
            if best is None:
                return None
            if best[2] != TOMBSTONE:
                return Row(*best)
            lo = best[0] + "\x00"

    def live_from(self, lo: str) -> Iterator[Row | Listed]:
        """Every live file from `lo` on, in path order: `next_live` for a walk that never jumps.

        A chain of one lineage (a branch's usual view) reads :class:`Listed` rows in growing
        batches and takes the first (newest) version of each path, without `next_live`'s
        per-row merge; a longer chain steps `next_live` (full rows)."""
        if len(self.runs) != 1:
            while (row := self.next_live(lo)) is not None:
                yield row
                lo = row.path + "\x00"
            return
        run = self.runs[0]
        conn, lineage, seq, hi = run.conn, run.lineage, run.seq, run.hi
        size, prev, new = BATCH_MIN, None, tuple.__new__
        while True:
            rows = conn.execute(_LIST_BATCH, (lineage, lo, hi, seq, size)).fetchall()
            for row in rows:
                if row[0] != prev:  # (not an older version of the path before it)
                    prev = row[0]
                    if row[1] != TOMBSTONE:
                        yield new(Listed, row)
            if len(rows) < size:
                return
            lo = rows[-1][0] + "\x00"  # (the older versions of the last path are not needed)
            size = min(BATCH_MAX, 2 * size)


def prev_live(conn: sqlite3.Connection, chain: Chain, lo: str, hi: str) -> Row | None:
    """The live row with the largest path in [lo, hi)."""
    while True:
        best: str | None = None
        for lineage, _seq in chain:
            top = hi
            while True:  # newest paths may only have versions after this commit: skip them
                found = conn.execute(_PREV_PATH, (lineage, lo, top)).fetchone()
                if found is None:
                    break
                if conn.execute(_POINT, (lineage, found[0], _seq)).fetchone() is not None:
                    if best is None or found[0] > best:
                        best = found[0]
                    break
                top = found[0]
        if best is None:
            return None
        row = lookup(conn, chain, best)
        if row is not None:
            return row
        hi = best


def walk(
    conn: sqlite3.Connection,
    chain: Chain,
    prefix: str,
    *,
    max_depth: int | None = None,
    after: str | None = None,
) -> Iterator[Entry]:
    """Entries below directory `prefix` (ends with `/`) in path order, directories as `d/`.

    `max_depth=1` lists direct children; deeper subtrees are skipped with one seek each.
    `after` resumes strictly after that entry (a pagination marker).
    """
    lo, hi = prefix, prefix_end(prefix)
    emitted: list[str] = []  # directory prefixes already yielded (ancestors of the cursor)
    if after is not None and after >= prefix:
        emitted = _dirs_between(prefix, after, max_depth)
        if after.endswith("/") and max_depth is not None and after.count("/") - prefix.count("/") >= max_depth:
            lo = max(lo, prefix_end(after))
        else:
            lo = max(lo, after if after.endswith("/") else after + "\x00")
    scan = Scanner(conn, chain, hi)
    if max_depth is None:
        yield from _walk_all(scan, prefix, lo, emitted)
        return
    plen = len(prefix)
    while True:
        row = scan.next_live(lo)
        if row is None:
            return
        if not emitted and "/" not in row.path[plen:]:  # a direct child file: the common case
            yield Entry(row.path, row)
            lo = row.path + "\x00"
            continue
        dirs = _dirs_of(prefix, row.path)[:max_depth]
        yield from _new_dirs(dirs, emitted)
        emitted = dirs
        if row.path.count("/", plen) >= max_depth:  # deeper than the limit: skip its subtree
            lo = prefix_end(dirs[-1])
            continue
        yield Entry(row.path, row)
        lo = row.path + "\x00"


def _walk_all(scan: Scanner, prefix: str, lo: str, emitted: list[str]) -> Iterator[Entry]:
    """`walk` without a depth limit: one sequential read of the rows from `lo` (a listing
    page's 1,000 entries: a tuple each, no cursor arithmetic between them)."""
    plen, new = len(prefix), tuple.__new__
    for row in scan.live_from(lo):
        path = row.path
        if emitted or path.find("/", plen) >= 0:
            dirs = _dirs_of(prefix, path)
            yield from _new_dirs(dirs, emitted)
            emitted = dirs
        yield new(Entry, (path, row))


def _dirs_of(prefix: str, path: str) -> list[str]:
    """The directories between `prefix` and the file `path`, outermost first."""
    segments = path[len(prefix) :].split("/")
    return [prefix + "/".join(segments[: i + 1]) + "/" for i in range(len(segments) - 1)]


def _new_dirs(dirs: list[str], emitted: list[str]) -> Iterator[Entry]:
    """The directory entries of `dirs` a walk has not yielded yet (those not in `emitted`)."""
    common = 0
    while common < min(len(dirs), len(emitted)) and dirs[common] == emitted[common]:
        common += 1
    for d in dirs[common:]:
        yield Entry(d, None)


def walk_reverse(conn: sqlite3.Connection, chain: Chain, prefix: str, *, after: str | None = None) -> Iterator[Entry]:
    """Direct children of `prefix` in reverse path order, strictly before `after` if given."""
    lo, hi = prefix, prefix_end(prefix)
    if after is not None and after < hi:
        hi = max(lo, after)
    while True:
        row = prev_live(conn, chain, lo, hi)
        if row is None:
            return
        rest = row.path[len(prefix) :]
        if "/" in rest:
            d = prefix + rest.split("/", 1)[0] + "/"
            yield Entry(d, None)
            hi = d
        else:
            yield Entry(row.path, row)
            hi = row.path


def _dirs_between(prefix: str, marker: str, max_depth: int | None) -> list[str]:
    """Directory prefixes below `prefix` that are ancestors of (or equal to) `marker`."""
    segments = marker[len(prefix) :].split("/")
    dirs = [prefix + "/".join(segments[: i + 1]) + "/" for i in range(len(segments) - 1)]
    return dirs if max_depth is None else dirs[:max_depth]
