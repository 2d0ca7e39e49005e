"""A gateway WITH credentials shared by the client-signing modules (trailers, SigV2, non-ASCII
metadata): one start per test worker instead of one per module."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def pfsd_address(tmp_path_factory) -> str:
    """A pfsd of the module's own on a Unix socket, for tests that drive the gateway's code in
    process (with pfsd's extensions on and off) rather than through a gateway."""
    from tests.pfsd.conftest import start_pfsd

    tmp = tmp_path_factory.mktemp("pfsd")
    server = start_pfsd(tmp / "data", listen=f"unix://{tmp / 'pfsd.sock'}")
    yield server.address
    server.stop()
