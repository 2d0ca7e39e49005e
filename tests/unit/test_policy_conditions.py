"""Bucket policy conditions (gateway.auth.conditions through gateway.auth.policy): each operator,
its IfExists and ForAnyValue/ForAllValues forms, and the condition keys a request carries."""

from __future__ import annotations

import pytest

from tests.unit.test_policy_language import Facts, cond


@pytest.mark.parametrize("operator,expected,actual,hit", [
    ("StringEquals", "abc", "abc", True), ("StringEquals", "abc", "ABC", False),
    ("StringEquals", "a*", "abc", False), ("StringEquals", "a*", "a*", True),
    ("StringNotEquals", "abc", "abd", True), ("StringNotEquals", "abc", "abc", False),
    ("StringEqualsIgnoreCase", "abc", "ABC", True), ("StringEqualsIgnoreCase", "abc", "abd", False),
    ("StringNotEqualsIgnoreCase", "abc", "ABC", False),
    ("StringNotEqualsIgnoreCase", "abc", "x", True),
    ("StringLike", "a*c", "abbbc", True), ("StringLike", "a?c", "abc", True),
    ("StringLike", "a?c", "abbc", False), ("StringNotLike", "a*", "abc", False),
    ("StringNotLike", "a*", "bcd", True)])
def test_string_operators(operator, expected, actual, hit):
    got = cond({operator: {"aws:Referer": expected}}, headers={"referer": actual})
    assert (got == "Allow") == hit


@pytest.mark.parametrize("operator,expected,hit", [
    ("NumericEquals", "100", True), ("NumericEquals", "10", False),
    ("NumericNotEquals", "10", True), ("NumericNotEquals", "100", False),
    ("NumericLessThan", "101", True), ("NumericLessThan", "100", False),
    ("NumericLessThanEquals", "100", True), ("NumericLessThanEquals", "99", False),
    ("NumericGreaterThan", "99", True), ("NumericGreaterThan", "100", False),
    ("NumericGreaterThanEquals", "100", True), ("NumericGreaterThanEquals", "101", False)])
def test_numeric_operators(operator, expected, hit):
    got = cond({operator: {"s3:max-keys": expected}}, action="s3:ListBucket", key=None,
               query={"max-keys": "100"})
    # the statement's resource is the objects: test the condition on a bucket-wide policy
    assert got is None
    from tests.unit.test_policy_language import decide, doc, stmt
    policy = doc(stmt(action="s3:ListBucket", resource="arn:aws:s3:::data",
                      Condition={operator: {"s3:max-keys": expected}}))
    got = decide(policy, Facts(action="s3:ListBucket", key=None, query={"max-keys": "100"}))
    assert (got == "Allow") == hit


@pytest.mark.parametrize("operator,networks,ip,hit", [
    ("IpAddress", "127.0.0.1/32", "127.0.0.1", True),
    ("IpAddress", "10.0.0.0/8", "127.0.0.1", False),
    ("IpAddress", ["10.0.0.0/8", "127.0.0.0/8"], "127.0.0.1", True),
    ("NotIpAddress", "10.0.0.0/8", "127.0.0.1", True),
    ("NotIpAddress", "127.0.0.0/24", "127.0.0.1", False),
    ("IpAddress", "::1/128", "::1", True), ("IpAddress", "2001:db8::/32", "::1", False)])
def test_ip_operators(operator, networks, ip, hit):
    assert (cond({operator: {"aws:SourceIp": networks}}, source_ip=ip) == "Allow") == hit


@pytest.mark.parametrize("expected,secure,hit", [
    ("true", True, True), ("true", False, False), ("false", False, True), (True, True, True),
    ("FALSE", True, False)])
def test_bool(expected, secure, hit):
    assert (cond({"Bool": {"aws:SecureTransport": expected}}, secure=secure) == "Allow") == hit


