"""Explorer sessions and logins over raw HTTP: a logout ends the session on every gateway copy,
an idle timeout ends it too, and failed logins are throttled (429 + Retry-After) and logged.

Two gateway processes share one embedded pfsd (the second with ``--pachd-address`` at the
first's socket): two copies of one deployment, with the same key pair.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.conftest import Gateway

EXPLORER = "/~/explorer"
AK, SK = "AKIDSESSIONS", "sessions/Secret+NeverLogged"
ENV = {"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK}
IDLE = 8  # seconds; wide enough for a loaded machine


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    root = tmp_path_factory.mktemp("sessions")
    a = Gateway(root / "data", env=ENV)
    b = Gateway(root / "data-b", "--pachd-address", f"unix://{root / 'data' / 'pfsd.sock'}", env=ENV)
    yield a, b
    b.stop()
    a.stop()


@pytest.fixture(scope="module")
def idle_gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("idle") / "data",
                env={**ENV, "S3GW_SESSION_IDLE_TIMEOUT": str(IDLE)})
    yield g
    g.stop()


def form_token(client: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def login(client: httpx.Client, ak: str = AK, sk: str = SK) -> httpx.Response:
    csrf = form_token(client, f"{EXPLORER}/login")
    return client.post(f"{EXPLORER}/login", data={"csrf": csrf, "access_key": ak, "secret_key": sk})


def page(url: str, cookie: str) -> httpx.Response:
    return httpx.get(f"{url}{EXPLORER}/", headers={"Cookie": f"s3gw_explorer={cookie}"}, timeout=30)


def test_logout_ends_the_session_on_every_gateway_copy(copies):
    a, b = copies
    with httpx.Client(base_url=a.url, timeout=30) as c:
        assert login(c).status_code == 303
        cookie = c.cookies.get("s3gw_explorer")
        kept = httpx.Client(base_url=a.url, timeout=30)  # another browser with the same session
        assert page(a.url, cookie).status_code == 200
        assert page(b.url, cookie).status_code == 200  # any copy accepts it
        assert httpx.get(f"{b.url}{EXPLORER}/").status_code == 303  # and wants it
        csrf = form_token(c, f"{EXPLORER}/")
        assert c.post(f"{EXPLORER}/logout", data={"csrf": csrf}).status_code == 303
    kept.close()
    # a copy of the cookie kept elsewhere: refused on both copies, pages and downloads alike
    for url in (a.url, b.url):
        r = page(url, cookie)
        assert r.status_code == 303 and r.headers["location"].startswith(f"{EXPLORER}/login"), url
        r = httpx.get(f"{url}{EXPLORER}/raw/master.x/k", headers={"Cookie": f"s3gw_explorer={cookie}"})
        assert r.status_code == 303
    # a new login still works, and logging out of one session leaves the others alone
    with httpx.Client(base_url=b.url, timeout=30) as c1, httpx.Client(base_url=a.url, timeout=30) as c2:
        assert login(c1).status_code == 303 and login(c2).status_code == 303
        csrf = form_token(c1, f"{EXPLORER}/")
        c1.post(f"{EXPLORER}/logout", data={"csrf": csrf})
        assert c1.get(f"{EXPLORER}/").status_code == 303
        r = c2.get(f"{EXPLORER}/")
        assert r.status_code == 200 and "s3g-sessions" not in r.text  # no bucket of ours shows
    # a restart forgets nothing: the revocation is in PFS
    assert page(a.url, cookie).status_code == 303


def test_idle_sessions_end_and_active_ones_are_renewed(idle_gw):
    # Sleeps are measured from when each request was made, not chained: on a loaded machine a
    # request can take seconds, and the margins below stay IDLE / 2 - 1 s whatever it takes.
    with httpx.Client(base_url=idle_gw.url, timeout=30) as c:
        assert login(c).status_code == 303
        logged_in = time.monotonic()  # the first cookie was last seen no later than this
        first = c.cookies.get("s3gw_explorer")
        time.sleep(IDLE / 2)
        used = time.monotonic()  # the renewed cookie is seen no earlier than this
        r = c.get(f"{EXPLORER}/")  # in use: the cookie's idle clock restarts
        answered = time.monotonic()  # ... and no later than this
        assert r.status_code == 200
        renewed = c.cookies.get("s3gw_explorer")
        assert renewed != first and any(v.startswith("s3gw_explorer=") for v in r.headers.get_list("set-cookie"))
    # the first cookie is now idle past the limit (whole seconds: +1), the renewed one is not
    time.sleep(max(0.0, logged_in + IDLE + 1 - time.monotonic()))
    assert page(idle_gw.url, first).status_code == 303
    assert time.monotonic() < used + IDLE - 1, "the machine is too slow for this test's margins"
    assert page(idle_gw.url, renewed).status_code == 200
    time.sleep(max(0.0, answered + IDLE + 1 - time.monotonic()))
    assert page(idle_gw.url, renewed).status_code == 303


def test_failed_logins_back_off_per_address_and_key_and_are_logged(copies):
    a, _ = copies
    statuses = []
    with httpx.Client(base_url=a.url, timeout=30) as c:
        for i in range(8):
            r = login(c, sk=f"wrong-{i}")
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses[:5] == [401] * 5 and statuses[-1] == 429, statuses
        assert int(r.headers["Retry-After"]) >= 1 and "try again" in r.text
        # while closed, even the right secret is not looked at
        r = login(c)
        assert r.status_code == 429 and not c.cookies.get("s3gw_explorer")
        wait = int(r.headers["Retry-After"])
        assert 1 <= wait <= 2  # the first closure is short: BASE seconds
        time.sleep(wait + 0.2)
        # one more failure doubles the closure
        assert login(c, sk="wrong-again").status_code == 401
        r = login(c)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 2
        time.sleep(int(r.headers["Retry-After"]) + 0.2)
        assert login(c).status_code == 303  # success clears the brake
        assert login(c, sk="typo").status_code == 401
    text = a.log_text()
    lines = [ln for ln in text.splitlines() if "explorer login" in ln]
    assert sum("explorer login failed" in ln for ln in lines) >= 7
    assert any("explorer login throttled" in ln for ln in lines)
    assert any("explorer login ok" in ln and AK in ln for ln in lines)
    assert SK not in text and "wrong-" not in text


def test_the_key_is_braked_from_any_address():
    from gateway.explorer.throttle import FREE, Throttle

    t = Throttle()
    for i in range(FREE + 1):
        t.failed(t.keys(f"10.0.0.{i}", "AKID"), now=100.0)  # one failure per address
    assert t.retry_after(t.keys("10.9.9.9", "AKID"), now=100.0) == 1  # a fresh address, same key
    assert t.retry_after(t.keys("10.9.9.9", "OTHER"), now=100.0) == 0
    assert t.retry_after(t.keys("10.0.0.1", "AKID"), now=101.5) == 0
    for _ in range(10):
        t.failed(t.keys("10.0.0.1", "AKID"), now=200.0)
    assert t.retry_after(t.keys("10.0.0.1", "X"), now=200.0) == 32  # 11 failures: 2**(11 - FREE - 1) s
    t.succeeded(t.keys("10.0.0.1", "AKID"))
    assert t.retry_after(t.keys("10.0.0.1", "AKID"), now=200.0) == 0
