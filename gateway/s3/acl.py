"""ACLs and ownership controls as S3 sends and answers them: headers, XML bodies, errors.

What an ACL *is* and what it permits lives in :mod:`gateway.s3.aclmodel`; this module turns a
request's ``x-amz-acl`` / ``x-amz-grant-*`` headers or ``AccessControlPolicy`` body into one,
renders one back exactly as set, and reads and writes ``OwnershipControls``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from xml.etree import ElementTree

from gateway.s3 import errors
from gateway.s3.aclmodel import ACL, CANNED, KNOWN_GROUPS, PERMISSIONS, Grant, canned
from gateway.s3.errors import S3Error
from gateway.s3.xml import document, text

OWNER_ID = "pachyderm"  # the owner named where no key owns a bucket (an open gateway, old buckets)
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
GRANT_HEADERS = {"x-amz-grant-full-control": "FULL_CONTROL", "x-amz-grant-read": "READ",
                 "x-amz-grant-read-acp": "READ_ACP", "x-amz-grant-write": "WRITE",
                 "x-amz-grant-write-acp": "WRITE_ACP"}
MAX_ACL_BODY = 64 * 1024
MAX_GRANTS = 100  # as S3
OWNERSHIP_VALUES = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"?([^",]*)"?\s*(?:,|$)', re.IGNORECASE)
_CANONICAL_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Requested:
    """What a request asks an ACL to be: a canned name, or grants (the owner is filled later)."""

    canned: str | None = None
    grants: tuple[Grant, ...] = ()

    def build(self, owner: str, bucket_owner: str | None = None) -> ACL:
        if self.canned is not None:
            return canned(self.canned, owner, bucket_owner)
        return ACL(owner, self.grants)

    def owner_only(self) -> bool:
        """Whether it grants nothing but the writer's own control (``private``)."""
        return self.canned == "private"


def access_control_list_not_supported() -> S3Error:
    return S3Error(400, "AccessControlListNotSupported", "The bucket does not allow ACLs")


def ownership_controls_not_found(bucket: str) -> S3Error:
    return S3Error(404, "OwnershipControlsNotFoundError",
                   "The bucket ownership controls were not found", BucketName=bucket)


def invalid_bucket_acl_with_object_ownership() -> S3Error:
    return S3Error(400, "InvalidBucketAclWithObjectOwnership",
                   "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")


def from_headers(headers: Mapping[str, str], known: Callable[[str], bool]) -> Requested | None:
    """The ACL an ``x-amz-acl`` or ``x-amz-grant-*`` headers ask for (None: neither sent).

    ``known(id)``: whether a canonical user ID names a user of this gateway.
    """
    name = headers.get("x-amz-acl")
    grants = [(h, headers[h]) for h in GRANT_HEADERS if h in headers]
    if name is not None and grants:
        raise errors.invalid_request("Specifying both Canned ACLs and Header Grants is not allowed")
    if name is not None:
        name = name.strip()
        if name not in CANNED:
            if name == "aws-exec-read":
                raise errors.not_implemented("The canned ACL aws-exec-read grants Amazon EC2, "
                                             "which this gateway does not have.")
            raise errors.invalid_argument(f"The canned ACL {name!r} is not valid.", "x-amz-acl", name)
        return Requested(canned=name)
    if not grants:
        return None
    out: list[Grant] = []
    for header, value in grants:
        if not _GRANTEE.match(value):
            raise errors.invalid_argument("Invalid grant header value.", header, value)
        for kind, grantee in _GRANTEE.findall(value):
            out.append(_grant(kind.lower(), grantee.strip(), GRANT_HEADERS[header], known))
    return Requested(grants=_checked(out))


