"""CORS configurations: the document S3 accepts, and which rule a request meets."""

from __future__ import annotations

import pytest

from gateway.s3 import cors
from gateway.s3.errors import S3Error

NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def doc(*rules: str, ns: str = NS) -> bytes:
    return (f"<CORSConfiguration{ns}>" + "".join(f"<CORSRule>{r}</CORSRule>" for r in rules)
            + "</CORSConfiguration>").encode()


def rule(origins=("*",), methods=("GET",), headers=(), expose=(), max_age=None, rule_id=None) -> str:
    out = "".join(f"<AllowedOrigin>{o}</AllowedOrigin>" for o in origins)
    out += "".join(f"<AllowedMethod>{m}</AllowedMethod>" for m in methods)
    out += "".join(f"<AllowedHeader>{h}</AllowedHeader>" for h in headers)
    out += "".join(f"<ExposeHeader>{h}</ExposeHeader>" for h in expose)
    if max_age is not None:
        out += f"<MaxAgeSeconds>{max_age}</MaxAgeSeconds>"
    if rule_id is not None:
        out += f"<ID>{rule_id}</ID>"
    return out


def refused(data: bytes) -> S3Error:
    with pytest.raises(S3Error) as e:
        cors.parse(data)
    return e.value


# --- the document -----------------------------------------------------------------------------

def test_parse_keeps_every_element_in_order():
    config = cors.parse(doc(rule(("http://a.example", "https://*.b.example"), ("PUT", "GET"),
                                 ("Content-Type", "x-amz-*"), ("ETag",), 3000, "first"),
                            rule(), ns=""))
    first, second = config.rules
    assert first.origins == ("http://a.example", "https://*.b.example")
    assert first.methods == ("PUT", "GET")
    assert first.headers == ("Content-Type", "x-amz-*")
    assert first.expose == ("ETag",)
    assert (first.max_age, first.id) == (3000, "first")
    assert (second.origins, second.methods, second.max_age, second.id) == (("*",), ("GET",), None, None)


def test_render_round_trips():
    original = cors.parse(doc(rule(("http://a.example",), ("GET", "HEAD"), ("*",), ("ETag", "x-amz-version-id"),
                                   0, "r1"), rule(("",), ("DELETE",))))
    rendered = cors.render(original)
    assert rendered.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration xmlns=')
    assert b"<MaxAgeSeconds>0</MaxAgeSeconds>" in rendered
    assert cors.parse(rendered) == original


def test_render_escapes():
    config = cors.parse(doc(rule(("http://a.example/?a=1&amp;b=<x>".replace("<x>", "&lt;x&gt;"),))))
    assert config.rules[0].origins == ("http://a.example/?a=1&b=<x>",)
    assert cors.parse(cors.render(config)) == config


@pytest.mark.parametrize("data", [
    b"", b"not xml", b"<CORSConfiguration>", b"<Other/>",
    doc(),  # no rule
    doc(*[rule()] * 101),  # more than 100
    doc(rule(origins=())),  # a rule without an origin
    doc(rule(methods=())),  # ... or a method
    doc(""),  # an empty rule
    doc(rule(max_age="soon")), doc(rule(max_age="-1")), doc(rule(max_age="1.5")),
    doc(rule() + "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>2</MaxAgeSeconds>"),
    doc(rule() + "<Unknown>x</Unknown>"),
    doc(rule()).replace(b"<CORSRule>", b"<Rule>", 1).replace(b"</CORSRule>", b"</Rule>", 1),
    doc(rule()).replace(b"</CORSConfiguration>", b"<Extra/></CORSConfiguration>"),
    doc(rule()).replace(b"<AllowedMethod>GET", b"<AllowedMethod><b>GET</b>"),
    b"<CORSConfiguration>" + b"<CORSRule>" + rule().encode() * 2000 + b"</CORSRule></CORSConfiguration>",
])
def test_malformed(data):
    err = refused(data)
    assert (err.status, err.code) == (400, "MalformedXML")


def test_a_hundred_rules_is_the_limit():
    assert len(cors.parse(doc(*[rule()] * 100)).rules) == 100


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "get", "Get", " GET", "GET,PUT", "*", ""])
def test_unsupported_method(method):
    err = refused(doc(rule(methods=("GET", method))))
    assert (err.status, err.code) == (400, "InvalidRequest")
    assert err.message == f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"


@pytest.mark.parametrize(("element", "value"), [
    ("AllowedOrigin", "https://*.example.*"), ("AllowedOrigin", "**"),
    ("AllowedHeader", "x-*-*"),
])
def test_two_wildcards(element, value):
    kwargs = {"origins": (value,)} if element == "AllowedOrigin" else {"headers": (value,)}
    err = refused(doc(rule(**kwargs)))
    assert (err.status, err.code) == (400, "InvalidRequest")
    assert err.message == f'{element} "{value}" can not have more than one wildcard.'


def test_expose_header_wildcard():
    err = refused(doc(rule(expose=("x-amz-*",))))
    assert (err.status, err.code) == (400, "InvalidRequest")
    assert "contains wildcard" in err.message


def test_id_length():
    assert cors.parse(doc(rule(rule_id="i" * 255))).rules[0].id == "i" * 255
    assert refused(doc(rule(rule_id="i" * 256))).code == "InvalidArgument"


