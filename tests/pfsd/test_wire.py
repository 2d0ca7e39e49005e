"""The hand-encoded FileInfo bytes equal protobuf's serialization of the message."""

from __future__ import annotations

import hashlib

from pfsd.api.convert import commit_field, commit_msg, file_info, file_info_bytes
from pfsd.store.meta import RepoRec
from pfsd.store.views import Entry, Listed, Row

REPOS = [RepoRec(1, "default", "r", "user", "", 0.0), RepoRec(2, "p" * 200, "x" * 90, "spec", "", 0.0)]
PATHS = ["/a", "/dir/", "/", "/ünïcode/☃ key", "/" + "k" * 300]


def rows(path: str) -> list[Row | None]:
    md5 = hashlib.md5(path.encode()).digest()
    return [
        None,  # a directory
        Row(path, 7, 0, md5, None, 3, 1_795_617_476.085331),
        Row(path, 7, 5, None, "ab" * 32, None, 1_795_617_476.0),  # no digest, whole seconds
        Row(path, 1, 2**40 + 3, md5, None, None, 0.000_001),  # only nanos
        Row(path, 1, 127, b"", None, None, 0.0),  # committed at the epoch: an empty Timestamp
        Row(path, 1, 128, md5, None, None, 1.5),
    ]


def test_file_info_bytes_equal_the_message_serialization() -> None:
    for repo in REPOS:
        for cid, branch in [("0" * 32, "master"), ("f" * 32, "b" * 150)]:
            commit = commit_msg(repo, cid, branch)
            field = commit_field(commit)
            for path in PATHS:
                for row in rows(path):
                    entry = Entry(path, row)
                    assert file_info_bytes(field, entry) == file_info(commit, entry).SerializeToString()
                    if row is not None:  # a walk's rows: the same FileInfo
                        listed = Entry(path, Listed(path, row.size, row.md5, row.committed))
                        assert file_info_bytes(field, listed) == file_info(commit, entry).SerializeToString()


def test_bytes_value_equals_the_message_serialization() -> None:
    from google.protobuf import wrappers_pb2

    from pfsd.api.convert import bytes_value

    for size in (0, 1, 127, 128, 16383, 16384, 1024 * 1024, 4 * 1024 * 1024 + 3):
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        assert bytes_value(data) == wrappers_pb2.BytesValue(value=data).SerializeToString()


def test_page_bytes_equal_the_page_serialization() -> None:
    """A FileInfoPage as pfsd's page methods build it, ``number`` and ``until`` honoured."""
    from generated.pfsd.pages_pb2 import FileInfoPage
    from pfsd.api.convert import page_bytes

    commit = commit_msg(REPOS[1], "f" * 32, "b" * 150)
    field = commit_field(commit)
    entries = [Entry(path, row) for path in sorted(PATHS) for row in rows(path)]
    entries += [Entry("/~" + e.path, Listed("/~" + e.path, e.row.size, e.row.md5, e.row.committed))
                for e in entries if e.row is not None]
    # files of one commit, consecutive (their time is encoded once), then another time
    entries += [Entry(f"/~~{i}", Listed(f"/~~{i}", i, None, 1_795_617_476.5 if i < 3 else 2.25)) for i in range(5)]
    entries.append(Entry("/~~~", Listed("/~~~", 300, b"h" * 32, 3.0)))  # a hash of another length
    for number, until in [(len(entries), None), (3, None), (1, None), (len(entries), "/dir/"), (2, "/dir/")]:
        want = [e for e in entries if until is None or e.path < until][:number]
        page = FileInfoPage(file_info=[file_info(commit, e) for e in want])
        assert page_bytes(field, iter(entries), number, until) == page.SerializeToString()
    assert page_bytes(field, iter([]), 5) == b""
