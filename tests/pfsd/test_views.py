"""views.Scanner (batched reads) answers exactly what next_live (one seek per entry) answers."""

from __future__ import annotations

import random
from pathlib import Path

from pfsd.names import prefix_end
from pfsd.store import views
from pfsd.store.db import TOMBSTONE, connect


def _fill(path: Path, seed: int) -> tuple[object, list[views.Chain]]:
    """Three lineages (a fork of a fork), many versions of hot paths, tombstones, nested dirs."""
    rnd = random.Random(seed)
    conn = connect(path, writer=True)
    names = [f"/d{rnd.randrange(4)}/" * rnd.randrange(1, 3) + f"f{i:03d}" for i in range(120)]
    hot = names[:3]
    conn.execute("BEGIN")
    for lineage, seqs in ((1, range(1, 40)), (2, range(40, 60)), (3, range(60, 80))):
        for seq in seqs:
            for name in rnd.sample(names, 6) + hot * 4:
                size = TOMBSTONE if rnd.random() < 0.2 else rnd.randrange(10)
                conn.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,NULL,NULL,NULL,?)",
                             (lineage, name, seq, size, float(seq)))
    conn.execute("COMMIT")
    chains = [((1, 39),), ((1, 20),), ((2, 59), (1, 30)), ((3, 79), (2, 45), (1, 10)), ((3, 61), (2, 41), (1, 39))]
    return conn, chains


def test_scanner_matches_next_live(tmp_path: Path) -> None:
    for seed in range(3):
        conn, chains = _fill(tmp_path / f"{seed}.db", seed)
        rnd = random.Random(seed)
        for chain in chains:
            for prefix in ("/", "/d1/", "/d2/d2/"):
                hi = prefix_end(prefix)
                scan = views.Scanner(conn, chain, hi)  # type: ignore[arg-type]
                lo = prefix
                while True:
                    want = views.next_live(conn, chain, lo, hi)  # type: ignore[arg-type]
                    assert scan.next_live(lo) == want, (chain, prefix, lo)
                    if want is None:
                        break
                    # the walk's moves: the next path, or past a subtree, or a jump further on
                    step = rnd.random()
                    if step < 0.7:
                        lo = want.path + "\x00"
                    elif step < 0.85:
                        lo = prefix_end(want.path.rsplit("/", 1)[0] + "/")
                    else:
                        lo = want.path + chr(rnd.randrange(33, 126))
        conn.close()  # type: ignore[attr-defined]


def test_live_from_matches_next_live(tmp_path: Path) -> None:
    """The sequential reader (one lineage: growing batches, the newest version of each path;
    several: next_live) yields what stepping next_live one path at a time finds."""
    for seed in range(3):
        conn, chains = _fill(tmp_path / f"{seed}.db", seed)
        for chain in chains:
            for prefix, start in (("/", "/"), ("/d1/", "/d1/"), ("/d2/d2/", "/d2/d2/"), ("/", "/d1/f05")):
                hi = prefix_end(prefix)
                want, lo = [], start
                while (row := views.next_live(conn, chain, lo, hi)) is not None:  # type: ignore[arg-type]
                    want.append(row)
                    lo = row.path + "\x00"
                got = list(views.Scanner(conn, chain, hi).live_from(start))  # type: ignore[arg-type]
                # one lineage: Listed rows (what a FileInfo says); several: full rows
                assert all(isinstance(r, views.Listed if len(chain) == 1 else views.Row) for r in got)
                listed = [(r.path, r.size, r.md5, r.committed) for r in got]
                assert listed == [(r.path, r.size, r.md5, r.committed) for r in want], (chain, prefix, start)
                assert all(row.size != TOMBSTONE for row in got)
        conn.close()  # type: ignore[attr-defined]
