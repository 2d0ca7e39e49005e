"""ACL probes: the one ACL the gateway has (the owner holds FULL_CONTROL), and the requests that
ask for nothing else. Tools (s3cmd info, Cyberduck, the AWS CLI) read ACLs to look around and
set ``private`` by habit; every other ACL answers 501 until ACLs are served for real.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree import ElementTree

from gateway.s3 import errors
from gateway.s3.xml import document

OWNER_ID = "pachyderm"  # the owner every listing names
_OWNER = f"<ID>{OWNER_ID}</ID><DisplayName>{OWNER_ID}</DisplayName>"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
GRANT_HEADERS = ("x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                 "x-amz-grant-write", "x-amz-grant-write-acp")
MAX_ACL_BODY = 64 * 1024


def policy_document() -> bytes:
    """``AccessControlPolicy``: the owner, with FULL_CONTROL."""
    grantee = f'<Grantee xmlns:xsi="{_XSI}" xsi:type="CanonicalUser">{_OWNER}</Grantee>'
    return document("AccessControlPolicy", [
        f"<Owner>{_OWNER}</Owner>",
        f"<AccessControlList><Grant>{grantee}<Permission>FULL_CONTROL</Permission></Grant>"
        "</AccessControlList>"])


def check_canned(headers: Mapping[str, str]) -> None:
    """Accept no ACL headers, or ``x-amz-acl: private``; anything else is not implemented."""
    canned = headers.get("x-amz-acl")
    if canned is not None and canned.strip() != "private":
        raise errors.not_implemented(f"Only the canned ACL 'private' is supported, not '{canned}'.")
    for name in GRANT_HEADERS:
        if name in headers:
            raise errors.not_implemented(f"ACL grants ({name}) are not supported; the owner "
                                         "holds FULL_CONTROL.")


def check_policy(body: bytes) -> None:
    """A PutBucketAcl/PutObjectAcl body: accepted only when it grants the owner FULL_CONTROL
    and nothing else (what ``private`` means)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _local(root.tag) != "AccessControlPolicy":
        raise errors.malformed_xml()
    grants = [g for g in root.iter() if _local(g.tag) == "Grant"]
    for grant in grants:
        fields = {_local(e.tag): (e.text or "").strip() for e in grant.iter()}
        if fields.get("Permission") != "FULL_CONTROL" or fields.get("ID") != OWNER_ID:
            raise errors.not_implemented("Only the owner's FULL_CONTROL grant (the 'private' "
                                         "ACL) is supported.")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
