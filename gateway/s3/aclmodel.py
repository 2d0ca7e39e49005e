"""S3 access control lists: grants, canned ACLs, and what a grant permits (no PFS here).

An ACL is an owner (a canonical user ID) and an ordered list of grants. It is stored as compact
JSON (:meth:`ACL.encode`) and rendered as S3's ``AccessControlPolicy`` exactly as it was set.
Grantees are the kinds S3 has: a canonical user (``id``), or a group (``uri``: all users,
authenticated users, log delivery).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL = "READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"
PERMISSIONS = (FULL_CONTROL, READ, WRITE, READ_ACP, WRITE_ACP)
GROUPS = "http://acs.amazonaws.com/groups/"
ALL_USERS = GROUPS + "global/AllUsers"
AUTHENTICATED_USERS = GROUPS + "global/AuthenticatedUsers"
LOG_DELIVERY = GROUPS + "s3/LogDelivery"
KNOWN_GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)
CANNED = ("private", "public-read", "public-read-write", "authenticated-read",
          "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write")


@dataclass(frozen=True)
class Grant:
    kind: str  # "id" (a canonical user) or "uri" (a group)
    grantee: str
    permission: str


@dataclass(frozen=True)
class ACL:
    owner: str  # canonical ID
    grants: tuple[Grant, ...]

    def encode(self) -> bytes:
        return json.dumps({"o": self.owner, "g": [[g.kind, g.grantee, g.permission]
                                                  for g in self.grants]},
                          separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> ACL:
        doc = json.loads(raw)
        return cls(doc["o"], tuple(Grant(k, v, p) for k, v, p in doc.get("g", ())))

    def allows(self, canonical_id: str | None, permission: str, ignore_public: bool = False) -> bool:
        """Whether a requester (None: anonymous) holds ``permission`` through this ACL.

        The owner of a resource may always read and change its ACL, as in S3.
        ``ignore_public``: grants to all users and authenticated users count for nothing
        (the public access block's IgnorePublicAcls).
        """
        if canonical_id is not None and canonical_id == self.owner and permission in (READ_ACP, WRITE_ACP):
            return True
        for g in self.grants:
            if g.permission != permission and g.permission != FULL_CONTROL:
                continue
            if g.kind == "id":
                if canonical_id is not None and g.grantee == canonical_id:
                    return True
            elif ignore_public and g.grantee in PUBLIC_GROUPS:
                continue
            elif g.grantee == ALL_USERS or (g.grantee == AUTHENTICATED_USERS and canonical_id is not None):
                return True
        return False

    def is_public(self) -> bool:
        return any(g.kind == "uri" and g.grantee in PUBLIC_GROUPS for g in self.grants)

    def is_private(self) -> bool:
        """Only the owner's FULL_CONTROL (what ``private`` sets)."""
        return self.grants == (Grant("id", self.owner, FULL_CONTROL),)


def canned(name: str, owner: str, bucket_owner: str | None = None) -> ACL:
    """The ACL a canned name stands for; ``bucket_owner``: for the bucket-owner-* ones on an
    object (on a bucket, or when the writer owns the bucket, they mean ``private``)."""
    grants = [Grant("id", owner, FULL_CONTROL)]
    if name == "public-read":
        grants.append(Grant("uri", ALL_USERS, READ))
    elif name == "public-read-write":
        grants += [Grant("uri", ALL_USERS, READ), Grant("uri", ALL_USERS, WRITE)]
    elif name == "authenticated-read":
        grants.append(Grant("uri", AUTHENTICATED_USERS, READ))
    elif name in ("bucket-owner-read", "bucket-owner-full-control"):
        if bucket_owner is not None and bucket_owner != owner:
            grants.append(Grant("id", bucket_owner,
                                READ if name == "bucket-owner-read" else FULL_CONTROL))
    elif name == "log-delivery-write":
        grants += [Grant("uri", LOG_DELIVERY, WRITE), Grant("uri", LOG_DELIVERY, READ_ACP)]
    elif name != "private":
        raise ValueError(name)
    return ACL(owner, tuple(grants))


def private(owner: str) -> ACL:
    return ACL(owner, (Grant("id", owner, FULL_CONTROL),))
