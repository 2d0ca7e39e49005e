"""ACLs against pachd with auth active: Pachyderm's roles decide. The gateway runs in-process
over a real pfsd, with a fake auth_v2 API (WhoAmI, GetPermissions) standing in for pachd's;
requests are SigV4-signed with a token as both key and secret (Pachyderm's convention)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import grpc
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway import context
from gateway.auth import pachdroles
from gateway.auth.authenticator import Authenticator
from gateway.pfs.client import PFS
from gateway.s3 import errors
from gateway.server.app import create_app
from generated.auth import auth_pb2
from tests.pfsd.conftest import start_pfsd

TOKEN = "pachyderm-token-of-alice"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class FakeAuthAPI:
    """auth_v2.API as pachd with auth active answers it, for one token."""

    def __init__(self, permissions: list[int]) -> None:
        self.permissions = permissions
        self.calls: list[tuple[str, object]] = []

    def _token(self, metadata) -> str:
        return dict(metadata or ()).get("authn-token", "")

    async def WhoAmI(self, req, timeout=None, metadata=None):  # noqa: N802 - the stub's naming
        self.calls.append(("WhoAmI", self._token(metadata)))
        return auth_pb2.WhoAmIResponse(username="user:alice")

    async def GetPermissions(self, req, timeout=None, metadata=None):  # noqa: N802
        self.calls.append(("GetPermissions", req.resource.name))
        return auth_pb2.GetPermissionsResponse(permissions=self.permissions)


class FakePachd:
    def __init__(self, api: FakeAuthAPI) -> None:
        self.api = api

    async def active(self) -> bool:
        return True

    async def check_token(self, token: str) -> None:
        if token != TOKEN:
            raise errors.invalid_access_key_id()

    def _api(self):
        return self.api

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aclpachd")
    server = start_pfsd(tmp / "data", listen=f"unix://{tmp / 'pfsd.sock'}")
    yield server.address
    server.stop()


def signed(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> dict:
    request = AWSRequest(method=method, url=f"http://gw{path}", data=body, headers=headers or {})
    request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    SigV4Auth(Credentials(TOKEN, TOKEN), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def run(address: str, api: FakeAuthAPI, scenario) -> None:
    async def main() -> None:
        client = PFS(address)
        context.set_pfs(client)
        try:
            app = create_app(address, auth=Authenticator({}, pachd=FakePachd(api)))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
                async def call(method: str, path: str, body: bytes = b"", headers: dict | None = None):
                    return await http.request(method, path, content=body, headers=signed(method, path, body, headers))
                await scenario(http, call)
        finally:
            context.set_pfs(None)
            await client.close()

    asyncio.run(main())


def grants_of(body: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(body)
    return [(g.findtext(f"{NS}Grantee/{NS}ID"), g.findtext(f"{NS}Permission"))
            for g in root.iter(f"{NS}Grant")]


def code_of(r: httpx.Response) -> str:
    return ET.fromstring(r.content).findtext("Code")


def test_acl_writes_say_pachyderms_roles_decide_and_get_reflects_the_role(address):
    api = FakeAuthAPI([auth_pb2.REPO_READ, auth_pb2.REPO_WRITE])  # repoWriter

    async def scenario(http, call):
        assert (await call("PUT", "/master.rolesrepo")).status_code == 200
        assert (await call("PUT", "/master.rolesrepo/k", b"x")).status_code == 200
        r = await call("GET", "/master.rolesrepo?acl")
        assert r.status_code == 200, r.text
        assert grants_of(r.content) == [("user:alice", "READ"), ("user:alice", "WRITE")]
        assert ET.fromstring(r.content).findtext(f"{NS}Owner/{NS}ID") == "pachyderm"
        assert ("GetPermissions", "default/rolesrepo") in api.calls and ("WhoAmI", TOKEN) in api.calls
        r = await call("GET", "/master.rolesrepo/k?acl")
        assert grants_of(r.content) == [("user:alice", "READ"), ("user:alice", "WRITE")]
        for method, path, headers in [("PUT", "/master.rolesrepo?acl", {"x-amz-acl": "public-read"}),
                                      ("PUT", "/master.rolesrepo/k?acl", {"x-amz-acl": "private"}),
                                      ("PUT", "/master.rolesrepo/p", {"x-amz-acl": "public-read"}),
                                      ("PUT", "/master.rolesrepo?ownershipControls", {})]:
            r = await call(method, path, b"", headers)
            assert (r.status_code, code_of(r)) == (501, "NotImplemented"), (path, r.text)
            assert "Pachyderm's roles" in r.text
        assert (await call("HEAD", "/master.rolesrepo/p")).status_code == 404  # nothing written
        r = await http.get("/master.rolesrepo/k")  # unsigned: refused, as before
        assert (r.status_code, code_of(r)) == (403, "AccessDenied")

    run(address, api, scenario)


def test_permissions_to_acl():
    assert pachdroles.acl_of("user:a", {"REPO_READ"}).grants == (pachdroles.Grant("id", "user:a", "READ"),)
    owner = pachdroles.acl_of("user:a", {"REPO_READ", "REPO_WRITE", "REPO_MODIFY_BINDINGS"})
    assert owner.owner == "user:a" and [g.permission for g in owner.grants] == ["FULL_CONTROL"]
    assert pachdroles.acl_of("user:a", set()).grants == ()


def test_auth_api_errors_become_s3_errors():
    class Denying(FakeAuthAPI):
        async def GetPermissions(self, req, timeout=None, metadata=None):  # noqa: N802
            raise grpc.aio.AioRpcError(grpc.StatusCode.PERMISSION_DENIED, grpc.aio.Metadata(),
                                       grpc.aio.Metadata(), "not authorized")

    with pytest.raises(errors.S3Error) as e:
        asyncio.run(pachdroles.caller_acl(FakePachd(Denying([])), TOKEN, "default", "r"))
    assert (e.value.status, e.value.code) == (403, "AccessDenied")
