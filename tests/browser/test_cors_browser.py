"""CORS in a real browser: a page on another origin reads and writes the gateway, as its rules say.

Headless Chromium loads a page from a second loopback port (another origin than the gateway's)
and runs ``fetch`` from it against a gateway with credentials: a ``public-read`` object is read
without a signature, and an object is PUT through a presigned URL.
Each succeeds under a CORS rule for
the page's origin and is refused by the browser without one (no preflight answer, or no
``Access-Control-Allow-Origin``), and a refused PUT writes nothing. Skipped where Chromium,
chromedriver or selenium is missing (``make browser-deps``; ``pip install -e .[test]``).
"""

from __future__ import annotations

import http.server
import os
import threading

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import free_port, unique_repo
from tests.integration import signed

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"no Chromium at {CHROMIUM} / chromedriver at {CHROMEDRIVER} (make browser-deps)")

PAGE = b"<!doctype html><title>a web app</title><h1>another origin</h1>"

# Each attempt resolves to what the page could see: the status, body and ETag, or the error
# the browser gave the script instead of a response it may not read.
ATTEMPTS = """
const done = arguments[arguments.length - 1];
const [reads, writes] = arguments;
async function attempt(url, init) {
  try {
    const r = await fetch(url, init);
    return {ok: true, status: r.status, text: await r.text(), etag: r.headers.get("ETag")};
  } catch (e) {
    return {ok: false, error: String(e)};
  }
}
Promise.all([
  ...reads.map(u => attempt(u)),
  ...writes.map(u => attempt(u, {method: "PUT", body: "written by a page",
                                 headers: {"Content-Type": "text/plain"}})),
]).then(done);
"""


@pytest.fixture(scope="module")
def page_origin():
    """A second origin: a plain HTTP server on another loopback port serving one page."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def signed_gw(tmp_path_factory):
    g = signed.start(tmp_path_factory.mktemp("corsbrowser"))
    yield g
    g.stop()


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_page_on_another_origin_reads_and_writes_under_cors_rules(browser, page_origin, signed_gw):
    s3c = signed.boto3_client(signed_gw.url)
    endpoint = signed_gw.url
    # public reads: both buckets let anyone read them; only one has a CORS rule for the page
    shared, closed = f"master.{unique_repo()}", f"master.{unique_repo()}"
    for name in (shared, closed):
        s3c.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")  # ACLs on, as on S3
        s3c.put_object(Bucket=name, Key="data.txt", Body=b"public dataset", ACL="public-read")
    s3c.put_bucket_cors(Bucket=shared, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [page_origin], "AllowedMethods": ["GET"], "ExposeHeaders": ["ETag"]}]})
    # writes: presigned URLs
    upload, refused = f"master.{unique_repo()}", f"master.{unique_repo()}"
    for name in (upload, refused):
        s3c.create_bucket(Bucket=name)
    s3c.put_bucket_cors(Bucket=upload, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [page_origin], "AllowedMethods": ["PUT"], "AllowedHeaders": ["content-type"],
         "ExposeHeaders": ["ETag"]}]})
    put_urls = [s3c.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "from-page.txt"})
                for b in (upload, refused)]

    browser.get(page_origin + "/")
    results = browser.execute_async_script(
        ATTEMPTS, [f"{endpoint}/{shared}/data.txt", f"{endpoint}/{closed}/data.txt"], put_urls)
    read_ok, read_refused, write_ok, write_refused = results

    assert read_ok == {"ok": True, "status": 200, "text": "public dataset",
                       "etag": s3c.head_object(Bucket=shared, Key="data.txt")["ETag"]}
    assert read_refused["ok"] is False and "Failed to fetch" in read_refused["error"]
    # ... though the gateway answered it: only the browser kept the answer from the page
    assert httpx.get(f"{endpoint}/{closed}/data.txt", headers={"Origin": page_origin}).status_code == 200
    assert write_ok["ok"] is True and write_ok["status"] == 200 and write_ok["etag"]
    obj = s3c.get_object(Bucket=upload, Key="from-page.txt")
    assert obj["Body"].read() == b"written by a page"
    assert obj["ContentType"] == "text/plain"
    assert write_refused["ok"] is False and "Failed to fetch" in write_refused["error"]
    with pytest.raises(ClientError):  # the preflight was refused: the PUT never came
        s3c.head_object(Bucket=refused, Key="from-page.txt")
