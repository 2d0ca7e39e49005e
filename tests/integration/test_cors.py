"""CORS: Put/Get/DeleteBucketCors with boto3, preflights and actual requests over raw HTTP.

Against the shared gateway WITH credentials (preflights are never signed, so they must be
answered without a signature), plus one anonymous gateway started with a default rule
(``--cors-allow-origin``) for buckets without rules of their own.
"""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Gateway, boto3_client, unique_repo
from tests.integration.test_auth import client as signed_client

APP = "https://app.example"
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-methods",
                "access-control-allow-headers", "access-control-expose-headers",
                "access-control-max-age", "access-control-allow-credentials", "vary")


def error(r: httpx.Response) -> tuple[int, str | None, str | None]:
    from xml.etree import ElementTree

    root = ElementTree.fromstring(r.content)
    return r.status_code, root.findtext("Code"), root.findtext("Message")


def cors_of(r: httpx.Response) -> dict[str, str]:
    return {k: r.headers[k] for k in CORS_HEADERS if k in r.headers}


def preflight(url: str, origin: str | None = APP, method: str | None = "GET",
              headers: str | None = None) -> httpx.Response:
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return httpx.options(url, headers=h)


RULES = {"CORSRules": [
    {"ID": "app", "AllowedOrigins": [APP], "AllowedMethods": ["GET", "PUT", "HEAD"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-version-id"],
     "MaxAgeSeconds": 3000},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]}


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway


@pytest.fixture(scope="module")
def s3c(gw):
    return signed_client(gw)


@pytest.fixture
def cbucket(s3c) -> str:
    """A bucket with RULES and one object, ``k``."""
    name = f"master.{unique_repo()}"
    s3c.create_bucket(Bucket=name)
    s3c.put_object(Bucket=name, Key="k", Body=b"shared bytes")
    s3c.put_bucket_cors(Bucket=name, CORSConfiguration=RULES)
    return name


# --- the configuration ------------------------------------------------------------------------

def test_put_get_delete_bucket_cors(gw, s3c):
    name = f"master.{unique_repo()}"
    s3c.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3c.get_bucket_cors(Bucket=name)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    r = s3c.put_bucket_cors(Bucket=name, CORSConfiguration=RULES)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-pfs-commit"]
    assert s3c.get_bucket_cors(Bucket=name)["CORSRules"] == RULES["CORSRules"]
    # replaced whole
    s3c.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [RULES["CORSRules"][1]]})
    assert s3c.get_bucket_cors(Bucket=name)["CORSRules"] == [RULES["CORSRules"][1]]
    assert s3c.delete_bucket_cors(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3c.get_bucket_cors(Bucket=name)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    assert s3c.delete_bucket_cors(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    # the rules are not objects
    assert s3c.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_missing_bucket(s3c):
    name = f"master.{unique_repo()}"
    for call in (lambda: s3c.get_bucket_cors(Bucket=name),
                 lambda: s3c.delete_bucket_cors(Bucket=name),
                 lambda: s3c.put_bucket_cors(Bucket=name, CORSConfiguration=RULES)):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "NoSuchBucket"


@pytest.mark.parametrize(("rules", "code", "message"), [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest",
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    ([{"AllowedOrigins": ["http://*.*.example"], "AllowedMethods": ["GET"]}], "InvalidRequest",
     'AllowedOrigin "http://*.*.example" can not have more than one wildcard.'),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["*"]}], "InvalidRequest", None),
    ([], "MalformedXML", None),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "MalformedXML", None),
])
def test_invalid_rules_store_nothing(s3c, cbucket, rules, code, message):
    with pytest.raises(ClientError) as e:
        s3c.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": rules})
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]) == (400, code)
    if message:
        assert e.value.response["Error"]["Message"] == message
    assert s3c.get_bucket_cors(Bucket=cbucket)["CORSRules"] == RULES["CORSRules"]


