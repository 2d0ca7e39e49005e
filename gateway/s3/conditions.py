"""Range requests and conditional requests, as S3 answers them.

Ranges (AWS GetObject; RFC 9110 section 14): S3 serves one range per request. A Range header
that does not parse, or that asks for several ranges, is ignored and the whole object is
served (200); a parsable range that selects no byte of the object is 416 ``InvalidRange``.

Preconditions (RFC 7232 section 6, which the GetObject/HeadObject documentation cites): If-Match
is evaluated first and, when present, replaces If-Unmodified-Since; If-None-Match likewise
replaces If-Modified-Since. So "If-Match true, If-Unmodified-Since false" serves the object and
"If-None-Match false, If-Modified-Since true" is 304, the two cases the S3 docs spell out.
CopyObject's ``x-amz-copy-source-if-*`` headers follow the same order, but every failure there
is 412.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from gateway.s3.errors import S3Error, invalid_range, not_modified, precondition_failed

_DIGITS = re.compile(r"[0-9]+")
MAX_OFFSET = (1 << 63) - 1  # a GetFile offset is an int64
_ETAG = re.compile(r'\s*(W/)?("[^"]*"|[^,"\s]+)\s*(?:,|$)')


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` byte range to serve, or ``None`` for the whole object.

    Raises 416 ``InvalidRange`` when a well-formed single range selects nothing: its start is
    at or past the end (so any ``bytes=N-`` of an empty object), or it is ``bytes=-0``.
    """
    parsed = _single_range(header)
    if parsed is None:
        return None
    first, last = parsed
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        if size == 0:
            # RFC 9110 calls a non-zero suffix satisfiable, yet there is no byte to send:
            # serve the whole (empty) object, which is what tail-reading clients expect.
            return None
        return max(0, size - length), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid syntax per RFC 9110: ignored
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(int(last), size - 1) if last else size - 1


def range_start(header: str | None) -> int | None:
    """Where :func:`parse_range` will start serving, when that does not depend on the size.

    0 for no range (or one S3 ignores), ``N`` for ``bytes=N-`` and ``bytes=N-M``, None for a
    suffix range. Lets a GET start reading before it knows the object's size; if the object
    turns out shorter than ``N``, :func:`parse_range` answers 416 as usual.
    """
    parsed = _single_range(header)
    if parsed is None:
        return 0
    first, last = parsed
    if not first or int(first) > MAX_OFFSET:
        return None
    if last and int(last) < int(first):
        return 0  # ignored: the whole object
    return int(first)


def _single_range(header: str | None) -> tuple[str, str] | None:
    """The first and last positions (digit strings, one may be empty) of a single byte range;
    None when there is no header or S3 ignores it (not bytes, several ranges, bad syntax)."""
    if header is None:
        return None
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes" or "," in spec:
        return None  # not a byte range, or several ranges: S3 ignores the header
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or (first and not _DIGITS.fullmatch(first)) or (
            last and not _DIGITS.fullmatch(last)) or not (first or last):
        return None
    return first, last


def content_range(start: int, end: int, size: int) -> str:
    """The ``Content-Range`` value of a 206 response."""
    return f"bytes {start}-{end}/{size}"


def check_preconditions(headers: Mapping[str, str], etag: str,
                        last_modified: datetime) -> None:
    """Evaluate GetObject/HeadObject's If-* headers; raise 412 or 304 when they say so.

    ``headers`` has lowercase names (or is case-insensitive); ``etag`` may be quoted.
    """
    failure = _evaluate(headers, "if-match", "if-unmodified-since", "if-none-match",
                        "if-modified-since", etag, last_modified)
    if failure is None:
        return
    if failure in ("if-match", "if-unmodified-since"):
        raise precondition_failed(_CONDITION_NAMES[failure])
    err = not_modified()
    # A 304 still describes the representation the client has (RFC 7232 section 4.1).
    err.headers["ETag"] = _quote(etag)
    err.headers["Last-Modified"] = http_date(last_modified)
    raise err


def check_copy_preconditions(headers: Mapping[str, str], etag: str,
                             last_modified: datetime) -> None:
    """Evaluate CopyObject/UploadPartCopy's ``x-amz-copy-source-if-*`` against the source."""
    failure = _evaluate(headers, "x-amz-copy-source-if-match",
                        "x-amz-copy-source-if-unmodified-since",
                        "x-amz-copy-source-if-none-match",
                        "x-amz-copy-source-if-modified-since", etag, last_modified)
    if failure is not None:
        raise precondition_failed(_CONDITION_NAMES[failure])


def etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match value lists ``etag`` (or is ``*``).

    ``weak`` selects RFC 7232's weak comparison (If-None-Match); strong comparison (If-Match)
    never matches a ``W/`` tag. Unquoted tags are accepted, as some S3 clients send them.
    """
    if header.strip() == "*":
        return True
    target = _opaque(etag)
    pos = 0
    value = header.strip()
    while pos < len(value):
        m = _ETAG.match(value, pos)
        if m is None or m.end() == pos:
            return False  # malformed list: nothing matches
        pos = m.end()
        is_weak, tag = m.group(1), m.group(2).strip('"')
        if tag == target and (weak or not is_weak):
            return True
    return False


def parse_http_date(value: str | None) -> datetime | None:
    """Parse an HTTP date into an aware UTC datetime; ``None`` if absent or unparsable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def http_date(when: datetime) -> str:
    """Format ``when`` as an HTTP date (``Last-Modified`` style)."""
    return format_datetime(_utc_seconds(when), usegmt=True)


_CONDITION_NAMES = {
    "if-match": "If-Match",
    "if-unmodified-since": "If-Unmodified-Since",
    "if-none-match": "If-None-Match",
    "if-modified-since": "If-Modified-Since",
    "x-amz-copy-source-if-match": "x-amz-copy-source-If-Match",
    "x-amz-copy-source-if-unmodified-since": "x-amz-copy-source-If-Unmodified-Since",
    "x-amz-copy-source-if-none-match": "x-amz-copy-source-If-None-Match",
    "x-amz-copy-source-if-modified-since": "x-amz-copy-source-If-Modified-Since",
}


def _evaluate(headers: Mapping[str, str], match: str, unmodified: str, none_match: str,
              modified: str, etag: str, last_modified: datetime) -> str | None:
    """RFC 7232 section 6 order; return the name of the first failed header, if any."""
    lm = _utc_seconds(last_modified)
    if_match = _present(headers.get(match))
    if if_match is not None:
        if not etag_matches(if_match, etag, weak=False):
            return match
    else:
        since = parse_http_date(headers.get(unmodified))
        if since is not None and lm > since:
            return unmodified
    if_none_match = _present(headers.get(none_match))
    if if_none_match is not None:
        if etag_matches(if_none_match, etag, weak=True):
            return none_match
    else:
        since = parse_http_date(headers.get(modified))
        if since is not None and lm <= since:
            return modified
    return None


def _present(value: str | None) -> str | None:
    # An empty If-Match/If-None-Match lists no tag: malformed, so ignored like a bad date.
    return value if value is not None and value.strip() else None


def _utc_seconds(when: datetime) -> datetime:
    # HTTP dates have one-second resolution: compare and format at that resolution, or an
    # object modified at 12:00:00.5 would count as modified since its own Last-Modified.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


def _opaque(etag: str) -> str:
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def _quote(etag: str) -> str:
    return f'"{_opaque(etag)}"'


def _unsatisfiable(size: int) -> S3Error:
    err = invalid_range(size)
    err.headers["Content-Range"] = f"bytes */{size}"  # RFC 9110 section 15.5.17
    return err
