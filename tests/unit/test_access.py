"""The access decision (gateway.auth.access) and the ACL model it evaluates, without PFS."""

from __future__ import annotations

import asyncio

import pytest

from gateway.auth import access
from gateway.auth.access import ANONYMOUS, Principal, RequestFacts, authorize
from gateway.ops.bucketconfig import BucketConfig
from gateway.s3 import aclmodel
from gateway.s3.errors import S3Error

ALICE = Principal.of("alice")
BOB = Principal.of("bob")


def config(owner: Principal | None = ALICE, acl: str | None = None, ownership: str | None = None,
           **extra: bytes) -> BucketConfig:
    docs: dict[str, bytes] = dict(extra)
    if owner is not None:
        docs["owner"] = owner.canonical_id.encode()
    if acl is not None:
        docs["acl"] = aclmodel.canned(acl, owner.canonical_id).encode()
    if ownership is not None:
        docs["ownership"] = ownership.encode()
    return BucketConfig(docs)


def allowed(facts: RequestFacts) -> bool:
    try:
        asyncio.run(authorize(facts))
        return True
    except S3Error as e:
        assert (e.status, e.code) == (403, "AccessDenied")
        return False


def facts(action: str, who: Principal, cfg: BucketConfig | None, key: str | None = None,
          object_acl: aclmodel.ACL | None = None) -> RequestFacts:
    async def read_acl():
        return object_acl

    return RequestFacts(action=action, bucket="b" if cfg is not None else "", key=key,
                        principal=who, config=cfg, object_acl=read_acl)


def test_canonical_ids_are_stable_distinct_and_not_the_key():
    assert Principal.of("alice").canonical_id == ALICE.canonical_id
    assert ALICE.canonical_id != BOB.canonical_id
    assert len(ALICE.canonical_id) == 64 and "alice" not in ALICE.canonical_id
    assert ALICE.display_name == "alice"
    assert Principal.of(None) is ANONYMOUS and ANONYMOUS.anonymous


def test_anonymous_is_refused_everything_by_default():
    for op, action in access.ACTIONS.items():
        key = "k" if op.endswith("Object") else None
        assert not allowed(facts(action, ANONYMOUS, config(), key)), op
        assert not allowed(facts(action, ANONYMOUS, BucketConfig(), key)), op  # unowned
    assert not allowed(facts("s3:ListAllMyBuckets", ANONYMOUS, None))


def test_owner_may_do_everything_others_nothing():
    cfg = config()
    for action in set(access.ACTIONS.values()):
        assert allowed(facts(action, ALICE, cfg, "k"))
        expected = action == "s3:CreateBucket"  # answered BucketAlreadyExists by the handler
        assert allowed(facts(action, BOB, cfg, "k")) is expected, action


def test_unowned_bucket_is_open_to_every_key_but_not_to_anonymous():
    for who in (ALICE, BOB):
        assert allowed(facts("s3:PutObject", who, BucketConfig(), "k"))
    assert allowed(facts("s3:ListAllMyBuckets", BOB, None))


def test_public_read_bucket_lists_but_takes_no_writes():
    cfg = config(acl="public-read")
    assert allowed(facts("s3:ListBucket", ANONYMOUS, cfg))
    assert allowed(facts("s3:ListBucket", BOB, cfg))
    assert not allowed(facts("s3:PutObject", ANONYMOUS, cfg, "k"))
    assert not allowed(facts("s3:GetBucketAcl", ANONYMOUS, cfg))
    # the bucket's ACL says nothing about reading its objects
    assert not allowed(facts("s3:GetObject", ANONYMOUS, cfg, "k"))


def test_public_read_write_bucket_takes_writes():
    cfg = config(acl="public-read-write")
    assert allowed(facts("s3:PutObject", ANONYMOUS, cfg, "k"))
    assert allowed(facts("s3:DeleteObject", ANONYMOUS, cfg, "k"))
    assert not allowed(facts("s3:PutBucketAcl", ANONYMOUS, cfg))


def test_object_acls_decide_object_reads():
    cfg = config()
    public = aclmodel.canned("public-read", ALICE.canonical_id)
    assert allowed(facts("s3:GetObject", ANONYMOUS, cfg, "k", public))
    assert allowed(facts("s3:GetObjectVersion", ANONYMOUS, cfg, "k", public))
    assert not allowed(facts("s3:GetObjectAcl", ANONYMOUS, cfg, "k", public))
    assert not allowed(facts("s3:PutObjectAcl", ANONYMOUS, cfg, "k", public))
    authenticated = aclmodel.canned("authenticated-read", ALICE.canonical_id)
    assert allowed(facts("s3:GetObject", BOB, cfg, "k", authenticated))
    assert not allowed(facts("s3:GetObject", ANONYMOUS, cfg, "k", authenticated))
    # an object written by bob (ObjectWriter) is bob's: he may read and change its ACL
    bobs = aclmodel.private(BOB.canonical_id)
    assert allowed(facts("s3:GetObject", BOB, cfg, "k", bobs))
    assert allowed(facts("s3:PutObjectAcl", BOB, cfg, "k", bobs))
    assert not allowed(facts("s3:GetObject", ANONYMOUS, cfg, "k", bobs))


