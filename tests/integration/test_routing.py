"""Routing from the spec: unsupported subresources, misses and errors are S3 XML."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx
import pytest

from gateway.server.spec import unsupported_subresources

METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"]


def error_code(resp: httpx.Response) -> str:
    root = ElementTree.fromstring(resp.content)
    assert root.tag == "Error"
    for child in ("Code", "Message", "Resource", "RequestId"):
        assert root.find(child) is not None, child
    assert root.findtext("RequestId") == resp.headers["x-amz-request-id"]
    return root.findtext("Code")


@pytest.mark.parametrize("sub", sorted(unsupported_subresources()) + ["someUnknownSubresource"])
@pytest.mark.parametrize("method", METHODS)
def test_unsupported_subresource_is_501_xml_on_every_method(endpoint, bucket, sub, method):
    for path in (f"/{bucket}?{sub}", f"/{bucket}/some/key?{sub}"):
        r = httpx.request(method, endpoint + path, content=b"<x/>" if method in ("PUT", "POST") else None)
        assert r.status_code == 501, (method, path, r.text)
        assert "x-amz-request-id" in r.headers
        if method != "HEAD":
            assert error_code(r) == "NotImplemented"


def test_unsupported_subresource_never_falls_through(endpoint, s3, bucket):
    # Pachyderm's gateway deletes the bucket on DELETE /b?ownershipControls; we must not,
    # whether the subresource is served (ownershipControls, now) or not (website).
    assert "website" in unsupported_subresources()
    r = httpx.delete(f"{endpoint}/{bucket}?website")
    assert r.status_code == 501
    s3.head_bucket(Bucket=bucket)
    r = httpx.delete(f"{endpoint}/{bucket}?ownershipControls")
    assert r.status_code == 204
    s3.head_bucket(Bucket=bucket)


def test_form_post_to_bucket_without_a_key_field_is_xml_400(endpoint, bucket):
    # POST Object is served (test_post_object.py); a form without its "key" field is S3's 400
    r = httpx.post(f"{endpoint}/{bucket}", files={"file": ("a.txt", b"x")})
    assert r.status_code == 400
    assert error_code(r) == "InvalidArgument"


def test_unknown_method_is_xml_405(endpoint, bucket):
    r = httpx.request("PATCH", f"{endpoint}/{bucket}/k")
    assert r.status_code == 405
    assert error_code(r) == "MethodNotAllowed"


def test_post_on_object_without_subresource_is_xml(endpoint, bucket):
    r = httpx.post(f"{endpoint}/{bucket}/k", content=b"x")
    assert r.status_code == 501
    assert error_code(r) == "NotImplemented"


def test_validation_failure_is_xml_invalid_argument(endpoint, bucket):
    r = httpx.get(f"{endpoint}/{bucket}?max-keys=-1")
    assert r.status_code == 400
    assert error_code(r) == "InvalidArgument"
    r = httpx.get(f"{endpoint}/{bucket}?max-keys=abc")
    assert r.status_code == 400
    assert error_code(r) == "InvalidArgument"


def test_every_response_has_a_request_id(endpoint, bucket):
    for r in (httpx.get(endpoint + "/"), httpx.head(f"{endpoint}/{bucket}"),
              httpx.get(f"{endpoint}/{bucket}/missing")):
        assert len(r.headers["x-amz-request-id"]) == 16


def test_docs_and_health_live_where_no_bucket_can(endpoint):
    assert httpx.get(endpoint + "/~/health").text == "ok\n"
    assert httpx.get(endpoint + "/~/ready").status_code == 200
    spec = httpx.get(endpoint + "/~/openapi.json").json()
    assert "/{Bucket}/{Key}" in spec["paths"]
    ui = httpx.get(endpoint + "/~/docs/", follow_redirects=True)
    assert ui.status_code == 200 and "swagger" in ui.text.lower()


def test_unknown_internal_path_is_xml_404(endpoint):
    r = httpx.get(endpoint + "/~/nothing-here")
    assert r.status_code == 404
    assert error_code(r) == "NotFound"



def test_required_header_parameter_missing_is_xml_invalid_argument(endpoint, bucket):
    # GetObjectAttributes declares x-amz-object-attributes required (the spec's only
    # header check a client can fail): refused as S3 XML without it, served with it
    httpx.put(f"{endpoint}/{bucket}/attrs-checked", content=b"x").raise_for_status()
    r = httpx.get(f"{endpoint}/{bucket}/attrs-checked?attributes")
    assert r.status_code == 400
    assert error_code(r) == "InvalidArgument"
    assert "x-amz-object-attributes" in r.text
    r = httpx.get(f"{endpoint}/{bucket}/attrs-checked?attributes",
                  headers={"x-amz-object-attributes": "ObjectSize"})
    assert r.status_code == 200
