"""The PublicAccessBlockConfiguration document: four flags, parsed, stored and rendered.

Stored as the canonical XML this module renders, so a stored block always parses.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree

from gateway.s3 import errors
from gateway.s3.xml import document, element

KIND = "public-access-block"  # its name in the bucket configuration store
FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
MAX_DOCUMENT = 16 * 1024


@dataclass(frozen=True)
class PublicAccessBlock:
    """A bucket's public access block (all False: none set)."""

    block_public_acls: bool = False  # refuse writes of public ACLs (canned or grants)
    ignore_public_acls: bool = False  # public ACL grants grant nothing
    block_public_policy: bool = False  # refuse PutBucketPolicy of a public policy
    restrict_public_buckets: bool = False  # a public policy grants only to configured keys

    def render(self) -> bytes:
        return document("PublicAccessBlockConfiguration", [
            element("BlockPublicAcls", self.block_public_acls),
            element("IgnorePublicAcls", self.ignore_public_acls),
            element("BlockPublicPolicy", self.block_public_policy),
            element("RestrictPublicBuckets", self.restrict_public_buckets)])


NONE = PublicAccessBlock()


def parse(body: bytes) -> PublicAccessBlock:
    """A PutPublicAccessBlock body; a missing flag is false, as S3 reads it."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _local(root.tag) != "PublicAccessBlockConfiguration":
        raise errors.malformed_xml()
    values: dict[str, bool] = {}
    for child in root:
        name = _local(child.tag)
        if name not in FLAGS or name in values:
            raise errors.malformed_xml()
        text = (child.text or "").strip().lower()
        if text not in ("true", "false"):
            raise errors.malformed_xml()
        values[name] = text == "true"
    return PublicAccessBlock(*(values.get(flag, False) for flag in FLAGS))


def parse_stored(body: bytes | None) -> PublicAccessBlock:
    """The stored block, or :data:`NONE` when the bucket has none."""
    return NONE if body is None else parse(body)


def of(config) -> PublicAccessBlock:
    """A bucket configuration's block (parsed once with it), or :data:`NONE`."""
    if config is None:
        return NONE
    return config.parsed(KIND, parse_stored) or NONE


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]

