"""Spec-driven fuzzing (schemathesis) of the live gateway, on a small seeded budget.

The spec is rewritten into plain OpenAPI (one document per selector-spelling path key) by
:mod:`bench.fuzz`, which also runs the larger budget (``make fuzz``). Every response must be
below 500 (or a deliberate 501/503), every error an S3 XML ``<Error>`` with Code and RequestId,
and the gateway must still be up afterwards.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

pytest.importorskip("schemathesis")

from bench.fuzz import CONTROL_CHARS, error_body_problem, fuzz, parse_key, rewrite  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_CI_EXAMPLES", 12))


def test_parse_key():
    assert parse_key("/{Bucket}") == ("/{Bucket}", [], None)
    assert parse_key("/{Bucket}?list-type=2") == ("/{Bucket}", [("list-type", "2")], None)
    assert parse_key("/{Bucket}/{Key}?partNumber&uploadId#x-amz-copy-source") == (
        "/{Bucket}/{Key}", [("partNumber", None), ("uploadId", None)], "x-amz-copy-source")


def test_rewrite_makes_selectors_required_parameters():
    spec = {
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "components": {"parameters": {"B": {"name": "Bucket", "in": "path", "required": True,
                                            "schema": {"type": "string"}}}},
        "paths": {
            "/{Bucket}": {"parameters": [{"$ref": "#/components/parameters/B"}],
                          "get": {"responses": {}}},
            "/{Bucket}?list-type=2": {"get": {"parameters": [{"name": "list-type", "in": "query",
                                                              "schema": {"type": "string"}}],
                                              "responses": {}}},
            "/{Bucket}?uploads#x-h": {"post": {"responses": {}}},
        },
    }
    docs = rewrite(spec)
    assert [list(d["paths"]) for d in docs.values()] == [["/{Bucket}"]] * 3  # none dropped
    v2 = docs["/{Bucket}?list-type=2"]["paths"]["/{Bucket}"]["get"]["parameters"]
    assert v2 == [{"name": "list-type", "in": "query", "required": True,
                   "schema": {"type": "string", "enum": ["2"]}}]
    uploads = docs["/{Bucket}?uploads#x-h"]["paths"]["/{Bucket}"]["post"]["parameters"]
    assert {(p["name"], p["in"], p["required"]) for p in uploads} == {("uploads", "query", True),
                                                                      ("x-h", "header", True)}
    assert next(p for p in uploads if p["name"] == "uploads")["schema"]["enum"] == [""]


def test_error_body_check():
    ok = b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code><RequestId>1</RequestId></Error>"
    assert error_body_problem("GET", 404, ok) == ""
    assert error_body_problem("HEAD", 404, b"") == ""
    assert error_body_problem("GET", 200, b"anything") == ""
    assert "not XML" in error_body_problem("GET", 500, b"Internal Server Error")
    assert "without RequestId" in error_body_problem("GET", 400, b"<Error><Code>X</Code></Error>")
    assert error_body_problem("GET", 400, b"<Error><Code>X</Code><RequestId>1\x0b</RequestId></Error>"
                              ).startswith(CONTROL_CHARS)


def test_fuzz_every_operation(gateway):
    """A seeded, bounded schemathesis run over every operation of the spec."""
    t0 = time.monotonic()
    res = fuzz(gateway.url, EXAMPLES, seed=20260, proc=gateway.proc, tag="ci")
    print(f"fuzzed {sum(res.tried.values())} requests over {len(res.tried)} operations "
          f"in {time.monotonic() - t0:.1f} s")
    assert not res.crashed, res.crashed
    assert not res.transport_errors, res.transport_errors[:5]
    assert len(res.tried) >= 22, sorted(res.tried)  # every operation of the spec was reached
    assert not res.server_errors, [f.as_dict() for f in res.server_errors[:5]]
    # Error bodies echoing control characters from the request are a known bug, pinned below.
    other = [f for f in res.bad_errors if not f.problem.startswith(CONTROL_CHARS)]
    assert not other, [f.as_dict() for f in other[:5]]
    assert httpx.get(gateway.url + "/~/health", timeout=10).status_code == 200
    assert gateway.proc.poll() is None


def test_error_body_with_control_character_is_xml(endpoint):
    """Found by make fuzz: error bodies echoed request control characters raw (not XML 1.0)."""
    r = httpx.put(endpoint + "/%0B")
    assert r.status_code == 400
    assert error_body_problem("PUT", r.status_code, r.content) == ""
    assert b"<Resource>/%0B</Resource>" in r.content
    r = httpx.get(endpoint + "/master.x/%01a")
    assert r.status_code == 400
    assert error_body_problem("GET", r.status_code, r.content) == ""