def test_explicit_grant_to_a_key():
    acl = aclmodel.ACL(ALICE.canonical_id, (aclmodel.Grant("id", ALICE.canonical_id, "FULL_CONTROL"),
                                            aclmodel.Grant("id", BOB.canonical_id, "WRITE")))
    cfg = BucketConfig({"owner": ALICE.canonical_id.encode(), "acl": acl.encode()})
    assert allowed(facts("s3:PutObject", BOB, cfg, "k"))
    assert not allowed(facts("s3:ListBucket", BOB, cfg))
    assert not allowed(facts("s3:PutObject", ANONYMOUS, cfg, "k"))


def test_bucket_owner_enforced_disables_acls():
    cfg = config(acl="public-read", ownership=access.BUCKET_OWNER_ENFORCED)
    public = aclmodel.canned("public-read", ALICE.canonical_id)
    assert not allowed(facts("s3:ListBucket", ANONYMOUS, cfg))
    assert not allowed(facts("s3:GetObject", ANONYMOUS, cfg, "k", public))
    assert allowed(facts("s3:ListBucket", ALICE, cfg))


def test_policy_deny_wins_then_allow_then_acls(monkeypatch):
    verdicts = {}

    def evaluate(cfg, f):
        return verdicts.get(f.action)

    monkeypatch.setattr(access, "POLICY_HOOK", evaluate)
    cfg = config(acl="public-read")
    verdicts["s3:ListBucket"] = "Deny"
    assert not allowed(facts("s3:ListBucket", ANONYMOUS, cfg))
    assert not allowed(facts("s3:ListBucket", ALICE, cfg))  # the owner too
    verdicts["s3:PutObject"] = "Allow"
    assert allowed(facts("s3:PutObject", ANONYMOUS, cfg, "k"))
    # the owner keeps the policy actions (no lock-out), whatever the policy says
    verdicts["s3:DeleteBucketPolicy"] = "Deny"
    assert allowed(facts("s3:DeleteBucketPolicy", ALICE, cfg))
    assert not allowed(facts("s3:DeleteBucketPolicy", BOB, cfg))

    async def async_evaluate(cfg, f):
        return "Allow"

    monkeypatch.setattr(access, "POLICY_HOOK", async_evaluate)
    assert allowed(facts("s3:PutObject", ANONYMOUS, cfg, "k"))


def test_ignore_public_acls_hook(monkeypatch):
    cfg = config(acl="public-read")
    monkeypatch.setattr(access, "IGNORE_PUBLIC_ACLS", lambda c: True)
    assert not allowed(facts("s3:ListBucket", ANONYMOUS, cfg))


def test_object_acl_is_read_only_when_the_decision_needs_it():
    reads = []

    async def read_acl():
        reads.append(1)
        return None

    cfg = config()
    asyncio.run(authorize(RequestFacts("s3:GetObject", "b", "k", ALICE, cfg, object_acl=read_acl)))
    asyncio.run(authorize(RequestFacts("s3:ListBucket", "b", None, ALICE, cfg, object_acl=read_acl)))
    assert reads == []


def test_bucket_config_parses_once():
    calls = []

    def parser(raw: bytes) -> str:
        calls.append(raw)
        return raw.decode().upper()

    cfg = BucketConfig({"cors": b"x"})
    assert cfg.parsed("cors", parser) == "X" and cfg.parsed("cors", parser) == "X"
    assert calls == [b"x"]
    assert cfg.parsed("policy", parser) is None and cfg.get("policy") is None
    assert not BucketConfig() and cfg


@pytest.mark.parametrize("name", aclmodel.CANNED)
def test_canned_acls_round_trip(name):
    acl = aclmodel.canned(name, ALICE.canonical_id, BOB.canonical_id)
    assert aclmodel.ACL.decode(acl.encode()) == acl
    assert acl.grants[0] == aclmodel.Grant("id", ALICE.canonical_id, "FULL_CONTROL")
    assert acl.is_public() is (name in ("public-read", "public-read-write", "authenticated-read"))
