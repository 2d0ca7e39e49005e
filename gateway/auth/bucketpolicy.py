"""What a bucket's policy and public access block say about one request.

:func:`evaluate` is the policy step of the access decision (gateway.auth.access): it reads the
bucket's configuration (already loaded, one cached read per request), whose parsed policy is
memoized with it, and answers ``"Deny"``, ``"Allow"`` or ``None``. Condition keys are read from
the request only when a statement asks for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache

from gateway.auth.conditions import Lookup
from gateway.auth.policy import S3_ARN, Policy
from gateway.auth.policy import parse as parse_policy
from gateway.s3 import publicaccess
from gateway.s3.names import DEFAULT_BRANCH, DEFAULT_PROJECT, parse_bucket

POLICY = "policy"  # the policy's kind in the bucket configuration store
_LISTING_ACTIONS = {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"}


def stored_policy(document: bytes | None) -> Policy | None:
    """The stored policy, compiled (it was validated when it was put)."""
    return None if document is None else parse_policy(document)


def evaluate(config, facts):
    """The bucket policy's word on a request: "Deny", "Allow" or None (ACLs decide); an
    awaitable of it when a condition needs the object's tags (read only then).

    With RestrictPublicBuckets, a public policy's grants to everyone reach only the gateway's
    configured keys (AWS: only the bucket owner's account): anonymous requests lose them.
    """
    policy = config.parsed(POLICY, stored_policy)
    if policy is None:
        return None
    principal = facts.principal
    if principal.access_key is None and policy.public:
        if publicaccess.of(config).restrict_public_buckets:
            policy = policy.restricted
    if policy.reads_tags and facts.key is not None:
        return _evaluate_with_tags(policy, facts)
    return _evaluate(policy, facts, None)


async def _evaluate_with_tags(policy: Policy, facts) -> str | None:
    return _evaluate(policy, facts, await facts.object_tags())


def _evaluate(policy: Policy, facts, tags: dict[str, str] | None) -> str | None:
    principal = facts.principal
    who = (principal.access_key, principal.canonical_id)
    arns = resource_arns(bucket_names(facts.bucket), facts.key)
    return policy.evaluate(who, facts.action, arns, request_lookup(facts, time.time, tags))


def ignore_public_acls(config) -> bool:
    """The bucket's public access block says IgnorePublicAcls."""
    return publicaccess.of(config).ignore_public_acls


@lru_cache(maxsize=4096)
def bucket_names(bucket: str) -> tuple[str, ...]:
    """Every name a bucket's branch goes by (``repo``, ``master.repo``, ``master.repo.default``),
    so a policy's Resource ARNs may use any of them; a commit view (``<commit>.b.r``) goes by
    its branch's names too."""
    ref = parse_bucket(bucket)
    names = [bucket]
    if ref.project == DEFAULT_PROJECT:
        names += [f"{ref.branch}.{ref.repo}", f"{ref.branch}.{ref.repo}.{ref.project}"]
        if ref.branch == DEFAULT_BRANCH:
            names.append(ref.repo)
    else:
        names.append(f"{ref.branch}.{ref.repo}.{ref.project}")
    return tuple(dict.fromkeys(names))


def resource_arns(names: Iterable[str], key: str | None) -> tuple[str, ...]:
    """The ARNs a request's resource goes by (one per name of its bucket)."""
    if key is None:
        return tuple(S3_ARN + b for b in names)
    return tuple(f"{S3_ARN}{b}/{key}" for b in names)


def request_lookup(facts, now: Callable[[], float], tags: dict[str, str] | None = None) -> Lookup:
    """The condition keys of a request, resolved on first use (most policies read none).
    ``tags``: the object's tags, when a condition asks for them."""
    found: dict[str, list[str] | None] = {}

    def lookup(key: str) -> list[str] | None:
        if key not in found:
            found[key] = _resolve(facts, key, now, tags)
        return found[key]
    return lookup


def _resolve(facts, key: str, now: Callable[[], float],
             tags: dict[str, str] | None) -> list[str] | None:
    value: object = None
    headers, query = facts.headers, facts.query
    if key == "aws:sourceip":
        value = facts.source_ip
    elif key == "aws:securetransport":
        value = "true" if facts.secure else "false"
    elif key == "s3:prefix":
        if facts.action in _LISTING_ACTIONS:
            value = query.get("prefix", "")
    elif key in ("s3:delimiter", "s3:max-keys"):
        if facts.action in _LISTING_ACTIONS:
            value = query.get(key[3:])
    elif key == "s3:versionid":
        value = query.get("versionId")
    elif key.startswith("s3:existingobjecttag/"):
        value = None if tags is None else tags.get(key.split("/", 1)[1])
    elif key == "s3:signatureversion":
        value = facts.signature_version
    elif key == "aws:username":
        value = facts.principal.access_key
    elif key == "aws:userid":
        value = facts.principal.canonical_id
    elif key == "aws:principaltype":
        value = "Anonymous" if facts.principal.access_key is None else "User"
    elif key == "aws:referer":
        value = headers.get("referer")
    elif key == "aws:useragent":
        value = headers.get("user-agent")
    elif key == "aws:epochtime":
        value = str(int(now()))
    elif key == "aws:currenttime":
        value = datetime.fromtimestamp(now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif key.startswith("s3:x-amz-"):
        value = headers.get(key[3:])  # s3:x-amz-acl, s3:x-amz-copy-source, ...
    if value is None:
        return None
    return [str(value)]
