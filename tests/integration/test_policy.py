"""Bucket policies and public access blocks, end to end: boto3 puts them, anonymous httpx
requests and a second key feel them.

The session's signed gateway with two key pairs (OWNER creates every bucket here; OTHER is a
second user of the same gateway) and its embedded pfsd (auth not activated: the keys decide).
"""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_repo
from tests.integration.test_auth import AK, AK2, SK, SK2, client, code_of, error_code

# the session's signed gateway (tests/integration/conftest.py): test_auth's two key pairs
OWNER, OWNER_SECRET, OTHER, OTHER_SECRET = AK, SK, AK2, SK2


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway


@pytest.fixture(scope="module")
def owner(gw):
    return client(gw)


@pytest.fixture(scope="module")
def other(gw):
    return client(gw, OTHER, OTHER_SECRET)


@pytest.fixture
def bucket(owner):
    name = f"master.{unique_repo()}"
    owner.create_bucket(Bucket=name)
    owner.put_object(Bucket=name, Key="public/a.txt", Body=b"public data")
    owner.put_object(Bucket=name, Key="private/b.txt", Body=b"private data")
    return name


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def public_read(bucket: str, **extra) -> dict:
    return {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*", **extra}


def anonymous_get(gw, bucket: str, key: str = "public/a.txt") -> httpx.Response:
    return httpx.get(f"{gw.url}/{bucket}/{key}")


def test_no_policy_changes_nothing(gw, owner, bucket):
    """The default stays: a gateway with credentials refuses anonymous requests."""
    assert code_of(lambda: owner.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"
    assert code_of(lambda: owner.get_bucket_policy_status(Bucket=bucket)) == "NoSuchBucketPolicy"
    r = anonymous_get(gw, bucket)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    assert httpx.get(f"{gw.url}/{bucket}").status_code == 403


def test_public_read_policy(gw, owner, bucket):
    text = policy(public_read(bucket))
    owner.put_bucket_policy(Bucket=bucket, Policy=text)
    assert owner.get_bucket_policy(Bucket=bucket)["Policy"] == text  # exactly as put
    assert owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    r = anonymous_get(gw, bucket)
    assert (r.status_code, r.content) == (200, b"public data")
    assert anonymous_get(gw, bucket, "private/b.txt").status_code == 200  # the policy says /*
    r = httpx.put(f"{gw.url}/{bucket}/public/new", content=b"x")
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")  # reads only
    assert httpx.get(f"{gw.url}/{bucket}").status_code == 403  # no s3:ListBucket
    owner.delete_bucket_policy(Bucket=bucket)
    assert code_of(lambda: owner.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"
    assert anonymous_get(gw, bucket).status_code == 403


def test_policy_under_the_bare_repo_name(gw, owner, bucket):
    repo = bucket.split(".", 1)[1]  # master.<repo> is also <repo>
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(public_read(repo)))
    assert anonymous_get(gw, repo).status_code == 200
    assert anonymous_get(gw, bucket).status_code == 200


@pytest.mark.parametrize("text,message", [
    ("not json", "Policies must be valid JSON and the first byte must be '{'"),
    (policy({**public_read("x"), "Resource": "arn:aws:s3:::elsewhere/*"}),
     "Policy has invalid resource"),
    (policy({**public_read("x"), "Principal": {"AWS": "AKIDNOBODY"}}),
     "Invalid principal in policy"),
])
def test_malformed_policy_stores_nothing(owner, bucket, text, message):
    with pytest.raises(ClientError) as e:
        owner.put_bucket_policy(Bucket=bucket, Policy=text)
    err = e.value.response
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (400, "MalformedPolicy")
    assert err["Error"]["Message"] == message
    assert code_of(lambda: owner.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"


def test_policy_too_large(owner, bucket):
    big = policy(*[public_read(bucket, Sid=f"S{i}") for i in range(200)])
    assert len(big) > 20 * 1024
    assert code_of(lambda: owner.put_bucket_policy(Bucket=bucket, Policy=big)) == "MalformedPolicy"


def test_second_key_allowed_then_denied(owner, other, bucket):
    assert code_of(lambda: other.get_object(Bucket=bucket, Key="public/a.txt")) == "AccessDenied"
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "OtherReadsAndWrites", "Effect": "Allow", "Principal": {"AWS": OTHER},
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Sid": "ButNotPrivate", "Effect": "Deny",
         "Principal": {"AWS": f"arn:aws:iam::123456789012:user/{OTHER}"},
         "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/private/*"}))
    assert owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    assert other.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"public data"
    other.put_object(Bucket=bucket, Key="public/from-other", Body=b"hi")
    assert code_of(lambda: other.get_object(Bucket=bucket, Key="private/b.txt")) == "AccessDenied"
    assert code_of(lambda: other.put_object(Bucket=bucket, Key="private/x", Body=b"x")) == \
        "AccessDenied"
    assert owner.get_object(Bucket=bucket, Key="private/b.txt")["Body"].read() == b"private data"


