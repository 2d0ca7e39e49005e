"""HostPolicy: which Host headers a listener answers (DNS rebinding protection)."""

from __future__ import annotations

import pytest

from gateway.server.security import HostPolicy, split_host


@pytest.mark.parametrize(("value", "expected"), [
    ("localhost:30600", ("localhost", 30600)), ("LOCALHOST", ("localhost", None)),
    ("[::1]:30600", ("::1", 30600)), ("[::1]", ("::1", None)), ("example.com.:80", ("example.com", 80)),
    ("a:b", ("a:b", None)), ("127.0.0.1:", ("127.0.0.1:", None)),  # an empty port: no name of ours
])
def test_split_host(value, expected):
    assert split_host(value) == expected


def test_loopback_listener_answers_its_own_names_on_its_port():
    p = HostPolicy("127.0.0.1", 30600)
    assert all(p.allows(h) for h in ("127.0.0.1:30600", "localhost:30600", "[::1]:30600", None))
    assert not any(p.allows(h) for h in ("evil.example:30600", "localhost:30601", "localhost",
                                         "10.0.0.1:30600", "[::ffff:7f00:1]x", ""))


def test_port_80_may_be_left_out():
    p = HostPolicy("127.0.0.1", 80)
    assert p.allows("localhost") and p.allows("localhost:80") and not p.allows("localhost:8080")


def test_wildcard_listener_answers_any_ip_literal_but_no_foreign_name():
    p = HostPolicy("0.0.0.0", 9000)
    assert p.allows("10.1.2.3:9000") and p.allows("[fd00::5]:9000") and p.allows("localhost:9000")
    assert not p.allows("rebind.example:9000") and not p.allows("10.1.2.3:9001")
    specific = HostPolicy("10.1.2.3", 9000)
    assert specific.allows("10.1.2.3:9000") and not specific.allows("10.1.2.4:9000")


def test_allowed_entries():
    p = HostPolicy("127.0.0.1", 1, ["s3.test", "proxy.test:443", "*.b.test", ".c.test"])
    assert p.allows("s3.test:8080") and p.allows("proxy.test") is False
    assert p.allows("proxy.test:443") and not p.allows("proxy.test:444")
    assert p.allows("x.b.test") and p.allows("b.test") and p.allows("y.x.c.test")
    assert not p.allows("xb.test") and not p.allows("b.test.evil")
    assert HostPolicy("127.0.0.1", 1, ["*"]).allows("anything.at.all:5")
