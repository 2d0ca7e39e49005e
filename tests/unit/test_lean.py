"""gateway.lean: a server process leaves connexion's unused imports out, and loses nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT


def run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_importing_lean_elsewhere_changes_nothing():
    import gateway.lean  # noqa: F401 - this process is pytest, not the gateway

    assert sys.modules.get("flask", "absent") is not None
    assert not isinstance(sys.modules.get("requests"), gateway.lean._Deferred)


def test_unused_libraries_stay_out_until_used():
    out = run("""
        import sys
        from gateway import lean
        lean.install()
        from gateway.server.app import create_app
        create_app("unix:///nonexistent.sock")
        loaded = sorted(m for m in ("httpx", "requests", "rich", "urllib3", "flask")
                        if type(sys.modules.get(m)).__name__ == "module")
        print("loaded:", loaded)
        import connexion.json_schema
        assert connexion.json_schema.requests.get.__module__ == "requests.api"  # imported on use
        print("requests:", type(sys.modules["requests"]).__name__)
        app = connexion.AsyncApp(__name__)
        with app.test_client() as client:  # the real TestClient, imported when made
            print("test client:", type(client).__module__)
    """)
    assert "loaded: []" in out
    assert "requests: module" in out
    assert "test client: starlette.testclient" in out


def test_install_after_connexion_does_nothing():
    out = run("""
        import sys, connexion
        from gateway import lean
        lean.install()
        print(type(sys.modules["httpx"]).__name__, sys.modules.get("flask") is not None)
    """)
    assert out.split() == ["module", "True"]


def test_deferred_modules():
    from gateway import lean

    assert lean.deferred("no_such_package_here.sub") is None
    pytest.importorskip("awscrt")
    out = run("""
        import sys
        import gateway.s3.checksums as c
        print("CRC64NVME" in c.supported_algorithms(), "awscrt" in sys.modules)
        h = c._new_hasher("CRC64NVME"); h.update(b"abc")
        print(h.digest().hex(), "awscrt" in sys.modules)
    """)
    assert out.split() == ["True", "False", "05e5cabb3fc1faeb", "True"]
