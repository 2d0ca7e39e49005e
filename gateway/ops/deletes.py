"""DeleteObjects' request: the ``<Delete>`` document, its integrity check and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree

from gateway.ops.body import UploadBody
from gateway.s3 import errors

MAX_OBJECTS = 1000
# scope["state"] key of DeleteObjects' per-key access check, ``await check(key, version_id)``
# (raises 403 AccessDenied), put there by the access decision when key pairs decide: as in S3,
# each key is decided as a DeleteObject of that key, so a policy's Deny on a prefix holds.
KEY_CHECK = "s3gw.delete_key_check"
MAX_BODY = 4 << 20  # 1,000 keys of 1,024 bytes, escaped, fit well below this


@dataclass(frozen=True)
class Entry:
    key: str
    version_id: str | None


async def read_delete_request(body: UploadBody) -> tuple[bool, list[Entry]]:
    """Read, check (Content-MD5 or x-amz-checksum-* required, as S3 requires) and parse the body."""
    body.require_checksum()
    data = bytearray()
    async for chunk in body.chunks():
        data += chunk
        if len(data) > MAX_BODY:
            raise errors.malformed_xml()
    body.verify()
    return parse(bytes(data))


def _name(el: ElementTree.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def parse(data: bytes) -> tuple[bool, list[Entry]]:
    """``(quiet, entries)`` from a ``<Delete>`` document; MalformedXML when it is not one."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _name(root) != "Delete":
        raise errors.malformed_xml()
    quiet = False
    entries = []
    for child in root:
        name = _name(child)
        if name == "Quiet":
            quiet = (child.text or "").strip().lower() == "true"
        elif name == "Object":
            fields = {_name(f): f.text or "" for f in child}
            if "Key" not in fields:
                raise errors.malformed_xml()
            entries.append(Entry(fields["Key"], fields.get("VersionId")))
        else:
            raise errors.malformed_xml()
    if not entries or len(entries) > MAX_OBJECTS:
        raise errors.malformed_xml()
    return quiet, entries