def test_per_prefix_upload_policy(owner, other, bucket):
    """README "Sharing": each key writes under incoming/<its access key>/ and nobody deletes."""
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "OwnFolder", "Effect": "Allow", "Principal": {"AWS": [OWNER, OTHER]},
         "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": f"arn:aws:s3:::{bucket}/incoming/${{aws:username}}/*"},
        {"Sid": "ListOwnFolder", "Effect": "Allow", "Principal": {"AWS": [OWNER, OTHER]},
         "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": "incoming/${aws:username}/*"}}},
        {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    other.put_object(Bucket=bucket, Key=f"incoming/{OTHER}/1.png", Body=b"png")
    assert code_of(lambda: other.put_object(Bucket=bucket, Key=f"incoming/{OWNER}/1.png",
                                            Body=b"png")) == "AccessDenied"
    listed = other.list_objects_v2(Bucket=bucket, Prefix=f"incoming/{OTHER}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"incoming/{OTHER}/1.png"]
    assert code_of(lambda: other.list_objects_v2(Bucket=bucket, Prefix="incoming/")) == \
        "AccessDenied"
    assert code_of(lambda: other.delete_object(Bucket=bucket, Key=f"incoming/{OTHER}/1.png")) == \
        "AccessDenied"
    assert code_of(lambda: owner.delete_object(Bucket=bucket, Key="public/a.txt")) == \
        "AccessDenied"  # a Deny to everyone binds the owner too


def test_deny_applies_to_the_owner_too(owner, bucket):
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Deny", "Principal": {"AWS": OWNER}, "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/public/*"}))
    assert code_of(lambda: owner.delete_object(Bucket=bucket, Key="public/a.txt")) == "AccessDenied"
    assert owner.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"public data"


@pytest.mark.parametrize("network,status", [("127.0.0.1/32", 200), ("10.0.0.0/8", 403)])
def test_source_ip(gw, owner, bucket, network, status):
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(
        public_read(bucket, Condition={"IpAddress": {"aws:SourceIp": network}})))
    assert owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    assert anonymous_get(gw, bucket).status_code == status


def test_prefix_condition_on_list_bucket(gw, owner, bucket):
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": "public/*"}}}))
    r = httpx.get(f"{gw.url}/{bucket}", params={"list-type": "2", "prefix": "public/"})
    assert r.status_code == 200 and b"<Key>public/a.txt</Key>" in r.content
    for params in ({"list-type": "2", "prefix": "private/"}, {"list-type": "2"}, {}):
        r = httpx.get(f"{gw.url}/{bucket}", params=params)
        assert (r.status_code, error_code(r)) == (403, "AccessDenied"), params


# --- public access block ------------------------------------------------------------------------

def test_public_access_block_round_trip(owner, bucket):
    assert code_of(lambda: owner.get_public_access_block(Bucket=bucket)) == \
        "NoSuchPublicAccessBlockConfiguration"  # new buckets have none: see README "Sharing"
    config = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
              "RestrictPublicBuckets": False}
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
    got = owner.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == config
    owner.delete_public_access_block(Bucket=bucket)
    assert code_of(lambda: owner.get_public_access_block(Bucket=bucket)) == \
        "NoSuchPublicAccessBlockConfiguration"


def test_block_public_policy(gw, owner, bucket):
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicPolicy": True})
    assert code_of(lambda: owner.put_bucket_policy(
        Bucket=bucket, Policy=policy(public_read(bucket)))) == "AccessDenied"
    assert code_of(lambda: owner.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"
    fixed = public_read(bucket, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}})
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(fixed))  # not public: accepted
    assert anonymous_get(gw, bucket).status_code == 200


def test_restrict_public_buckets(gw, owner, other, bucket):
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(public_read(bucket)))
    assert anonymous_get(gw, bucket).status_code == 200
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "RestrictPublicBuckets": True})
    r = anonymous_get(gw, bucket)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    # The public grant still reaches the gateway's own keys (AWS: the owner's account).
    assert other.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"public data"
    owner.delete_public_access_block(Bucket=bucket)
    assert anonymous_get(gw, bucket).status_code == 200


def test_malformed_public_access_block(owner, bucket):
    def swap_body(request, **_):  # boto3 validates what it builds: send a bad body anyway
        request.data = b"<PublicAccessBlockConfiguration><BlockPublicAcls>maybe</BlockPublicAcls>" \
            b"</PublicAccessBlockConfiguration>"
        for name in [h for h in request.headers if h.lower().startswith(("content-md5", "x-amz-checksum",
                                                                           "x-amz-sdk-checksum"))]:
            del request.headers[name]

    owner.meta.events.register("before-sign.s3.PutPublicAccessBlock", swap_body)
    try:
        assert code_of(lambda: owner.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})) == "MalformedXML"
    finally:
        owner.meta.events.unregister("before-sign.s3.PutPublicAccessBlock", swap_body)
    assert code_of(lambda: owner.get_public_access_block(Bucket=bucket)) == \
        "NoSuchPublicAccessBlockConfiguration"


def test_minio_sdk_and_aws_cli(gw, bucket, tmp_path):
    """Two more clients put, read and delete a policy; the public access block via the CLI."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import urlparse

    from minio import Minio
    from minio.error import S3Error as MinioError

    u = urlparse(gw.url)
    mc = Minio(f"{u.hostname}:{u.port}", access_key=OWNER, secret_key=OWNER_SECRET, secure=False,
               region="us-east-1")
    text = policy(public_read(bucket))
    mc.set_bucket_policy(bucket, text)
    assert json.loads(mc.get_bucket_policy(bucket)) == json.loads(text)
    assert anonymous_get(gw, bucket).status_code == 200
    mc.delete_bucket_policy(bucket)
    with pytest.raises(MinioError) as e:
        mc.get_bucket_policy(bucket)
    assert e.value.code == "NoSuchBucketPolicy"

    env = {**os.environ, "AWS_ACCESS_KEY_ID": OWNER, "AWS_SECRET_ACCESS_KEY": OWNER_SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def aws(*args: str) -> subprocess.CompletedProcess:
        cli = Path(sys.executable).parent / "aws"
        return subprocess.run([str(cli), "--endpoint-url", gw.url, "s3api", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    (tmp_path / "p.json").write_text(text)
    assert aws("put-bucket-policy", "--bucket", bucket, "--policy",
               f"file://{tmp_path / 'p.json'}").returncode == 0
    out = aws("get-bucket-policy-status", "--bucket", bucket)
    assert json.loads(out.stdout)["PolicyStatus"]["IsPublic"] is True, out.stderr
    assert aws("put-public-access-block", "--bucket", bucket, "--public-access-block-configuration",
               "RestrictPublicBuckets=true").returncode == 0
    out = aws("get-public-access-block", "--bucket", bucket)
    assert json.loads(out.stdout)["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert anonymous_get(gw, bucket).status_code == 403


def enable_acls(owner, bucket: str) -> None:
    """New buckets are BucketOwnerEnforced (ACLs off), as on AWS: turn ACLs on."""
    owner.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})


def test_block_public_acls(owner, bucket):
    enable_acls(owner, bucket)
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True})
    assert code_of(lambda: owner.put_object(Bucket=bucket, Key="k", Body=b"x",
                                            ACL="public-read")) == "AccessDenied"
    assert code_of(lambda: owner.put_bucket_acl(Bucket=bucket, ACL="public-read")) == "AccessDenied"
    assert code_of(lambda: owner.put_object_acl(Bucket=bucket, Key="public/a.txt",
                                                ACL="authenticated-read")) == "AccessDenied"
    assert code_of(lambda: owner.get_object(Bucket=bucket, Key="k")) == "NoSuchKey"  # not written
    owner.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")  # not public: fine


def test_ignore_public_acls(gw, owner, bucket):
    enable_acls(owner, bucket)
    owner.put_object(Bucket=bucket, Key="shared", Body=b"shared", ACL="public-read")
    assert anonymous_get(gw, bucket, "shared").status_code == 200
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "IgnorePublicAcls": True})
    assert anonymous_get(gw, bucket, "shared").status_code == 403
    owner.delete_public_access_block(Bucket=bucket)
    assert anonymous_get(gw, bucket, "shared").status_code == 200


def test_owner_cannot_lock_itself_out(owner, bucket):
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}))
    assert code_of(lambda: owner.get_object(Bucket=bucket, Key="public/a.txt")) == "AccessDenied"
    assert code_of(lambda: owner.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert "Deny" in owner.get_bucket_policy(Bucket=bucket)["Policy"]  # the owner keeps these
    owner.delete_bucket_policy(Bucket=bucket)
    assert owner.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"public data"


def test_delete_objects_decides_each_key_as_delete_object(gw, owner, other, bucket, tmp_path):
    """A Deny on a prefix holds for DeleteObjects too (``aws s3 rm --recursive`` sends it): each
    key is decided as a DeleteObject of that key, and a denied one is an AccessDenied entry of
    the answer while the others are deleted. An Allow on a prefix lets a second key delete there."""
    repo = bucket.split(".", 1)[1]
    owner.put_object(Bucket=bucket, Key="public/c.txt", Body=b"c")
    owner.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "KeepPrivate", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{repo}/private/*"},
        {"Sid": "OtherCleansPublic", "Effect": "Allow", "Principal": {"AWS": OTHER},
         "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/public/c.txt"}))
    assert code_of(lambda: owner.delete_object(Bucket=bucket, Key="private/b.txt")) == "AccessDenied"
    out = owner.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "public/a.txt"},
                                                                  {"Key": "private/b.txt"}]})
    assert [d["Key"] for d in out.get("Deleted", [])] == ["public/a.txt"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("private/b.txt", "AccessDenied")]
    # the AWS CLI's recursive remove: the same refusal, the private object kept
    import os
    import subprocess
    import sys
    env = {**os.environ, "AWS_ACCESS_KEY_ID": OWNER, "AWS_SECRET_ACCESS_KEY": OWNER_SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none")}
    cli = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", gw.url, "s3", "rm", "--recursive",
                          f"s3://{bucket}/private/"], env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0 and "AccessDenied" in cli.stdout + cli.stderr
    assert owner.get_object(Bucket=bucket, Key="private/b.txt")["Body"].read() == b"private data"
    # a second key: only the one key its Allow names
    out = other.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "public/c.txt"},
                                                                  {"Key": "private/b.txt"}]})
    assert [d["Key"] for d in out.get("Deleted", [])] == ["public/c.txt"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("private/b.txt", "AccessDenied")]
    assert [o["Key"] for o in owner.list_objects_v2(Bucket=bucket)["Contents"]] == ["private/b.txt"]
