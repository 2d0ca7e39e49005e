"""POST Object: browser form uploads (multipart/form-data) with the form's own signature.

Forms are built by boto3's ``generate_presigned_post`` (SigV4, and SigV2 with the default
signer) or by hand, and posted with httpx as a browser would: fields first, the file last.
The gateway WITH credentials is the shared ``signed_gateway``; anonymous forms also go to the
anonymous session gateway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo
from tests.integration.conftest import in_process_gateway
from tests.integration.test_auth import AK2, SK2


@pytest.fixture(scope="module")
def signed_s3(signed_gateway):
    import boto3
    from botocore.config import Config

    from tests.integration.test_auth import AK, SK

    return boto3.client("s3", endpoint_url=signed_gateway.url, region_name="us-east-1",
                        aws_access_key_id=AK, aws_secret_access_key=SK,
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      retries={"max_attempts": 1}))


@pytest.fixture
def sbucket(signed_s3) -> str:
    """A bucket of the first key that the second key may write to (its ACL grants it WRITE)."""
    from tests.integration.test_auth import AK, AK2

    name = f"master.{unique_repo()}"
    ids = [hashlib.sha256(k.encode()).hexdigest() for k in (AK, AK2)]
    signed_s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter",
                            GrantFullControl=f'id="{ids[0]}"', GrantWrite=f'id="{ids[1]}"')
    return name


def post(form: dict, content: bytes = b"hello form", filename: str = "hello.txt",
         after: dict | None = None, **kw) -> httpx.Response:
    """Post ``form['fields']`` then the file (then ``after`` fields) to ``form['url']``."""
    files = [(k, (None, v)) for k, v in form["fields"].items()]
    files.append(("file", (filename, content, "text/plain")))
    files += [(k, (None, v)) for k, v in (after or {}).items()]
    return httpx.post(form["url"], files=files, timeout=30, **kw)


def error_code(resp: httpx.Response) -> str:
    return ElementTree.fromstring(resp.content).findtext("Code")


def missing(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        return e.response["Error"]["Code"] == "404"
    return False


def test_presigned_post_sigv4_end_to_end(signed_s3, sbucket):
    form = signed_s3.generate_presigned_post(sbucket, "docs/a.txt", ExpiresIn=300)
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    r = post(form, b"posted bytes")
    assert r.status_code == 204, r.text
    assert r.headers["etag"] == f'"{hashlib.md5(b"posted bytes").hexdigest()}"'
    assert r.headers["x-pfs-commit"]
    assert r.headers["location"].endswith(f"/{sbucket}/docs/a.txt")
    assert signed_s3.get_object(Bucket=sbucket, Key="docs/a.txt")["Body"].read() == b"posted bytes"


def test_presigned_post_default_signer_and_second_key(signed_gateway, signed_s3, sbucket):
    """boto3's default signer (SigV2 forms on a custom endpoint) with the file's key pair."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=signed_gateway.url, region_name="us-east-1",
                      aws_access_key_id=AK2, aws_secret_access_key=SK2,
                      config=Config(s3={"addressing_style": "path"}))
    form = s3.generate_presigned_post(sbucket, "v.bin", ExpiresIn=300)
    r = post(form, b"\x00\x01binary")
    assert r.status_code == 204, r.text
    assert signed_s3.get_object(Bucket=sbucket, Key="v.bin")["Body"].read() == b"\x00\x01binary"


