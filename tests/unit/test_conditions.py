"""Range parsing and If-* precondition evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from starlette.datastructures import Headers

from gateway.s3.conditions import (
    check_copy_preconditions,
    check_preconditions,
    content_range,
    etag_matches,
    http_date,
    parse_http_date,
    parse_range,
    range_start,
)
from gateway.s3.errors import S3Error

# --- Ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "size", "expected"), [
    ("bytes=0-0", 10, (0, 0)),
    ("bytes=0-9", 10, (0, 9)),
    ("bytes=2-5", 10, (2, 5)),
    ("bytes=4-", 10, (4, 9)),
    ("bytes=0-", 1, (0, 0)),
    ("bytes=5-100", 10, (5, 9)),  # end clamped to the object
    ("bytes=-3", 10, (7, 9)),
    ("bytes=-10", 10, (0, 9)),
    ("bytes=-100", 10, (0, 9)),  # suffix longer than the object: all of it
    ("bytes=9-9", 10, (9, 9)),
    ("Bytes=1-2", 10, (1, 2)),  # range units are case-insensitive
    (" bytes = 1 - 2 ", 10, (1, 2)),
    ("bytes=3145728-5242880", 8 * 1024 * 1024, (3145728, 5242880)),
])
def test_single_ranges(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", [
    None,
    "",
    "bytes",
    "bytes=",
    "bytes=-",
    "bytes=abc",
    "bytes=a-b",
    "bytes=1-2-3",
    "bytes=5-2",  # last < first: invalid syntax, ignored
    "bytes=0x1-2",
    "bytes=+1-2",
    "bytes=1.5-2",
    "bytes=١-٢",  # non-ASCII digits
    "items=0-1",
    "0-1",
    "bytes=0-1,3-4",  # several ranges: S3 serves the whole object
    "bytes=0-1,",
    "bytes=-1,-2",
])
def test_ignored_ranges_serve_whole_object(header):
    assert parse_range(header, 10) is None


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=10-", 10),
    ("bytes=10-20", 10),
    ("bytes=40-50", 7),
    ("bytes=0-", 0),  # nothing to send from an empty object (AWS answers 416 too)
    ("bytes=0-0", 0),
    ("bytes=-0", 10),  # a zero-length suffix selects nothing (RFC 9110)
    ("bytes=-0", 0),
])
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(S3Error) as info:
        parse_range(header, size)
    err = info.value
    assert (err.status, err.code) == (416, "InvalidRange")
    assert err.extra["ActualObjectSize"] == str(size)
    assert err.headers["Content-Range"] == f"bytes */{size}"


def test_suffix_range_of_empty_object_serves_it_whole():
    assert parse_range("bytes=-1", 0) is None


RANGE_HEADERS = [None, "", "bytes=0-0", "bytes=2-5", "bytes=4-", "bytes=5-100", "bytes=-3", "bytes=-0",
                 "Bytes=1-2", " bytes = 1 - 2 ", "bytes=5-2", "bytes=abc", "bytes=0-1,3-4", "items=0-1",
                 "bytes=10-", "bytes=10-20", "bytes=99999999999999999999-"]


@pytest.mark.parametrize("header", RANGE_HEADERS)
@pytest.mark.parametrize("size", [0, 1, 7, 10, 1000])
def test_range_start_is_where_parse_range_starts(header, size):
    """A GET starts reading at range_start before it knows the size: it must be where the
    range it then parses starts (None: it depends on the size; unsatisfiable: anything)."""
    start = range_start(header)
    try:
        rng = parse_range(header, size)
    except S3Error:
        return
    if start is not None:
        assert start == (rng[0] if rng else 0)
    else:
        assert header is not None and "-" in header


def test_range_start():
    assert range_start(None) == 0 and range_start("bytes=0-1,3-4") == 0
    assert range_start("bytes=7-") == 7 and range_start("bytes=7-9") == 7
    assert range_start("bytes=-7") is None  # suffix: depends on the size
    assert range_start("bytes=99999999999999999999-") is None  # past any int64 offset


def test_content_range():
    assert content_range(0, 0, 10) == "bytes 0-0/10"
    assert content_range(7, 9, 10) == "bytes 7-9/10"


# --- ETags ----------------------------------------------------------------------------------

ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
OTHER = '"0123456789abcdef0123456789abcdef"'


@pytest.mark.parametrize(("header", "strong", "weak"), [
    ("*", True, True),
    (ETAG, True, True),
    (ETAG.strip('"'), True, True),  # unquoted, as some clients send it
    (f"W/{ETAG}", False, True),  # weak tags never match strongly
    (OTHER, False, False),
    (f"{OTHER}, {ETAG}", True, True),
    (f"{OTHER},{ETAG}", True, True),
    (f'{OTHER} , W/{ETAG}', False, True),
    ('"d41d8cd98f00b204e9800998ecf8427e-2"', False, False),
    ("garbage, , ,", False, False),
])
def test_etag_matches(header, strong, weak):
    assert etag_matches(header, ETAG, weak=False) is strong
    assert etag_matches(header, ETAG, weak=True) is weak


def test_etag_argument_may_be_unquoted():
    assert etag_matches(ETAG, ETAG.strip('"'), weak=False)
    assert etag_matches(ETAG, "W/" + ETAG, weak=True)


# --- Dates ------------------------------------------------------------------------------------

MODIFIED = datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)  # sub-second, as PFS reports
EXACT = "Wed, 01 May 2024 12:00:00 GMT"
BEFORE = "Wed, 01 May 2024 11:59:59 GMT"
AFTER = "Wed, 01 May 2024 12:00:01 GMT"


def test_parse_http_date():
    assert parse_http_date(EXACT) == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_http_date("Wed, 01 May 2024 14:00:00 +0200") == datetime(2024, 5, 1, 12, 0,
                                                                         tzinfo=UTC)
    for bad in (None, "", "yesterday", "2024-05-01", "Wed, 99 Foo 2024 12:00:00 GMT"):
        assert parse_http_date(bad) is None


def test_http_date_is_second_resolution_gmt():
    assert http_date(MODIFIED) == EXACT
    assert http_date(MODIFIED.astimezone(timezone(timedelta(hours=-7)))) == EXACT
    assert http_date(MODIFIED.replace(tzinfo=None)) == EXACT  # naive means UTC


# --- GetObject / HeadObject preconditions -------------------------------------------------------


def outcome(headers: dict, etag: str = ETAG, modified: datetime = MODIFIED) -> str:
    try:
        check_preconditions(headers, etag, modified)
    except S3Error as err:
        return f"{err.status} {err.extra.get('Condition', '')}".strip()
    return "200"


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "200"),
    ({"if-match": ETAG}, "200"),
    ({"if-match": "*"}, "200"),
    ({"if-match": OTHER}, "412 If-Match"),
    ({"if-none-match": OTHER}, "200"),
    ({"if-none-match": ETAG}, "304"),
    ({"if-none-match": "*"}, "304"),
    ({"if-modified-since": BEFORE}, "200"),
    ({"if-modified-since": EXACT}, "304"),  # sub-second part of Last-Modified ignored
    ({"if-modified-since": AFTER}, "304"),
    ({"if-unmodified-since": BEFORE}, "412 If-Unmodified-Since"),
    ({"if-unmodified-since": EXACT}, "200"),
    ({"if-unmodified-since": AFTER}, "200"),
    # S3 docs: If-Match true and If-Unmodified-Since false -> 200 OK.
    ({"if-match": ETAG, "if-unmodified-since": BEFORE}, "200"),
    ({"if-match": OTHER, "if-unmodified-since": AFTER}, "412 If-Match"),
    # S3 docs: If-None-Match false and If-Modified-Since true -> 304.
    ({"if-none-match": ETAG, "if-modified-since": BEFORE}, "304"),
    # If-None-Match true replaces If-Modified-Since (RFC 7232 section 6, step 4).
    ({"if-none-match": OTHER, "if-modified-since": AFTER}, "200"),
    # 412 conditions are evaluated before 304 ones.
    ({"if-match": OTHER, "if-none-match": ETAG}, "412 If-Match"),
    ({"if-unmodified-since": BEFORE, "if-modified-since": AFTER}, "412 If-Unmodified-Since"),
    ({"if-match": ETAG, "if-none-match": ETAG}, "304"),
    # Unparsable dates and empty tag lists are ignored.
    ({"if-modified-since": "not a date"}, "200"),
    ({"if-unmodified-since": "not a date"}, "200"),
    ({"if-match": ""}, "200"),
    ({"if-none-match": "  "}, "200"),
])
def test_preconditions(headers, expected):
    assert outcome(headers) == expected


def test_preconditions_read_case_insensitive_headers():
    assert outcome(Headers({"If-None-Match": ETAG})) == "304"


def test_not_modified_carries_validators():
    with pytest.raises(S3Error) as info:
        check_preconditions({"if-none-match": ETAG}, ETAG.strip('"'), MODIFIED)
    assert info.value.headers == {"ETag": ETAG, "Last-Modified": EXACT}


def test_naive_last_modified_is_utc():
    assert outcome({"if-modified-since": EXACT}, modified=MODIFIED.replace(tzinfo=None)) == "304"


# --- CopyObject source preconditions ---------------------------------------------------------


def copy_outcome(headers: dict) -> str:
    try:
        check_copy_preconditions(headers, ETAG, MODIFIED)
    except S3Error as err:
        return f"{err.status} {err.extra['Condition']}"
    return "200"


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "200"),
    ({"x-amz-copy-source-if-match": ETAG}, "200"),
    ({"x-amz-copy-source-if-match": OTHER}, "412 x-amz-copy-source-If-Match"),
    ({"x-amz-copy-source-if-none-match": ETAG}, "412 x-amz-copy-source-If-None-Match"),
    ({"x-amz-copy-source-if-none-match": OTHER}, "200"),
    ({"x-amz-copy-source-if-modified-since": AFTER},
     "412 x-amz-copy-source-If-Modified-Since"),
    ({"x-amz-copy-source-if-modified-since": BEFORE}, "200"),
    ({"x-amz-copy-source-if-unmodified-since": BEFORE},
     "412 x-amz-copy-source-If-Unmodified-Since"),
    # CopyObject docs: if-match true + if-unmodified-since false -> the copy proceeds.
    ({"x-amz-copy-source-if-match": ETAG, "x-amz-copy-source-if-unmodified-since": BEFORE},
     "200"),
    # CopyObject docs: if-none-match false + if-modified-since true -> 412.
    ({"x-amz-copy-source-if-none-match": ETAG, "x-amz-copy-source-if-modified-since": BEFORE},
     "412 x-amz-copy-source-If-None-Match"),
    # The plain If-* headers do not apply to the copy source.
    ({"if-match": OTHER, "if-none-match": ETAG}, "200"),
])
def test_copy_preconditions(headers, expected):
    assert copy_outcome(headers) == expected
