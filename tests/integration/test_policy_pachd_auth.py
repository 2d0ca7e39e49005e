"""Bucket policies against pachd with auth active: Pachyderm's roles decide, so policy and
public access block writes answer 501 NotImplemented and change nothing. The gateway runs
in-process over a real pfsd with a fake auth_v2 API (see test_acl_pachd_auth)."""

from __future__ import annotations

import json

from generated.auth import auth_pb2
from tests.integration.test_acl_pachd_auth import FakeAuthAPI, address, code_of, run  # noqa: F401

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::master.pachrolesrepo/*"}]}).encode()
BLOCK = (b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>"
         b"</PublicAccessBlockConfiguration>")


def test_policy_writes_say_pachyderms_roles_decide(address):  # noqa: F811 - the fixture
    api = FakeAuthAPI([auth_pb2.REPO_READ, auth_pb2.REPO_WRITE, auth_pb2.REPO_MODIFY_BINDINGS])

    async def scenario(http, call):
        assert (await call("PUT", "/master.pachrolesrepo")).status_code == 200
        for method, path, body in [("PUT", "/master.pachrolesrepo?policy", POLICY),
                                   ("DELETE", "/master.pachrolesrepo?policy", b""),
                                   ("PUT", "/master.pachrolesrepo?publicAccessBlock", BLOCK),
                                   ("DELETE", "/master.pachrolesrepo?publicAccessBlock", b"")]:
            r = await call(method, path, body)
            assert (r.status_code, code_of(r)) == (501, "NotImplemented"), (method, path, r.text)
            assert "Pachyderm's roles" in r.text
        r = await call("GET", "/master.pachrolesrepo?policy")
        assert (r.status_code, code_of(r)) == (404, "NoSuchBucketPolicy")  # nothing stored
        r = await call("GET", "/master.pachrolesrepo?publicAccessBlock")
        assert (r.status_code, code_of(r)) == (404, "NoSuchPublicAccessBlockConfiguration")

    run(address, api, scenario)
