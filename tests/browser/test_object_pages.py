"""Stored XSS: object bytes opened by URL never act as a page of the gateway's origin.

Headless Chromium *with JavaScript on* opens uploaded HTML and SVG objects whose scripts would
mark the document and read an explorer page (same origin) into it. Objects are opened by a
plain URL on the anonymous gateway and by a presigned URL on a gateway with credentials, after
logging in to its explorer in the same browser (the victim). Skipped without Chromium.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.browser.test_explorer_browser import submit
from tests.conftest import Gateway, unique_repo

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"no Chromium at {CHROMIUM} / chromedriver at {CHROMEDRIVER} (make browser-deps)")

AK, SK = "AKIDXSSTEST", "xss-test-secret-value"
# Each script marks its document as soon as it runs, then copies an explorer page into it.
STEAL = ("document.documentElement.setAttribute('data-ran','yes');"
         "fetch('/~/explorer/').then(r=>r.text()).then(t=>"
         "document.documentElement.setAttribute('data-stolen',t.slice(0,4000)))"
         ".catch(e=>document.documentElement.setAttribute('data-stolen','error '+e));")
HTML = f"<!doctype html><html><body><p id=p>object page</p><script>{STEAL}</script></body></html>"
SVG = (f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
       f'<rect width="100" height="100" fill="red"/><script>{STEAL}</script></svg>')
# Served as text/plain, but a sniffing browser could take it for HTML: nosniff forbids that.
SNIFFABLE = f"<html><body><script>{STEAL}</script></body></html>"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium")
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={profile}", "--window-size=1000,800"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)  # JavaScript on
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def signed_gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("xssgw") / "data",
                env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})
    yield g
    g.stop()


def marks(driver) -> tuple[str | None, str | None]:
    """What the object's script wrote, after giving it time to run and fetch."""
    from selenium.webdriver.common.by import By

    root = driver.find_element(By.XPATH, "/*")
    found = (None, None)
    for _ in range(15):  # a script that runs marks at once; its fetch answers within ms
        found = (root.get_attribute("data-ran"), root.get_attribute("data-stolen"))
        if found[1] is not None:
            break
        time.sleep(0.1)
    return found


def put_objects(s3, bucket: str) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="x/page.html", Body=HTML.encode(), ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="x/pic.svg", Body=SVG.encode(), ContentType="image/svg+xml")
    s3.put_object(Bucket=bucket, Key="x/notes", Body=SNIFFABLE.encode(), ContentType="text/plain")


def test_anonymous_plain_urls_run_no_script(browser, endpoint, s3):
    bucket = f"master.{unique_repo()}"
    put_objects(s3, bucket)
    for key in ("x/page.html", "x/pic.svg", "x/notes"):
        browser.get(f"{endpoint}/{bucket}/{key}")
        assert marks(browser) == (None, None), key
    r = httpx.get(f"{endpoint}/{bucket}/x/page.html")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.text == HTML  # the bytes themselves are served unchanged


def test_presigned_urls_cannot_read_the_victims_explorer(browser, signed_gw):
    import boto3
    from botocore.config import Config
    from selenium.webdriver.common.by import By

    s3 = boto3.client("s3", endpoint_url=signed_gw.url, region_name="us-east-1",
                      aws_access_key_id=AK, aws_secret_access_key=SK,
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    bucket = f"master.{unique_repo()}"
    put_objects(s3, bucket)

    # the victim logs in to the explorer: a session cookie for this origin
    browser.get(f"{signed_gw.url}/~/explorer/login")
    browser.find_element(By.NAME, "access_key").send_keys(AK)
    browser.find_element(By.NAME, "secret_key").send_keys(SK)
    submit(browser, "//form//button | //form//input[@type='submit']")  # waits for the next page
    assert bucket.split(".", 1)[1] in browser.page_source  # logged in: the bucket list

    for key in ("x/page.html", "x/pic.svg", "x/notes"):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
        browser.get(url)
        assert marks(browser) == (None, None), key


def test_docs_page_still_renders_operations_under_its_csp(browser, endpoint):
    """Swagger UI runs under /~/docs's CSP: its operations appear (they are drawn by script)."""
    from selenium.webdriver.common.by import By

    browser.get(f"{endpoint}/~/docs/")
    blocks = []
    for _ in range(100):
        blocks = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary")
        if blocks:
            break
        time.sleep(0.1)
    assert len(blocks) > 20  # one per S3 operation in the spec
    assert "List every branch of every repo" in browser.find_element(By.ID, "swagger-ui").text
    assert httpx.get(f"{endpoint}/~/docs/").headers["content-security-policy"].count("sha256-") == 1
