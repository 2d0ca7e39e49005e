"""The explorer's layout in headless Chromium at desktop (1280 px) and phone (390 px) width: no
page scrolls sideways, whatever the key names, and a screenshot of a folder, an object, a
history page and a diff page at each width goes to ``test-artifacts/`` (docs/images/ holds
the ones looked at). Skipped where Chromium, chromedriver or selenium is missing."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.config import Config

from tests.browser.test_explorer_browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM, webdriver
from tests.conftest import Gateway, unique_repo

pytestmark = pytest.mark.skipif(webdriver is None, reason="selenium is not installed")

AK, SK = "AKIDLAYOUT", "layout-secret-0123456789"
LONG = "a_very_long_object_name_with_no_space_and_no_hyphen_" * 4 + ".parquet"
WIDTHS = {"desktop": 1280, "phone": 390}
HEIGHTS = {"desktop": 800, "phone": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A gateway with credentials holding a small, realistic bucket; (gateway, bucket, commits)."""
    g = Gateway(tmp_path_factory.mktemp("layout") / "data", "--access-key", AK, "--secret-key", SK)
    s3 = boto3.client("s3", endpoint_url=g.url, region_name="us-east-1", aws_access_key_id=AK,
                      aws_secret_access_key=SK, config=Config(s3={"addressing_style": "path"}))
    bucket = f"master.{unique_repo()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="reports/2026/summary.csv",
                  Body=b"city,visits,share\nLyon,1200,0.31\nOslo,800,0.20\nLima,640,0.17\n", ContentType="text/csv")
    for i in range(12):
        s3.put_object(Bucket=bucket, Key=f"reports/2026/day-{i:02d}.json", Body=b'{"day": %d, "ok": true}' % i)
    s3.put_object(Bucket=bucket, Key=f"reports/2026/{LONG}", Body=b"PAR1" + b"\x00" * 5000)
    changed = s3.put_object(Bucket=bucket, Key="reports/2026/summary.csv", ContentType="text/csv",
                            Body=b"city,visits,share\nLyon,1250,0.31\nOslo,800,0.20\nLima,640,0.17\nKyiv,410,0.11\n",
                            )["VersionId"]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "reports/2026/day-00.json"},
                                                         {"Key": "reports/2026/day-01.json"}]})
    yield g, bucket, changed
    g.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    tmp = tmp_path_factory.mktemp("chromium")
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={tmp / 'profile'}", "--window-size=1280,900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/~/explorer/login")
    driver.find_element(By.NAME, "access_key").send_keys(AK)
    driver.find_element(By.NAME, "secret_key").send_keys(SK)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()


def pages(bucket: str, changed: str) -> dict[str, str]:
    base = "/~/explorer"
    return {
        "folder": f"{base}/b/{bucket}/reports/2026/",
        "object": f"{base}/b/{bucket}/reports/2026/summary.csv?share=86400",
        "history": f"{base}/history/{bucket}/",
        "diff": f"{base}/diff/{bucket}/reports/2026/summary.csv?to={changed}",
        "changes": f"{base}/diff/{bucket}/?commit={changed}",
        "buckets": f"{base}/",
        "versions": f"{base}/history/{bucket}/reports/2026/summary.csv",
        "long-object": f"{base}/b/{bucket}/reports/2026/{LONG}",
    }


def overflow(driver) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth")


@pytest.mark.parametrize("width", list(WIDTHS))
def test_pages_fit_the_width_and_screenshots(site, browser, width):
    from selenium.webdriver.common.by import By

    g, bucket, changed = site
    log_in(browser, g.url)
    browser.set_window_size(WIDTHS[width], HEIGHTS[width])
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in pages(bucket, changed).items():
        browser.get(g.url + path)
        assert browser.find_element(By.TAG_NAME, "h1").text, name
        assert "No such" not in browser.title and "Log in" not in browser.title, (name, browser.title)
        assert browser.execute_script("return window.innerWidth") == WIDTHS[width]
        assert overflow(browser) <= 0, (name, width, overflow(browser))
        browser.save_screenshot(str(ARTIFACTS / f"explorer-{width}-{name}.png"))
    # the long name is in the folder page, wrapped instead of widening it
    browser.get(g.url + pages(bucket, changed)["folder"])
    assert re.sub(r"\s", "", LONG) in re.sub(r"\s", "", browser.find_element(By.TAG_NAME, "table").text)
