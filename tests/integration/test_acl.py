"""Identities, owners, ACLs and ownership controls, end to end: a gateway with two key pairs
(tests/integration/conftest.py's ``signed_gateway``), driven with boto3 and the minio SDK for
each key, and raw httpx for anonymous requests."""

from __future__ import annotations

import hashlib
import io
import uuid
import xml.etree.ElementTree as ET

import grpc
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo
from tests.integration.test_auth import AK, AK2, SK, SK2

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
ID_A = hashlib.sha256(AK.encode()).hexdigest()
ID_B = hashlib.sha256(AK2.encode()).hexdigest()


def client(gw, ak: str, sk: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk, config=Config(s3={"addressing_style": "path"},
                                                                retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def a(signed_gateway):
    return client(signed_gateway, AK, SK)


@pytest.fixture(scope="module")
def b(signed_gateway):
    return client(signed_gateway, AK2, SK2)


@pytest.fixture
def url(signed_gateway):
    return signed_gateway.url


def code(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def anon(method: str, url: str, **kw) -> tuple[int, str]:
    r = httpx.request(method, url, **kw)
    found = ET.fromstring(r.content).findtext("Code") if r.content.startswith(b"<?xml") and r.status_code >= 300 else ""
    return r.status_code, found or ""


def new_bucket(s3, **kw) -> str:
    name = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=name, **kw)
    return name


def grants(acl: dict) -> list[tuple[str, str]]:
    return [(g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in acl["Grants"]]


def test_default_still_refuses_every_anonymous_request(a, url):
    bucket = new_bucket(a)
    a.put_object(Bucket=bucket, Key="k", Body=b"secret")
    for method, path, query in [("GET", "/", ""), ("GET", f"/{bucket}", ""), ("HEAD", f"/{bucket}", ""),
                                ("GET", f"/{bucket}/k", ""), ("HEAD", f"/{bucket}/k", ""),
                                ("PUT", f"/{bucket}/k", ""), ("DELETE", f"/{bucket}/k", ""),
                                ("GET", f"/{bucket}", "acl"), ("GET", f"/{bucket}/k", "acl"),
                                ("PUT", f"/{bucket}", "acl"), ("GET", f"/{bucket}", "cors"),
                                ("GET", f"/{bucket}", "ownershipControls"),
                                ("PUT", "/master.nosuchbucket", ""), ("GET", "/no", ""),
                                ("POST", f"/{bucket}", "delete")]:
        status, err = anon(method, f"{url}{path}?{query}", content=b"x" if method == "PUT" else None)
        assert status == 403, (method, path, query, status)
        assert method == "HEAD" or err == "AccessDenied", (method, path, query, err)
    assert a.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"


def test_each_key_is_a_user_and_buckets_have_owners(a, b):
    bucket = new_bucket(a)
    a.put_object(Bucket=bucket, Key="k", Body=b"mine")
    assert code(lambda: b.create_bucket(Bucket=bucket)) == "BucketAlreadyExists"
    assert code(lambda: a.create_bucket(Bucket=bucket)) == "BucketAlreadyOwnedByYou"
    for call in (lambda: b.get_object(Bucket=bucket, Key="k"), lambda: b.list_objects_v2(Bucket=bucket),
                 lambda: b.put_object(Bucket=bucket, Key="x", Body=b"x"),
                 lambda: b.delete_object(Bucket=bucket, Key="k"), lambda: b.get_bucket_acl(Bucket=bucket),
                 lambda: b.delete_bucket(Bucket=bucket)):
        assert code(call) == "AccessDenied"
    listed_a, listed_b = a.list_buckets(), b.list_buckets()
    assert listed_a["Owner"] == {"ID": ID_A, "DisplayName": AK}
    assert listed_b["Owner"] == {"ID": ID_B, "DisplayName": AK2}
    assert bucket in [x["Name"] for x in listed_a["Buckets"]]
    assert bucket not in [x["Name"] for x in listed_b["Buckets"]]
    page = a.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert page["Contents"][0]["Owner"] == {"ID": ID_A, "DisplayName": AK}
    acl = a.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"] == {"ID": ID_A, "DisplayName": AK}
    assert grants(acl) == [(ID_A, "FULL_CONTROL")]
    # the owner keeps everything
    a.delete_object(Bucket=bucket, Key="k")
    a.delete_bucket(Bucket=bucket)


def test_bucket_owner_enforced_is_the_default(a, url):
    bucket = new_bucket(a)
    rules = a.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert code(lambda: a.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")) \
        == "AccessControlListNotSupported"
    assert code(lambda: a.put_bucket_acl(Bucket=bucket, ACL="public-read")) == "AccessControlListNotSupported"
    a.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    a.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="private")  # the owner's own: equivalent
    assert grants(a.get_object_acl(Bucket=bucket, Key="k")) == [(ID_A, "FULL_CONTROL")]
    assert anon("GET", f"{url}/{bucket}/k")[0] == 403
    assert code(lambda: a.create_bucket(Bucket=f"master.{unique_repo()}", ACL="public-read")) \
        == "InvalidBucketAclWithObjectOwnership"
    a.delete_bucket_ownership_controls(Bucket=bucket)
    assert code(lambda: a.get_bucket_ownership_controls(Bucket=bucket)) == "OwnershipControlsNotFoundError"
    a.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")  # ACLs work again
    assert anon("GET", f"{url}/{bucket}/k")[0] == 200


def test_public_read_bucket_lists_anonymously_but_takes_no_anonymous_writes(a, b, url):
    bucket = new_bucket(a, ACL="public-read", ObjectOwnership="ObjectWriter")
    a.put_object(Bucket=bucket, Key="data/one.csv", Body=b"1,2\n")
    assert grants(a.get_bucket_acl(Bucket=bucket)) == [(ID_A, "FULL_CONTROL"), (ALL_USERS, "READ")]
    r = httpx.get(f"{url}/{bucket}", params={"list-type": "2"})
    assert r.status_code == 200 and b"<Key>data/one.csv</Key>" in r.content
    assert b.list_objects_v2(Bucket=bucket)["KeyCount"] == 1  # any key may read a public bucket too
    assert anon("PUT", f"{url}/{bucket}/evil", content=b"x") == (403, "AccessDenied")
    assert anon("DELETE", f"{url}/{bucket}/data/one.csv") == (403, "AccessDenied")
    # the bucket's ACL lists; reading an object needs the object's own
    assert anon("GET", f"{url}/{bucket}/data/one.csv") == (403, "AccessDenied")
    a.put_bucket_acl(Bucket=bucket, ACL="private")
    assert anon("GET", f"{url}/{bucket}")[0] == 403
    assert grants(a.get_bucket_acl(Bucket=bucket)) == [(ID_A, "FULL_CONTROL")]


def test_public_read_object_with_no_signature(a, url):
    bucket = new_bucket(a, ObjectOwnership="ObjectWriter")
    a.put_object(Bucket=bucket, Key="weights.bin", Body=b"model", ACL="public-read")
    a.put_object(Bucket=bucket, Key="private.bin", Body=b"no")
    r = httpx.get(f"{url}/{bucket}/weights.bin")
    assert (r.status_code, r.content) == (200, b"model")
    assert httpx.head(f"{url}/{bucket}/weights.bin").status_code == 200
    assert httpx.get(f"{url}/{bucket}/weights.bin", headers={"Range": "bytes=1-2"}).content == b"od"
    assert anon("GET", f"{url}/{bucket}/private.bin") == (403, "AccessDenied")
    assert anon("GET", f"{url}/{bucket}/missing") == (403, "AccessDenied")
    assert anon("PUT", f"{url}/{bucket}/weights.bin", content=b"x") == (403, "AccessDenied")
    assert anon("GET", f"{url}/{bucket}/weights.bin?acl") == (403, "AccessDenied")
    acl = a.get_object_acl(Bucket=bucket, Key="weights.bin")
    assert grants(acl) == [(ID_A, "FULL_CONTROL"), (ALL_USERS, "READ")]
    a.put_object_acl(Bucket=bucket, Key="weights.bin", ACL="private")
    assert anon("GET", f"{url}/{bucket}/weights.bin") == (403, "AccessDenied")
    a.put_object_acl(Bucket=bucket, Key="weights.bin", ACL="public-read")
    assert httpx.get(f"{url}/{bucket}/weights.bin").content == b"model"
    # replacing the object without an ACL makes it private again, as in S3
    a.put_object(Bucket=bucket, Key="weights.bin", Body=b"v2")
    assert anon("GET", f"{url}/{bucket}/weights.bin") == (403, "AccessDenied")


def test_acl_on_multipart_and_copy(a, b, url):
    bucket = new_bucket(a, ObjectOwnership="ObjectWriter")
    up = a.create_multipart_upload(Bucket=bucket, Key="big", ACL="public-read")
    part = a.upload_part(Bucket=bucket, Key="big", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 10)
    assert anon("GET", f"{url}/{bucket}/big")[0] == 403  # not there before Complete
    a.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=up["UploadId"],
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert httpx.get(f"{url}/{bucket}/big").content == b"p" * 10
    a.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "big"})
    assert anon("GET", f"{url}/{bucket}/copy")[0] == 403  # an ACL is not copied
    a.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "big"},
                  ACL="public-read")
    assert httpx.get(f"{url}/{bucket}/copy2").status_code == 200
    # copying needs read access to the source
    theirs = new_bucket(b)
    a.put_object(Bucket=bucket, Key="private", Body=b"no")
    assert code(lambda: b.copy_object(Bucket=theirs, Key="stolen",
                                      CopySource={"Bucket": bucket, "Key": "private"})) == "AccessDenied"
    b.copy_object(Bucket=theirs, Key="ok", CopySource={"Bucket": bucket, "Key": "big"})  # public


