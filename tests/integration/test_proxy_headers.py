"""X-Forwarded-Proto/-For count only from the proxies ``--forwarded-allow-ips`` names.

uvicorn believed them by default from 127.0.0.1, and looked for them on every request. Now the
gateway ignores them unless told which proxies to trust; what it uses them for is the scheme
(the explorer marks its cookies ``Secure`` behind an HTTPS proxy).
"""

from __future__ import annotations

import httpx
import pytest

from gateway.server.config import parse_args
from tests.conftest import Gateway

EXPLORER = "/~/explorer"
CREDENTIALS = ("--access-key", "AKIDPROXY", "--secret-key", "proxy-secret")


def csrf_cookie(gw: Gateway) -> str:
    r = httpx.get(gw.url + f"{EXPLORER}/login", headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 200
    return r.headers["set-cookie"]


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_proto_only_from_trusted_proxies(tmp_path, trusted):
    extra = ("--forwarded-allow-ips", "127.0.0.1") if trusted else ()
    gw = Gateway(tmp_path / "data", *CREDENTIALS, *extra)
    try:
        assert ("secure" in csrf_cookie(gw).lower()) is trusted
    finally:
        gw.stop()


def test_forwarded_allow_ips_flag_and_env(monkeypatch):
    assert parse_args([]).forwarded_allow_ips is None
    assert parse_args(["--forwarded-allow-ips", "10.0.0.1,10.0.0.2"]).forwarded_allow_ips == "10.0.0.1,10.0.0.2"
    monkeypatch.setenv("S3GW_FORWARDED_ALLOW_IPS", "*")
    assert parse_args([]).forwarded_allow_ips == "*"
