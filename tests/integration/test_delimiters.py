"""ListObjects v1 and v2 with any delimiter, prefix, markers, max-keys and encoding-type=url:
boto3 signing against a gateway of its own, raw HTTP for what boto3 decodes or never sends."""

from __future__ import annotations

from urllib.parse import quote
from xml.etree import ElementTree

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import unique_repo
from tests.integration.test_auth import AK, SK, client
from tests.s3model import s3_listing

KEYS = sorted(["2024-01-a.csv", "2024-01-b.csv", "2024-02-a.csv", "2025-01.csv", "a b.c", "a b.d", "a%1",
        "a%2", "dir/", "dir/x.y.z", "dir/x.y.w", "flat", "n-1", "n-2/x", "n-2/y"])
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module")
def gw(signed_gateway):
    return signed_gateway  # the session's gateway with credentials (tests/integration/conftest.py)


@pytest.fixture(scope="module")
def s3s(gw):
    return client(gw)


@pytest.fixture(scope="module")
def db(s3s):
    name = f"master.{unique_repo()}"
    s3s.create_bucket(Bucket=name)
    for k in KEYS:
        s3s.put_object(Bucket=name, Key=k, Body=b"" if k.endswith("/") else k.encode())
    return name


def listed(r):
    return [o["Key"] for o in r.get("Contents", [])], [p["Prefix"] for p in r.get("CommonPrefixes", [])]


@pytest.mark.parametrize(("delimiter", "prefix", "keys", "groups"), [
    ("-", "", ["a b.c", "a b.d", "a%1", "a%2", "dir/", "dir/x.y.w", "dir/x.y.z", "flat"], ["2024-", "2025-", "n-"]),
    ("-", "2024-", [], ["2024-01-", "2024-02-"]),
    ("-", "2024-01-", ["2024-01-a.csv", "2024-01-b.csv"], []),
    (".", "dir/", ["dir/"], ["dir/x."]),
    (".", "dir/x.", [], ["dir/x.y."]),
    ("%", "a", ["a b.c", "a b.d"], ["a%"]),
    (" ", "", [k for k in KEYS if " " not in k], ["a "]),
    ("01", "202", ["2024-02-a.csv"], ["2024-01", "2025-01"]),
    ("/x", "", [k for k in KEYS if "/x" not in k], ["dir/x", "n-2/x"]),
])
@pytest.mark.parametrize("version", [1, 2])
def test_delimiters(s3s, db, version, delimiter, prefix, keys, groups):
    call = s3s.list_objects if version == 1 else s3s.list_objects_v2
    r = call(Bucket=db, Delimiter=delimiter, Prefix=prefix)
    assert listed(r) == (keys, groups)
    assert r["Delimiter"] == delimiter


@pytest.mark.parametrize("delimiter", ["-", ".", "/", "%", "2"])
def test_paging_counts_common_prefixes(s3s, db, delimiter):
    whole = s3s.list_objects_v2(Bucket=db, Delimiter=delimiter)
    want = sorted(listed(whole)[0] + listed(whole)[1])
    for size in (1, 2, 3):
        seen = []
        for page in s3s.get_paginator("list_objects_v2").paginate(
                Bucket=db, Delimiter=delimiter, PaginationConfig={"PageSize": size}):
            got = listed(page)
            assert page["KeyCount"] == len(got[0]) + len(got[1]) <= size
            seen += got[0] + got[1]
        assert sorted(seen) == want and len(seen) == len(want)
        seen = []
        for page in s3s.get_paginator("list_objects").paginate(
                Bucket=db, Delimiter=delimiter, PaginationConfig={"PageSize": size}):
            seen += listed(page)[0] + listed(page)[1]
        assert sorted(seen) == want and len(seen) == len(want)