def sigv2_form(url: str, bucket: str, key: str, conditions: list, access=AK2, secret=SK2,
               expires: datetime | None = None, **fields) -> dict:
    expires = expires or datetime.now(UTC) + timedelta(minutes=5)
    doc = {"expiration": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
           "conditions": [{"bucket": bucket}, *conditions]}
    policy = base64.b64encode(json.dumps(doc).encode()).decode()
    sig = base64.b64encode(hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    return {"url": f"{url}/{bucket}", "fields": {"key": key, "AWSAccessKeyId": access, "policy": policy,
                                                 "signature": sig, **fields}}


def test_sigv2_form_by_hand(signed_gateway, signed_s3, sbucket):
    form = sigv2_form(signed_gateway.url, sbucket, "two.txt", [["eq", "$key", "two.txt"]])
    assert post(form, b"v2").status_code == 204
    assert signed_s3.get_object(Bucket=sbucket, Key="two.txt")["Body"].read() == b"v2"
    form["fields"]["signature"] = base64.b64encode(b"x" * 20).decode()
    r = post(form, b"forged")
    assert r.status_code == 403 and error_code(r) == "SignatureDoesNotMatch"
    form = sigv2_form(signed_gateway.url, sbucket, "two.txt", [["eq", "$key", "two.txt"]],
                      access="NOSUCHKEY")
    r = post(form, b"who")
    assert r.status_code == 403 and error_code(r) == "InvalidAccessKeyId"
    assert signed_s3.get_object(Bucket=sbucket, Key="two.txt")["Body"].read() == b"v2"


def test_expired_policy_writes_nothing(signed_gateway, signed_s3, sbucket):
    form = sigv2_form(signed_gateway.url, sbucket, "late.txt", [["starts-with", "$key", ""]],
                      access=AK2, expires=datetime.now(UTC) - timedelta(seconds=5))
    r = post(form)
    assert r.status_code == 403 and error_code(r) == "AccessDenied"
    assert "Policy expired" in r.text
    assert missing(signed_s3, sbucket, "late.txt")


def test_bad_sigv4_signature(signed_s3, sbucket):
    form = signed_s3.generate_presigned_post(sbucket, "x.txt", ExpiresIn=300)
    form["fields"]["x-amz-signature"] = "0" * 64
    r = post(form)
    assert r.status_code == 403 and error_code(r) == "SignatureDoesNotMatch"
    assert missing(signed_s3, sbucket, "x.txt")
    # a policy changed after signing fails the same way
    form = signed_s3.generate_presigned_post(sbucket, "x.txt", ExpiresIn=300)
    doc = json.loads(base64.b64decode(form["fields"]["policy"]))
    doc["conditions"].append(["content-length-range", 0, 10 ** 9])
    form["fields"]["policy"] = base64.b64encode(json.dumps(doc).encode()).decode()
    assert error_code(post(form)) == "SignatureDoesNotMatch"


def test_starts_with_and_filename(signed_s3, sbucket):
    form = signed_s3.generate_presigned_post(sbucket, "uploads/${filename}", ExpiresIn=300)
    assert ["starts-with", "$key", "uploads/"] in json.loads(
        base64.b64decode(form["fields"]["policy"]))["conditions"]
    r = post(form, b"cat", filename="cat.txt")
    assert r.status_code == 204, r.text
    assert signed_s3.get_object(Bucket=sbucket, Key="uploads/cat.txt")["Body"].read() == b"cat"
    form["fields"]["key"] = "elsewhere/${filename}"
    r = post(form, b"dog", filename="dog.txt")
    assert r.status_code == 403 and error_code(r) == "AccessDenied"
    assert 'Policy Condition failed: ["starts-with", "$key", "uploads/"]' in r.text
    assert missing(signed_s3, sbucket, "elsewhere/dog.txt")


def test_content_length_range(signed_s3, sbucket):
    form = signed_s3.generate_presigned_post(sbucket, "sized.bin", ExpiresIn=300,
                                             Conditions=[["content-length-range", 2, 10]])
    r = post(form, b"x" * 11)
    assert r.status_code == 400 and error_code(r) == "EntityTooLarge"
    root = ElementTree.fromstring(r.content)
    assert root.findtext("MaxSizeAllowed") == "10"
    r = post(form, b"x")
    assert r.status_code == 400 and error_code(r) == "EntityTooSmall"
    assert missing(signed_s3, sbucket, "sized.bin")
    # a big file past the limit: refused as it streams, nothing written
    big = signed_s3.generate_presigned_post(sbucket, "big.bin", ExpiresIn=300,
                                            Conditions=[["content-length-range", 0, 1 << 20]])
    r = post(big, b"y" * (3 << 20))
    assert r.status_code == 400 and error_code(r) == "EntityTooLarge"
    assert missing(signed_s3, sbucket, "big.bin")
    assert post(form, b"x" * 10).status_code == 204
    assert signed_s3.get_object(Bucket=sbucket, Key="sized.bin")["ContentLength"] == 10


def test_success_action_redirect_and_status(signed_s3, sbucket):
    target = "http://127.0.0.1:1/done?from=form"
    form = signed_s3.generate_presigned_post(sbucket, "r.txt", ExpiresIn=300,
                                             Fields={"success_action_redirect": target},
                                             Conditions=[{"success_action_redirect": target}])
    r = post(form, b"redirected")
    assert r.status_code == 303, r.text
    loc = urlsplit(r.headers["location"])
    assert loc.netloc == "127.0.0.1:1" and loc.path == "/done"
    q = parse_qs(loc.query)
    assert q["from"] == ["form"] and q["bucket"] == [sbucket] and q["key"] == ["r.txt"]
    assert q["etag"] == [f'"{hashlib.md5(b"redirected").hexdigest()}"']

    form = signed_s3.generate_presigned_post(sbucket, "s.txt", ExpiresIn=300,
                                             Fields={"success_action_status": "201"},
                                             Conditions=[{"success_action_status": "201"}])
    r = post(form, b"created")
    assert r.status_code == 201
    root = ElementTree.fromstring(r.content)
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    assert root.tag == f"{ns}PostResponse"
    assert root.findtext(f"{ns}Bucket") == sbucket and root.findtext(f"{ns}Key") == "s.txt"
    assert root.findtext(f"{ns}ETag") == f'"{hashlib.md5(b"created").hexdigest()}"'


def test_fields_need_conditions_and_metadata_is_stored(signed_s3, sbucket):
    tagging = ("<Tagging><TagSet><Tag><Key>team</Key><Value>vision</Value></Tag></TagSet>"
               "</Tagging>")
    fields = {"Content-Type": "text/csv", "x-amz-meta-origin": "browser", "tagging": tagging,
              "Cache-Control": "no-cache"}
    form = signed_s3.generate_presigned_post(sbucket, "m.csv", ExpiresIn=300, Fields=fields,
                                             Conditions=[{k: v} for k, v in fields.items()])
    r = post(form, b"a,b\n")
    assert r.status_code == 204, r.text
    head = signed_s3.head_object(Bucket=sbucket, Key="m.csv")
    assert head["ContentType"] == "text/csv" and head["Metadata"] == {"origin": "browser"}
    assert head["CacheControl"] == "no-cache"
    assert signed_s3.get_object_tagging(Bucket=sbucket, Key="m.csv")["TagSet"] == [
        {"Key": "team", "Value": "vision"}]
    # a field no condition names
    form = signed_s3.generate_presigned_post(sbucket, "n.txt", ExpiresIn=300)
    form["fields"]["x-amz-meta-sneaky"] = "1"
    r = post(form)
    assert r.status_code == 403 and "Extra input fields: x-amz-meta-sneaky" in r.text
    assert missing(signed_s3, sbucket, "n.txt")
    # fields after the file are ignored, as S3 does
    form = signed_s3.generate_presigned_post(sbucket, "late-field.txt", ExpiresIn=300)
    r = post(form, b"ok", after={"x-amz-meta-after": "ignored"})
    assert r.status_code == 204, r.text
    assert signed_s3.head_object(Bucket=sbucket, Key="late-field.txt")["Metadata"] == {}


def test_checksum_field(signed_s3, sbucket):
    good = base64.b64encode(hashlib.sha256(b"summed").digest()).decode()
    for value, status in ((base64.b64encode(b"\x00" * 32).decode(), 400), (good, 204)):
        form = signed_s3.generate_presigned_post(sbucket, "c.txt", ExpiresIn=300,
                                                 Fields={"x-amz-checksum-sha256": value},
                                                 Conditions=[{"x-amz-checksum-sha256": value}])
        r = post(form, b"summed")
        assert r.status_code == status, r.text
        if status == 400:
            assert error_code(r) == "BadDigest"
            assert missing(signed_s3, sbucket, "c.txt")
    assert r.headers["x-amz-checksum-sha256"] == good


def test_anonymous_form_refused_with_credentials(signed_gateway, signed_s3, sbucket):
    r = post({"url": f"{signed_gateway.url}/{sbucket}", "fields": {"key": "anon.txt"}})
    assert r.status_code == 403 and error_code(r) == "AccessDenied"
    assert missing(signed_s3, sbucket, "anon.txt")


def test_anonymous_gateway_and_bad_forms(endpoint, s3, bucket):
    url = f"{endpoint}/{bucket}"
    r = post({"url": url, "fields": {"key": "free/${filename}"}}, b"anon", filename="f.txt")
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="free/f.txt")["Body"].read() == b"anon"
    r = httpx.post(url, content=b"key=a", headers={"Content-Type": "text/plain"}, timeout=30)
    assert r.status_code == 412 and error_code(r) == "PreconditionFailed"
    r = httpx.post(url, files=[("key", (None, "nofile"))], timeout=30)
    assert r.status_code == 400 and error_code(r) == "InvalidArgument"
    r = httpx.post(url, files=[("file", ("f", b"x"))], timeout=30)
    assert r.status_code == 400 and error_code(r) == "InvalidArgument" and "'key'" in r.text
    r = httpx.post(url, content=b"--b\r\nnot a form", timeout=30, headers={
        "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400 and error_code(r) in ("MalformedPOSTRequest", "InvalidArgument")
    r = post({"url": url, "fields": {"key": "p.txt", "policy": "not base64!"}})
    assert r.status_code == 400 and error_code(r) == "InvalidPolicyDocument"
    assert missing(s3, bucket, "p.txt")
    r = post({"url": f"{endpoint}/master.{unique_repo()}", "fields": {"key": "k"}})
    assert r.status_code == 404 and error_code(r) == "NoSuchBucket"


def test_signed_header_post_still_works(signed_s3, sbucket):
    """A SigV4-signed POST (DeleteObjects) is untouched by the form path."""
    signed_s3.put_object(Bucket=sbucket, Key="d.txt", Body=b"1")
    out = signed_s3.delete_objects(Bucket=sbucket, Delete={"Objects": [{"Key": "d.txt"}]})
    assert out["Deleted"] == [{"Key": "d.txt"}]


def test_anonymous_form_allowed_by_a_bucket_policy(signed_gateway, signed_s3, sbucket):
    """With credentials, an unsigned form writes where a bucket policy lets anyone
    s3:PutObject (under its Resource only); the form's policy conditions still apply."""
    signed_s3.put_bucket_policy(Bucket=sbucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{sbucket}/drop/*"}]}))
    url = f"{signed_gateway.url}/{sbucket}"
    r = post({"url": url, "fields": {"key": "drop/${filename}"}}, b"public", filename="p.txt")
    assert r.status_code == 204, r.text
    assert signed_s3.get_object(Bucket=sbucket, Key="drop/p.txt")["Body"].read() == b"public"
    r = post({"url": url, "fields": {"key": "elsewhere.txt"}})
    assert r.status_code == 403 and error_code(r) == "AccessDenied"
    assert missing(signed_s3, sbucket, "elsewhere.txt")


def test_acl_field_makes_a_public_object(signed_gateway, signed_s3, sbucket):
    """The form's ``acl`` field is the object's canned ACL: public-read is then readable with
    no signature, and the ACL reads back as set."""
    form = signed_s3.generate_presigned_post(sbucket, "pub.txt", ExpiresIn=300,
                                             Fields={"acl": "public-read"},
                                             Conditions=[{"acl": "public-read"}])
    r = post(form, b"for everyone")
    assert r.status_code == 204, r.text
    assert httpx.get(f"{signed_gateway.url}/{sbucket}/pub.txt", timeout=30).content == b"for everyone"
    grants = signed_s3.get_object_acl(Bucket=sbucket, Key="pub.txt")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants
    # a private object stays unreadable anonymously
    form = signed_s3.generate_presigned_post(sbucket, "priv.txt", ExpiresIn=300)
    assert post(form).status_code == 204
    assert httpx.get(f"{signed_gateway.url}/{sbucket}/priv.txt", timeout=30).status_code == 403


@pytest.mark.parametrize("extensions", [True, False], ids=["pfsd", "pachd-fallback"])
def test_form_upload_in_process(pfsd_address, extensions):
    """The same write with pfsd's extensions on and off (off: the client behaves as against
    pachd): a file past the policy's content-length-range leaves nothing, one inside it is
    written with its metadata, in one commit each."""
    import asyncio

    name = f"master.{unique_repo()}"
    doc = {"expiration": (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "conditions": [["starts-with", "$key", "in/"], ["content-length-range", 0, 8],
                          {"content-type": "text/plain"}]}
    fields = {"key": "in/${filename}", "Content-Type": "text/plain",
              "policy": base64.b64encode(json.dumps(doc).encode()).decode()}

    async def main() -> None:
        async with in_process_gateway(pfsd_address, extensions) as (http, _):
            assert (await http.put(f"/{name}")).status_code == 200
            files = [*((k, (None, v)) for k, v in fields.items()),
                     ("file", ("big.txt", b"x" * 9, "text/plain"))]
            r = await http.post(f"/{name}", files=files)
            assert r.status_code == 400 and b"EntityTooLarge" in r.content
            assert (await http.head(f"/{name}/in/big.txt")).status_code == 404
            files[-1] = ("file", ("ok.txt", b"12345678", "text/plain"))
            r = await http.post(f"/{name}", files=files)
            assert r.status_code == 204, r.text
            got = await http.get(f"/{name}/in/ok.txt")
            assert got.content == b"12345678" and got.headers["content-type"] == "text/plain"
            assert r.headers["etag"] == got.headers["etag"]

    asyncio.run(main())


def test_cross_site_forms_on_the_anonymous_gateway_need_a_cors_rule(endpoint, s3, bucket):
    """Another site's page could post a form to a local anonymous gateway (a form POST is not
    preflighted): refused unless the bucket's CORS rules let that origin POST."""
    url = f"{endpoint}/{bucket}"
    evil = {"Origin": "http://evil.example"}
    r = post({"url": url, "fields": {"key": "x.txt"}}, headers=evil)
    assert r.status_code == 403 and "Cross-site form upload refused" in r.text
    r = post({"url": url, "fields": {"key": "x.txt"}}, headers={"Origin": "null"})
    assert r.status_code == 403
    assert missing(s3, bucket, "x.txt")
    host = endpoint.split("://", 1)[1]
    r = post({"url": url, "fields": {"key": "same.txt"}}, headers={"Origin": f"http://{host}"})
    assert r.status_code == 204, r.text
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["http://app.example"], "AllowedMethods": ["POST"]}]})
    r = post({"url": url, "fields": {"key": "app.txt"}}, headers={"Origin": "http://app.example"})
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    assert post({"url": url, "fields": {"key": "x.txt"}}, headers=evil).status_code == 403
