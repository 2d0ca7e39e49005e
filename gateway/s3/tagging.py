"""Tags as S3 defines them: the ``x-amz-tagging`` header, the ``<Tagging>`` document, and the limits.

Object tag sets hold at most 10 tags, bucket tag sets 50; a key is 1 to 128 characters, a value
at most 256; keys are unique and may not start with ``aws:``; both use letters, digits, spaces
and ``+ - = . _ : / @``. Anything else is 400 InvalidTag, as S3 answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from gateway.s3 import errors
from gateway.s3.xml import document, element

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY, MAX_VALUE = 128, 256
MAX_DOCUMENT = 64 * 1024
_ALLOWED = re.compile(r"[\w\s+\-=.:/@]*")


def invalid_tag(message: str) -> errors.S3Error:
    return errors.S3Error(400, "InvalidTag", message)


def check(pairs: list[tuple[str, str]], limit: int = MAX_OBJECT_TAGS) -> dict[str, str]:
    """The tag set as a dict, in the order given; InvalidTag unless it keeps S3's rules."""
    if len(pairs) > limit:
        raise invalid_tag(f"Object tags cannot be greater than {limit}" if limit == MAX_OBJECT_TAGS
                          else f"Bucket tag count cannot be greater than {limit}")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not 1 <= len(key) <= MAX_KEY:
            raise invalid_tag("The TagKey you have provided is invalid")
        if len(value) > MAX_VALUE:
            raise invalid_tag("The TagValue you have provided is invalid")
        if not _ALLOWED.fullmatch(key) or not _ALLOWED.fullmatch(value):
            raise invalid_tag("The TagKey or TagValue you have provided contains characters that "
                              "are not allowed")
        if key.lower().startswith("aws:"):
            raise invalid_tag("Your TagKey cannot be prefixed with aws:")
        if key in tags:
            raise invalid_tag("Cannot provide multiple Tags with the same key")
        tags[key] = value
    return tags


def from_header(headers: Mapping[str, str]) -> dict[str, str] | None:
    """``x-amz-tagging: k1=v1&k2=v2`` (URL-encoded), or None when absent."""
    raw = headers.get("x-amz-tagging")
    if raw is None:
        return None
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw), errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise invalid_tag("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded "
                          "URL query parameters without tag name duplicates.") from None
    return check(pairs)


def parse_document(body: bytes, limit: int = MAX_OBJECT_TAGS) -> dict[str, str]:
    """A ``<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>`` body."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _local(root.tag) != "Tagging":
        raise errors.malformed_xml()
    sets = [c for c in root if _local(c.tag) == "TagSet"]
    if len(sets) != 1:
        raise errors.malformed_xml()
    pairs = []
    for tag in sets[0]:
        if _local(tag.tag) != "Tag":
            raise errors.malformed_xml()
        fields = {_local(c.tag): c.text or "" for c in tag}
        if "Key" not in fields:
            raise errors.malformed_xml()
        pairs.append((fields["Key"], fields.get("Value", "")))
    return check(pairs, limit)


def render(tags: Mapping[str, str]) -> bytes:
    inner = "".join(f"<Tag>{element('Key', k)}{element('Value', v)}</Tag>" for k, v in tags.items())
    return document("Tagging", f"<TagSet>{inner}</TagSet>")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
