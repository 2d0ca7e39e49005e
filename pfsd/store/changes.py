"""Applying a ModifyFile's staged changes to a commit (a writer job, inside its transaction)."""

from __future__ import annotations

import sqlite3
import time
from typing import NamedTuple

from pfsd import errors
from pfsd.names import covered, dir_prefix, parent_dirs, prefix_end
from pfsd.store import views
from pfsd.store.content import Content
from pfsd.store.db import TOMBSTONE
from pfsd.store.meta import CommitRec, chain
from pfsd.store.writer import check_budget


# NamedTuples, not frozen dataclasses: a stream makes one per operation, built ~3x faster.
class Put(NamedTuple):
    path: str
    content: Content


class Delete(NamedTuple):
    path: str


Change = Put | Delete


class Tree:
    """The commit's view during one apply: what this apply already wrote answers without a query.

    The gateway's writes delete a path (and its sidecar directory) before adding it again; the
    checks of the add then follow from the delete instead of costing index seeks. What a query
    found answers later checks too: a live file below a directory proves that directory is no
    file (a path is never both), and a range's first live row is kept until the next write.
    """

    def __init__(self, conn: sqlite3.Connection, commit: CommitRec, known: Tree | None = None) -> None:
        """``known``: a Tree of the commit this one's commit was just created on (nothing
        written to files since): what it found holds here too."""
        self.conn = conn
        self.view = chain(conn, commit)
        self.written: dict[str, views.Row] = {}  # rows this apply wrote, tombstones included
        self.cleared: set[str] = set()  # directory prefixes this apply deleted everything below
        self.put_dirs: set[str] = set()  # ancestor directories of the files this apply added
        # directories (no trailing "/") a live file was found below: none of them is a file
        # unless this apply wrote it (then `written` says so first)
        self.dirs: set[str] = set()
        # what next_live and lookup read since the last write (only the first of these is
        # asked of SQLite: see next_live, probe)
        self._ranges: dict[tuple[str, str], views.Row | None] = {}
        self._points: dict[str, views.Row | None] = {}
        self._one = self.view[0] if len(self.view) == 1 else None  # (lineage, seq): one lineage
        if known is not None and not known.written:
            self.dirs = known.dirs
            self._ranges = known._ranges
            self._points = known._points

    def _is_cleared(self, path: str) -> bool:
        return bool(self.cleared) and covered(path, self.cleared)

    def write(self, sql: str, args: tuple) -> sqlite3.Cursor:
        """Run one write of this apply (what next_live answered may change)."""
        if self._ranges:
            self._ranges.clear()
        if self._points:
            self._points.clear()
        return self.conn.execute(sql, args)

    def lookup(self, path: str) -> views.Row | None:
        row = self.written.get(path)
        if row is not None:
            return None if row.size == TOMBSTONE else row
        if self._is_cleared(path):
            return None
        if path in self._points:
            return self._points[path]
        return views.lookup(self.conn, self.view, path)

    def any_file(self, paths: list[str]) -> bool:
        rest = []
        for path in paths:
            row = self.written.get(path)
            if row is not None:
                if row.size != TOMBSTONE:
                    return True
            elif path not in self.dirs and not self._is_cleared(path):
                rest.append(path)
        return views.any_live(self.conn, self.view, rest)

    def has_below(self, below: str) -> bool:
        """Whether a live file's path starts with `below` (a directory prefix)."""
        if below[:-1] not in self.put_dirs and self._is_cleared(below):
            return False  # everything below was deleted, and nothing added since
        return self.next_live(below, prefix_end(below)) is not None

    def next_live(self, lo: str, hi: str) -> views.Row | None:
        """The live row with the smallest path in [lo, hi) (views.next_live). In one lineage
        the path after it is read by the same statement, and kept: deleting a directory of
        one file (a metadata sidecar) then costs one query, not two."""
        key = (lo, hi)
        if key in self._ranges:
            return self._ranges[key]
        if self._one is None:
            row = views.next_live(self.conn, self.view, lo, hi)
        else:
            lineage, seq = self._one
            rows = views.next_two(self.conn, lineage, seq, lo, hi)
            row = None
            for i, found in enumerate(rows):
                if found.size == TOMBSTONE:
                    continue
                if i == 0:  # the next live row after it, when the second one answers that
                    after = rows[1] if len(rows) > 1 else None
                    if after is None or after.size != TOMBSTONE:
                        self._ranges[(found.path + "\x00", hi)] = after
                row = found
                break
            else:
                if len(rows) == 2:  # two deleted paths: on from there
                    row = views.next_live(self.conn, self.view, rows[1].path + "\x00", hi)
        self._ranges[key] = row
        self._seen(row)
        return row

    def probe(self, path: str) -> bool:
        """Whether `path` is a directory (a live file below it); its own row and that answer
        are kept for the changes that follow (deleting and adding `path`). One statement in
        one lineage."""
        below = dir_prefix(path)
        hi = prefix_end(below)
        if self._one is None or path in self.written:
            return self.next_live(below, hi) is not None
        lineage, seq = self._one
        point, first = views.point_and_next(self.conn, lineage, seq, path, below, hi)
        self._points[path] = point if point is not None and point.size != TOMBSTONE else None
        if first is None or first.size != TOMBSTONE:
            self._ranges[(below, hi)] = first
            self._seen(first)
            return first is not None
        return self.next_live(first.path + "\x00", hi) is not None

    def _seen(self, row: views.Row | None) -> None:
        if row is not None:
            self.dirs.update(parent_dirs(row.path))