def test_explicit_grants(a, b, url):
    bucket = new_bucket(a, ObjectOwnership="ObjectWriter")
    a.put_bucket_acl(Bucket=bucket, GrantRead=f'id="{ID_B}"', GrantWrite=f'id="{ID_B}"')
    assert grants(a.get_bucket_acl(Bucket=bucket)) == [(ID_B, "READ"), (ID_B, "WRITE")]
    b.put_object(Bucket=bucket, Key="from-b", Body=b"b")  # WRITE on the bucket
    assert b.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert anon("GET", f"{url}/{bucket}")[0] == 403
    # the object b wrote is b's (ObjectWriter); the bucket owner still reads it
    acl = b.get_object_acl(Bucket=bucket, Key="from-b")
    assert acl["Owner"]["ID"] == ID_B and grants(acl) == [(ID_B, "FULL_CONTROL")]
    assert a.get_object(Bucket=bucket, Key="from-b")["Body"].read() == b"b"
    assert code(lambda: a.put_bucket_acl(Bucket=bucket, GrantRead='emailAddress="x@example.com"')) \
        == "UnresolvableGrantByEmailAddress"
    assert code(lambda: a.put_bucket_acl(Bucket=bucket, GrantRead='id="' + "0" * 64 + '"')) == "InvalidArgument"
    assert code(lambda: a.put_bucket_acl(Bucket=bucket, ACL="public-read", GrantRead=f'id="{ID_B}"')) \
        == "InvalidRequest"
    assert code(lambda: a.put_bucket_acl(Bucket=bucket, ACL="everyone-please")) == "InvalidArgument"
    policy = {"Owner": {"ID": ID_A},
              "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": ID_A}, "Permission": "FULL_CONTROL"},
                         {"Grantee": {"Type": "Group", "URI": AUTHENTICATED}, "Permission": "READ"},
                         {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ_ACP"}]}
    a.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)
    acl = a.get_bucket_acl(Bucket=bucket)
    assert grants(acl) == [(ID_A, "FULL_CONTROL"), (AUTHENTICATED, "READ"), (ALL_USERS, "READ_ACP")]
    assert acl["Grants"][0]["Grantee"]["DisplayName"] == AK
    assert anon("GET", f"{url}/{bucket}?acl")[0] == 200  # READ_ACP to everyone
    assert anon("GET", f"{url}/{bucket}")[0] == 403  # READ only to signed keys
    assert b.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert code(lambda: b.put_object(Bucket=bucket, Key="again", Body=b"b")) == "AccessDenied"