def test_put_needs_an_integrity_header_and_xml(gateway, s3):
    """Raw PUTs on the anonymous gateway: S3 requires Content-MD5 (or a checksum) here."""
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name)
    body = (b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
            b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>")
    url = f"{gateway.url}/{name}?cors"
    status, code, message = error(httpx.put(url, content=body))
    assert (status, code, message) == (400, "InvalidRequest", "Missing required header for this request: Content-MD5")
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert error(httpx.put(url, content=body, headers={"Content-MD5": md5}))[:2] == (400, "BadDigest")
    bad = b"<CORSConfiguration><CORSRule>"
    md5 = base64.b64encode(hashlib.md5(bad).digest()).decode()
    assert error(httpx.put(url, content=bad, headers={"Content-MD5": md5}))[:2] == (400, "MalformedXML")
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    assert httpx.put(url, content=body, headers={"Content-MD5": md5}).status_code == 200
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"] == [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]


# --- preflights -------------------------------------------------------------------------------

def test_preflight_allowed(gw, cbucket):
    r = preflight(f"{gw.url}/{cbucket}/some/key", method="PUT", headers="content-type,x-amz-date")
    assert r.status_code == 200 and r.content == b""
    assert cors_of(r) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET, PUT, HEAD",
        "access-control-allow-headers": "content-type, x-amz-date",
        "access-control-expose-headers": "ETag, x-amz-version-id",
        "access-control-max-age": "3000",
        "access-control-allow-credentials": "true",
        "vary": VARY,
    }
    # any origin may GET (the second rule): answered '*', without credentials
    r = preflight(f"{gw.url}/{cbucket}", origin="http://elsewhere.example")
    assert r.status_code == 200
    assert cors_of(r) == {"access-control-allow-origin": "*", "access-control-allow-methods": "GET",
                          "vary": VARY}


def test_preflight_of_a_presigned_url(gw, s3c, cbucket):
    url = s3c.generate_presigned_url("put_object", Params={"Bucket": cbucket, "Key": "up"})
    r = preflight(url, method="PUT")
    assert (r.status_code, r.headers["access-control-allow-origin"]) == (200, APP)


@pytest.mark.parametrize(("origin", "method", "headers"), [
    ("http://app.example", "PUT", None),  # another scheme: another origin
    ("https://app.example:443", "PUT", None),
    ("https://app.example/", "PUT", None),
    (APP, "DELETE", None),  # a method no rule allows
    (APP, "PUT", "content-type,authorization"),  # a header the rule does not allow
    ("http://elsewhere.example", "GET", "content-type"),  # the '*' rule allows no header
])
def test_preflight_refused(gw, cbucket, origin, method, headers):
    r = preflight(f"{gw.url}/{cbucket}/k", origin=origin, method=method, headers=headers)
    status, code, message = error(r)
    assert (status, code) == (403, "AccessForbidden")
    assert message.startswith("CORSResponse: This CORS request is not allowed.")
    assert not cors_of(r)