def test_marker_inside_a_group_skips_it(s3s, db):
    r = s3s.list_objects(Bucket=db, Delimiter="-", Marker="2024-01-a.csv")
    assert listed(r)[1] == ["2025-", "n-"]  # "2024-" sorts before the marker: listed before it
    r = s3s.list_objects_v2(Bucket=db, Delimiter="-", StartAfter="2024-")
    assert listed(r)[1] == ["2025-", "n-"]
    r = s3s.list_objects(Bucket=db, Delimiter="-", MaxKeys=1)
    assert r["NextMarker"] == "2024-" and r["IsTruncated"]


def signed_get(gw, path: str, params: dict[str, str]) -> bytes:
    """A raw GET signed by botocore (the gateway has credentials), exactly as the query says."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    url = f"{gw.url}{path}?{query}"
    req = AWSRequest("GET", url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    r = httpx.get(url, headers=dict(req.headers))
    assert r.status_code == 200, r.text
    return r.content


def test_echo_without_encoding_keeps_newlines(gw, db):
    body = signed_get(gw, f"/{db}", {"list-type": "2", "prefix": "x\ny\r\tz", "delimiter": "\n",
                                     "start-after": "a\rb"})
    root = ElementTree.fromstring(body)
    assert root.find(NS + "Prefix").text == "x\ny\r\tz"
    assert root.find(NS + "Delimiter").text == "\n"
    assert root.find(NS + "StartAfter").text == "a\rb"


def test_encoding_type_url_encodes_everything_s3_does(gw, db):
    body = signed_get(gw, f"/{db}", {"prefix": "a", "delimiter": "%", "marker": "a b.c",
                                     "encoding-type": "url"})
    root = ElementTree.fromstring(body)
    assert root.find(NS + "Delimiter").text == "%25"
    assert root.find(NS + "Marker").text == "a%20b.c"
    assert [e.text for e in root.iter(NS + "Key")] == ["a%20b.d"]
    assert [e.find(NS + "Prefix").text for e in root.iter(NS + "CommonPrefixes")] == ["a%25"]
    body = signed_get(gw, f"/{db}", {"list-type": "2", "prefix": "a+", "delimiter": "+",
                                     "start-after": "a b", "encoding-type": "url"})
    root = ElementTree.fromstring(body)  # "+" encoded, or boto3's unquote_plus makes it a space
    assert root.find(NS + "Prefix").text == "a%2B" and root.find(NS + "Delimiter").text == "%2B"
    assert root.find(NS + "StartAfter").text == "a%20b"


def test_boto3_decodes_what_it_asked_to_encode(s3s, db):
    """boto3 asks for encoding-type=url by default and decodes it: what comes back is exact."""
    r = s3s.list_objects(Bucket=db, Prefix="a", Delimiter="%", Marker="a b.c")
    assert r["Marker"] == "a b.c" and r["Delimiter"] == "%" and listed(r) == (["a b.d"], ["a%"])
    r = s3s.list_objects_v2(Bucket=db, Prefix="a b", Delimiter=".")
    assert listed(r) == ([], ["a b."]) and r["Prefix"] == "a b"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(["", "2", "2024-", "a", "a ", "dir/", "dir/x", "n-2", "zz"]),
       delimiter=st.sampled_from(["", "/", "-", ".", "%", " ", "0", "x.", "/x", "-0"]),
       start=st.sampled_from(["", "2024-01-a.csv", "2024-", "a", "a%", "dir/", "dir/x.y.w", "m"]),
       size=st.integers(min_value=1, max_value=5))
def test_pages_match_s3s_rules(s3s, db, prefix, delimiter, start, size):
    """Every page of a boto3 paginator over the real gateway, whatever the delimiter, prefix,
    start-after and page size, adds up to what S3's rules list over the same keys."""
    got = []
    for page in s3s.get_paginator("list_objects_v2").paginate(
            Bucket=db, Prefix=prefix, Delimiter=delimiter, StartAfter=start,
            PaginationConfig={"PageSize": size}):
        items = [(k, False) for k in listed(page)[0]] + [(p, True) for p in listed(page)[1]]
        assert len(items) <= size
        got += sorted(items)
    assert got == s3_listing(KEYS, prefix, delimiter, start)
