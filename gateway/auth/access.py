"""The access decision: may this principal do this S3 action on this bucket (and key)?

Called once per S3 request, after the dispatcher knows the operation, when the gateway's own
key pairs decide who may do what (a gateway with no keys is open and never calls it; against
pachd with auth active, Pachyderm's roles decide inside pachd). The order is AWS's:

1. the bucket policy (:data:`POLICY_HOOK`): an explicit Deny wins, then an Allow;
2. the owner of a bucket may do everything on it; a bucket with no recorded owner (made before
   owners were recorded, or directly in PFS) is open to every configured key, as before;
3. then the ACLs (the bucket's for bucket actions and object writes, the object's for object
   reads and its ACL), unless the bucket's ownership controls disable ACLs
   (``BucketOwnerEnforced``);
4. anything else is refused with 403 ``AccessDenied``, exactly as an unsigned request was
   before ACLs existed.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.s3 import errors, publicaccess
from gateway.s3.aclmodel import ACL, READ, READ_ACP, WRITE, WRITE_ACP, private

# S3 operation (as the spec names it) -> the IAM action AWS authorizes it as.
ACTIONS: dict[str, str] = {
    "ListBuckets": "s3:ListAllMyBuckets",
    "CreateBucket": "s3:CreateBucket",
    "HeadBucket": "s3:ListBucket",
    "DeleteBucket": "s3:DeleteBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "PutBucketVersioning": "s3:PutBucketVersioning",
    "GetBucketAcl": "s3:GetBucketAcl",
    "PutBucketAcl": "s3:PutBucketAcl",
    "GetBucketTagging": "s3:GetBucketTagging",
    "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "PutBucketPolicy": "s3:PutBucketPolicy",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy",
    "GetBucketPolicyStatus": "s3:GetBucketPolicyStatus",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "PutBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteObjects": "s3:DeleteObject",
    "PostObject": "s3:PutObject",
    "PutObject": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "GetObjectAttributes": "s3:GetObjectAttributes",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectAcl": "s3:GetObjectAcl",
    "PutObjectAcl": "s3:PutObjectAcl",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
}
# Reading a versionId names a different action in AWS.
VERSION_ACTIONS = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion",
                   "s3:GetObjectAcl": "s3:GetObjectVersionAcl", "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
                   "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
                   "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
                   "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging"}

# What an ACL grant must hold for an action: on the bucket's ACL ...
BUCKET_ACL_PERMISSION = {
    "s3:ListBucket": READ, "s3:ListBucketVersions": READ, "s3:ListBucketMultipartUploads": READ,
    "s3:PutObject": WRITE, "s3:DeleteObject": WRITE, "s3:DeleteObjectVersion": WRITE,
    "s3:AbortMultipartUpload": WRITE, "s3:ListMultipartUploadParts": WRITE,
    "s3:GetBucketAcl": READ_ACP, "s3:PutBucketAcl": WRITE_ACP,
}
# ... and on the object's.
OBJECT_ACL_PERMISSION = {
    "s3:GetObject": READ, "s3:GetObjectVersion": READ, "s3:GetObjectAttributes": READ,
    "s3:GetObjectAcl": READ_ACP, "s3:GetObjectVersionAcl": READ_ACP,
    "s3:PutObjectAcl": WRITE_ACP, "s3:PutObjectVersionAcl": WRITE_ACP,
}
# Policy actions the bucket owner keeps whatever the policy says (so it cannot lock itself out,
# as an AWS account's root user cannot).
OWNER_KEEPS = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})

# Ownership controls (the "ownership" document): S3's ObjectOwnership values.
BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"
BUCKET_OWNER_PREFERRED = "BucketOwnerPreferred"
OBJECT_WRITER = "ObjectWriter"


def canonical_id(access_key: str) -> str:
    """A key's stable S3 canonical user ID (64 hex digits, like AWS's): its SHA-256."""
    return hashlib.sha256(access_key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who sends a request: a configured key, or nobody (``access_key`` None)."""

    access_key: str | None
    canonical_id: str | None = None
    display_name: str | None = None
    token: str | None = None  # a Pachyderm token (pachd auth; not decided here)

    @classmethod
    def of(cls, access_key: str | None, token: str | None = None) -> Principal:
        if access_key is None:
            return ANONYMOUS
        if token is not None:  # (tokens are secrets: never kept)
            return cls(access_key, canonical_id(access_key), access_key, token)
        return _principal(cls, access_key)

    @property
    def anonymous(self) -> bool:
        return self.access_key is None


ANONYMOUS = Principal(None)


@functools.lru_cache(maxsize=1024)
def _principal(cls: type[Principal], access_key: str) -> Principal:
    # one (immutable) Principal per configured key, not a new one and a SHA-256 per request
    return cls(access_key, canonical_id(access_key), access_key)


