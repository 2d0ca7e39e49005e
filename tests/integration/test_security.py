"""Browser-facing defences over raw HTTP: Host checking (DNS rebinding), security headers on
S3 and docs responses, and /~/metrics behind credentials.

Gateways here: the shared anonymous one (loopback default), an anonymous one with
``--allowed-hosts``, and two with credentials (one with ``--metrics-public``).
"""

from __future__ import annotations

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import Gateway, unique_repo

AK, SK = "AKIDHOSTTEST", "host-test-secret-value"


@pytest.fixture(scope="module")
def gw_allowed(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("hosts") / "data",
                "--allowed-hosts", "s3.example.test, *.buckets.test,proxy.test:8443")
    yield g
    g.stop()


@pytest.fixture(scope="module")
def gw_creds(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("hostscreds") / "data",
                env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})
    yield g
    g.stop()


@pytest.fixture(scope="module")
def gw_metrics_public(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("metricspub") / "data",
                env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK, "S3GW_METRICS_PUBLIC": "1"})
    yield g
    g.stop()


def with_host(gw, host: str, path: str = "/", method: str = "GET", **kw) -> httpx.Response:
    return httpx.request(method, gw.url + path, headers={"Host": host, **kw.pop("headers", {})},
                         timeout=10, **kw)


def signed(gw, method: str, path: str, host: str | None = None, body: bytes = b"") -> httpx.Response:
    """A SigV4-signed request as a client that reached the gateway by ``host`` would send it."""
    host = host or f"127.0.0.1:{gw.port}"
    req = AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                     headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    return httpx.request(method, gw.url + path, headers={**dict(req.headers.items()), "Host": host},
                         content=body, timeout=10)


def assert_refused(r: httpx.Response) -> None:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/xml"
    assert "<Code>InvalidRequest</Code>" in r.text and "--allowed-hosts" in r.text


def test_anonymous_default_answers_only_its_own_host_names(gateway, s3):
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"data")
    port = gateway.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}",
                 f"127.0.0.2:{port}"):
        r = with_host(gateway, host, f"/{bucket}", params={"list-type": "2"})
        assert r.status_code == 200 and "secret.txt" in r.text, host
    # a rebinding page's own name, or the right name on another port: refused, nothing read
    for host in (f"attacker.example:{port}", "attacker.example", f"localhost:{port + 1}",
                 f"localhost.attacker.example:{port}", f"10.1.2.3:{port}", f"127.0.0.1.nip.io:{port}"):
        r = with_host(gateway, host, f"/{bucket}", params={"list-type": "2"})
        assert_refused(r)
        assert "secret.txt" not in r.text
    # nothing written or deleted through a foreign Host either
    assert_refused(with_host(gateway, "attacker.example", f"/{bucket}/new", "PUT", content=b"x"))
    assert_refused(with_host(gateway, "attacker.example", f"/{bucket}/secret.txt", "DELETE"))
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"data"
    assert "new" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    # the explorer, the docs, the metrics and the browser root apply the same list
    for path in ("/~/explorer/", f"/~/explorer/b/{bucket}/secret.txt", "/~/docs/", "/~/metrics",
                 "/~/openapi.json"):
        assert_refused(with_host(gateway, "attacker.example", path))
    assert_refused(with_host(gateway, "attacker.example", "/", headers={"Accept": "text/html"}))


def test_allowed_hosts_adds_names_domains_and_ports(gw_allowed):
    bucket = f"master.{unique_repo()}"
    assert httpx.put(f"{gw_allowed.url}/{bucket}").status_code == 200
    for host in ("s3.example.test", "s3.example.test:443", "S3.Example.Test.", "buckets.test",
                 "a.buckets.test:9000", "deep.a.buckets.test", "proxy.test:8443",
                 f"localhost:{gw_allowed.port}"):
        r = with_host(gw_allowed, host, f"/{bucket}", params={"list-type": "2"})
        assert r.status_code == 200, (host, r.text)
    for host in ("example.test", "s3.example.test.evil", "xbuckets.test", "proxy.test",
                 "proxy.test:8444", "evil.test"):
        assert_refused(with_host(gw_allowed, host, f"/{bucket}", params={"list-type": "2"}))
    assert with_host(gw_allowed, "s3.example.test", "/~/explorer/").status_code == 200