def test_public_read_write_takes_anonymous_writes(a, url):
    bucket = new_bucket(a, ACL="public-read-write", ObjectOwnership="ObjectWriter")
    assert httpx.put(f"{url}/{bucket}/drop", content=b"anon").status_code == 200
    assert a.get_object(Bucket=bucket, Key="drop")["Body"].read() == b"anon"
    assert anon("PUT", f"{url}/{bucket}?acl", headers={"x-amz-acl": "public-read"}) == (403, "AccessDenied")


def test_minio_sdk_with_two_keys(signed_gateway, a):
    from minio import Minio
    from minio.error import S3Error as MinioError

    host = signed_gateway.url.removeprefix("http://")
    mine = Minio(host, access_key=AK, secret_key=SK, secure=False, region="us-east-1")
    theirs = Minio(host, access_key=AK2, secret_key=SK2, secure=False, region="us-east-1")
    bucket = f"master.{unique_repo()}"
    mine.make_bucket(bucket)
    mine.put_object(bucket, "k", io.BytesIO(b"minio"), 5)
    assert mine.get_object(bucket, "k").read() == b"minio"
    with pytest.raises(MinioError) as e:
        theirs.get_object(bucket, "k")
    assert e.value.code == "AccessDenied"
    with pytest.raises(MinioError) as e:
        theirs.make_bucket(bucket)
    assert e.value.code == "BucketAlreadyExists"
    assert bucket in [x.name for x in mine.list_buckets()]
    assert bucket not in [x.name for x in theirs.list_buckets()]


