"""The per-value caches on the GET path (gateway.ops.objects, gateway.pfs.refs) answer what
the computations they stand for answer, and cache only what cannot change."""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from gateway.ops import objects
from gateway.pfs import refs
from gateway.s3 import errors
from generated.pfs import pfs_pb2 as pb


@pytest.mark.parametrize("key", ["a.txt", "dir.d/file", "x.tar.gz", "noext", "a.JPG", "data:foo",
                                 "s p a c e.html", "a.txt"])
def test_content_type_is_mimetypes_guess(key):
    want = mimetypes.guess_type(key, strict=False)[0] or "binary/octet-stream"
    assert objects.content_type_of(key) == want
    assert objects.content_type_of(key) == want  # from the cache


def test_http_date_and_commit_times():
    base = datetime(2026, 12, 6, 18, 30, 5, tzinfo=UTC)
    for when in (base, base.replace(microsecond=999_999), base + timedelta(seconds=1)):
        assert objects.http_date(when) == format_datetime(when.replace(microsecond=0), usegmt=True)
    assert objects.http_date(base.replace(microsecond=999_999)) == "Sun, 06 Dec 2026 18:30:05 GMT"
    info = pb.FileInfo()
    info.committed.FromNanoseconds(1_765_045_805_123_456_789)
    for _ in range(2):
        got = objects.committed_at(info)
        assert got == info.committed.ToDatetime(tzinfo=UTC) and got.tzinfo is not None
    other = pb.FileInfo()
    other.committed.FromNanoseconds(1_765_045_805_123_457_789)  # a microsecond later
    assert objects.committed_at(other) - got == timedelta(microseconds=1)


def test_read_refs_are_parsed_once_and_bad_names_always_refused():
    ref = refs.read_ref("master.images")
    assert refs.read_ref("master.images") is ref
    assert (ref.project, ref.repo, ref.branch, ref.commit) == ("default", "images", "master", None)
    for _ in range(2):
        with pytest.raises(errors.S3Error):
            refs.read_ref("bad..name")
    pinned = refs.read_ref("0123456789abcdef0123456789abcdef.master.images")
    assert pinned.commit == "0123456789abcdef0123456789abcdef" and pinned.branch == "master"
