"""The explorer in a real browser: headless Chromium, driven by Selenium, with JavaScript off.

From the gateway's root it follows links to a bucket, a folder, an object and its history,
downloads the object (byte-identical) and saves a screenshot of each page under
``test-artifacts/``. Skipped where Chromium, chromedriver or selenium is missing
(``apt-get install -y chromium chromium-driver``; ``pip install -e .[test]``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = ROOT / "test-artifacts"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"no Chromium at {CHROMIUM} / chromedriver at {CHROMEDRIVER} "
           "(apt-get install -y chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "profile.managed_default_content_settings.javascript": 2,  # the explorer needs none
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"explorer-{name}.png"))


def click(driver, href: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'a[href="{href}"]').click()


def wait_for_file(folder: Path, name: str, timeout: float = 20.0) -> Path | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        f = folder / name
        if f.exists() and not list(folder.glob("*.crdownload")):
            return f
        time.sleep(0.1)
    return None


def test_browse_follow_links_download_and_screenshots(browser, endpoint, s3, bucket):
    from selenium.webdriver.common.by import By

    blob = os.urandom(300_000) + b"\x00end"
    s3.put_object(Bucket=bucket, Key="docs/readme.txt", Body=b"Hello from PFS.\n" * 40)
    s3.put_object(Bucket=bucket, Key="docs/data.csv", Body=b"city,count\nLyon,3\nOslo,5\n",
                  ContentType="text/csv", Metadata={"source": "survey"})
    s3.put_object(Bucket=bucket, Key="docs/data.csv", Body=b"city,count\nLyon,3\nOslo,5\nLima,8\n",
                  ContentType="text/csv", Metadata={"source": "survey"})
    s3.put_object(Bucket=bucket, Key="docs/blob.bin", Body=blob)
    base = "/~/explorer"

    browser.get(endpoint + "/")  # a browser at the root is sent to the explorer
    assert browser.current_url == endpoint + base + "/"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Buckets"
    shot(browser, "1-buckets")

    click(browser, f"{base}/b/{bucket}/")
    assert browser.find_element(By.TAG_NAME, "h1").text == bucket
    shot(browser, "2-bucket")

    click(browser, f"{base}/b/{bucket}/docs/")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table a")]
    assert names == ["blob.bin", "data.csv", "readme.txt"]
    shot(browser, "3-folder")

    click(browser, f"{base}/b/{bucket}/docs/data.csv")
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.csv td")]
    assert cells == ["Lyon", "3", "Oslo", "5", "Lima", "8"]
    assert "survey" in browser.find_element(By.TAG_NAME, "dl").text
    shot(browser, "4-object")

    click(browser, f"{base}/history/{bucket}/docs/data.csv")
    rows = browser.find_elements(By.CSS_SELECTOR, "table tr")
    assert len(rows) == 3  # header and two versions
    shot(browser, "5-versions")

    click(browser, f"{base}/history/{bucket}/")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"History of {bucket}"
    shot(browser, "6-history")

    # the first commit's view of the bucket is one click away
    browser.find_elements(By.CSS_SELECTOR, "table td.mono a")[-2].click()
    assert "Read-only view" in browser.page_source
    shot(browser, "7-pinned")

    browser.get(f"{endpoint}{base}/b/{bucket}/docs/blob.bin")
    link = browser.find_element(By.LINK_TEXT, "Download")
    href = link.get_attribute("href")
    link.click()
    got = wait_for_file(browser.downloads, "blob.bin")
    print("downloaded by the browser" if got else "download prefs ignored: fetched the href")
    if got is not None:
        assert got.read_bytes() == blob
    else:  # a headless build that ignores the download prefs: fetch the link with its cookies
        cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
        assert httpx.get(href, cookies=cookies, timeout=30).content == blob
    shutil.rmtree(browser.downloads, ignore_errors=True)

    browser.set_window_size(390, 844)  # a phone
    browser.get(f"{endpoint}{base}/b/{bucket}/docs/data.csv")
    shot(browser, "8-phone-object")


def submit(driver, button_xpath: str) -> None:
    """Click a form's button and wait for the next page (no element of this one is kept)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, button_xpath).click()
    WebDriverWait(driver, 30).until(_left(page))


def _left(element):
    """``staleness_of(element)``, also when Chrome, asked mid-navigation, answers that the node
    "does not belong to the document" (an inspector error, not a stale-element one)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def gone(_driver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
        return False

    return gone


def test_upload_a_file_and_create_a_folder_with_the_forms(browser, endpoint, s3, bucket, tmp_path):
    """The folder page's plain forms, in a browser with JavaScript off: a file chosen in the
    file input is uploaded (one commit), a folder is created, both shown after the redirect."""
    from selenium.webdriver.common.by import By

    s3.put_object(Bucket=bucket, Key="inbox/first.txt", Body=b"1")
    chosen = tmp_path / "from browser.txt"
    chosen.write_bytes(b"uploaded by Chromium\n")
    browser.get(f"{endpoint}/~/explorer/b/{bucket}/inbox/")
    browser.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(chosen))
    submit(browser, '//button[text()="Upload"]')
    assert browser.find_element(By.CSS_SELECTOR, ".notice").text == "Uploaded 1 file."
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table a")]
    assert names == ["first.txt", "from browser.txt"]
    shot(browser, "8-uploaded")
    assert s3.get_object(Bucket=bucket, Key="inbox/from browser.txt")["Body"].read() == \
        b"uploaded by Chromium\n"

    browser.find_element(By.NAME, "name").send_keys("photos")
    submit(browser, '//button[text()="Create folder"]')
    assert browser.find_element(By.CSS_SELECTOR, ".notice").text == "Folder created."
    assert "photos/" in [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table a")]
    assert s3.head_object(Bucket=bucket, Key="inbox/photos/")["ContentLength"] == 0

    assert browser.title == f"{bucket}/inbox/ · PFS S3 gateway"
    # a name PFS cannot hold: the error is shown on the folder page
    browser.find_element(By.NAME, "name").send_keys("no*globs")
    submit(browser, '//button[text()="Create folder"]')
    assert "glob" in browser.find_element(By.CSS_SELECTOR, ".error").text.lower()
    shot(browser, "9-upload-error")