def test_preflight_without_rules_or_bucket(gw, s3c):
    name = f"master.{unique_repo()}"
    s3c.create_bucket(Bucket=name)
    r = preflight(f"{gw.url}/{name}/k", method="PUT")
    assert error(r) == (403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
    r = preflight(f"{gw.url}/master.{unique_repo()}/k")
    assert error(r) == (403, "AccessForbidden", "CORSResponse: Bucket not found")


def test_preflight_needs_origin_and_method(gw, cbucket):
    assert error(preflight(f"{gw.url}/{cbucket}/k", origin=None)) == (
        400, "BadRequest", "Insufficient information. Origin request header needed.")
    assert error(httpx.options(f"{gw.url}/{cbucket}")) [:2] == (400, "BadRequest")
    assert error(preflight(f"{gw.url}/{cbucket}/k", method=None)) == (
        400, "BadRequest", "Invalid Access-Control-Request-Method: null")


# --- actual requests --------------------------------------------------------------------------

def test_presigned_get_with_origin(gw, s3c, cbucket):
    url = s3c.generate_presigned_url("get_object", Params={"Bucket": cbucket, "Key": "k"})
    r = httpx.get(url, headers={"Origin": APP})
    assert (r.status_code, r.content) == (200, b"shared bytes")
    assert cors_of(r) == {
        "access-control-allow-origin": APP, "access-control-allow-methods": "GET, PUT, HEAD",
        "access-control-expose-headers": "ETag, x-amz-version-id", "access-control-max-age": "3000",
        "access-control-allow-credentials": "true", "vary": VARY}
    assert "access-control-allow-origin" not in httpx.get(url).headers  # no Origin: no CORS


def test_presigned_put_with_origin(gw, s3c, cbucket):
    url = s3c.generate_presigned_url("put_object", Params={"Bucket": cbucket, "Key": "up"})
    r = httpx.put(url, content=b"from a page", headers={"Origin": APP})
    assert (r.status_code, r.headers["access-control-allow-origin"]) == (200, APP)
    assert s3c.get_object(Bucket=cbucket, Key="up")["Body"].read() == b"from a page"


def test_errors_carry_cors_headers(gw, s3c, cbucket):
    # an unsigned request is refused, and the page may read why
    r = httpx.get(f"{gw.url}/{cbucket}/k", headers={"Origin": APP})
    assert error(r)[:2] == (403, "AccessDenied")
    assert r.headers["access-control-allow-origin"] == APP
    url = s3c.generate_presigned_url("get_object", Params={"Bucket": cbucket, "Key": "missing"})
    r = httpx.get(url, headers={"Origin": "http://elsewhere.example"})
    assert error(r)[:2] == (404, "NoSuchKey")
    assert r.headers["access-control-allow-origin"] == "*"


def test_no_match_no_headers(gw, s3c, cbucket):
    url = s3c.generate_presigned_url("delete_object", Params={"Bucket": cbucket, "Key": "k"})
    r = httpx.delete(url, headers={"Origin": APP})  # DELETE: no rule; S3 still does it
    assert r.status_code == 204
    assert not cors_of(r)
    url = s3c.generate_presigned_url("get_object", Params={"Bucket": cbucket, "Key": "k"})
    # an actual request is matched by Access-Control-Request-Method when it names one
    r = httpx.get(url, headers={"Origin": APP, "Access-Control-Request-Method": "DELETE"})
    assert r.status_code == 404 and not cors_of(r)


def test_signed_sdk_request_with_origin(s3c, cbucket):
    def add_origin(request, **_):
        request.headers["Origin"] = APP

    s3c.meta.events.register("before-sign.s3.HeadObject", add_origin)
    try:
        r = s3c.head_object(Bucket=cbucket, Key="k")
    finally:
        s3c.meta.events.unregister("before-sign.s3.HeadObject", add_origin)
    assert r["ResponseMetadata"]["HTTPHeaders"]["access-control-allow-origin"] == APP


def test_rules_follow_the_bucket(gw, s3c, cbucket):
    """A change is seen by the next request (this gateway made it), and rules of one bucket
    never answer for another."""
    s3c.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["http://*.other.example"], "AllowedMethods": ["POST"]}]})
    assert preflight(f"{gw.url}/{cbucket}/k").status_code == 403
    assert preflight(f"{gw.url}/{cbucket}/k", origin="http://a.other.example", method="POST").status_code == 200
    s3c.delete_bucket_cors(Bucket=cbucket)
    assert error(preflight(f"{gw.url}/{cbucket}/k"))[2] == "CORSResponse: CORS is not enabled for this bucket."


# --- the gateway's default rule ---------------------------------------------------------------

@pytest.fixture(scope="module")
def dgw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("corsgw") / "data", env={"S3GW_CORS_ALLOW_ORIGINS": f"{APP}, http://*.lab.example"})
    yield g
    g.stop()


def test_default_rule_serves_buckets_without_rules(dgw):
    s3 = boto3_client(dgw.url)
    plain, own = f"master.{unique_repo()}", f"master.{unique_repo()}"
    for name in (plain, own):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.put_bucket_cors(Bucket=own, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["http://own.example"], "AllowedMethods": ["GET"]}]})
    r = preflight(f"{dgw.url}/{plain}/k", method="DELETE", headers="authorization,x-amz-date")
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-headers"] == "authorization, x-amz-date"
    assert r.headers["access-control-expose-headers"].startswith("ETag")
    r = httpx.get(f"{dgw.url}/{plain}/k", headers={"Origin": "http://x.lab.example"})
    assert r.headers["access-control-allow-origin"] == "http://x.lab.example"
    assert preflight(f"{dgw.url}/{plain}/k", origin="http://evil.example").status_code == 403
    # a bucket's own rules replace the default
    assert preflight(f"{dgw.url}/{own}/k").status_code == 403
    assert preflight(f"{dgw.url}/{own}/k", origin="http://own.example").status_code == 200
    # the service itself (ListBuckets) has only the default
    assert preflight(f"{dgw.url}/").headers["access-control-allow-origin"] == APP


def test_explorer_and_internal_paths_never_get_cors(dgw):
    for path in ("/~/health", "/~/explorer/", "/~/openapi.json"):
        r = httpx.get(dgw.url + path, headers={"Origin": APP}, follow_redirects=True)
        assert r.status_code == 200, path
        assert not cors_of(r), path
        assert not cors_of(preflight(dgw.url + path)), path


def test_bad_default_rule_refuses_to_start():
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "gateway", "--cors-allow-origin", "http://*.*"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "can not have more than one wildcard" in out.stderr