def from_body(body: bytes, known: Callable[[str], bool]) -> Requested:
    """An ``AccessControlPolicy`` document's grants (its ``Owner`` must be present, as in S3)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _local(root.tag) != "AccessControlPolicy":
        raise errors.malformed_xml()
    children = {_local(c.tag): c for c in root}
    acl = children.get("AccessControlList")
    if "Owner" not in children:
        raise errors.malformed_xml()
    grants: list[Grant] = []
    for grant in acl if acl is not None else ():
        if _local(grant.tag) != "Grant":
            raise errors.malformed_xml()
        fields = {_local(e.tag): e for e in grant}
        grantee, permission = fields.get("Grantee"), (fields.get("Permission") is not None
                                                     and (fields["Permission"].text or "").strip())
        if grantee is None or not permission:
            raise errors.malformed_xml()
        parts = {_local(e.tag): (e.text or "").strip() for e in grantee}
        xsi_type = grantee.get(f"{{{_XSI}}}type", "")
        if xsi_type == "CanonicalUser" or ("ID" in parts and not xsi_type):
            grants.append(_grant("id", parts.get("ID", ""), permission, known))
        elif xsi_type == "Group" or ("URI" in parts and not xsi_type):
            grants.append(_grant("uri", parts.get("URI", ""), permission, known))
        elif xsi_type == "AmazonCustomerByEmail" or "EmailAddress" in parts:
            grants.append(_grant("emailaddress", parts.get("EmailAddress", ""), permission, known))
        else:
            raise errors.malformed_xml()
    return Requested(grants=_checked(grants))


def _grant(kind: str, grantee: str, permission: str, known: Callable[[str], bool]) -> Grant:
    if permission not in PERMISSIONS:
        raise errors.malformed_xml()
    if kind == "emailaddress":
        raise S3Error(400, "UnresolvableGrantByEmailAddress",
                      "The e-mail address you provided does not match any account on record.",
                      EmailAddress=grantee)
    if kind == "uri":
        if grantee not in KNOWN_GROUPS:
            raise errors.invalid_argument("Invalid group uri", "uri", grantee)
        return Grant("uri", grantee, permission)
    if not _CANONICAL_ID.fullmatch(grantee) or not known(grantee):
        raise errors.invalid_argument("Invalid id", "CanonicalUser/ID", grantee)
    return Grant("id", grantee, permission)


def _checked(grants: list[Grant]) -> tuple[Grant, ...]:
    if len(grants) > MAX_GRANTS:
        raise errors.S3Error(400, "MalformedACLError", "The XML you provided was not well-formed "
                             f"or did not validate against our published schema (at most {MAX_GRANTS} grants).")
    return tuple(grants)


def render(acl: ACL, name_of: Callable[[str], str]) -> bytes:
    """``AccessControlPolicy``: the owner and the grants, in the order they were set."""
    owner = _user(acl.owner, name_of)
    grants = []
    for g in acl.grants:
        if g.kind == "id":
            who = f'<Grantee xmlns:xsi="{_XSI}" xsi:type="CanonicalUser">{_user(g.grantee, name_of)}</Grantee>'
        else:
            who = f'<Grantee xmlns:xsi="{_XSI}" xsi:type="Group"><URI>{text(g.grantee)}</URI></Grantee>'
        grants.append(f"<Grant>{who}<Permission>{g.permission}</Permission></Grant>")
    return document("AccessControlPolicy", [f"<Owner>{owner}</Owner>",
                                            f"<AccessControlList>{''.join(grants)}</AccessControlList>"])


def owner_element(canonical_id: str, name_of: Callable[[str], str]) -> str:
    return f"<Owner>{_user(canonical_id, name_of)}</Owner>"


def _user(canonical_id: str, name_of: Callable[[str], str]) -> str:
    return f"<ID>{text(canonical_id)}</ID><DisplayName>{text(name_of(canonical_id))}</DisplayName>"


def parse_ownership(body: bytes) -> str:
    """The ObjectOwnership of an ``OwnershipControls`` document (exactly one rule)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _local(root.tag) != "OwnershipControls":
        raise errors.malformed_xml()
    values = [(e.text or "").strip() for e in root.iter() if _local(e.tag) == "ObjectOwnership"]
    rules = [e for e in root if _local(e.tag) == "Rule"]
    if len(rules) != 1 or len(values) != 1 or values[0] not in OWNERSHIP_VALUES:
        raise errors.malformed_xml()
    return values[0]


def check_ownership(value: str) -> str:
    """An ``x-amz-object-ownership`` header's value (CreateBucket)."""
    value = value.strip()
    if value not in OWNERSHIP_VALUES:
        raise errors.invalid_argument("Invalid x-amz-object-ownership header", "x-amz-object-ownership", value)
    return value


def render_ownership(value: str) -> bytes:
    return document("OwnershipControls", f"<Rule><ObjectOwnership>{value}</ObjectOwnership></Rule>")


def is_known_default(known_ids: Collection[str]) -> Callable[[str], bool]:
    """``known`` for :func:`from_headers`: any well-formed ID when no keys are configured."""
    if not known_ids:
        return lambda _id: True
    return known_ids.__contains__


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
