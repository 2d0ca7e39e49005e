"""Versioning against a pachd-like backend and with pfsd's extensions off: the gateway uses
only pfs_v2 (FindCommits, ListFile, WalkFile, InspectFile, ModifyFile), so S3's versions come
out the same; and on an unversioned bucket GET/HEAD make no extra RPC for it."""

from __future__ import annotations

import re

import pytest

from tests.integration.test_object_rpcs import make_bucket, run

ENABLE = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"


def _md5(body: bytes) -> dict[str, str]:
    import base64
    import hashlib

    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


@pytest.mark.parametrize("mode", ["pachd", "extensions-off"])
def test_versions_without_extensions(pfsd_address, mode):  # noqa: F811
    async def scenario(http, rpcs, client):
        name = f"master.fb{mode.replace('-', '')}"
        await make_bucket(http, rpcs, name)
        r = await http.put(f"/{name}?versioning", content=ENABLE, headers=_md5(ENABLE))
        assert r.status_code == 200, r.text
        v1 = (await http.put(f"/{name}/d/k", content=b"one")).headers["x-amz-version-id"]
        v2 = (await http.put(f"/{name}/d/k", content=b"two")).headers["x-amz-version-id"]
        ve = (await http.put(f"/{name}/e", content=b"e")).headers["x-amz-version-id"]
        marker = (await http.delete(f"/{name}/e")).headers["x-amz-version-id"]
        assert len({v1, v2, marker}) == 3
        r = await http.get(f"/{name}/d/k")
        assert r.content == b"two" and r.headers["x-amz-version-id"] == v2
        r = await http.get(f"/{name}/d/k", params={"versionId": v1})
        assert r.content == b"one" and r.headers["x-amz-version-id"] == v1
        r = await http.get(f"/{name}/e")
        assert r.status_code == 404 and r.headers["x-amz-delete-marker"] == "true"
        r = await http.get(f"/{name}", params={"versions": ""})
        ids = re.findall(r"<VersionId>([^<]+)</VersionId>", r.text)
        assert ids == [v2, v1, marker, ve] and "<DeleteMarker>" in r.text
        r = await http.get(f"/{name}", params={"versions": "", "delimiter": "/"})
        assert "<Prefix>d/</Prefix>" in r.text and re.findall(r"<VersionId>([^<]+)</VersionId>", r.text) == [marker, ve]
        assert (await http.delete(f"/{name}/d/k", params={"versionId": v2})).status_code == 204
        r = await http.get(f"/{name}/d/k")
        assert r.content == b"one" and r.headers["x-amz-version-id"] == v1
        r = await http.get(f"/{name}/d/k", params={"versionId": v2})
        assert r.status_code == 404 and "NoSuchVersion" in r.text
        assert "FindCommits" in rpcs.take()

    if mode == "pachd":
        run(pfsd_address, scenario, pachd=True)
    else:
        run(pfsd_address, scenario, extensions=False)


def test_unversioned_reads_ask_nothing_more(pfsd_address):  # noqa: F811
    async def scenario(http, rpcs, client):
        await make_bucket(http, rpcs, "master.plainreads")
        r = await http.put("/master.plainreads/k", content=b"x")
        assert "x-amz-version-id" not in r.headers and len(r.headers["x-pfs-commit"]) == 32
        assert rpcs.take() == ["InspectFile", "ModifyFile"]  # the new bucket's status is known
        r = await http.get("/master.plainreads/k")
        assert "x-amz-version-id" not in r.headers and rpcs.take() == ["GetFile"]
        r = await http.head("/master.plainreads/k")
        assert "x-amz-version-id" not in r.headers and rpcs.take() == ["InspectFile"]

    run(pfsd_address, scenario)