def test_buckets_no_key_owns_stay_open_to_every_key(signed_gateway, a, b, url):
    """A repo made directly in PFS (or before owners were recorded) has no owner: every
    configured key may use it, anonymous requests still may not."""
    from generated.pfs import pfs_pb2, pfs_pb2_grpc

    name = unique_repo()
    with grpc.insecure_channel(f"unix://{signed_gateway.data_dir / 'pfsd.sock'}") as ch:
        stub = pfs_pb2_grpc.APIStub(ch)
        repo = pfs_pb2.Repo(name=name, type="user", project=pfs_pb2.Project(name="default"))
        stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo))
        stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=pfs_pb2.Branch(repo=repo, name="master")))
    bucket = f"master.{name}"
    for s3 in (a, b):
        s3.put_object(Bucket=bucket, Key=f"k{uuid.uuid4().hex[:4]}", Body=b"x")
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] >= 1
    assert bucket in [x["Name"] for x in b.list_buckets()["Buckets"]]
    assert a.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == "pachyderm"
    assert anon("GET", f"{url}/{bucket}")[0] == 403
    assert code(lambda: b.create_bucket(Bucket=bucket)) == "BucketAlreadyOwnedByYou"


def explorer_login(url: str, ak: str, sk: str) -> httpx.Client:
    import re

    c = httpx.Client(base_url=url, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/~/explorer/login").text).group(1)
    assert c.post("/~/explorer/login", data={"csrf": csrf, "access_key": ak, "secret_key": sk}).status_code == 303
    return c


def test_the_explorer_shows_a_key_what_s3_would(a, url):
    bucket = new_bucket(a, ObjectOwnership="ObjectWriter")
    a.put_object(Bucket=bucket, Key="docs/private.txt", Body=b"no")
    a.put_object(Bucket=bucket, Key="docs/public.txt", Body=b"yes", ACL="public-read")
    mine, theirs = explorer_login(url, AK, SK), explorer_login(url, AK2, SK2)
    try:
        for path in (f"/b/{bucket}/", f"/b/{bucket}/docs/private.txt", f"/raw/{bucket}/docs/private.txt",
                     f"/history/{bucket}/"):
            assert mine.get("/~/explorer" + path).status_code == 200, path
            r = theirs.get("/~/explorer" + path)
            assert r.status_code == 403 and "AccessDenied" in r.text, path
        assert theirs.get(f"/~/explorer/raw/{bucket}/docs/public.txt").content == b"yes"
    finally:
        mine.close()
        theirs.close()