def test_with_credentials_signed_s3_requests_carry_their_host_and_the_rest_is_checked(gw_creds):
    bucket = f"master.{unique_repo()}"
    # a client that reaches the gateway under another name (a proxy's): the signature covers it
    assert signed(gw_creds, "PUT", f"/{bucket}", host="gw.internal.test").status_code == 200
    r = signed(gw_creds, "GET", f"/{bucket}?list-type=2", host="gw.internal.test")
    assert r.status_code == 200, r.text
    # without a signature, any Host gets the S3 answer (403), never data
    r = with_host(gw_creds, "attacker.example", f"/{bucket}", params={"list-type": "2"})
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    # open endpoints and the explorer: the Host list applies
    for path in ("/~/explorer/login", "/~/docs/", "/~/metrics", "/~/openapi.json"):
        assert_refused(with_host(gw_creds, "attacker.example", path))
    # probes may use any name: health and readiness say only "ok"
    assert with_host(gw_creds, "10.0.0.7:8080", "/~/health").status_code == 200
    assert httpx.get(gw_creds.url + "/~/explorer/login").status_code == 200


def test_s3_responses_carry_nosniff_and_a_sandbox(gateway, s3):
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a.html", Body=b"<script>alert(1)</script>", ContentType="text/html")
    url = gateway.url
    responses = [httpx.get(f"{url}/{bucket}/a.html"), httpx.head(f"{url}/{bucket}/a.html"),
                 httpx.get(f"{url}/{bucket}/a.html", params={"response-content-type": "text/html"}),
                 httpx.get(f"{url}/{bucket}/a.html", headers={"Range": "bytes=0-3"}),
                 httpx.get(f"{url}/{bucket}/missing"), httpx.get(f"{url}/"),
                 httpx.get(f"{url}/{bucket}", params={"list-type": "2"}),
                 httpx.get(f"{url}/~/openapi.json"), httpx.get(f"{url}/~/health")]
    for r in responses:
        assert r.headers.get("x-content-type-options") == "nosniff", r.request.url
        csp = r.headers.get("content-security-policy", "")
        assert "sandbox" in csp and "default-src 'none'" in csp, r.request.url
    assert responses[0].content == b"<script>alert(1)</script>"


def test_docs_pages_have_a_csp_that_allows_only_swagger_uis_own_script(gateway):
    r = httpx.get(gateway.url + "/~/docs/")
    assert r.status_code == 200 and "swagger-ui" in r.text
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "sandbox" not in csp
    assert "'sha256-" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    js = httpx.get(gateway.url + "/~/docs/swagger-ui-bundle.js")
    assert js.status_code == 200 and js.headers["x-content-type-options"] == "nosniff"


def test_metrics_want_a_signature_when_credentials_are_configured(gw_creds, gw_metrics_public, gateway):
    r = httpx.get(gw_creds.url + "/~/metrics")
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    assert "s3gw_requests_total" not in r.text
    r = signed(gw_creds, "GET", "/~/metrics")
    assert r.status_code == 200 and "s3gw_requests_total" in r.text
    # opened on purpose, and on the anonymous default
    assert "s3gw_requests_total" in httpx.get(gw_metrics_public.url + "/~/metrics").text
    assert "s3gw_requests_total" in httpx.get(gateway.url + "/~/metrics").text
    # health and readiness stay open for probes
    assert httpx.get(gw_creds.url + "/~/health").status_code == 200
    assert httpx.get(gw_creds.url + "/~/ready").status_code == 200
