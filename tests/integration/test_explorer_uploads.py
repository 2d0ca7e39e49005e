"""Explorer uploads and new folders over raw HTTP (plain HTML forms, as a browser without
JavaScript posts them): one commit per file with a readable description, CSRF-protected, errors
on the folder page; logged in on a gateway with credentials, and on the anonymous default.
"""

from __future__ import annotations

import re

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Gateway, unique_repo

EXPLORER = "/~/explorer"
AK, SK = "AKIDUPLOADS", "uploads/Secret+NeverLogged"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("uploads") / "data",
                env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})
    yield g
    g.stop()


@pytest.fixture(scope="module")
def signed(gw):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1",
                        aws_access_key_id=AK, aws_secret_access_key=SK,
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


@pytest.fixture
def sbucket(signed) -> str:
    name = f"master.{unique_repo()}"
    signed.create_bucket(Bucket=name)
    signed.put_object(Bucket=name, Key="docs/readme.txt", Body=b"hi")
    return name


@pytest.fixture
def browser(gw):
    """A logged-in httpx client (cookies kept, redirects not followed)."""
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        page = c.get(f"{EXPLORER}/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        r = c.post(f"{EXPLORER}/login", data={"csrf": csrf, "access_key": AK, "secret_key": SK})
        assert r.status_code == 303
        yield c


def token(c: httpx.Client, path: str) -> str:
    r = c.get(path)
    assert r.status_code == 200, r.text
    return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)


def upload(c: httpx.Client, bucket: str, folder: str, files: list[tuple[str, bytes]],
           csrf: str | None, **kw) -> httpx.Response:
    parts = [] if csrf is None else [("csrf", (None, csrf))]
    parts += [("file", (name, data, "text/plain")) for name, data in files]
    return c.post(f"{EXPLORER}/upload/{bucket}/{folder}", files=parts, **kw)


def absent(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return True
    return False


def test_upload_files_one_commit_each(browser, signed, sbucket):
    folder = f"{EXPLORER}/b/{sbucket}/docs/"
    csrf = token(browser, folder)
    page = browser.get(folder).text
    assert 'enctype="multipart/form-data"' in page and 'type="file" name="file" multiple' in page
    r = upload(browser, sbucket, "docs/", [("a.txt", b"alpha"), ("b.csv", b"x,y\n1,2\n")], csrf)
    assert r.status_code == 303 and r.headers["location"].endswith("/docs/?uploaded=2")
    shown = browser.get(r.headers["location"]).text
    assert "Uploaded 2 files." in shown and "a.txt" in shown and "b.csv" in shown
    assert signed.get_object(Bucket=sbucket, Key="docs/a.txt")["Body"].read() == b"alpha"
    obj = signed.get_object(Bucket=sbucket, Key="docs/b.csv")
    assert obj["Body"].read() == b"x,y\n1,2\n" and obj["ContentType"] == "text/plain"
    history = browser.get(f"{EXPLORER}/history/{sbucket}/").text
    assert f"Explorer upload docs/a.txt by {AK}" in history
    assert f"Explorer upload docs/b.csv by {AK}" in history


def test_create_folder(browser, signed, sbucket):
    csrf = token(browser, f"{EXPLORER}/b/{sbucket}/docs/")
    r = browser.post(f"{EXPLORER}/mkdir/{sbucket}/docs/", data={"csrf": csrf, "name": "new dir"})
    assert r.status_code == 303 and r.headers["location"].endswith("/docs/?created=1")
    assert "Folder created." in browser.get(r.headers["location"]).text
    assert signed.head_object(Bucket=sbucket, Key="docs/new dir/")["ContentLength"] == 0
    listed = signed.list_objects_v2(Bucket=sbucket, Prefix="docs/", Delimiter="/")
    assert {"Prefix": "docs/new dir/"} in listed["CommonPrefixes"]
    assert f"Explorer new folder docs/new dir/ by {AK}" in browser.get(
        f"{EXPLORER}/history/{sbucket}/").text


def test_csrf_and_cross_site_are_refused(browser, signed, sbucket):
    r = upload(browser, sbucket, "docs/", [("evil.txt", b"x")], None)
    assert r.status_code == 403 and 'role="alert"' in r.text
    r = upload(browser, sbucket, "docs/", [("evil.txt", b"x")], "wrong-token-wrong-token")
    assert r.status_code == 403
    csrf = token(browser, f"{EXPLORER}/b/{sbucket}/docs/")
    r = upload(browser, sbucket, "docs/", [("evil.txt", b"x")], csrf,
               headers={"Origin": "http://attacker.example"})
    assert r.status_code == 403
    r = browser.post(f"{EXPLORER}/mkdir/{sbucket}/docs/", data={"name": "evil"})
    assert r.status_code == 403
    assert absent(signed, sbucket, "docs/evil.txt") and absent(signed, sbucket, "docs/evil/")


def test_logged_out_cannot_upload(gw, signed, sbucket):
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = upload(c, sbucket, "docs/", [("anon.txt", b"x")], "whatever-whatever")
        assert r.status_code == 303 and "/login" in r.headers["location"]
    assert absent(signed, sbucket, "docs/anon.txt")


def test_errors_are_shown_on_the_folder_page(browser, signed, sbucket):
    csrf = token(browser, f"{EXPLORER}/b/{sbucket}/docs/")
    # the first file is written, the second breaks PFS's path rules: its error on the page
    r = upload(browser, sbucket, "docs/", [("ok.txt", b"fine"), ("bad*name.txt", b"x")], csrf)
    assert r.status_code == 400
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', r.text, re.S).group(1)
    assert "Uploaded 1 file(s), then:" in alert and "docs/readme.txt" in r.text  # the folder page
    assert signed.get_object(Bucket=sbucket, Key="docs/ok.txt")["Body"].read() == b"fine"
    r = upload(browser, sbucket, "docs/", [("", b"")], csrf)  # no file chosen
    assert r.status_code == 400 and "Choose at least one file" in r.text
    r = browser.post(f"{EXPLORER}/mkdir/{sbucket}/docs/", data={"csrf": csrf, "name": "bad*dir"})
    assert r.status_code == 400 and 'role="alert"' in r.text


def test_read_only_view_has_no_forms(browser, signed, sbucket):
    commit = signed.put_object(Bucket=sbucket, Key="docs/pin.txt", Body=b"p")["ResponseMetadata"][
        "HTTPHeaders"]["x-pfs-commit"]
    pinned = f"{commit}.{sbucket}"
    page = browser.get(f"{EXPLORER}/b/{pinned}/docs/")
    assert page.status_code == 200 and "Upload files" not in page.text
    csrf = token(browser, f"{EXPLORER}/b/{sbucket}/docs/")
    r = upload(browser, pinned, "docs/", [("x.txt", b"x")], csrf)
    assert r.status_code == 400 and "read-only" in r.text


def test_anonymous_default_uses_a_csrf_cookie(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="top.txt", Body=b"t")
    with httpx.Client(base_url=endpoint, timeout=30) as c:
        csrf = token(c, f"{EXPLORER}/b/{bucket}/")
        assert c.cookies.get("s3gw_csrf") == csrf
        r = upload(c, bucket, "", [("free.txt", b"anyone")], csrf)
        assert r.status_code == 303, r.text
    assert s3.get_object(Bucket=bucket, Key="free.txt")["Body"].read() == b"anyone"
    # the token alone, without the browser's cookie (another site's form): refused
    r = upload(httpx.Client(base_url=endpoint, timeout=30), bucket, "", [("x.txt", b"x")], csrf)
    assert r.status_code == 403
    assert absent(s3, bucket, "x.txt")