# --- matching ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "origin", "match"), [
    ("http://a.example", "http://a.example", True),
    ("http://a.example", "https://a.example", False),  # scheme, host and port must all match
    ("http://a.example", "http://a.example:80", False),
    ("http://a.example", "http://a.example/", False),
    ("http://a.example", "HTTP://A.EXAMPLE", False),  # origins are compared as sent
    ("http://*.a.example", "http://x.a.example", True),
    ("http://*.a.example", "http://x.y.a.example", True),
    ("http://*.a.example", "http://a.example", False),
    ("*suffix", "foo.suffix", True), ("*suffix", "foo.suffix.get", False),
    ("start*end", "startend", True), ("start*end", "start12end", True),
    ("start*end", "0start12end", False), ("prefix*", "prefix", True), ("prefix*", "bla.prefix", False),
    ("*", "null", True), ("*", "anything at all", True),
])
def test_origin_patterns(pattern, origin, match):
    config = cors.parse(doc(rule(origins=(pattern,))))
    assert (config.actual(origin, "GET") is not None) is match


def test_preflight_answer_for_one_origin():
    config = cors.parse(doc(rule(("https://app.example",), ("GET", "PUT"), ("*",), ("ETag",), 3000)))
    headers = dict(config.preflight("https://app.example", "PUT", ["content-type", "x-amz-date"]))
    assert headers == {
        "Access-Control-Allow-Origin": "https://app.example",
        "Access-Control-Allow-Methods": "GET, PUT",
        "Access-Control-Allow-Headers": "content-type, x-amz-date",
        "Access-Control-Expose-Headers": "ETag",
        "Access-Control-Max-Age": "3000",
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }


def test_any_origin_answers_star_without_credentials():
    config = cors.parse(doc(rule(("*",), ("GET",))))
    headers = dict(config.preflight("http://random:1234", "GET", []))
    assert headers == {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET",
                       "Vary": cors.VARY}
    assert config.preflight("http://random:1234", "PUT", []) is None


def test_an_origin_pattern_is_echoed_with_credentials():
    headers = dict(cors.parse(doc(rule(("http://*.origin.com",)))).actual("http://t.origin.com", "GET"))
    assert headers["Access-Control-Allow-Origin"] == "http://t.origin.com"
    assert headers["Access-Control-Allow-Credentials"] == "true"


def test_headers_of_a_preflight():
    config = cors.parse(doc(rule(headers=("x-amz-expected-bucket-owner", "x-AMZ-server-SIDE-encryption",
                                          "x-amz-meta-*"))))
    answer = dict(config.preflight("o", "GET", cors.request_headers(
        "x-AMZ-expected-BUCKET-owner,X-Amz-Server-Side-Encryption, x-amz-meta-a")))
    assert answer["Access-Control-Allow-Headers"] == (
        "x-amz-expected-bucket-owner, x-amz-server-side-encryption, x-amz-meta-a")
    assert config.preflight("o", "GET", ["x-amz-request-payer"]) is None
    assert config.preflight("o", "GET", ["x-amz-meta-a", "x-amz-request-payer"]) is None
    # a rule without AllowedHeader allows no requested header
    assert cors.parse(doc(rule())).preflight("o", "GET", ["content-type"]) is None


def test_first_matching_rule_decides():
    config = cors.parse(doc(rule(("http://a",), ("GET",), max_age=1),
                            rule(("*",), ("GET", "PUT"), max_age=2),
                            rule(("http://a",), ("PUT",), max_age=3)))
    assert dict(config.actual("http://a", "GET"))["Access-Control-Max-Age"] == "1"
    assert dict(config.actual("http://a", "PUT"))["Access-Control-Max-Age"] == "2"
    assert dict(config.actual("http://a", "PUT"))["Access-Control-Allow-Origin"] == "*"
    assert config.actual("http://a", "DELETE") is None


def test_a_rule_that_refuses_the_headers_lets_a_later_one_answer():
    config = cors.parse(doc(rule(("*",), ("PUT",)), rule(("http://a",), ("PUT",), ("content-type",))))
    headers = dict(config.preflight("http://a", "PUT", ["content-type"]))
    assert headers["Access-Control-Allow-Origin"] == "http://a"


def test_actual_requests_ignore_headers():
    config = cors.parse(doc(rule(("http://a",), ("GET",))))  # no AllowedHeader at all
    assert config.actual("http://a", "GET") is not None


@pytest.mark.parametrize(("value", "names"), [
    (None, []), ("", []), ("a", ["a"]), ("b,a", ["b", "a"]), (" A , ,b ", ["a", "b"]),
])
def test_request_headers(value, names):
    assert cors.request_headers(value) == names


def test_preflight_errors():
    err = cors.not_allowed("PUT", "OBJECT")
    assert (err.status, err.code) == (403, "AccessForbidden")
    assert err.message.startswith("CORSResponse: This CORS request is not allowed.")
    assert err.extra == {"Method": "PUT", "ResourceType": "OBJECT"}
    assert cors.origin_needed().status == 400
    assert cors.method_needed(None).message == "Invalid Access-Control-Request-Method: null"
    assert cors.no_such_configuration("b").extra == {"BucketName": "b"}


# --- the gateway's default rule (--cors-allow-origin) -----------------------------------------

def test_default_rule():
    from gateway.server.cors import DEFAULT_METHODS, default_rules

    assert default_rules([]) is None
    (rule_,) = default_rules(["https://app.example", "http://*.lab.example"]).rules
    assert rule_.methods == DEFAULT_METHODS and rule_.headers == ("*",)
    config = default_rules(["https://app.example"], ["GET"])
    answer = dict(config.preflight("https://app.example", "GET", ["authorization", "x-amz-date"]))
    assert answer["Access-Control-Allow-Headers"] == "authorization, x-amz-date"
    assert "ETag" in answer["Access-Control-Expose-Headers"]
    assert config.preflight("https://app.example", "PUT", []) is None
    for origins, methods in ((["http://*.*"], None), (["https://app.example"], ["PATCH"])):
        with pytest.raises(ValueError):
            default_rules(origins, methods)
