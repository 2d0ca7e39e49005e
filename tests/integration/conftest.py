"""A gateway WITH credentials shared by the client-signing modules (trailers, SigV2, non-ASCII
metadata): one start per test worker instead of one per module."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Gateway


@pytest.fixture(scope="session")
def signed_gateway(tmp_path_factory) -> Gateway:
    """Both of test_auth's key pairs: one from the environment, one from a credentials file."""
    from tests.integration.test_auth import AK, AK2, SK, SK2

    root = tmp_path_factory.mktemp("signedgw")
    creds = root / "credentials"
    creds.write_text(f"{AK2}:{SK2}\n")
    g = Gateway(root / "data", "--credentials-file", str(creds),
                env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})
    yield g
    g.stop()


@contextlib.asynccontextmanager
async def in_process_gateway(pfsd_address: str, extensions: bool) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    """The gateway's app called in this process (no server, no signatures) over the pfsd at
    ``pfsd_address``, its PFS client with pfsd's extensions on or off (off: it behaves as
    against pachd). Yields an httpx client of the app and the PFS client."""
    from gateway import context
    from gateway.pfs.client import PFS
    from gateway.server.app import create_app

    client = PFS(pfsd_address, extensions=extensions)
    context.set_pfs(client)
    try:
        transport = httpx.ASGITransport(app=create_app(pfsd_address))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            yield http, client
    finally:
        context.set_pfs(None)
        await client.close()


@pytest.fixture(scope="module")
def pfsd_address(tmp_path_factory) -> str:
    """A pfsd of the module's own on a Unix socket, for tests that drive the gateway's code in
    process (with pfsd's extensions on and off) rather than through a gateway."""
    from tests.pfsd.conftest import start_pfsd

    tmp = tmp_path_factory.mktemp("pfsd")
    server = start_pfsd(tmp / "data", listen=f"unix://{tmp / 'pfsd.sock'}")
    yield server.address
    server.stop()