def apply(conn: sqlite3.Connection, commit: CommitRec, changes: list[Change],
          tree: Tree | None = None, record_size: bool = True) -> int:
    """Write `changes` as rows at the commit's seq; returns the commit's new total size.

    ``tree``: the commit's Tree when the caller already read through it (checks before the
    changes: what they found is not read again). ``record_size=False``: the commit's row is
    not written yet (the caller writes it with the size returned)."""
    if tree is None:
        tree = Tree(conn, commit)
    now = time.time()
    size = commit.size
    for i, change in enumerate(changes):
        if i:
            check_budget()  # many changes: the rest of them move off the event loop
        if isinstance(change, Put):
            size += _put(tree, commit, change.path, change.content, now)
        else:
            # A Put of the same path right after (how the gateway replaces an object) overwrites
            # the tombstone's row: it need not be written.
            following = changes[i + 1] if i + 1 < len(changes) else None
            replaced = following.path if isinstance(following, Put) else None
            size += _delete(tree, commit, change.path, now, replaced)
    if size != commit.size and record_size:
        conn.execute("UPDATE commits SET size=? WHERE id=?", (size, commit.id))
    return size


_WRITE = (
    "INSERT OR REPLACE INTO files(lineage, path, seq, size, md5, blob, inline_id, committed) "
    "VALUES (?,?,?,?,?,?,?,?)"
)


def _put(tree: Tree, commit: CommitRec, path: str, content: Content, now: float) -> int:
    if path == "/":
        raise errors.invalid("cannot put a file at the root path /")
    # Files and directories are implicit: a path cannot be both (pachd calls it a collision).
    parents = parent_dirs(path)
    if tree.any_file(parents):
        for parent in parents:  # name the first, as the one-by-one check did
            if tree.any_file([parent]):
                raise errors.precondition(f"file / directory path collision ({parent})")
    if tree.has_below(dir_prefix(path)):
        raise errors.precondition(f"file / directory path collision ({path})")
    old = tree.lookup(path)
    inline_id = None
    if content.blob is None and content.size:
        cur = tree.write("INSERT INTO inline_data(data) VALUES (?)", (content.data,))
        inline_id = cur.lastrowid
    if old is not None and old.seq == commit.seq and old.inline_id is not None:
        tree.write("DELETE FROM inline_data WHERE id=?", (old.inline_id,))
    row = views.Row(path, commit.seq, content.size, content.md5, content.blob, inline_id, now)
    tree.write(_WRITE, (commit.lineage, *row))
    tree.written[path] = row
    tree.put_dirs.update(parents)
    return content.size - (old.size if old else 0)


def _delete(tree: Tree, commit: CommitRec, path: str, now: float, replaced: str | None = None) -> int:
    """Delete a file, or a directory and everything below it (pachd deletes recursively).

    The tombstone of `replaced` (the path the next change puts) is kept in memory only.
    """
    delta = 0
    targets: list[views.Row] = []
    below = dir_prefix(path)
    lo, hi = below, prefix_end(below)
    while True:
        row = tree.next_live(lo, hi)
        if row is None:
            break
        if len(targets) % 64 == 63:
            check_budget()  # a big directory: its deletion moves off the event loop
        targets.append(row)
        lo = row.path + "\x00"
    if path != "/" and not targets:  # (a live file below makes `path` a directory, no file)
        row = tree.lookup(path)
        if row is not None:
            targets.insert(0, row)
    for row in targets:
        if row.seq == commit.seq and row.inline_id is not None:
            tree.write("DELETE FROM inline_data WHERE id=?", (row.inline_id,))
        tomb = views.Row(row.path, commit.seq, TOMBSTONE, None, None, None, now)
        if row.path != replaced:
            tree.write(_WRITE, (commit.lineage, *tomb))
        tree.written[row.path] = tomb
        delta -= row.size
    if path != "/" and path not in tree.written:
        # nothing to tombstone: remember the path is gone all the same (a later add asks)
        tree.written[path] = views.Row(path, commit.seq, TOMBSTONE, None, None, None, now)
    tree.cleared.add(below)
    return delta