class Config(Protocol):
    """What :mod:`gateway.ops.bucketconfig` loads: the bucket's documents by kind."""

    def get(self, kind: str) -> bytes | None: ...
    def parsed(self, kind: str, parser: Callable[[bytes], object]) -> object: ...


async def _none() -> Any:
    return None


@dataclass
class RequestFacts:
    """Everything the decision (and a bucket policy's conditions) may look at."""

    action: str  # "s3:GetObject", ...
    bucket: str  # "" for ListBuckets
    key: str | None
    principal: Principal
    config: Config | None = None  # the bucket's documents (None: no bucket)
    source_ip: str | None = None
    secure: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    query: Mapping[str, str] = field(default_factory=dict)
    signature_version: str | None = None  # "AWS" (SigV2), "AWS4-HMAC-SHA256", None: unsigned
    operation: str = ""  # S3's name of the operation ("GetObject")
    # The object's tags (s3:ExistingObjectTag/*) and its stored ACL, read only if asked for.
    object_tags: Callable[[], Awaitable[dict[str, str] | None]] = _none
    object_acl: Callable[[], Awaitable[ACL | None]] = _none


# The bucket-policy engine's evaluate(config, facts) -> "Deny" | "Allow" | None (or an awaitable
# of it), set by gateway.auth.policy; None: bucket policies are not evaluated.
PolicyHook = Callable[[Config, RequestFacts], "str | None | Awaitable[str | None]"]
POLICY_HOOK: PolicyHook | None = None
# Whether public ACL grants count for nothing (replaces ignores_public_acls when set).
IGNORE_PUBLIC_ACLS: Callable[[Config], bool] | None = None


def ignores_public_acls(config: Config) -> bool:
    """The public access block's IgnorePublicAcls."""
    block = config.parsed(publicaccess.KIND, publicaccess.parse)
    return bool(block is not None and block.ignore_public_acls)


def _text(raw: bytes) -> str:
    return raw.decode().strip()


def owner_of(config: Config | None) -> str | None:
    """The bucket owner's canonical ID; None for a bucket with no recorded owner."""
    if config is None:
        return None
    return config.parsed("owner", _text) or None  # type: ignore[return-value]


def ownership_of(config: Config | None) -> str:
    """The bucket's ObjectOwnership; a bucket without ownership controls is ``ObjectWriter``
    (as S3 buckets made before 2023)."""
    value = config.parsed("ownership", _text) if config is not None else None
    return value or OBJECT_WRITER  # type: ignore[return-value]


def bucket_acl(config: Config | None) -> ACL | None:
    if config is None:
        return None
    return config.parsed("acl", ACL.decode)  # type: ignore[return-value]


def acls_enabled(config: Config | None) -> bool:
    return ownership_of(config) != BUCKET_OWNER_ENFORCED


async def _policy(facts: RequestFacts) -> str | None:
    if POLICY_HOOK is None or not facts.config:
        return None
    verdict = POLICY_HOOK(facts.config, facts)
    if verdict is not None and not isinstance(verdict, str):
        verdict = await verdict  # an async hook
    return verdict


def denied() -> errors.S3Error:
    return errors.access_denied()


async def authorize(facts: RequestFacts) -> None:
    """Return if the request may proceed; raise 403 ``AccessDenied`` otherwise."""
    principal = facts.principal
    if not facts.bucket:  # ListBuckets: any configured key, never anonymous
        if principal.anonymous:
            raise denied()
        return
    owner = owner_of(facts.config)
    is_owner = not principal.anonymous and (owner is None or owner == principal.canonical_id)
    verdict = await _policy(facts)
    if verdict == "Deny" and not (is_owner and facts.action in OWNER_KEEPS):
        raise denied()
    if verdict == "Allow" or is_owner:
        return
    if facts.action == "s3:CreateBucket" and not principal.anonymous:
        return  # an existing bucket of another owner: the handler answers BucketAlreadyExists
    if acls_enabled(facts.config) and await _acl_allows(facts, owner):
        return
    raise denied()


async def _acl_allows(facts: RequestFacts, owner: str | None) -> bool:
    ignore_public = facts.config is not None and (IGNORE_PUBLIC_ACLS or ignores_public_acls)(facts.config)
    who = facts.principal.canonical_id
    permission = BUCKET_ACL_PERMISSION.get(facts.action)
    if permission is not None:
        acl = bucket_acl(facts.config)
        return acl is not None and acl.allows(who, permission, ignore_public)
    permission = OBJECT_ACL_PERMISSION.get(facts.action)
    if permission is None or facts.key is None:
        return False
    acl = await facts.object_acl()
    if acl is None:  # no ACL of its own: the bucket owner's private one
        acl = private(owner) if owner else None
    return acl is not None and acl.allows(who, permission, ignore_public)
