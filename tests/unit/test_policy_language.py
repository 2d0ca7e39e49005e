"""Bucket policies (gateway.auth.policy): validation messages and evaluation, case by case."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from gateway.auth.access import Principal
from gateway.auth.bucketpolicy import request_lookup, resource_arns
from gateway.auth.policy import PolicyError, parse

BUCKET = "master.data"
NAMES = ("master.data", "data")


@dataclass
class Facts:
    """A gateway.auth.access.RequestFacts for tests: ``principal`` and ``canonical_id`` given
    as strings become its Principal."""

    action: str = "s3:GetObject"
    bucket: str = BUCKET
    key: str | None = "a/b.txt"
    principal: object = None
    canonical_id: str | None = None
    source_ip: str = "127.0.0.1"
    secure: bool = False
    headers: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    signature_version: str | None = None
    tags: dict | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.principal, Principal):
            self.principal = Principal(self.principal, self.canonical_id)

    async def object_tags(self) -> dict | None:
        return self.tags


def doc(*statements: dict, version: str = "2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": list(statements)})


def stmt(effect: str = "Allow", principal: object = "*", action: object = "s3:GetObject",
         resource: object = f"arn:aws:s3:::{BUCKET}/*", **extra: object) -> dict:
    s = {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}
    s.update(extra)
    for k in [k for k, v in s.items() if v is None]:
        del s[k]
    return s


def decide(policy_doc: str, facts: Facts | None = None, now: float = 1.8e9) -> str | None:
    facts = facts or Facts()
    policy = parse(policy_doc, NAMES)
    return policy.evaluate((facts.principal.access_key, facts.principal.canonical_id),
                           facts.action, resource_arns(NAMES, facts.key),
                           request_lookup(facts, lambda: now, facts.tags))


def refused(policy_doc: str | bytes, **kw) -> str:
    with pytest.raises(PolicyError) as info:
        parse(policy_doc, NAMES, **kw)
    return str(info.value)


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "[]", " x", "{not json", '{"Statement": [}'])
def test_not_json(text):
    assert refused(text) == "Policies must be valid JSON and the first byte must be '{'"


def test_too_large():
    big = doc(stmt(Sid="A" * 21000))
    assert "20 KB" in refused(big.encode())


def test_version_and_statement_required():
    assert refused(doc(stmt(), version="2020-01-01")) == "Policy has an invalid version"
    assert "Statement" in refused(json.dumps({"Version": "2012-10-17"}))
    assert "Statement" in refused(json.dumps({"Version": "2012-10-17", "Statement": []}))


def test_statement_object_and_old_version_accepted():
    one = json.dumps({"Version": "2008-10-17", "Statement": stmt()})
    assert parse(one, NAMES).statements[0].allow


def test_effect_must_be_allow_or_deny():
    assert "effect" in refused(doc(stmt(effect="Permit"))).lower()


def test_unknown_fields_refused():
    assert "Unknown field" in refused(doc(stmt(Bogus=1)))


@pytest.mark.parametrize("resource", [
    "arn:aws:s3:::other/*", "arn:aws:s3:::other", "arn:aws:iam::1:user/x", "bucket/*",
    ["arn:aws:s3:::master.data/*", "arn:aws:s3:::elsewhere/*"]])
def test_resource_outside_bucket(resource):
    assert refused(doc(stmt(resource=resource))) == "Policy has invalid resource"


def test_resource_any_alias_and_wildcard_bucket():
    for resource in ("arn:aws:s3:::data/*", "arn:aws:s3:::master.*/*", "arn:aws:s3:::*"):
        parse(doc(stmt(resource=resource)), NAMES)


@pytest.mark.parametrize("principal", [
    "someone", {"AWS": ""}, {"Federated": "x"}, {}, {"AWS": "arn:aws:iam::1:user/ghost"},
    {"AWS": "ghost"}, {"CanonicalUser": "unknown-id"}])
def test_invalid_principal(principal):
    assert refused(doc(stmt(principal=principal)),
                   known_ids={"KEY1", "c" * 64}) == "Invalid principal in policy"


def test_known_principal_forms():
    known = {"KEY1", "c" * 64}
    for principal in ({"AWS": "KEY1"}, {"AWS": "arn:aws:iam::123456789012:user/KEY1"},
                      {"CanonicalUser": "c" * 64}, {"AWS": ["*"]},
                      {"AWS": "arn:aws:iam::123456789012:root"}):
        parse(doc(stmt(principal=principal)), NAMES, known_ids=known)


@pytest.mark.parametrize("action", ["GetObject", "s3:", "iam:PassRole", "s3:Get Object", ""])
def test_invalid_action(action):
    assert "action" in refused(doc(stmt(action=action))).lower()


def test_action_must_fit_resources():
    assert refused(doc(stmt(action="s3:GetObject", resource=f"arn:aws:s3:::{BUCKET}"))) == \
        "Action does not apply to any resource(s) in statement"
    assert refused(doc(stmt(action="s3:ListBucket"))) == \
        "Action does not apply to any resource(s) in statement"
    parse(doc(stmt(action=["s3:ListBucket", "s3:GetObject"],
                   resource=[f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"])), NAMES)


def test_both_action_and_not_action_refused():
    assert "both" in refused(doc(stmt(NotAction="s3:PutObject")))


def test_duplicate_sid_refused():
    assert "unique" in refused(doc(stmt(Sid="a"), stmt(Sid="a")))


@pytest.mark.parametrize("condition", [
    {"StringFancy": {"aws:Referer": "x"}},
    {"StringEquals": "x"},
    {"StringEquals": {"nokey": "x"}},
    {"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}},
    {"NumericLessThan": {"s3:max-keys": "ten"}},
    {"Bool": {"aws:SecureTransport": "yes"}},
    {"ForSomeValues:StringEquals": {"s3:prefix": "a"}},
    {"NullIfExists": {"s3:prefix": "true"}}])
def test_malformed_condition(condition):
    refused(doc(stmt(Condition=condition)))


# --- evaluation -------------------------------------------------------------------------------

def test_allow_public_read():
    assert decide(doc(stmt())) == "Allow"
    assert decide(doc(stmt()), Facts(action="s3:PutObject")) is None


def test_deny_wins_over_allow():
    policy = doc(stmt(), stmt(effect="Deny", principal={"AWS": "KEY2"}))
    assert decide(policy, Facts(principal="KEY1")) == "Allow"
    assert decide(policy, Facts(principal="KEY2")) == "Deny"
    assert decide(policy) == "Allow"  # anonymous: the Deny names KEY2 only


def test_principal_forms_match():
    for principal in ({"AWS": "KEY1"}, {"AWS": "arn:aws:iam::123456789012:user/KEY1"},
                      {"CanonicalUser": "cid1"}, {"AWS": "arn:aws:iam::123456789012:root"}):
        policy = doc(stmt(principal=principal))
        assert decide(policy, Facts(principal="KEY1", canonical_id="cid1")) == "Allow"
        other = decide(policy, Facts(principal="KEY2", canonical_id="cid2"))
        assert other == ("Allow" if "root" in json.dumps(principal) else None)  # root: every key
        assert decide(policy) is None  # anonymous is named only by "*"


def test_not_principal():
    policy = doc(stmt(effect="Deny", principal=None, NotPrincipal={"AWS": "KEY1"}))
    assert decide(policy, Facts(principal="KEY1")) is None
    assert decide(policy, Facts(principal="KEY2")) == "Deny"
    assert decide(policy) == "Deny"


@pytest.mark.parametrize("pattern,action,hit", [
    ("s3:*", "s3:PutObject", True), ("s3:Get*", "s3:GetObjectTagging", True),
    ("s3:Get*", "s3:PutObject", False), ("s3:?etObject", "s3:GetObject", True),
    ("s3:?etObject", "s3:GetObjectAcl", False), ("S3:GETOBJECT", "s3:GetObject", True),
    ("*", "s3:DeleteObject", True)])
def test_action_wildcards(pattern, action, hit):
    assert (decide(doc(stmt(action=pattern)), Facts(action=action)) == "Allow") == hit


def test_not_action():
    policy = doc(stmt(action=None, NotAction=["s3:Delete*", "s3:Put*"]))
    assert decide(policy, Facts(action="s3:GetObject")) == "Allow"
    assert decide(policy, Facts(action="s3:DeleteObject")) is None


@pytest.mark.parametrize("resource,key,hit", [
    ("arn:aws:s3:::master.data/a/*", "a/b.txt", True),
    ("arn:aws:s3:::master.data/a/*", "ab/c", False),
    ("arn:aws:s3:::data/a/?.txt", "a/b.txt", True),
    ("arn:aws:s3:::data/a/?.txt", "a/bb.txt", False),
    ("arn:aws:s3:::master.data*", "anything/at/all", True),
    ("arn:aws:s3:::*", "x", True)])
def test_resource_wildcards(resource, key, hit):
    assert (decide(doc(stmt(resource=resource)), Facts(key=key)) == "Allow") == hit


def test_bucket_resource_vs_object_resource():
    policy = doc(stmt(action="s3:ListBucket", resource="arn:aws:s3:::data"))
    assert decide(policy, Facts(action="s3:ListBucket", key=None)) == "Allow"
    assert decide(doc(stmt(action="s3:*")), Facts(action="s3:ListBucket", key=None)) is None


def test_not_resource():
    policy = doc(stmt(effect="Deny", resource=None, NotResource="arn:aws:s3:::data/public/*",
                      action="s3:*"))
    assert decide(policy, Facts(key="public/x")) is None
    assert decide(policy, Facts(key="private/x")) == "Deny"


def test_policy_variable_in_resource():
    policy = doc(stmt(principal={"AWS": ["KEY1", "KEY2"]}, action="s3:PutObject",
                      resource="arn:aws:s3:::data/home/${aws:username}/*"))
    assert decide(policy, Facts(action="s3:PutObject", key="home/KEY1/x",
                                principal="KEY1")) == "Allow"
    assert decide(policy, Facts(action="s3:PutObject", key="home/KEY1/x",
                                principal="KEY2")) is None
    assert decide(policy, Facts(action="s3:PutObject", key="home/KEY1/x")) is None


def test_policy_variables_only_in_2012_10_17():
    statement = stmt(principal={"AWS": "KEY1"}, resource="arn:aws:s3:::data/home/${aws:username}/*",
                     Condition={"StringEquals": {"aws:Referer": "${aws:username}"}})
    facts = {"key": "home/KEY1/x", "principal": "KEY1", "headers": {"referer": "KEY1"}}
    assert decide(doc(statement), Facts(**facts)) == "Allow"
    assert decide(doc(statement, version="2008-10-17"), Facts(**facts)) is None
    literal = {"key": "home/${aws:username}/x", "principal": "KEY1",
               "headers": {"referer": "${aws:username}"}}
    assert decide(doc(statement, version="2008-10-17"), Facts(**literal)) == "Allow"


def cond(condition: dict, **facts) -> str | None:
    return decide(doc(stmt(action="s3:*", Condition=condition)), Facts(**facts))


# --- "public", as AWS defines it ------------------------------------------------------------------

@pytest.mark.parametrize("statement,public", [
    (stmt(), True),
    (stmt(principal={"AWS": "*"}), True),
    (stmt(principal={"AWS": "KEY1"}), False),
    (stmt(principal={"AWS": "arn:aws:iam::123456789012:root"}), False),
    (stmt(effect="Deny"), False),
    (stmt(effect="Allow", principal=None, NotPrincipal={"AWS": "KEY1"}), True),
    (stmt(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}), False),
    (stmt(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}), True),
    (stmt(Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), True),
    (stmt(Condition={"StringEquals": {"aws:username": "KEY1"}}), False),
    (stmt(Condition={"StringLike": {"aws:username": "KEY*"}}), True),
    (stmt(Condition={"StringEquals": {"aws:Referer": "https://example.com/"}}), True)])
def test_public(statement, public):
    assert parse(doc(statement), NAMES).public is public


def test_restricted_policy_keeps_only_named_grants():
    policy = parse(doc(stmt(Sid="everyone"), stmt(Sid="key1", principal={"AWS": "KEY1"}),
                       stmt(Sid="deny", effect="Deny", action="s3:DeleteObject")), NAMES)
    assert [s.sid for s in policy.restricted.statements] == ["key1", "deny"]


# --- the access decision's policy step (gateway.auth.bucketpolicy.evaluate) ------------------------

class Config:
    """A bucket configuration as gateway.ops.bucketconfig gives one: documents by kind."""

    def __init__(self, **docs: bytes) -> None:
        self.docs = {k.replace("_", "-"): v for k, v in docs.items()}

    def get(self, kind: str) -> bytes | None:
        return self.docs.get(kind)

    def parsed(self, kind, parser):
        raw = self.get(kind)
        return None if raw is None else parser(raw)


def test_bucket_names_cover_every_alias():
    from gateway.auth.bucketpolicy import bucket_names

    assert set(bucket_names("data")) == {"data", "master.data", "master.data.default"}
    assert set(bucket_names("dev.data")) == {"dev.data", "dev.data.default"}
    assert set(bucket_names("dev.data.proj")) == {"dev.data.proj"}
    assert "master.data" in bucket_names("0123456789abcdef0123456789abcdef.master.data")


def test_restrict_public_buckets_drops_public_grants_for_anonymous_only():
    from gateway.auth.bucketpolicy import evaluate
    from gateway.s3.publicaccess import PublicAccessBlock

    policy = doc(stmt(resource="arn:aws:s3:::data/*")).encode()
    facts = Facts(bucket="data")
    assert evaluate(Config(policy=policy), facts) == "Allow"
    restrict = PublicAccessBlock(restrict_public_buckets=True).render()
    assert evaluate(Config(policy=policy, public_access_block=restrict), facts) is None
    facts = Facts(bucket="data", principal="KEY1")  # a configured key is inside "the account"
    assert evaluate(Config(policy=policy, public_access_block=restrict), facts) == "Allow"
    assert evaluate(Config(), facts) is None


def test_tags_are_read_only_when_a_condition_asks():
    import asyncio

    from gateway.auth.bucketpolicy import evaluate

    plain = doc(stmt(resource="arn:aws:s3:::data/*")).encode()
    tagged = doc(stmt(resource="arn:aws:s3:::data/*",
                      Condition={"StringEquals": {"s3:ExistingObjectTag/Share": "yes"}})).encode()
    facts = Facts(bucket="data", tags={"Share": "yes"})
    assert evaluate(Config(policy=plain), facts) == "Allow"  # no coroutine: nothing awaited
    verdict = evaluate(Config(policy=tagged), facts)
    assert asyncio.run(verdict) == "Allow"
    assert asyncio.run(evaluate(Config(policy=tagged), Facts(bucket="data", tags={"share": "yes"}))) is None


def test_public_access_block_document():
    from gateway.s3 import errors
    from gateway.s3.publicaccess import NONE, PublicAccessBlock, parse, parse_stored

    assert parse_stored(None) == NONE
    block = parse(b'<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                  b"<BlockPublicAcls>TRUE</BlockPublicAcls><RestrictPublicBuckets>true"
                  b"</RestrictPublicBuckets></PublicAccessBlockConfiguration>")
    assert block == PublicAccessBlock(True, False, False, True)
    assert parse(block.render()) == block
    for bad in (b"<x/>", b"not xml", b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes"
                b"</BlockPublicAcls></PublicAccessBlockConfiguration>",
                b"<PublicAccessBlockConfiguration><Other>true</Other>"
                b"</PublicAccessBlockConfiguration>"):
        with pytest.raises(errors.S3Error) as info:
            parse(bad)
        assert info.value.code == "MalformedXML"


def test_policy_writes_refused_when_pachyderm_roles_decide():
    from gateway.auth.authenticator import Identity
    from gateway.ops.policies import refuse_when_pachyderm_decides as refuse
    from gateway.s3.errors import S3Error

    refuse({"state": {"identity": Identity("AKID")}})  # the gateway's keys decide
    refuse({"state": {}})  # no keys at all
    with pytest.raises(S3Error) as info:
        refuse({"state": {"identity": Identity("tok", token="tok")}})
    assert info.value.code == "NotImplemented" and "Pachyderm" in info.value.message