def test_null_tests_presence():
    assert cond({"Null": {"s3:x-amz-acl": "true"}}) == "Allow"
    assert cond({"Null": {"s3:x-amz-acl": "true"}}, headers={"x-amz-acl": "private"}) is None
    assert cond({"Null": {"s3:x-amz-acl": "false"}}, headers={"x-amz-acl": "private"}) == "Allow"


def test_missing_key_fails_positive_passes_negated():
    assert cond({"StringEquals": {"s3:x-amz-acl": "private"}}) is None
    assert cond({"StringNotEquals": {"s3:x-amz-acl": "public-read"}}) == "Allow"
    assert cond({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}) == "Allow"
    assert cond({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}},
                headers={"x-amz-acl": "public-read"}) is None


def test_for_any_and_all_values():
    tag = {"x-amz-acl": "private"}
    assert cond({"ForAnyValue:StringEquals": {"s3:x-amz-acl": ["a", "private"]}},
                headers=tag) == "Allow"
    assert cond({"ForAnyValue:StringEquals": {"s3:x-amz-acl": "a"}}, headers=tag) is None
    assert cond({"ForAnyValue:StringEquals": {"s3:x-amz-acl": "a"}}) is None  # missing: false
    assert cond({"ForAllValues:StringEquals": {"s3:x-amz-acl": "a"}}) == "Allow"  # missing: true
    assert cond({"ForAllValues:StringEquals": {"s3:x-amz-acl": "private"}},
                headers=tag) == "Allow"
    assert cond({"ForAllValues:StringEquals": {"s3:x-amz-acl": "a"}}, headers=tag) is None


def test_all_conditions_must_hold():
    both = {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"},
            "StringEquals": {"aws:Referer": "https://example.com/"}}
    assert cond(both, headers={"referer": "https://example.com/"}) == "Allow"
    assert cond(both, headers={"referer": "https://evil.example/"}) is None
    assert cond(both, source_ip="10.1.1.1", headers={"referer": "https://example.com/"}) is None


def test_condition_keys_are_case_insensitive():
    assert cond({"IpAddress": {"AWS:SOURCEIP": "127.0.0.1/32"}}) == "Allow"


def test_existing_object_tag():
    c = {"StringEquals": {"s3:ExistingObjectTag/share": "yes"}}
    assert cond(c, tags={"share": "yes"}) == "Allow"
    assert cond(c, tags={"share": "no"}) is None
    assert cond(c, tags=None) is None


def test_signature_version_and_username():
    assert cond({"StringEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}},
                signature_version="AWS4-HMAC-SHA256") == "Allow"
    assert cond({"StringEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}},
                signature_version="AWS") is None
    assert cond({"StringEquals": {"aws:username": "KEY1"}}, principal="KEY1") == "Allow"
    assert cond({"StringEquals": {"aws:username": "KEY1"}}) is None
    assert cond({"StringLike": {"aws:Referer": "https://${aws:username}.example/*"}},
                principal="KEY1", headers={"referer": "https://KEY1.example/p"}) == "Allow"


def test_prefix_and_delimiter_only_on_listings():
    from tests.unit.test_policy_language import decide, doc, stmt
    policy = doc(stmt(action="s3:ListBucket", resource="arn:aws:s3:::data",
                      Condition={"StringLike": {"s3:prefix": "public/*"},
                                 "StringEquals": {"s3:delimiter": "/"}}))
    listing = {"action": "s3:ListBucket", "key": None}
    assert decide(policy, Facts(**listing, query={"prefix": "public/a", "delimiter": "/"})) == "Allow"
    assert decide(policy, Facts(**listing, query={"prefix": "private/", "delimiter": "/"})) is None
    assert decide(policy, Facts(**listing, query={"prefix": "public/a"})) is None


def test_dates():
    c = {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}
    assert cond(c) == "Allow"  # now = 1.8e9 s: 2027
    assert cond({"DateGreaterThan": {"aws:EpochTime": "1900000000"}}) is None
